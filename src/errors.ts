// The one error hierarchy: every failure that crosses a module boundary is an AppError with a kind and a stable code.

export type ErrorKind = 'invalid' | 'unauthenticated' | 'not_found' | 'forbidden' | 'not_allowed' | 'conflict' | 'unavailable' | 'too_large' | 'rate_limited' | 'internal';

export class AppError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly details?: Record<string, unknown>;

  constructor(kind: ErrorKind, code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AppError';
    this.kind = kind;
    this.code = code;
    if (details) this.details = details;
  }
}

export const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError('invalid', code, message, details);
/**
 * No credentials, or credentials that name nobody (HTTP 401 with a WWW-Authenticate challenge): the worker upload
 * route. The REST API keeps Patchwork's 403 for a wrong token (DRF with Session auth first).
 */
export const unauthenticated = (code: string, message: string, challenge = 'Bearer') => new AppError('unauthenticated', code, message, { challenge });
export const notFound = (code: string, message: string) => new AppError('not_found', code, message);
export const forbidden = (code: string, message: string) => new AppError('forbidden', code, message);
/** The resource exists but does not take this method (Patchwork: a write to a read-only resource). */
export const notAllowed = (code: string, message: string) => new AppError('not_allowed', code, message);
export const conflict = (code: string, message: string) => new AppError('conflict', code, message);
export const unavailable = (code: string, message: string) => new AppError('unavailable', code, message);
/** Too many attempts; the edges tell the client when to come back (HTTP Retry-After, RFC 9110 §10.2.3). */
export const rateLimited = (code: string, message: string, retryAfterS: number) =>
  new AppError('rate_limited', code, message, { retryAfterS: Math.max(1, Math.ceil(retryAfterS)) });

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

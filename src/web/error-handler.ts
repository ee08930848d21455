// The HTTP wire table: AppError kinds to HTTP statuses with Patchwork's `{ "detail": ... }` body. No other file writes a status.
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { AppError, isAppError } from '../errors.js';

const STATUS: Record<AppError['kind'], number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  not_allowed: 405,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export const statusFor = (e: AppError): number => STATUS[e.kind];

/** Status for success replies, named so routes need not write numbers. */
export const OK = 200;
export const CREATED = 201;
/** The request is taken and finishes by mail (a confirmation round-trip): RFC 9110 §15.3.3. */
export const ACCEPTED = 202;
export const NO_CONTENT = 204;
/** RFC 9110 §15.4.2: public-inbox sends /<list>/<msgid> on to /<list>/<msgid>/ this way; b4's HEAD relies on a 3xx. */
export const MOVED_PERMANENTLY = 301;
export const SEE_OTHER = 303;
/** RFC 9110 §15.4.5: the client's copy (If-None-Match) is current. */
export const NOT_MODIFIED = 304;

/** RFC 9110 §10.2.3: a rate-limited answer says in how many seconds to try again. */
export function retryAfter(reply: FastifyReply, e: AppError): FastifyReply {
  const s = e.details?.retryAfterS;
  return typeof s === 'number' && Number.isFinite(s) ? reply.header('retry-after', String(Math.max(1, Math.ceil(s)))) : reply;
}

export function sendError(reply: FastifyReply, e: AppError): FastifyReply {
  retryAfter(reply, e);
  // RFC 9110 §15.5.2: a 401 carries the challenge of the scheme the route takes.
  if (e.kind === 'unauthenticated') reply.header('www-authenticate', typeof e.details?.challenge === 'string' ? e.details.challenge : 'Bearer');
  // DRF-style validation errors also name the field: { "state": ["Invalid state …"] } beside detail and code.
  const fields = e.details?.fields;
  return reply.status(statusFor(e)).send({ ...(fields && typeof fields === 'object' ? fields : {}), detail: e.message, code: e.code });
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (isAppError(error)) return sendError(reply, error);
    if ((error as FastifyError).validation) {
      return sendError(reply, new AppError('invalid', 'validation', (error as FastifyError).message));
    }
    const status = (error as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      return reply.status(status).send({ detail: error.message, code: (error as FastifyError).code ?? 'bad_request' });
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, new AppError('internal', 'internal', 'Internal server error'));
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new AppError('not_found', 'not_found', `Not found: ${request.url}`)));
}

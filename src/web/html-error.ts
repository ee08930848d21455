// Errors of the web view's forms and admin pages: an HTML page for browsers, the usual JSON ({ detail, code }) for
// anything else, with the status of the error handler's wire table.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../errors.js';
import { retryAfter, sendError, statusFor } from './error-handler.js';
import type { Views } from './views.js';
import { viewerOf } from './viewer.js';

/** Browsers post forms and ask for text/html; API clients and scripts ask for JSON. */
export function wantsHtml(req: FastifyRequest): boolean {
  const accept = String(req.headers.accept ?? '');
  if (accept.includes('text/html')) return true;
  const type = String(req.headers['content-type'] ?? '');
  if (accept.includes('json') || type.startsWith('application/json')) return false;
  // A browser's form post that asked for nothing in particular.
  return type.startsWith('application/x-www-form-urlencoded');
}

const TITLES: Partial<Record<AppError['kind'], string>> = {
  forbidden: 'Not allowed',
  unauthenticated: 'Not signed in',
  not_found: 'Not found',
  invalid: 'Not accepted',
  conflict: 'Already done',
  rate_limited: 'Too many attempts',
};

/** Sends an AppError as a page (browsers) or as JSON; anything else goes to fastify's error handler. */
export function sendWebError(views: Views, req: FastifyRequest, reply: FastifyReply, e: unknown, back: string | null = null): FastifyReply {
  if (!isAppError(e)) throw e;
  if (!wantsHtml(req)) return sendError(reply, e);
  const title = TITLES[e.kind] ?? 'Error';
  const html = views.render('admin-error', { title, viewer: viewerOf(req) }, { title, message: e.message, code: e.code, back });
  return retryAfter(reply, e).status(statusFor(e)).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
}

/** A path of this site to send a browser to: "/…" but never "//host" or "/\\host" (browsers read both as another site). */
export function localPath(path: unknown): string | null {
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return null;
  if (path.length > 2000 || /[\u0000-\u001f\u007f]/.test(path)) return null;
  return path;
}

/** The Referer's path when it is a page of this site (same scheme and host, or the configured base), else null. */
export function localReferer(req: FastifyRequest, base: string): string | null {
  const ref = req.headers.referer;
  if (!ref) return null;
  try {
    const u = new URL(ref);
    const origins = new Set([new URL(`${req.protocol}://${req.host}`).origin]);
    if (base) origins.add(new URL(base).origin);
    if (!origins.has(u.origin)) return null;
    return localPath(`${u.pathname}${u.search}`);
  } catch {
    return null;
  }
}

// An admin's cancel and retry of a run: POST /admin/runs/R/cancel and POST /admin/runs/R/retry. From the buttons of
// /admin/queue/ and /runs/R/: an admin's session with the form's CSRF field, then 303 back to the page. For scripts: an
// admin's API token (Authorization: Token …; the cookie is then not looked at), answered in JSON. Errors in JSON (a
// page for a browser's form) with the wire table's status: 404 no such run, 409 ended or not retried, 401 without
// credentials, 403 for anyone but an admin.
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, forbidden, isAppError, notFound, unauthenticated } from '../../errors.js';
import type { RunAdminService } from '../../pipeline/run-admin.service.js';
import { CREATED, OK, SEE_OTHER, sendError } from '../error-handler.js';
import { localPath, localReferer, sendWebError, wantsHtml } from '../html-error.js';
import { viewerOf } from '../viewer.js';
import type { WebContext } from '../web-context.js';
import { isTokenAuthorization } from '../session.service.js';

const CHALLENGE = 'Token';
const params = { type: 'object', properties: { id: { type: 'string', maxLength: 40 } }, required: ['id'] } as const;
// A script posts nothing (null); a form its CSRF field and the page to go back to.
const body = { type: ['object', 'null'], properties: { csrf: { type: 'string', maxLength: 200 }, back: { type: 'string', maxLength: 2000 } } } as const;

interface Action {
  Params: { id: string };
  Body: { back?: string } | null | undefined;
}

/** A run id as a path gives it; anything else names no run (404, as an unknown number does). */
function runId(raw: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(raw)) throw notFound('no_such_run', 'no such run');
  return Number(raw);
}

export function runAdminRoutes(ctx: WebContext, admin: RunAdminService): FastifyPluginAsync {
  return async (app) => {
    /** Who acts, and whether they are a script (token: JSON answers) or a browser's form. */
    const actor = new WeakMap<FastifyRequest, { username: string; script: boolean }>();
    const script = (req: FastifyRequest) => req.headers.authorization !== undefined || !wantsHtml(req);

    app.setErrorHandler((error: FastifyError | AppError, req, reply) => {
      const e = isAppError(error) ? error : (error as FastifyError).validation ? new AppError('invalid', 'validation', error.message) : null;
      if (!e) throw error;
      return script(req) ? sendError(reply, e) : sendWebError(ctx.views, req, reply, e, localReferer(req, ctx.urls.base));
    });

    app.addHook('onRequest', async (req, reply) => {
      const authorization = req.headers.authorization;
      if (authorization !== undefined) {
        // Basic is refused: a browser replays it on its own, so it could be a forged form.
        if (!isTokenAuthorization(authorization)) throw unauthenticated('token_required', "Actions on runs take an admin's API token (Authorization: Token …).", CHALLENGE);
        const who = await ctx.api.auth.authenticate(authorization, req.ip);
        if (who?.role !== 'admin') throw forbidden('admin_only', 'Only admins may cancel or retry runs.');
        actor.set(req, { username: who.username, script: true });
        return;
      }
      const viewer = viewerOf(req);
      if (viewer.user?.role === 'admin') {
        actor.set(req, { username: viewer.user.username, script: !wantsHtml(req) });
        return;
      }
      if (viewer.user) throw forbidden('admin_only', 'Only admins may cancel or retry runs.');
      if (wantsHtml(req)) return sendWebError(ctx.views, req, reply, forbidden('not_authenticated', 'Log in first.'));
      throw unauthenticated('admin_auth_required', "An admin's API token is required (Authorization: Token …).", CHALLENGE);
    });

    /** Where a form goes back to: the page it came from (a path of this site), else the queue page. */
    const backTo = (req: FastifyRequest<Action>) => localPath(req.body?.back)?.split('#', 1)[0]?.split('?', 1)[0] ?? '/admin/queue/';
    const done = (reply: FastifyReply, path: string, code: string) => reply.redirect(`${path}?done=${code}`, SEE_OTHER);
    const options = { schema: { hide: true, params, body }, config: { tokenAuth: true } };

    app.post<Action>('/admin/runs/:id/cancel', options, async (req, reply) => {
      const who = actor.get(req)!;
      const result = await admin.cancel(runId(req.params.id), who.username);
      if (who.script) return reply.status(OK).header('cache-control', 'no-store').send(result);
      return done(reply, backTo(req), 'run-cancelled');
    });

    app.post<Action>('/admin/runs/:id/retry', options, async (req, reply) => {
      const who = actor.get(req)!;
      const result = await admin.retry(runId(req.params.id), who.username);
      if (who.script) return reply.status(CREATED).header('location', `/runs/${result.run}/`).header('cache-control', 'no-store').send(result);
      // From a run's page, on to the new run's page; from the queue page, back there (it lists the new run).
      const back = backTo(req);
      return done(reply, back.startsWith('/runs/') ? `/runs/${result.run}/` : back, 'run-retried');
    });
  };
}

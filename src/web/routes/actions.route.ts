// POST /actions/patch/ID/ and /actions/series/ID/: the maintainers' forms of the patch and series pages (the session
// plugin has checked their CSRF token); each answers 303 back to the page it came from.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { ActionsService, type Form } from '../actions.service.js';
import { SEE_OTHER } from '../error-handler.js';
import { localReferer } from '../html-error.js';
import { viewerOf } from '../viewer.js';
import type { WebContext } from '../web-context.js';

const idParam = { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'] } as const;
const formBody = { type: ['object', 'null'] } as const;

export function actionsRoutes(ctx: WebContext): FastifyPluginAsync {
  const actions = new ActionsService(ctx);
  const requestBase = (req: FastifyRequest) => `${req.protocol}://${req.host}`;
  return async (app) => {
    app.post<{ Params: { id: number } }>('/actions/patch/:id/', { schema: { hide: true, params: idParam, body: formBody } }, async (req, reply) => {
      await actions.patch(viewerOf(req), req.params.id, req.body as Form, requestBase(req));
      return reply.redirect(localReferer(req, ctx.urls.base) ?? `/patch/${req.params.id}/`, SEE_OTHER);
    });
    app.post<{ Params: { id: number } }>('/actions/series/:id/', { schema: { hide: true, params: idParam, body: formBody } }, async (req, reply) => {
      await actions.series(viewerOf(req), req.params.id, req.body as Form, requestBase(req));
      return reply.redirect(localReferer(req, ctx.urls.base) ?? `/series/${req.params.id}/`, SEE_OTHER);
    });
  };
}

// The bundle page, /bundle/OWNER/NAME/: where the API's bundle web_url points (its mbox is the mbox routes').
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { AppError, isAppError } from '../../errors.js';
import { createBundlePagesService } from '../bundle-pages.service.js';
import { sendWebError } from '../html-error.js';
import { viewerOf } from '../viewer.js';
import type { WebContext } from '../web-context.js';

// A username and a bundle name as Patchwork allows them (150 and 50 characters); the router hands them %-decoded.
const params = {
  type: 'object',
  required: ['owner', 'name'],
  properties: { owner: { type: 'string', minLength: 1, maxLength: 150 }, name: { type: 'string', minLength: 1, maxLength: 50 } },
} as const;

export function bundlePagesRoutes(ctx: WebContext): FastifyPluginAsync {
  const pages = createBundlePagesService({ db: ctx.db, projects: ctx.projects });
  return async (app) => {
    app.setErrorHandler((error: FastifyError | AppError, req, reply) => {
      if (isAppError(error)) return sendWebError(ctx.views, req, reply, error);
      if ((error as FastifyError).validation) return sendWebError(ctx.views, req, reply, new AppError('invalid', 'validation', error.message));
      throw error;
    });
    app.get<{ Params: { owner: string; name: string } }>('/bundle/:owner/:name/', { schema: { params, hide: true } }, async (req, reply) => {
      const page = await pages.bundlePage(req.params.owner, req.params.name, viewerOf(req));
      // Who may see a private bundle depends on the viewer: never kept by a shared cache.
      return reply.type('text/html; charset=utf-8').header('cache-control', 'private, no-cache').send(ctx.views.render('bundle', page.frame, page.data));
    });
  };
}

// Series pages: a series with its revisions, range-diff, checks and runs (and its live pipeline fragment); patch and
// cover pages at Patchwork's URLs, with /patch/ID/, /cover/ID/ and /comment/ID/ sent on to them; a step's log.
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../../errors.js';
import { MOVED_PERMANENTLY } from '../error-handler.js';
import { sendWebError } from '../html-error.js';
import { createRangeDiffService } from '../range-diff.service.js';
import { createPageCache } from '../page-cache.js';
import { createSeriesPagesService, rangeDiffTmp, type Page } from '../series-pages.service.js';
import { viewerOf } from '../viewer.js';
import type { WebContext } from '../web-context.js';

const id = { type: 'integer', minimum: 1, maximum: 2_147_483_647 } as const;
const idParams = { type: 'object', required: ['id'], properties: { id } } as const;
// RFC 5322 §2.1.1: a line is at most 998 characters, so is a Message-ID. The router hands it %-decoded.
const msgidParams = {
  type: 'object',
  required: ['slug', 'msgid'],
  properties: { slug: { type: 'string', minLength: 1, maxLength: 100 }, msgid: { type: 'string', minLength: 1, maxLength: 998 } },
} as const;
const seriesQuery = { type: 'object', properties: { from: id, to: id } } as const;
const logParams = {
  type: 'object',
  required: ['id', 'step'],
  properties: { id, step: { type: 'string', pattern: '^[a-z0-9-]+$', maxLength: 40 }, job: { type: 'string', pattern: '^[a-z0-9_-]+$', maxLength: 80 } },
} as const;

export function seriesPagesRoutes(ctx: WebContext): FastifyPluginAsync {
  const pages = createSeriesPagesService({
    db: ctx.db,
    projects: ctx.projects,
    runs: ctx.runs,
    dataDir: ctx.dataDir,
    rangeDiff: createRangeDiffService({ tmpDir: rangeDiffTmp(ctx.dataDir) }),
  });
  // Pages carry the viewer's CSRF token: never kept by a shared cache.
  const html = (reply: FastifyReply, body: string) => reply.type('text/html; charset=utf-8').header('cache-control', 'private, no-cache').send(body);
  const render = (reply: FastifyReply, name: string, page: Page) => html(reply, ctx.views.render(name, page.frame, page.data));
  const cache = createPageCache(ctx);
  /** A page as anonymous readers see it comes from the page cache while the database has not changed. */
  const cached = (req: FastifyRequest, reply: FastifyReply, name: string, make: () => Promise<Page>, project: () => Promise<number | null>) =>
    cache.send(
      req,
      reply,
      async () => {
        const page = await make();
        return { html: ctx.views.render(name, page.frame, page.data), keep: !page.volatile };
      },
      project,
    );
  // The project whose rows a page shows (a slug or series that names none: the render answers its error).
  const bySlug = (slug: string) => async () => ctx.api.api.oneProject({ project: slug });
  const ofSeries = (id: number) => () => ctx.api.api.projectOf('series', id);
  const moved = (reply: FastifyReply, location: string) => reply.status(MOVED_PERMANENTLY).header('location', location).send();

  return async (app) => {
    // A stale link or a bad query: an error page for a browser, the usual JSON for anything else.
    app.setErrorHandler((error: FastifyError | AppError, req, reply) => {
      if (isAppError(error)) return sendWebError(ctx.views, req, reply, error);
      if ((error as FastifyError).validation) return sendWebError(ctx.views, req, reply, new AppError('invalid', 'validation', error.message));
      throw error;
    });

    app.get<{ Params: { id: number }; Querystring: { from?: number; to?: number } }>(
      '/series/:id/',
      { schema: { params: idParams, querystring: seriesQuery, hide: true } },
      (req, reply) => cached(req, reply, 'series', () => pages.seriesPage(req.params.id, viewerOf(req), req.query), ofSeries(req.params.id)),
    );

    // The live region's content (the series page includes the same partial): an HTML fragment, no layout.
    app.get<{ Params: { id: number } }>('/series/:id/pipeline/', { schema: { params: idParams, hide: true } }, async (req, reply) =>
      html(reply, ctx.views.render('series-pipeline-fragment', { title: '', viewer: viewerOf(req) }, await pages.pipeline(req.params.id))),
    );

    app.get<{ Params: { slug: string; msgid: string } }>('/project/:slug/patch/:msgid/', { schema: { params: msgidParams, hide: true } }, (req, reply) =>
      cached(req, reply, 'patch', () => pages.patchPage(req.params.slug, req.params.msgid, viewerOf(req)), bySlug(req.params.slug)),
    );

    app.get<{ Params: { slug: string; msgid: string } }>('/project/:slug/cover/:msgid/', { schema: { params: msgidParams, hide: true } }, (req, reply) =>
      cached(req, reply, 'cover', () => pages.coverPage(req.params.slug, req.params.msgid, viewerOf(req)), bySlug(req.params.slug)),
    );

    // The API's web_url fields and old Patchwork links (/patch/ID/mbox/ and /raw/ are the mbox routes').
    app.get<{ Params: { id: number } }>('/patch/:id/', { schema: { params: idParams, hide: true } }, async (req, reply) => moved(reply, await pages.patchUrl(req.params.id)));
    app.get<{ Params: { id: number } }>('/cover/:id/', { schema: { params: idParams, hide: true } }, async (req, reply) => moved(reply, await pages.coverUrl(req.params.id)));
    app.get<{ Params: { id: number } }>('/comment/:id/', { schema: { params: idParams, hide: true } }, async (req, reply) => moved(reply, await pages.commentUrl(req.params.id)));

    // A step's log as HTML (the raw text stays at /runs/R/logs/STEP[/JOB]).
    const log = async (params: { id: number; step: string; job?: string }, req: Parameters<typeof viewerOf>[0], reply: FastifyReply) =>
      render(reply, 'log', await pages.logPage(params.id, params.step, params.job ?? '', viewerOf(req)));
    app.get<{ Params: { id: number; step: string } }>('/runs/:id/log/:step/', { schema: { params: logParams, hide: true } }, (req, reply) => log(req.params, req, reply));
    app.get<{ Params: { id: number; step: string; job: string } }>('/runs/:id/log/:step/:job/', { schema: { params: logParams, hide: true } }, (req, reply) => log(req.params, req, reply));
  };
}

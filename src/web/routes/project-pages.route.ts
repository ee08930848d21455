// Project pages: the projects, a project's series list (filters, order, pages), its students (gradebook, and as CSV).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { MOVED_PERMANENTLY } from '../error-handler.js';
import { createPageCache } from '../page-cache.js';
import { createProjectPagesService, ORDERS, STATE_FILTERS, type SeriesListQuery } from '../project-pages.service.js';
import type { PageFrame } from '../views.js';
import { viewerOf } from '../viewer.js';
import type { WebContext } from '../web-context.js';

const slugParams = { type: 'object', required: ['slug'], properties: { slug: { type: 'string', minLength: 1, maxLength: 64 } } } as const;
/** The filter form sends every field, blank ones as ''. */
const listQuery = {
  type: 'object',
  properties: {
    state: { type: 'string', enum: ['', ...STATE_FILTERS] },
    submitter: { type: 'string', maxLength: 200 },
    student: { type: 'string', maxLength: 100 },
    failing: { type: 'string', enum: ['', '0', '1'] },
    q: { type: 'string', maxLength: 200 },
    order: { type: 'string', enum: ['', ...ORDERS] },
    page: { type: 'integer', minimum: 1, maximum: 100_000 },
  },
} as const;

const SCRIPTS = ['keys.js'];

export function projectPagesRoutes(ctx: WebContext): FastifyPluginAsync {
  const pages = createProjectPagesService({ db: ctx.db, projects: ctx.projects, pipelineOn: ctx.runs !== null });
  const frame = (req: FastifyRequest, title: string, project: PageFrame['project'] = null): PageFrame => ({ title, viewer: viewerOf(req), project, scripts: SCRIPTS });

  const cache = createPageCache(ctx);
  const cached = (req: FastifyRequest, reply: FastifyReply, render: () => Promise<string>, project: () => Promise<number | null> = async () => null) =>
    cache.send(req, reply, async () => ({ html: await render(), keep: true }), project);
  // A slug that names no project: the render answers its error; the marker is every project's.
  const bySlug = (slug: string) => async () => ctx.api.api.oneProject({ project: slug });

  return async (app) => {
    const projectsPage = (req: FastifyRequest, reply: FastifyReply) =>
      cached(req, reply, async () => {
        // A private project is listed only to those who see something of it (visibility.service.ts).
        const ids = new Map(ctx.projects.map((p) => [p.slug, p.id]));
        const visible = new Set((await ctx.api.visibility.visibleProjects(viewerOf(req).user, ctx.projects)).map((p) => p.id));
        const projects = (await pages.projects()).filter((p) => visible.has(ids.get(p.slug) ?? -1));
        return ctx.views.render('projects', frame(req, 'Projects'), { projects });
      });
    app.get('/', { schema: { hide: true } }, projectsPage);
    app.get('/project/', { schema: { hide: true } }, projectsPage);

    // Patchwork's project page: here, its series list.
    app.get<{ Params: { slug: string } }>('/project/:slug/', { schema: { params: slugParams, hide: true } }, async (req, reply) => {
      const p = pages.project(req.params.slug);
      return reply.status(MOVED_PERMANENTLY).header('location', `/project/${p.slug}/list/`).send();
    });

    app.get<{ Params: { slug: string }; Querystring: SeriesListQuery }>(
      '/project/:slug/list/',
      { schema: { params: slugParams, querystring: listQuery, hide: true } },
      (req, reply) =>
        cached(req, reply, async () => {
          const page = await pages.seriesList(req.params.slug, req.query);
          return ctx.views.render('series-list', frame(req, `${page.project.name}: series`, page.project), page);
        }, bySlug(req.params.slug)),
    );

    app.get<{ Params: { slug: string } }>('/project/:slug/students/', { schema: { params: slugParams, hide: true } }, (req, reply) =>
      cached(req, reply, async () => {
        const page = await pages.students(req.params.slug);
        return ctx.views.render('students', frame(req, `${page.project.name}: students`, page.project), page);
      }, bySlug(req.params.slug)),
    );

    app.get<{ Params: { slug: string } }>('/project/:slug/students.csv', { schema: { params: slugParams, hide: true } }, async (req, reply) => {
      const csv = await pages.studentsCsv(req.params.slug);
      return reply
        .type('text/csv; charset=utf-8; header=present')
        .header('content-disposition', `attachment; filename="${csv.filename}"`)
        .header('cache-control', 'no-cache')
        .send(csv.body);
    });
  };
}

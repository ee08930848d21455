// The reviewer web view (issue 7): what its pages need from the core, and their fastify plugins in order —
// session first (it sets request.viewer), then static files, the project and series pages, and the admin (with the
// queue's pages and the actions on runs); and the run's page, which app.ts serves at the runs' JSON URL.
import type { FastifyPluginAsync } from 'fastify';
import type { WebContext } from './web-context.js';
import { createViews, type Views } from './views.js';
import { sessionRoutes } from './routes/session.route.js';
import { staticRoutes } from './routes/static.route.js';
import { projectPagesRoutes } from './routes/project-pages.route.js';
import { seriesPagesRoutes } from './routes/series-pages.route.js';
import { bundlePagesRoutes } from './routes/bundle-pages.route.js';
import { adminRoutes } from './routes/admin.route.js';
import { queueRoutes } from './routes/queue.route.js';
import { runAdminRoutes } from './routes/run-admin.route.js';
import { createRunPage, type RunPage } from './run-page.js';
import { passwordRoutes } from './routes/password.route.js';
import { createStudentAccounts, type StudentAccounts } from './student-accounts.service.js';

export type WebInput = Omit<WebContext, 'views'> & { views?: Views };

/** fastify keeps a plugin's hooks inside it; the session's hook (request.viewer) must reach every route. */
function unencapsulated(plugin: FastifyPluginAsync): FastifyPluginAsync {
  Object.assign(plugin, { [Symbol.for('skip-override')]: true });
  return plugin;
}

export interface WebParts {
  plugins: FastifyPluginAsync[];
  /** The run's page for GET /runs/R/ (registered with the runs' JSON, app.ts); absent when the pipeline is off. */
  runPage?: RunPage;
  /** Students' accounts and their password links (issue 14). */
  accounts: StudentAccounts;
}

export function createWebParts(input: WebInput): WebParts {
  const ctx: WebContext = { ...input, views: input.views ?? createViews() };
  const accounts = createStudentAccounts({
    db: ctx.db,
    projects: ctx.projects,
    baseUrl: () => ctx.urls.base,
    hostname: ctx.hostname ?? 'localhost',
    kick: ctx.kickOutbound,
  });
  return {
    accounts,
    plugins: [
      unencapsulated(sessionRoutes(ctx)),
      staticRoutes(),
      passwordRoutes(ctx, accounts),
      projectPagesRoutes(ctx),
      seriesPagesRoutes(ctx),
      bundlePagesRoutes(ctx),
      adminRoutes(ctx),
      ...(ctx.queue ? [queueRoutes(ctx, ctx.queue)] : []),
      ...(ctx.runAdmin ? [runAdminRoutes(ctx, ctx.runAdmin)] : []),
    ],
    ...(ctx.runs ? { runPage: createRunPage({ views: ctx.views, runs: ctx.runs, runAdmin: ctx.runAdmin, projects: ctx.projects }) } : {}),
  };
}

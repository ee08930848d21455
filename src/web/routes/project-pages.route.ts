// Project pages: the projects, a project's series list, its students (gradebook).
import type { FastifyPluginAsync } from 'fastify';
import type { WebContext } from '../web-context.js';

export function projectPagesRoutes(_ctx: WebContext): FastifyPluginAsync {
  return async () => {};
}

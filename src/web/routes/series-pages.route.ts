// Series pages: a series with its revisions, range-diff, checks and runs; patch and cover pages.
import type { FastifyPluginAsync } from 'fastify';
import type { WebContext } from '../web-context.js';

export function seriesPagesRoutes(_ctx: WebContext): FastifyPluginAsync {
  return async () => {};
}

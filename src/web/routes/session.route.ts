// Sessions: sets request.viewer on every request from the session cookie; login and logout pages.
// (Stub until the session work lands: everyone is anonymous.)
import type { FastifyPluginAsync } from 'fastify';
import type { WebContext } from '../web-context.js';
import { ANONYMOUS } from '../viewer.js';

export function sessionRoutes(_ctx: WebContext): FastifyPluginAsync {
  return async (app) => {
    app.decorateRequest('viewer', ANONYMOUS);
    app.addHook('onRequest', async (req) => {
      req.viewer = ANONYMOUS;
    });
  };
}

// The admin pages (users, tokens, outbox, held mails, subscribers, health) and the maintainers' forms.
import type { FastifyPluginAsync } from 'fastify';
import type { WebContext } from '../web-context.js';

export function adminRoutes(_ctx: WebContext): FastifyPluginAsync {
  return async () => {};
}

// Builds the fastify application from its services; only main.ts makes it listen.
import formbody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import { installErrorHandler } from './error-handler.js';
import { healthRoutes, type HealthDeps } from './routes/health.route.js';
import { listsRoutes, type ListsDeps } from './routes/lists.route.js';

export interface AppDeps {
  log: Logger;
  health: HealthDeps;
  lists: ListsDeps;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    // Request lines are logged at info; the web logger keeps warnings and errors only.
    loggerInstance: deps.log.child({}, { level: 'warn' }) as FastifyBaseLogger,
    trustProxy: true,
  });
  installErrorHandler(app);
  await app.register(formbody);
  app.addHook('onSend', async (_req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('content-security-policy', "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'");
  });
  await app.register(healthRoutes(deps.health));
  await app.register(listsRoutes(deps.lists));
  return app;
}

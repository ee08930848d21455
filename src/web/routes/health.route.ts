// GET /healthz: liveness plus the counts an operator watches (mail stored but not processed, outbound queued).
import type { FastifyPluginAsync } from 'fastify';

export interface HealthDeps {
  snapshot(): Promise<{ mails: number; pending: number; outboundQueued: number }>;
}

export function healthRoutes(deps: HealthDeps): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/healthz',
      {
        schema: {
          response: {
            200: {
              type: 'object',
              properties: { status: { type: 'string' }, mails: { type: 'integer' }, pending: { type: 'integer' }, outboundQueued: { type: 'integer' } },
            },
          },
        },
      },
      async () => ({ status: 'ok', ...(await deps.snapshot()) }),
    );
  };
}

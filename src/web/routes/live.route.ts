// GET /series/ID/events: Server-Sent Events (WHATWG HTML §9.2) for the series page's live pipeline progress. An
// `event: pipeline` whenever the series' runs or steps change, a comment line every 15 s so proxies keep the stream;
// streams end when the client goes and when the server closes (fastify's close waits for no stream).
import type { FastifyPluginAsync } from 'fastify';
import { notFound } from '../../errors.js';
import { OK } from '../error-handler.js';
import { LiveService, type PipelineEvent } from '../live.service.js';
import type { WebContext } from '../web-context.js';

const idParam = { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'] } as const;
const HEARTBEAT_MS = 15_000;
/** The browser's reconnection delay after the stream drops (EventSource reconnects by itself). */
const RETRY_MS = 3000;

export function liveRoutes(ctx: WebContext, opts: { pollMs?: number; heartbeatMs?: number } = {}): FastifyPluginAsync {
  return async (app) => {
    const live = new LiveService(ctx.db, ctx.log, opts.pollMs);
    const open = new Set<() => void>();
    // preClose: before the server stops accepting, or close() would wait on these connections for ever.
    app.addHook('preClose', async () => {
      for (const end of [...open]) end();
      live.stop();
    });

    app.get<{ Params: { id: number } }>('/series/:id/events', { schema: { hide: true, params: idParam } }, async (req, reply) => {
      const first = await live.current(req.params.id);
      if (!first) throw notFound('series_not_found', `no series ${req.params.id}`);
      reply.hijack();
      const res = reply.raw;
      // A hijacked reply skips the onSend hooks: the same security headers by hand.
      res.writeHead(OK, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store, no-transform',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'",
      });
      const send = (e: PipelineEvent) => res.write(`event: pipeline\ndata: ${JSON.stringify(e)}\n\n`);
      res.write(`retry: ${RETRY_MS}\n\n`);
      send(first.event);
      const unwatch = live.watch(req.params.id, first.key, send);
      const beat = setInterval(() => res.write(': heartbeat\n\n'), opts.heartbeatMs ?? HEARTBEAT_MS);
      const end = () => {
        if (!open.delete(end)) return;
        clearInterval(beat);
        unwatch();
        if (!res.writableEnded) res.end();
      };
      open.add(end);
      res.on('close', end);
    });
  };
}

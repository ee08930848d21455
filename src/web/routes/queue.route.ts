// Watching the queue (the talk's Flower): /admin/queue/ (lanes, workers, and the runs with their cancel and retry
// buttons: run-admin.route.ts), /admin/queue.json (the same for scripts)
// and /metrics (Prometheus). Admins only: a signed-in admin's session, or an admin's API token or password
// (Authorization: Token …, or Basic), as a scraper sends them; 401 without credentials, 403 for anyone else.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { forbidden, unauthenticated } from '../../errors.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from '../../queue/metrics.js';
import type { QueueSnapshot, QueueWatch } from '../../queue/queue-view.js';
import type { RunBoard } from '../../pipeline/run-admin.service.js';
import { DONE_TEXT } from '../admin.service.js';
import { SEE_OTHER } from '../error-handler.js';
import { loginLocation } from '../headers.js';
import { sendWebError, wantsHtml } from '../html-error.js';
import { viewerOf } from '../viewer.js';
import type { WebContext } from '../web-context.js';

const CHALLENGE = 'Basic realm="patchbay admin", Token';

/** "4 s ago", "3 min ago" … for a heartbeat's age. */
export function ageText(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(s)) return iso;
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export function queueRoutes(ctx: WebContext, watch: QueueWatch): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const viewer = viewerOf(req);
      if (viewer.user?.role === 'admin') return;
      if (viewer.user) return sendWebError(ctx.views, req, reply, forbidden('admin_only', 'Only admins may watch the queue.'));
      const who = await ctx.api.auth.authenticate(req.headers.authorization, req.ip);
      if (who?.role === 'admin') return;
      if (who) throw forbidden('admin_only', 'Only admins may watch the queue.');
      // A browser opening the page logs in first; a script is told which credentials to send.
      if (req.url.startsWith('/admin/queue/') && (req.method === 'GET' || req.method === 'HEAD') && wantsHtml(req)) return reply.redirect(loginLocation(req.url), SEE_OTHER);
      throw unauthenticated('admin_auth_required', 'An admin\'s credentials are required (Authorization: Token … or Basic).', CHALLENGE);
    });

    const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store');

    const doneQuery = { type: 'object', properties: { done: { type: 'string', maxLength: 40 } } } as const;
    app.get<{ Querystring: { done?: string } }>('/admin/queue/', { schema: { hide: true, querystring: doneQuery } }, async (req, reply) => {
      const [snap, runs] = await Promise.all([watch.view.snapshot(), ctx.runAdmin?.board() ?? null]);
      const now = Date.parse(snap.takenAt);
      const data = {
        ...snap,
        workers: snap.workers.map((w) => ({ ...w, heartbeatAge: ageText(w.lastHeartbeat, now) })),
        runs,
        // The LAVA server's jobs of the live runs and the projects' job slots (issue 15); null: no LAVA server.
        lava: ctx.lava?.all() ?? null,
        // The outcome of a cancel or retry button, as a fixed text (never the request's words).
        done: DONE_TEXT[req.query.done ?? ''] ?? null,
      };
      return noStore(reply)
        .type('text/html; charset=utf-8')
        .send(ctx.views.render('admin-queue', { title: 'Queue', viewer: viewerOf(req), scripts: ['keys.js'] }, data));
    });

    app.get('/admin/queue.json', { schema: { hide: true } }, async (_req, reply) => {
      const [snap, runs]: [QueueSnapshot, RunBoard | null] = await Promise.all([watch.view.snapshot(), ctx.runAdmin?.board() ?? null]);
      // The registry's per-process instance id is of no use to a script. `runs`: what POST /admin/runs/R/cancel and
      // …/retry act on (null when the pipeline is off).
      return noStore(reply).send({ ...snap, workers: snap.workers.map(({ instance: _instance, ...w }) => w), runs, lava: ctx.lava?.all() ?? null });
    });

    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
      const [snap, durations] = await Promise.all([watch.view.snapshot(), watch.durations.durations()]);
      return noStore(reply).type(METRICS_CONTENT_TYPE).send(renderMetrics(snap, durations));
    });
  };
}

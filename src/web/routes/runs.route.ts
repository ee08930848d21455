// The pipeline's runs: JSON for a run (its page for a browser) and a series' runs, and each step's full log as text (checks link to it).
import fs from 'node:fs';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { RunViewService } from '../../pipeline/run-view.service.js';
import { notFound } from '../../errors.js';
import { wantsHtml } from '../html-error.js';
import type { RunPage } from '../run-page.js';

/** The LAVA runner's side of the runs' routes (src/pipeline/lava/lava-jobs.service.ts). */
export interface LavaRoutes {
  verify(runId: number, secret: string): boolean;
  notified(runId: number): void;
}

const idParam = { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'] } as const;

/**
 * @param page the run's page for browsers (src/web/run-page.ts); without it /runs/R/ is JSON for everyone.
 * @param lava the LAVA runner's URLs (issue 15): checks the per-run secret of /runs/R/lava/SECRET/KEY/NAME (the artefacts a
 *   LAVA worker downloads) and of /runs/R/lava/SECRET/notify (LAVA's callback when a job ends).
 */
export function runsRoutes(deps: RunViewService, page?: RunPage, lava?: LavaRoutes): FastifyPluginAsync {
  return async (app) => {
    // One URL, two readers: a browser gets the run's page (the web view's, when it is on), anything else the JSON.
    const runQuery = { type: 'object', properties: { format: { type: 'string', enum: ['json', 'html'] }, done: { type: 'string', maxLength: 40 } } } as const;
    app.get<{ Params: { id: number }; Querystring: { format?: 'json' | 'html'; done?: string } }>(
      '/runs/:id/',
      { schema: { params: idParam, querystring: runQuery, hide: true } },
      async (req, reply) => {
        if (page && req.query.format !== 'json' && (req.query.format === 'html' || wantsHtml(req))) return page(req, reply, req.params.id);
        return reply.header('vary', 'Accept').send(await deps.run(req.params.id));
      },
    );
    app.get<{ Params: { id: number } }>('/series/:id/runs/', { schema: { params: idParam, hide: true } }, async (req) => deps.runsOfSeries(req.params.id));
    const logParams = {
      type: 'object',
      properties: { id: { type: 'integer', minimum: 1 }, step: { type: 'string', pattern: '^[a-z0-9-]+$' }, job: { type: 'string', pattern: '^[a-z0-9_-]+$' } },
      required: ['id', 'step'],
    } as const;
    const sendLog = async (params: { id: number; step: string; job?: string }, reply: FastifyReply) => {
      const file = await deps.logFile(params.id, params.step, params.job ?? '');
      // Logs hold what the student's code and our tools printed: served as inert text.
      return reply.type('text/plain; charset=utf-8').send(fs.createReadStream(file));
    };
    app.get<{ Params: { id: number; step: string } }>('/runs/:id/logs/:step', { schema: { params: logParams, hide: true } }, (req, reply) => sendLog(req.params, reply));
    app.get<{ Params: { id: number; '*': string } }>('/runs/:id/artifacts/*', { schema: { hide: true } }, async (req, reply) => {
      const file = deps.artifactFile(Number(req.params.id), req.params['*']);
      // Images and consoles: downloaded, never rendered.
      const text = /\.(log|txt|csv|xml|yaml|sh)$/.test(file);
      return reply.type(text ? 'text/plain; charset=utf-8' : 'application/octet-stream').send(fs.createReadStream(file));
    });
    if (lava) {
      const lavaSecret = (id: number, secret: string) => lava.verify(id, secret);
      // The LAVA worker downloads the kernel, initramfs and disks with no account: the secret in the URL is its right to.
      const lavaParams = { type: 'object', properties: { id: { type: 'integer', minimum: 1 }, secret: { type: 'string', pattern: '^[0-9a-f]{32}$' } }, required: ['id', 'secret'] } as const;
      app.get<{ Params: { id: number; secret: string; '*': string } }>('/runs/:id/lava/:secret/*', { schema: { params: lavaParams, hide: true } }, async (req, reply) => {
        if (!lavaSecret(req.params.id, req.params.secret)) throw notFound('not_found', 'Not found.');
        const file = deps.artifactFile(req.params.id, req.params['*']);
        // LAVA's download action reads the size from a HEAD first (lava_dispatcher/actions/deploy/download.py).
        return reply.type('application/octet-stream').header('content-length', fs.statSync(file).size).send(fs.createReadStream(file));
      });
      // LAVA's notify callback (dataset minimal): only a wake-up, what the job says is read from the server's API.
      app.post<{ Params: { id: number; secret: string } }>('/runs/:id/lava/:secret/notify', { schema: { params: lavaParams, hide: true }, bodyLimit: 64 * 1024, config: { secretInUrl: true } }, async (req, reply) => {
        if (!lavaSecret(req.params.id, req.params.secret)) throw notFound('not_found', 'Not found.');
        lava.notified(req.params.id);
        return reply.send({ ok: true });
      });
    }
    app.get<{ Params: { id: number; step: string; job: string } }>('/runs/:id/logs/:step/:job', { schema: { params: logParams, hide: true } }, (req, reply) => sendLog(req.params, reply));
  };
}

// The workers' door: GET /api/worker/whoami (a worker checks its token at start); PUT /api/worker/runs/:run/files/log/:name and …/files/artifact/:key/:name upload a remote
// step's log or artefact (raw bytes, application/octet-stream) with the worker's own token (401 without it or with a
// revoked one, before a byte of the body is read); GET …/files/artifact/:key/:name downloads one (a test job on
// another worker than its build takes the kernel image from here). Where the files land: src/queue/worker-files.service.ts.
import fs from 'node:fs';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { AppError } from '../../errors.js';
import type { FileKind, WorkerFilesService } from '../../queue/worker-files.service.js';
import type { WorkerPrincipal, WorkerTokenService } from '../../queue/worker-token.service.js';
import { CREATED } from '../error-handler.js';

export interface WorkerRouteDeps {
  tokens: Pick<WorkerTokenService, 'authenticate'>;
  files: Pick<WorkerFilesService, 'store' | 'check' | 'limit' | 'artifact'>;
}

const run = { type: 'integer', minimum: 1 } as const;
const name = { type: 'string', minLength: 1, maxLength: 160 } as const;
const logParams = { type: 'object', properties: { run, name }, required: ['run', 'name'] } as const;
const artifactParams = { type: 'object', properties: { run, key: { type: 'string', minLength: 1, maxLength: 40 }, name }, required: ['run', 'key', 'name'] } as const;
const stored = {
  type: 'object',
  properties: { kind: { type: 'string' }, path: { type: 'string' }, bytes: { type: 'integer' }, worker: { type: 'string' } },
} as const;

const workers = new WeakMap<FastifyRequest, WorkerPrincipal>();

export function workerRoutes(deps: WorkerRouteDeps): FastifyPluginAsync {
  return async (app) => {
    // The body is handed over as the request stream: the service writes it to disk as it comes, within its bound.
    app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    app.addHook('onRequest', async (req) => {
      workers.set(req, await deps.tokens.authenticate(req.headers.authorization));
    });

    const upload = async (req: FastifyRequest, kind: FileKind, runId: number, fileName: string, key?: string) => {
      const target = { runId, kind, name: fileName, ...(key === undefined ? {} : { key }) };
      deps.files.check(target);
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (Number.isFinite(declared) && declared > deps.files.limit(kind)) {
        throw new AppError('too_large', 'upload_too_large', `the ${kind} is ${declared} bytes, more than the ${deps.files.limit(kind)} allowed`);
      }
      const body = req.body as Readable | undefined;
      if (!body || typeof body.pipe !== 'function') throw new AppError('invalid', 'upload_body_required', 'send the file as the body, Content-Type: application/octet-stream');
      const file = await deps.files.store(target, body);
      return { ...file, worker: workers.get(req)!.name };
    };

    app.get('/api/worker/whoami', { schema: { hide: true, response: { 200: { type: 'object', properties: { worker: { type: 'string' } } } } } }, async (req) => ({
      worker: workers.get(req)!.name,
    }));
    app.put<{ Params: { run: number; name: string } }>(
      '/api/worker/runs/:run/files/log/:name',
      { schema: { hide: true, params: logParams, response: { [CREATED]: stored } } },
      async (req, reply) => reply.status(CREATED).send(await upload(req, 'log', req.params.run, req.params.name)),
    );
    app.get<{ Params: { run: number; key: string; name: string } }>('/api/worker/runs/:run/files/artifact/:key/:name', { schema: { hide: true, params: artifactParams } }, async (req, reply) => {
      const file = deps.files.artifact(req.params.run, req.params.key, req.params.name);
      return reply.type('application/octet-stream').header('content-length', fs.statSync(file).size).send(fs.createReadStream(file));
    });
    app.put<{ Params: { run: number; key: string; name: string } }>(
      '/api/worker/runs/:run/files/artifact/:key/:name',
      { schema: { hide: true, params: artifactParams, response: { [CREATED]: stored } } },
      async (req, reply) => reply.status(CREATED).send(await upload(req, 'artifact', req.params.run, req.params.name, req.params.key)),
    );
  };
}

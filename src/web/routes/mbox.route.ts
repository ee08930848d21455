// Patchwork's mbox downloads: /patch/N/mbox/ (?series=), /patch/N/raw/, /series/N/mbox/, /cover/N/mbox/, /bundle/U/NAME/mbox/.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ArchiveService, Download } from '../archive.service.js';
import { contentDisposition } from '../headers.js';

export type MboxDeps = Pick<ArchiveService, 'patchMbox' | 'patchDiff' | 'seriesMbox' | 'coverMbox' | 'bundleMbox'>;

export interface MboxRouteOptions {
  /**
   * Who sends the request (`Authorization: Token …` or Basic, as the REST API reads it), for private bundles;
   * null: anonymous. Patchwork's bundle_mbox view accepts the API's credentials (views/bundle.py rest_auth).
   */
  authenticate(authorization: string | undefined, address: string): Promise<{ id: number } | null>;
}

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1, maximum: 2_147_483_647 } } } as const;

/**
 * git-pw 2.0 (api.download) takes the file name from `filename=(.+)` and uses it as is: Patchwork's unquoted
 * `attachment; filename=…`. mboxFilename leaves only `-_.A-Za-z0-9`, so nothing needs quoting; contentDisposition
 * bounds its length (a subject can be any length).
 */
function send(reply: FastifyReply, d: Download, type: string): FastifyReply {
  return reply.type(type).header('content-disposition', contentDisposition('attachment', d.filename)).send(d.body);
}

const bundleParams = {
  type: 'object',
  required: ['owner', 'name'],
  properties: { owner: { type: 'string', minLength: 1, maxLength: 150 }, name: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

export function mboxRoutes(deps: MboxDeps, opts: MboxRouteOptions): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { id: number }; Querystring: { series?: string } }>(
      '/patch/:id/mbox/',
      { schema: { params: idParams, querystring: { type: 'object', properties: { series: { type: 'string', maxLength: 20 } } } } },
      async (req, reply) => send(reply, await deps.patchMbox(req.params.id, req.query.series), 'text/plain; charset=utf-8'),
    );

    // git-pw `patch download --diff` fetches the mbox URL with "mbox" replaced by "raw".
    app.get<{ Params: { id: number } }>('/patch/:id/raw/', { schema: { params: idParams } }, async (req, reply) =>
      send(reply, await deps.patchDiff(req.params.id), 'text/x-patch; charset=utf-8'),
    );

    app.get<{ Params: { id: number } }>('/series/:id/mbox/', { schema: { params: idParams } }, async (req, reply) =>
      send(reply, await deps.seriesMbox(req.params.id), 'text/plain; charset=utf-8'),
    );

    app.get<{ Params: { owner: string; name: string } }>('/bundle/:owner/:name/mbox/', { schema: { params: bundleParams } }, async (req, reply) => {
      const viewer = await opts.authenticate(req.headers.authorization, req.ip);
      return send(reply, await deps.bundleMbox(req.params.owner, req.params.name, viewer?.id ?? null), 'text/plain; charset=utf-8');
    });

    app.get<{ Params: { id: number } }>('/cover/:id/mbox/', { schema: { params: idParams } }, async (req, reply) =>
      send(reply, await deps.coverMbox(req.params.id), 'text/plain; charset=utf-8'),
    );
  };
}

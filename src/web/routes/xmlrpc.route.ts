// Patchwork's XML-RPC endpoint for pwclient: POST /xmlrpc/ (faults as Patchwork writes them, HTTP 200), GET /xmlrpc/
// (the method list), and GET /project/SLUG/pwclientrc/, a pwclient configuration for the project.
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { XmlRpcService } from '../../api/xmlrpc.service.js';
import { isAppError, notAllowed } from '../../errors.js';
import { contentDisposition, publicBase } from '../headers.js';
import { viewerOf } from '../viewer.js';
import { decodeCall, encodeFault, encodeResponseChunks, faultOf } from '../xmlrpc-wire.js';

export interface XmlRpcRouteDeps {
  service: XmlRpcService;
  /** Configured public base URL; null: built from each request (X-Forwarded-* only from a --trust-proxy peer). */
  baseUrl: string | null;
}

/**
 * A request body larger than this is refused (413) before it is parsed. pwclient's calls are a few hundred bytes;
 * the largest is check_create with a description.
 */
export const XMLRPC_BODY_LIMIT = 1024 * 1024;

const slugParams = { type: 'object', required: ['slug'], properties: { slug: { type: 'string', minLength: 1, maxLength: 64 } } } as const;

/** configparser (BasicInterpolation, as pwclient reads its file) treats `%` as special: it is written `%%`. */
const ini = (s: string) => s.replace(/%/g, '%%');

export function xmlrpcRoutes(deps: XmlRpcRouteDeps): FastifyPluginAsync {
  const { service } = deps;
  const baseOf = (req: FastifyRequest) => publicBase(deps.baseUrl, req);
  return async (app) => {
    // XML only: a browser form cannot post text/xml to another site without CORS, so a page elsewhere cannot make a
    // signed-in browser call patch_set with credentials it remembers.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(['text/xml', 'application/xml'], { parseAs: 'string', bodyLimit: XMLRPC_BODY_LIMIT }, (_req, body, done) => done(null, body));

    app.post('/xmlrpc/', { schema: { hide: true } }, async (req, reply) => {
      reply.type('text/xml; charset=utf-8').header('cache-control', 'no-store');
      try {
        const { method, params } = await decodeCall(typeof req.body === 'string' ? req.body : '');
        const result = await service.call(method, params, { authorization: req.headers.authorization, address: req.ip, base: baseOf(req) });
        // A long list goes out as a stream, a batch of items between turns of the event loop.
        return reply.send(Readable.from(encodeResponseChunks(result), { objectMode: false, highWaterMark: 1 }));
      } catch (e) {
        if (!isAppError(e)) req.log.error({ err: e }, 'xmlrpc method failed');
        return reply.send(encodeFault(faultOf(e)));
      }
    });

    // Patchwork answers a GET with its generated documentation.
    app.get('/xmlrpc/', { schema: { hide: true } }, async (_req, reply) => {
      const lines = service.describe().map((m) => `${m.signature}${m.login ? '  [HTTP Basic]' : ''}\n    ${m.doc}`);
      const text = `patchbay XML-RPC interface (Patchwork's, version 1.3.0), for pwclient\n\nPOST text/xml method calls to this URL. Methods:\n\n${lines.join('\n')}\n`;
      return reply.type('text/plain; charset=utf-8').send(text);
    });
    app.route({
      method: ['PUT', 'PATCH', 'DELETE'],
      url: '/xmlrpc/',
      schema: { hide: true },
      handler: async (req, reply) => {
        reply.header('allow', 'GET, HEAD, POST');
        throw notAllowed('method_not_allowed', `Method "${req.method}" not allowed.`);
      },
    });

    app.get<{ Params: { slug: string } }>('/project/:slug/pwclientrc/', { schema: { params: slugParams, hide: true } }, async (req, reply) => {
      const p = service.project(req.params.slug);
      const base = baseOf(req);
      const user = viewerOf(req).user;
      const text = [
        `# pwclient configuration for ${p.name} (${p.slug}) on ${base}`,
        '#',
        '# Add this section to ~/.pwclientrc. A new ~/.pwclientrc also needs the two lines',
        `# below, without their '#', to make ${p.slug} the project pwclient works on by default:`,
        '# [options]',
        `# default = ${p.slug}`,
        '',
        `[${p.slug}]`,
        'backend = xmlrpc',
        `url = ${ini(base)}/xmlrpc/`,
        // Updates (pwclient update, check-create) log in with HTTP Basic: the same password as the web login.
        ...(user ? [`username = ${ini(user.username)}`, 'password = <your patchbay password>'] : ['# username = <your patchbay username>', '# password = <your patchbay password>']),
        '',
      ].join('\n');
      return reply
        .type('text/plain; charset=utf-8')
        .header('content-disposition', contentDisposition('attachment', '.pwclientrc'))
        .header('cache-control', 'private, no-store')
        .send(text);
    });
  };
}

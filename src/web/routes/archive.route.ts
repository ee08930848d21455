// The list archive in public-inbox's URL layout: /<list>/<msgid>/ (+ raw, t.mbox.gz), the 301 without slash, POST search for b4.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../../errors.js';
import { msgidSegment } from '../../mail/archive-layout.js';
import type { ArchiveService, Download } from '../archive.service.js';
import { renderIndexPage, renderMessagePage } from '../archive-pages.js';
import { MOVED_PERMANENTLY } from '../error-handler.js';
import { boundedLocation, contentDisposition, publicBase } from '../headers.js';
import { viewerOf } from '../viewer.js';

export type ArchiveRouteDeps = Pick<ArchiveService, 'checkList' | 'message' | 'raw' | 'threadMbox' | 'searchMbox' | 'index'>;

export interface ArchiveRouteOptions {
  /** The configured public base URL (no trailing slash), for absolute redirects; null: from the request's Host. */
  publicBase: string | null;
}

/*
 * Routing rule: `/<list>/…` is registered as parameters, and fastify's router prefers static segments, so /api/…,
 * /lists/…, /patch/…, /series/…, /cover/…, /healthz and other pages always win. A list whose name is one of the
 * reserved roots (archive-layout.ts RESERVED_ROOTS) is served under /all/ only: the service answers 404 for
 * /<reserved>/… here, whatever follows. Message-IDs come %-decoded by the router (%40 → @, %2F → /); `+` is a `+`.
 */

const listParam = { type: 'string', minLength: 1, maxLength: 100 } as const;
// RFC 5322 §2.1.1: a line is at most 998 characters, so is a Message-ID.
const msgidParam = { type: 'string', minLength: 1, maxLength: 998 } as const;
const listOnly = { type: 'object', required: ['list'], properties: { list: listParam } } as const;
const listAndMsgid = { type: 'object', required: ['list', 'msgid'], properties: { list: listParam, msgid: msgidParam } } as const;
const searchQuery = {
  type: 'object',
  properties: { q: { type: 'string', maxLength: 2000 }, x: { type: 'string', maxLength: 8 }, t: { type: 'string', maxLength: 8 }, o: { type: 'string', maxLength: 16 } },
} as const;

interface ListParams {
  list: string;
}
interface MsgParams extends ListParams {
  msgid: string;
}
interface SearchQuery {
  q?: string;
  x?: string;
  t?: string;
  o?: string;
}

function download(reply: FastifyReply, d: Download, type: string): FastifyReply {
  return reply.type(type).header('content-disposition', contentDisposition('inline', d.filename)).send(d.body);
}

function html(reply: FastifyReply, body: string): FastifyReply {
  return reply.type('text/html; charset=utf-8').send(body);
}

export function archiveRoutes(deps: ArchiveRouteDeps, opts: ArchiveRouteOptions): FastifyPluginAsync {
  /**
   * public-inbox's r301: an absolute Location (b4 derives the archive's URL from it), the query string kept unless
   * that makes it too long. The base is --base-url, else the request's scheme and Host (X-Forwarded-Proto/-Host
   * count only from a --trust-proxy peer: fastify's request.protocol and request.host).
   */
  function redirect(req: FastifyRequest, reply: FastifyReply, path: string): FastifyReply {
    const base = publicBase(opts.publicBase, req);
    const q = req.url.indexOf('?');
    const location = boundedLocation(base, path, q === -1 ? '' : req.url.slice(q));
    return reply.status(MOVED_PERMANENTLY).header('location', location).type('text/plain; charset=utf-8').send(`Redirecting to ${location}\n`);
  }

  return async (app) => {
    app.get<{ Params: ListParams }>('/:list', { schema: { params: listOnly } }, async (req, reply) => {
      deps.checkList(req.params.list);
      return redirect(req, reply, `/${encodeURIComponent(req.params.list)}/`);
    });

    app.get<{ Params: ListParams; Querystring: SearchQuery }>('/:list/', { schema: { params: listOnly, querystring: searchQuery } }, async (req, reply) =>
      html(reply, renderIndexPage(await deps.index(req.params.list, req.query.q?.trim() || null, undefined, /^\d{1,9}$/.test(req.query.o ?? '') ? Number(req.query.o) : 0), viewerOf(req))),
    );

    // public-inbox answers ?x=m with an mbox only to POST (a GET gives the HTML results): crawlers do not POST.
    app.post<{ Params: ListParams; Querystring: SearchQuery; Body: { q?: string } | undefined }>(
      '/:list/',
      {
        schema: {
          params: listOnly,
          querystring: searchQuery,
          body: { type: ['object', 'null'], properties: { q: { type: 'string', maxLength: 2000 } } },
        },
      },
      async (req, reply) => {
        const q = (req.query.q ?? req.body?.q ?? '').trim();
        if (req.query.x !== 'm') throw invalid('search_format', 'POST searches answer with an mbox: add x=m');
        if (!q) throw invalid('search_empty', 'the search has no terms: add q=');
        return download(reply, await deps.searchMbox(req.params.list, q, { thread: req.query.t === '1' }), 'application/gzip');
      },
    );

    app.get<{ Params: MsgParams }>('/:list/:msgid', { schema: { params: listAndMsgid } }, async (req, reply) => {
      deps.checkList(req.params.list);
      return redirect(req, reply, `/${encodeURIComponent(req.params.list)}/${msgidSegment(req.params.msgid)}/`);
    });

    app.get<{ Params: MsgParams }>('/:list/:msgid/', { schema: { params: listAndMsgid } }, async (req, reply) =>
      html(reply, renderMessagePage(await deps.message(req.params.list, req.params.msgid), viewerOf(req))),
    );

    app.get<{ Params: MsgParams }>('/:list/:msgid/raw', { schema: { params: listAndMsgid } }, async (req, reply) =>
      download(reply, await deps.raw(req.params.list, req.params.msgid), 'text/plain; charset=utf-8'),
    );

    app.get<{ Params: MsgParams }>('/:list/:msgid/t.mbox.gz', { schema: { params: listAndMsgid } }, async (req, reply) =>
      download(reply, await deps.threadMbox(req.params.list, req.params.msgid), 'application/gzip'),
    );
  };
}

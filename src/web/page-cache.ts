// Pages as anonymous readers see them, kept under the change marker of their project (the API's ResponseCache): a
// page shows the same HTML until the next write to its project (or to what every page shows: users, settings), so a
// repeat costs a map lookup instead of its queries and its render. Signed-in pages carry a CSRF token and their
// viewer's forms: never kept.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ANY_CHANGE, type ChangeScope } from '../api/change-generations.js';
import { etagOf, noneMatchHits, ResponseCache, type CachedAnswer } from '../api/response-cache.js';
import { NOT_MODIFIED } from './error-handler.js';
import { viewerOf } from './viewer.js';
import type { WebContext } from './web-context.js';

/** What a page's handler renders; `keep: false` for a page whose content can change without a database write. */
export interface Rendered {
  html: string;
  keep: boolean;
}

/** 16 MiB: a few hundred series lists (~60 KB each) and thousands of series and patch pages. */
const LIMITS = { maxEntries: 4000, maxBytes: 16 * 2 ** 20 };

export interface PageCache {
  /** `project`: the project whose rows the page shows (its id, or null for pages of every project). */
  send(req: FastifyRequest, reply: FastifyReply, render: () => Promise<Rendered>, project: () => Promise<number | null>): Promise<FastifyReply>;
}

export function createPageCache(ctx: Pick<WebContext, 'api'>): PageCache {
  const cache = new ResponseCache(LIMITS);
  const html = (reply: FastifyReply) => reply.type('text/html; charset=utf-8').header('cache-control', 'private, no-cache');
  return {
    async send(req, reply, render, project) {
      // A reader by API credentials may see what anonymous does not (a private project): never shared either.
      if (viewerOf(req).user || req.headers.authorization) return html(reply).send((await render()).html);
      // A page shows any kind of its project's rows (submissions, checks, runs): only the project narrows it.
      const marker = await ctx.api.api.marker({ ...ANY_CHANGE, project: await project() });
      let a: CachedAnswer | undefined = cache.get(req.url, marker);
      if (!a) {
        const r = await render();
        const body = Buffer.from(r.html);
        a = { body, etag: etagOf(body), link: undefined };
        // Kept under the marker read before rendering: a write meanwhile moves the marker and the copy is not served.
        if (r.keep) cache.set(req.url, marker, a);
      }
      reply.header('etag', a.etag);
      if (noneMatchHits(req.headers['if-none-match'], a.etag)) return reply.code(NOT_MODIFIED).send();
      return html(reply).send(a.body);
    },
  };
}

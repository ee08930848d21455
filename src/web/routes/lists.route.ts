// /lists/:slug/…: subscribe form, confirmation pages (POST only changes state) and RFC 8058 one-click unsubscribe.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../../errors.js';
import { archiveRoot } from '../../mail/archive-layout.js';
import type { ListSummary, SubscriptionService } from '../../smtp/subscription.service.js';
import { ACCEPTED, OK } from '../error-handler.js';
import { viewerOf } from '../viewer.js';
import { createViews, type Views } from '../views.js';

export type ListsDeps = Pick<
  SubscriptionService,
  'list' | 'subscribe' | 'confirm' | 'pendingConfirmation' | 'unsubscribeTarget' | 'unsubscribeOneClick'
>;

const slugParam = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } as const;
const tokenParam = { type: 'string', pattern: '^[A-Za-z0-9_-]{16,64}$' } as const;
const slugOnly = { type: 'object', required: ['slug'], properties: { slug: slugParam } } as const;
const slugAndToken = { type: 'object', required: ['slug', 'token'], properties: { slug: slugParam, token: tokenParam } } as const;

const stateReply = {
  type: 'object',
  properties: { status: { type: 'string' }, email: { type: 'string' }, state: { type: 'string' }, list: { type: 'string' } },
} as const;

/** RFC 8058 §3.1 one-click bodies are small: a form's worth. */
const FORM_LIMIT = 16 * 1024;

interface SlugParams {
  slug: string;
}
interface TokenParams extends SlugParams {
  token: string;
}

/** Browsers post forms and ask for text/html; API clients send JSON and get JSON back. */
function wantsHtml(req: FastifyRequest): boolean {
  const type = String(req.headers['content-type'] ?? '');
  if (type.startsWith('application/json')) return false;
  if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) return true;
  return String(req.headers.accept ?? '').includes('text/html');
}

type ListPage = 'list-subscribe' | 'list-subscribe-sent' | 'list-confirm' | 'list-done' | 'list-unsubscribe';

/** The site's layout and stylesheet around the list's page; every value is escaped by the views' templates. */
function html(views: Views, req: FastifyRequest, reply: FastifyReply, page: ListPage, title: string, list: ListSummary, data: object): FastifyReply {
  const frame = { title, viewer: viewerOf(req), project: { slug: list.slug, name: list.name, archive: archiveRoot(list.slug) } };
  // No cache: the pages show a person's address and a token-bearing form.
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(views.render(page, frame, { ...data, list }));
}

export function listsRoutes(deps: ListsDeps, views: Views = createViews()): FastifyPluginAsync {
  return async (app) => {
    // RFC 8058 §3.1: the one-click POST body may come as multipart/form-data; read with the platform's form parser.
    app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: FORM_LIMIT }, async (req: FastifyRequest, body: Buffer) => {
      try {
        const form = await new Response(new Uint8Array(body), { headers: { 'content-type': String(req.headers['content-type']) } }).formData();
        const out: Record<string, string> = {};
        form.forEach((value, key) => {
          if (typeof value === 'string') out[key] = value;
        });
        return out;
      } catch {
        throw invalid('form_invalid', 'the multipart/form-data body could not be read');
      }
    });

    app.get<{ Params: SlugParams }>('/lists/:slug/subscribe', { schema: { params: slugOnly } }, async (req, reply) => {
      const list = deps.list(req.params.slug);
      return html(views, req, reply, 'list-subscribe', `Subscribe to ${list.name}`, list, { action: `/lists/${list.slug}/subscribe` });
    });

    app.post<{ Params: SlugParams; Body: { email: string; name?: string } }>(
      '/lists/:slug/subscribe',
      {
        schema: {
          params: slugOnly,
          body: {
            type: 'object',
            required: ['email'],
            properties: { email: { type: 'string', minLength: 3, maxLength: 254 }, name: { type: 'string', maxLength: 200 } },
          },
          response: { [ACCEPTED]: stateReply },
        },
      },
      async (req, reply) => {
        const list = deps.list(req.params.slug);
        const r = await deps.subscribe(list.slug, req.body.email, req.body.name ?? null, { kind: 'web' });
        // Already-subscribed gets the same answer (its owner is told by mail): the form reveals no membership.
        reply.status(ACCEPTED);
        if (wantsHtml(req)) return html(views, req, reply, 'list-subscribe-sent', 'Check your mail', list, { email: r.email });
        return { status: 'confirmation-sent', email: r.email, list: list.slug };
      },
    );

    // A GET never changes anything: link scanners and previews open every URL in a mail.
    app.get<{ Params: TokenParams }>('/lists/:slug/confirm/:token', { schema: { params: slugAndToken } }, async (req, reply) => {
      const { email, action, list } = await deps.pendingConfirmation(req.params.slug, req.params.token);
      const joining = action === 'subscribe';
      const title = joining ? `Join the ${list.name} list` : `Leave the ${list.name} list`;
      return html(views, req, reply, 'list-confirm', title, list, { joining, email, action: `/lists/${list.slug}/confirm/${req.params.token}` });
    });

    app.post<{ Params: TokenParams }>(
      '/lists/:slug/confirm/:token',
      { schema: { params: slugAndToken, response: { [OK]: stateReply } } },
      async (req, reply) => {
        const r = await deps.confirm(req.params.token, req.params.slug, { kind: 'web' });
        if (!wantsHtml(req)) return { status: r.action === 'subscribe' ? 'subscribed' : 'unsubscribed', email: r.email, state: r.state, list: r.list.slug };
        const joined = r.action === 'subscribe';
        return html(views, req, reply, 'list-done', joined ? 'Subscribed' : 'Unsubscribed', r.list, { joined, email: r.email });
      },
    );

    app.get<{ Params: TokenParams }>('/lists/:slug/unsubscribe/:token', { schema: { params: slugAndToken } }, async (req, reply) => {
      const { email, list } = await deps.unsubscribeTarget(req.params.slug, req.params.token);
      return html(views, req, reply, 'list-unsubscribe', `Leave the ${list.name} list`, list, { email, action: `/lists/${list.slug}/unsubscribe/${req.params.token}` });
    });

    // RFC 8058 §3.1: an unauthenticated POST of "List-Unsubscribe=One-Click", no cookies, unsubscribes at once.
    app.post<{ Params: TokenParams; Body: { 'List-Unsubscribe': 'One-Click' } }>(
      '/lists/:slug/unsubscribe/:token',
      {
        bodyLimit: FORM_LIMIT,
        schema: {
          params: slugAndToken,
          body: { type: 'object', required: ['List-Unsubscribe'], properties: { 'List-Unsubscribe': { type: 'string', const: 'One-Click' } } },
          response: { [OK]: stateReply },
        },
      },
      async (req, reply) => {
        const list = deps.list(req.params.slug);
        const r = await deps.unsubscribeOneClick(list.slug, req.params.token);
        if (!wantsHtml(req)) return { status: 'unsubscribed', email: r.email, state: r.state, list: list.slug };
        return html(views, req, reply, 'list-done', 'Unsubscribed', list, { joined: false, email: r.email });
      },
    );
  };
}

// The admin pages (users, tokens, outbox, held mails, subscribers, health), for admins only; and, registered from
// here so that create-web.ts lists one plugin, the maintainers' forms (/actions/…) and the live updates (SSE).
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, forbidden, isAppError } from '../../errors.js';
import { AdminService, DONE_TEXT } from '../admin.service.js';
import { SEE_OTHER } from '../error-handler.js';
import { contentDisposition, loginLocation } from '../headers.js';
import { localReferer, sendWebError } from '../html-error.js';
import { viewerOf } from '../viewer.js';
import type { WebContext } from '../web-context.js';
import { actionsRoutes } from './actions.route.js';
import { liveRoutes } from './live.route.js';

const str = (max = 500) => ({ type: 'string', maxLength: max }) as const;
const pageQuery = {
  type: 'object',
  properties: { q: str(200), page: { type: 'integer', minimum: 1, maximum: 100_000, default: 1 }, done: str(40), state: str(20), project: str(63) },
} as const;
const idParam = { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'] } as const;
const slugParam = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } as const;
const heldParams = { type: 'object', properties: { slug: slugParam, id: { type: 'integer', minimum: 1 } }, required: ['slug', 'id'] } as const;
const slugOnly = { type: 'object', properties: { slug: slugParam }, required: ['slug'] } as const;
const form = (fields: Record<string, number>, required: string[] = []) =>
  ({ type: 'object', properties: { csrf: str(200), ...Object.fromEntries(Object.entries(fields).map(([k, max]) => [k, str(max)])) }, required }) as const;

interface PageQuery {
  q?: string;
  page: number;
  done?: string;
  state?: string;
  project?: string;
}

/** AppErrors of the forms and pages as an HTML page (or JSON for scripts); anything else to the app's handler. */
function webErrors(ctx: WebContext) {
  return (error: FastifyError | AppError, req: FastifyRequest, reply: FastifyReply) => {
    const back = localReferer(req, ctx.urls.base);
    if (isAppError(error)) return sendWebError(ctx.views, req, reply, error, back);
    if ((error as FastifyError).validation) return sendWebError(ctx.views, req, reply, new AppError('invalid', 'validation', error.message), back);
    throw error;
  };
}

function adminPages(ctx: WebContext): FastifyPluginAsync {
  const admin = new AdminService(ctx);
  return async (app) => {
    app.addHook('onRequest', async (req, reply) => {
      const viewer = viewerOf(req);
      if (!viewer.user) {
        if (req.method === 'GET' || req.method === 'HEAD') return reply.redirect(loginLocation(req.url), SEE_OTHER);
        return sendWebError(ctx.views, req, reply, forbidden('not_authenticated', 'Log in first.'));
      }
      if (viewer.user.role !== 'admin') return sendWebError(ctx.views, req, reply, forbidden('admin_only', 'Only admins may open the admin pages.'));
    });

    const page = (req: FastifyRequest, reply: FastifyReply, name: string, title: string, data: object) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(ctx.views.render(name, { title, viewer: viewerOf(req), scripts: ['keys.js'] }, { ...data, done: DONE_TEXT[(req.query as PageQuery).done ?? ''] ?? null }));
    const done = (reply: FastifyReply, path: string, code: keyof typeof DONE_TEXT) =>
      reply.redirect(`${path}${path.includes('?') ? '&' : '?'}done=${code}`, SEE_OTHER);
    const schema = { hide: true, querystring: pageQuery };

    app.get<{ Querystring: PageQuery }>('/admin/', { schema }, async (req, reply) => page(req, reply, 'admin-index', 'Admin', await admin.overview()));

    // Users and roles.
    app.get<{ Querystring: PageQuery }>('/admin/users/', { schema }, async (req, reply) =>
      page(req, reply, 'admin-users', 'Users', {
        ...(await admin.users(req.query.q ?? '', req.query.page)),
        q: req.query.q ?? '',
        query: req.query.q ? { q: req.query.q } : {},
        roles: admin.roles,
      }),
    );
    app.post<{ Body: { email: string; name: string; username?: string; role: string; password?: string } }>(
      '/admin/users/',
      { schema: { hide: true, body: form({ email: 254, name: 200, username: 150, role: 20, password: 1024 }, ['email', 'name', 'role']) } },
      async (req, reply) => {
        await admin.addUser(req.body);
        return done(reply, '/admin/users/', 'user-added');
      },
    );
    app.post<{ Params: { id: number }; Body: { role: string } }>(
      '/admin/users/:id/role',
      { schema: { hide: true, params: idParam, body: form({ role: 20 }, ['role']) } },
      async (req, reply) => {
        await admin.setRole(req.params.id, req.body.role);
        return done(reply, '/admin/users/', 'role-changed');
      },
    );
    app.post<{ Params: { id: number }; Body: { password: string } }>(
      '/admin/users/:id/password',
      { schema: { hide: true, params: idParam, body: form({ password: 1024 }, ['password']) } },
      async (req, reply) => {
        await admin.setPassword(viewerOf(req).user!.id, req.params.id, req.body.password);
        return done(reply, '/admin/users/', 'password-set');
      },
    );

    // API tokens: a new one is shown in the answer to its POST, once; only its sha256 is kept.
    const tokensPage = async (req: FastifyRequest, reply: FastifyReply, q: PageQuery, created: object | null) =>
      page(req, reply, 'admin-tokens', 'API tokens', { ...(await admin.users(q.q ?? '', q.page)), q: q.q ?? '', query: q.q ? { q: q.q } : {}, created });
    app.get<{ Querystring: PageQuery }>('/admin/tokens/', { schema }, async (req, reply) => tokensPage(req, reply, req.query, null));
    app.post<{ Body: { user: string } }>('/admin/tokens/', { schema: { hide: true, body: form({ user: 254 }, ['user']) } }, async (req, reply) =>
      tokensPage(req, reply, { page: 1 }, await admin.createToken(req.body.user)),
    );
    app.post<{ Params: { id: number } }>('/admin/tokens/:id/revoke', { schema: { hide: true, params: idParam, body: form({}) } }, async (req, reply) => {
      await admin.revokeToken(req.params.id);
      return done(reply, '/admin/tokens/', 'token-revoked');
    });

    app.get<{ Querystring: PageQuery }>('/admin/outbox/', { schema }, async (req, reply) =>
      page(req, reply, 'admin-outbox', 'Outbox', await admin.outbox(req.query.state, req.query.page)),
    );

    // One mail of the outbox in full (what a student was told), and its exact bytes as an .eml download.
    app.get<{ Params: { id: number } }>('/admin/outbox/:id/', { schema: { hide: true, params: idParam } }, async (req, reply) =>
      page(req, reply, 'admin-outbox-mail', `Outbound mail ${req.params.id}`, (await admin.outboxMail(req.params.id)).page),
    );
    app.get<{ Params: { id: number } }>('/admin/outbox/:id/raw', { schema: { hide: true, params: idParam } }, async (req, reply) =>
      reply
        .type('message/rfc822')
        .header('cache-control', 'no-store')
        .header('content-disposition', contentDisposition('attachment', `outbound-${req.params.id}.eml`))
        .send((await admin.outboxMail(req.params.id)).raw),
    );

    // Held posts: approve relays it as any accepted post; reject tells its sender. Both wake the outbound queue.
    app.get<{ Querystring: PageQuery }>('/admin/held/', { schema }, async (req, reply) => page(req, reply, 'admin-held', 'Held posts', { projects: await admin.held() }));
    app.post<{ Params: { slug: string; id: number } }>('/admin/held/:slug/:id/approve', { schema: { hide: true, params: heldParams, body: form({}) } }, async (req, reply) => {
      await admin.approve(req.params.slug, req.params.id);
      return done(reply, '/admin/held/', 'held-approved');
    });
    app.post<{ Params: { slug: string; id: number }; Body: { reason?: string } }>(
      '/admin/held/:slug/:id/reject',
      { schema: { hide: true, params: heldParams, body: form({ reason: 1000 }) } },
      async (req, reply) => {
        await admin.reject(req.params.slug, req.params.id, req.body.reason ?? '');
        return done(reply, '/admin/held/', 'held-rejected');
      },
    );

    // Quarantined mail: a retry puts it back in processing with one attempt (src/smtp/quarantine.service.ts).
    app.get<{ Querystring: PageQuery }>('/admin/quarantine/', { schema }, async (req, reply) =>
      page(req, reply, 'admin-quarantine', 'Quarantined mail', await admin.quarantine(req.query.page)),
    );
    app.post<{ Params: { id: number } }>('/admin/quarantine/:id/retry', { schema: { hide: true, params: idParam, body: form({}) } }, async (req, reply) => {
      await admin.retryQuarantined(req.params.id);
      return done(reply, '/admin/quarantine/', 'quarantine-retried');
    });

    app.get<{ Querystring: PageQuery }>('/admin/subscribers/', { schema }, async (req, reply) =>
      page(req, reply, 'admin-subscribers', 'Subscribers', await admin.subscribers(req.query.project)),
    );
    app.post<{ Params: { slug: string }; Body: { email: string; name?: string } }>(
      '/admin/subscribers/:slug/',
      { schema: { hide: true, params: slugOnly, body: form({ email: 254, name: 200 }, ['email']) } },
      async (req, reply) => done(reply, `/admin/subscribers/?project=${req.params.slug}`, await admin.addSubscriber(req.params.slug, req.body.email, req.body.name ?? '')),
    );
    app.post<{ Params: { slug: string }; Body: { email: string } }>(
      '/admin/subscribers/:slug/remove',
      { schema: { hide: true, params: slugOnly, body: form({ email: 254 }, ['email']) } },
      async (req, reply) => {
        await admin.removeSubscriber(req.params.slug, req.body.email);
        return done(reply, `/admin/subscribers/?project=${req.params.slug}`, 'subscriber-removed');
      },
    );

    app.get<{ Querystring: PageQuery }>('/admin/health/', { schema }, async (req, reply) => page(req, reply, 'admin-health', 'Health', await admin.health()));
  };
}

export function adminRoutes(ctx: WebContext): FastifyPluginAsync {
  return async (app) => {
    app.setErrorHandler(webErrors(ctx));
    await app.register(actionsRoutes(ctx));
    await app.register(liveRoutes(ctx));
    await app.register(adminPages(ctx));
  };
}

// Sessions: request.viewer on every request from the session cookie; the login and logout forms; and the CSRF check
// on every state-changing request of the web view (the forms' hidden `csrf` field against the session's token).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { forbidden, rateLimited } from '../../errors.js';
import { RESERVED_ROOTS } from '../../mail/archive-layout.js';
import { parseCookies, serializeCookie } from '../cookies.js';
import { DEVICE_COOKIE, DEVICE_COOKIE_PATH, DeviceCookies } from '../device-cookie.js';
import { OK, retryAfter, SEE_OTHER, statusFor } from '../error-handler.js';
import { localPath, sendWebError } from '../html-error.js';
import { isTokenAuthorization, isTokenShaped, LOGIN_CSRF_COOKIE, randomToken, sameToken, SESSION_COOKIE, SessionService } from '../session.service.js';
import { ANONYMOUS, viewerOf } from '../viewer.js';
import type { WebContext } from '../web-context.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route authenticates an `Authorization: Token …` itself (and then ignores the cookie): no CSRF field asked. */
    tokenAuth?: boolean;
    /** The route's URL carries a secret it checks itself (LAVA's notify callback, issue 15): no session, no forgery. */
    secretInUrl?: boolean;
  }
}

/**
 * First path segments whose POSTs are not the web view's and carry no session: the REST API and XML-RPC (token or
 * Basic auth, never the cookie), the list pages (RFC 8058 one-click unsubscribe posts without cookies) and the archive's search.
 * Every other reserved root (login, logout, actions, admin, project, series …) is checked.
 */
const NOT_SESSION = new Set(['api', 'xmlrpc', 'lists', 'healthz', 'mbox', 'bundle', 'all']);
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The first path segment of the route that will answer: its pattern, not the raw URL, whose escapes
 * (/%61ctions/…) the router decodes but a string test would not.
 */
function firstSegment(req: FastifyRequest): string {
  let path = req.routeOptions.url;
  if (path === undefined) {
    path = req.url.split('?', 1)[0]!;
    try {
      path = decodeURIComponent(path);
    } catch {
      // left as it came: the router will not match it either
    }
  }
  return path.split('/', 2)[1] ?? '';
}

/** Where to go after login: a path of this site, else the projects. */
const safeNext = (next: unknown): string => localPath(next) ?? '/';

const field = (body: unknown, name: string): string | undefined => {
  if (!body || typeof body !== 'object') return undefined;
  const v = (body as Record<string, unknown>)[name];
  const last = Array.isArray(v) ? v[v.length - 1] : v;
  return typeof last === 'string' ? last : undefined;
};

const loginBody = {
  type: 'object',
  properties: {
    username: { type: 'string', maxLength: 254 },
    password: { type: 'string', maxLength: 1024 },
    csrf: { type: 'string', maxLength: 200 },
    next: { type: 'string', maxLength: 2000 },
  },
} as const;

interface LoginBody {
  username?: string;
  password?: string;
  next?: string;
}

export function sessionRoutes(ctx: WebContext): FastifyPluginAsync {
  // One failure budget with the API's Basic auth (ctx.api.guard); device cookies signed with the data folder's key.
  const sessions = new SessionService(ctx.db, ctx.api.guard, new DeviceCookies(DeviceCookies.keyFrom(ctx.dataDir)));
  return async (app) => {
    app.decorateRequest('viewer', null as never);
    const secure = (req: FastifyRequest) => req.protocol === 'https';

    app.addHook('onRequest', async (req, reply) => {
      req.viewer = ANONYMOUS;
      if (req.url.startsWith('/static/')) return;
      const token = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
      if (token === undefined) return;
      const r = await sessions.resolve(token);
      req.viewer = r.viewer;
      if (r.clear) reply.header('set-cookie', serializeCookie(SESSION_COOKIE, '', { maxAge: 0, secure: secure(req) }));
    });

    // Before validation, so that a forged request learns nothing about the form's fields.
    app.addHook('preValidation', async (req, reply) => {
      if (!UNSAFE.has(req.method)) return;
      const root = firstSegment(req);
      if (!RESERVED_ROOTS.has(root) || NOT_SESSION.has(root)) return;
      // A route that takes an API token (its own hook authenticates by it, never by the cookie): a browser never sends
      // `Authorization: Token` by itself, so such a request is no forgery. Basic is not let through: browsers replay it.
      if (req.routeOptions.config?.tokenAuth && isTokenAuthorization(req.headers.authorization)) return;
      // A forged request cannot know a secret of the URL; the route checks it before doing anything.
      if (req.routeOptions.config?.secretInUrl) return;
      const viewer = viewerOf(req);
      // Logging out without a session ends nothing: let it through to its redirect.
      if (root === 'logout' && !viewer.user) return;
      // The password pages are used logged out, as the login form: the same double-submit cookie.
      const preSession = root === 'login' || root === 'password';
      const expected = preSession ? parseCookies(req.headers.cookie).get(LOGIN_CSRF_COOKIE) : viewer.user ? viewer.csrf : undefined;
      const given = field(req.body, 'csrf') ?? (typeof req.headers['x-csrf-token'] === 'string' ? req.headers['x-csrf-token'] : undefined);
      if (expected && given && sameToken(given, expected)) return;
      const e = viewer.user || preSession
        ? forbidden('csrf_failed', 'This form has expired or did not come from this site. Reload the page and try again.')
        : forbidden('not_authenticated', 'Log in first.');
      return sendWebError(ctx.views, req, reply, e);
    });

    const loginPage = (req: FastifyRequest, reply: FastifyReply, o: { csrf: string; next: string; username?: string; error?: string; status?: number }) => {
      const html = ctx.views.render('login', { title: 'Log in', viewer: viewerOf(req) }, { csrf: o.csrf, next: o.next, username: o.username ?? '', error: o.error ?? null });
      return reply
        .status(o.status ?? OK)
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(html);
    };

    app.get<{ Querystring: { next?: string } }>(
      '/login/',
      { schema: { hide: true, querystring: { type: 'object', properties: { next: { type: 'string', maxLength: 2000 } } } } },
      async (req, reply) => {
        let csrf = parseCookies(req.headers.cookie).get(LOGIN_CSRF_COOKIE);
        if (!isTokenShaped(csrf)) {
          csrf = randomToken();
          reply.header('set-cookie', serializeCookie(LOGIN_CSRF_COOKIE, csrf, { secure: secure(req) }));
        }
        return loginPage(req, reply, { csrf, next: safeNext(req.query.next) });
      },
    );

    app.post<{ Body: LoginBody }>('/login/', { schema: { hide: true, body: loginBody } }, async (req, reply) => {
      const username = req.body?.username ?? '';
      const next = safeNext(req.body?.next);
      const cookies = parseCookies(req.headers.cookie);
      const r = await sessions.login(username, req.body?.password ?? '', req.ip, cookies.get(DEVICE_COOKIE));
      const csrf = cookies.get(LOGIN_CSRF_COOKIE) ?? '';
      if (r.kind === 'rate_limited') {
        const minutes = Math.ceil(r.retryAfterS / 60);
        const e = rateLimited('login_rate_limited', `Too many failed logins. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`, r.retryAfterS);
        retryAfter(reply, e);
        return loginPage(req, reply, { csrf, next, username, status: statusFor(e), error: e.message });
      }
      if (r.kind === 'invalid') return loginPage(req, reply, { csrf, next, username, error: 'Wrong username or password.' });
      // A new session id at every login (no fixation); the old session, if any, ends.
      await sessions.logout(cookies.get(SESSION_COOKIE));
      reply.header('set-cookie', [
        serializeCookie(SESSION_COOKIE, r.token, { maxAge: r.maxAge, secure: secure(req) }),
        serializeCookie(LOGIN_CSRF_COOKIE, '', { maxAge: 0, secure: secure(req) }),
        // Proves this browser at the next login (only the login form receives it).
        serializeCookie(DEVICE_COOKIE, r.device.value, { maxAge: r.device.maxAge, secure: secure(req), sameSite: 'Strict', path: DEVICE_COOKIE_PATH }),
      ]);
      return reply.redirect(next, SEE_OTHER);
    });

    app.post('/logout/', { schema: { hide: true } }, async (req, reply) => {
      await sessions.logout(parseCookies(req.headers.cookie).get(SESSION_COOKIE));
      reply.header('set-cookie', serializeCookie(SESSION_COOKIE, '', { maxAge: 0, secure: secure(req) }));
      return reply.redirect('/', SEE_OTHER);
    });
  };
}

// The password pages (issue 14): ask for a link (first login or reset) and set a password with one. Used logged
// out, so their forms carry the login form's double-submit CSRF cookie (session.route.ts checks it).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isAppError } from '../../errors.js';
import { parseCookies, serializeCookie } from '../cookies.js';
import { OK, statusFor } from '../error-handler.js';
import { notFound } from '../../errors.js';
import { isTokenShaped, LOGIN_CSRF_COOKIE, randomToken } from '../session.service.js';
import type { StudentAccounts } from '../student-accounts.service.js';
import { publicBase } from '../headers.js';
import { viewerOf } from '../viewer.js';
import type { WebContext } from '../web-context.js';

const tokenParams = { type: 'object', required: ['token'], properties: { token: { type: 'string', pattern: '^[A-Za-z0-9_-]{20,100}$' } } } as const;

export function passwordRoutes(ctx: WebContext, accounts: StudentAccounts): FastifyPluginAsync {
  return async (app) => {
    const secure = (req: FastifyRequest) => req.protocol === 'https';
    /** The form's CSRF value: the browser's cookie, or a new one set now. */
    const csrfOf = (req: FastifyRequest, reply: FastifyReply): string => {
      const have = parseCookies(req.headers.cookie).get(LOGIN_CSRF_COOKIE);
      if (isTokenShaped(have)) return have;
      const csrf = randomToken();
      reply.header('set-cookie', serializeCookie(LOGIN_CSRF_COOKIE, csrf, { secure: secure(req) }));
      return csrf;
    };
    const page = (req: FastifyRequest, reply: FastifyReply, name: string, title: string, data: object, status = OK) =>
      reply
        .status(status)
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        // The token is in the URL: no Referer carries it to another site.
        .header('referrer-policy', 'no-referrer')
        .send(ctx.views.render(name, { title, viewer: viewerOf(req) }, data));

    app.get('/password/reset/', { schema: { hide: true } }, async (req, reply) =>
      page(req, reply, 'password-reset', 'Set your password', { csrf: csrfOf(req, reply), sent: false }),
    );
    app.post<{ Body: { email: string } }>(
      '/password/reset/',
      { schema: { hide: true, body: { type: 'object', required: ['email'], properties: { email: { type: 'string', minLength: 3, maxLength: 254 }, csrf: { type: 'string' } } } } },
      async (req, reply) => {
        await accounts.requestReset(req.body.email, publicBase(ctx.urls.base || null, req));
        // The same answer whether or not the address has an account.
        return page(req, reply, 'password-reset', 'Set your password', { csrf: csrfOf(req, reply), sent: true, email: req.body.email });
      },
    );

    // A GET never uses the link up: mail scanners open every URL.
    app.get<{ Params: { token: string } }>('/password/set/:token/', { schema: { hide: true, params: tokenParams } }, async (req, reply) => {
      const live = await accounts.linkIsLive(req.params.token);
      return page(req, reply, 'password-set', 'Set your password', { csrf: csrfOf(req, reply), token: req.params.token, live }, live ? OK : statusFor(notFound('password_link_dead', '')));
    });
    app.post<{ Params: { token: string }; Body: { password: string } }>(
      '/password/set/:token/',
      { schema: { hide: true, params: tokenParams, body: { type: 'object', required: ['password'], properties: { password: { type: 'string', maxLength: 4096 }, csrf: { type: 'string' } } } } },
      async (req, reply) => {
        try {
          await accounts.setPassword(req.params.token, req.body.password);
          return page(req, reply, 'password-set', 'Password set', { done: true });
        } catch (e) {
          if (!isAppError(e)) throw e;
          const live = e.kind !== 'not_found';
          return page(req, reply, 'password-set', 'Set your password', { csrf: csrfOf(req, reply), token: req.params.token, live, error: e.message }, statusFor(e));
        }
      },
    );
  };
}

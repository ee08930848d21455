// The web view's sessions: login through the form (username or email, argon2id, scrypt hashes upgraded), the cookie,
// failed-login limits per client address and per (address, username), CSRF on every POST of the web view, expiry and
// logout. The limits under attack (spoofed headers, distributed guessing, device cookies): login-limits.test.ts.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { findUserByEmail } from '../../src/db/user.repository.js';
import { csrfOf, passwordOf, PEOPLE, startWebApp, type Browser, type WebApp } from '../helpers/web-app.js';

const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

/** A password hash as patchbay wrote them before argon2id: scrypt$N$r$p$salt$hash (base64). */
function legacyScrypt(password: string): string {
  const salt = crypto.randomBytes(16);
  const key = crypto.scryptSync(password, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return ['scrypt', 1 << 15, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
}

const cookieHeader = (r: { headers: Record<string, unknown> }, name: string): string | undefined => {
  const set = r.headers['set-cookie'];
  return (Array.isArray(set) ? set : set === undefined ? [] : [String(set)]).find((c: string) => c.startsWith(`${name}=`));
};

/** Posts the login form as a browser does: GET /login/ for the form's token, then POST. */
async function tryLogin(b: Browser, username: string, password: string, next?: string) {
  const csrf = csrfOf((await b.get('/login/')).body, '/login/');
  return b.post('/login/', { username, password, ...(next === undefined ? {} : { next }) }, { csrf });
}

describe('web sessions', () => {
  let w: WebApp;
  before(async () => {
    w = await startWebApp({ fixtures: ['cover-letter'] });
  });
  after(() => w.close());

  it('serves the login form with a pre-session CSRF token in an HttpOnly cookie and in the form', async () => {
    const b = w.browser('10.0.0.1');
    const r = await b.get('/login/?next=/series/1/');
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /<form id="login" [^>]*method="post" action="\/login\/">/);
    assert.match(r.body, /<input type="hidden" name="next" value="\/series\/1\/">/);
    const cookie = cookieHeader(r, 'patchbay_csrf');
    assert.ok(cookie, 'a patchbay_csrf cookie');
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.equal(csrfOf(r.body, '/login/'), b.cookies.get('patchbay_csrf'));
  });

  it('logs in by username or by email, stores only the hash of the session cookie, and redirects to next', async () => {
    for (const login of [PEOPLE.teacher.username, PEOPLE.teacher.email.toUpperCase()]) {
      const b = w.browser('10.0.0.2');
      const r = await tryLogin(b, login, passwordOf('teacher'), '/project/proctree/list/');
      assert.equal(r.statusCode, 303, r.body.slice(0, 300));
      assert.equal(r.headers.location, '/project/proctree/list/');
      const cookie = cookieHeader(r, 'patchbay_session')!;
      assert.match(cookie, /^patchbay_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
      const token = b.cookies.get('patchbay_session')!;
      const rows = await w.h.db.selectFrom('web_sessions').select(['id', 'user_id']).execute();
      assert.ok(rows.some((s) => s.id === sha256(token) && s.user_id === w.userIds.teacher));
      assert.ok(!rows.some((s) => s.id === token), 'the cookie value itself is not stored');
      const page = await b.get('/login/');
      assert.match(page.body, /<span class="who" data-role="maintainer">Tom Teacher<\/span>/);
    }
  });

  it('does not believe X-Forwarded-Proto from a client that is no configured proxy: the cookie is not Secure', async () => {
    const b = w.browser('10.0.0.3');
    const csrf = csrfOf((await b.get('/login/')).body, '/login/');
    const r = await b.post('/login/', { username: 'teacher', password: passwordOf('teacher') }, { csrf, headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(r.statusCode, 303);
    assert.doesNotMatch(cookieHeader(r, 'patchbay_session')!, /Secure/);
  });

  it('answers a wrong password with the form again and an error, sets no session, and escapes what was typed', async () => {
    const b = w.browser('10.0.0.4');
    const r = await tryLogin(b, '<script>alert(1)</script>', 'nope');
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /<p class="flash error">Wrong username or password.<\/p>/);
    assert.match(r.body, /value="&lt;script&gt;alert\(1\)&lt;\/script&gt;"/);
    assert.doesNotMatch(r.body, /<script>alert/);
    assert.equal(cookieHeader(r, 'patchbay_session'), undefined);
    const wrong = await tryLogin(b, 'teacher', 'not-the-password');
    assert.equal(wrong.statusCode, 200);
    assert.match(wrong.body, /class="flash error"/);
  });

  it('never redirects off the site after login', async () => {
    for (const next of ['//evil.example/x', 'https://evil.example/', '/\\evil.example']) {
      const r = await tryLogin(w.browser('10.0.0.5'), 'olga', passwordOf('olga'), next);
      assert.equal(r.statusCode, 303);
      assert.equal(r.headers.location, '/', next);
    }
  });

  it('refuses a username from one address with 429 after 5 failures there, while the right password from another address logs in', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await tryLogin(w.browser('10.1.0.1'), 'zoe', `wrong-${i}`);
      assert.equal(r.statusCode, 200, `failure ${i + 1}`);
    }
    const limited = await tryLogin(w.browser('10.1.0.1'), 'ZOE', passwordOf('zoe'));
    assert.equal(limited.statusCode, 429);
    assert.match(limited.body, /<p class="flash error">Too many failed logins. Try again in 15 minutes.<\/p>/);
    // Seconds until the first failure leaves the 15-minute window.
    const wait = Number(limited.headers['retry-after']);
    assert.ok(wait > 840 && wait <= 900, `Retry-After: ${wait}`);
    assert.equal(cookieHeader(limited, 'patchbay_session'), undefined);
    // The same address for another account, and the same account from elsewhere, are not limited.
    assert.equal((await tryLogin(w.browser('10.1.0.1'), 'olga', passwordOf('olga'))).statusCode, 303);
    assert.equal((await tryLogin(w.browser('10.1.0.99'), 'zoe', passwordOf('zoe'))).statusCode, 303);
  });

  it('refuses a client address with 429 after 20 failures over any usernames, while other addresses still log in', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await tryLogin(w.browser('10.2.0.1'), `nobody-${i}`, 'guess');
      assert.equal(r.statusCode, 200, `failure ${i + 1}`);
    }
    assert.equal((await tryLogin(w.browser('10.2.0.1'), 'teacher', passwordOf('teacher'))).statusCode, 429);
    assert.equal((await tryLogin(w.browser('10.2.0.2'), 'teacher', passwordOf('teacher'))).statusCode, 303);
  });

  it('accepts an old scrypt hash once and replaces it with argon2id, which the API’s Basic auth also takes', async () => {
    const outsider = PEOPLE.outsider;
    await w.h.db.updateTable('users').set({ password_hash: legacyScrypt('old-scrypt-password') }).where('id', '=', w.userIds.outsider).execute();
    const r = await tryLogin(w.browser('10.3.0.1'), outsider.username, 'old-scrypt-password');
    assert.equal(r.statusCode, 303);
    const hash = (await findUserByEmail(w.h.db, outsider.email))!.password_hash!;
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const basic = `Basic ${Buffer.from(`${outsider.username}:old-scrypt-password`).toString('base64')}`;
    const me = await w.app.inject({ url: `/api/users/${w.userIds.outsider}/`, headers: { authorization: basic } });
    assert.equal(me.statusCode, 200);
    assert.equal(JSON.parse(me.body).username, outsider.username);
    const bad = await w.app.inject({ url: `/api/users/${w.userIds.outsider}/`, headers: { authorization: `Basic ${Buffer.from(`${outsider.username}:wrong`).toString('base64')}` } });
    assert.equal(bad.statusCode, 403);
  });

  it('refuses every POST of the web view without the session’s CSRF token (403), and changes nothing', async () => {
    const admin = await w.login('admin');
    const other = await w.login('teacher');
    const posts: [string, Record<string, string>][] = [
      ['/logout/', {}],
      ['/actions/patch/1/', { state: 'accepted' }],
      ['/actions/series/1/', { op: 'state', state: 'accepted' }],
      ['/admin/users/', { email: 'new@example.org', name: 'New One', role: 'student' }],
      [`/admin/users/${w.userIds.zoe}/role`, { role: 'admin' }],
      [`/admin/users/${w.userIds.zoe}/password`, { password: 'stolen-password' }],
      ['/admin/tokens/', { user: 'zoe' }],
      [`/admin/tokens/${w.userIds.zoe}/revoke`, {}],
      ['/admin/held/proctree/1/approve', {}],
      ['/admin/held/proctree/1/reject', {}],
      ['/admin/subscribers/proctree/', { email: 'x@example.org' }],
      ['/admin/subscribers/proctree/remove', { email: 'x@example.org' }],
    ];
    for (const [url, form] of posts) {
      for (const csrf of [false, 'forged-token-forged-token-forged', other.csrf] as const) {
        const r = await admin.post(url, form, { csrf });
        assert.equal(r.statusCode, 403, `${url} with csrf ${String(csrf)}`);
        assert.match(r.body, /data-code="csrf_failed"/, url);
      }
      const json = await admin.post(url, form, { csrf: false, headers: { accept: 'application/json' } });
      assert.equal(json.statusCode, 403);
      assert.equal(json.json().code, 'csrf_failed');
    }
    // The check follows the route, not the URL's spelling: an escaped path reaches the same route and is checked.
    assert.equal((await admin.post('/%61ctions/patch/1/', { state: 'accepted' }, { csrf: false })).statusCode, 403);
    // Anonymous: no session, no token to check against.
    assert.equal((await w.browser().post('/actions/patch/1/', { state: 'accepted' }, { csrf: false })).statusCode, 403);
    // The login form: its token must match the pre-session cookie.
    const b = w.browser('10.4.0.1');
    await b.get('/login/');
    assert.equal((await b.post('/login/', { username: 'teacher', password: passwordOf('teacher') }, { csrf: false })).statusCode, 403);
    assert.equal((await b.post('/login/', { username: 'teacher', password: passwordOf('teacher') }, { csrf: other.csrf })).statusCode, 403);
    // Nothing happened: still logged in, nobody added, Zoé still a student, the patch untouched.
    assert.match((await admin.get('/admin/')).body, /<h1>Admin<\/h1>/);
    assert.equal(await findUserByEmail(w.h.db, 'new@example.org'), undefined);
    assert.equal((await findUserByEmail(w.h.db, PEOPLE.zoe.email))!.role, 'student');
    assert.equal((await w.apiGet('/api/patches/1/')).state, 'new');
  });

  it('ends a session that was idle past its expiry: the viewer is anonymous and the cookie is cleared', async () => {
    const b = await w.login('olga');
    const id = sha256(b.cookies.get('patchbay_session')!);
    await w.h.db.updateTable('web_sessions').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', id).execute();
    const r = await b.get('/login/');
    assert.match(r.body, /<a href="\/login\/">Log in<\/a>/);
    assert.doesNotMatch(r.body, /class="who"/);
    assert.match(cookieHeader(r, 'patchbay_session')!, /Max-Age=0/);
    assert.equal(await w.h.db.selectFrom('web_sessions').select('id').where('id', '=', id).executeTakeFirst(), undefined);
  });

  it('logs out: the session row is deleted, the cookie cleared, and the old cookie no longer signs anyone in', async () => {
    const b = await w.login('teacher');
    const token = b.cookies.get('patchbay_session')!;
    const r = await b.post('/logout/', {});
    assert.equal(r.statusCode, 303);
    assert.equal(r.headers.location, '/');
    assert.match(cookieHeader(r, 'patchbay_session')!, /Max-Age=0/);
    assert.equal(await w.h.db.selectFrom('web_sessions').select('id').where('id', '=', sha256(token)).executeTakeFirst(), undefined);
    const replay = await w.app.inject({ url: '/login/', headers: { cookie: `patchbay_session=${token}` } });
    assert.match(replay.body, /<a href="\/login\/">Log in<\/a>/);
  });

  it('gives a new session id at every login and ends the one the browser had', async () => {
    const b = await w.login('teacher');
    const first = b.cookies.get('patchbay_session')!;
    const csrf = csrfOf((await b.get('/login/')).body, '/login/');
    assert.equal((await b.post('/login/', { username: 'olga', password: passwordOf('olga') }, { csrf })).statusCode, 303);
    const second = b.cookies.get('patchbay_session')!;
    assert.notEqual(second, first);
    assert.equal(await w.h.db.selectFrom('web_sessions').select('id').where('id', '=', sha256(first)).executeTakeFirst(), undefined);
    assert.match((await b.get('/login/')).body, /class="who" data-role="student">Olga Other</);
  });
});

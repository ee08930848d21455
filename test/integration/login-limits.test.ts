// Failed-login limits under attack (issue 11): a spoofed X-Forwarded-For does not rotate the client's address, an
// attacker hammering someone's username does not lock that user out, device cookies let a known browser in during a
// distributed attack, Basic-auth guessing gets 429 with Retry-After, and X-Forwarded-* count only from --trust-proxy.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_LOGIN_LIMITS } from '../../src/api/login-guard.js';
import { csrfOf, passwordOf, PEOPLE, startWebApp, type Browser, type Page, type WebApp, type Who } from '../helpers/web-app.js';

const L = DEFAULT_LOGIN_LIMITS;

/** The login form as a browser posts it: GET /login/ for the form's token, then POST (headers on both). */
async function tryLogin(b: Browser, username: string, password: string, headers: Record<string, string> = {}): Promise<Page> {
  const csrf = csrfOf((await b.get('/login/', headers)).body, '/login/');
  return b.post('/login/', { username, password }, { csrf, headers });
}

const basic = (login: string, password: string) => `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;

const setCookie = (r: Page, name: string): string | undefined => {
  const set = r.headers['set-cookie'];
  return (Array.isArray(set) ? set : set === undefined ? [] : [String(set)]).find((c) => c.startsWith(`${name}=`));
};

describe('login limits, no proxy configured (the default)', () => {
  let w: WebApp;
  before(async () => {
    w = await startWebApp({ fixtures: ['cover-letter'] });
  });
  after(() => w.close());

  /** A user's own request for their record with Basic credentials, from a client address. */
  const basicGet = (who: Who, password: string, address: string, headers: Record<string, string> = {}) =>
    w.app.inject({ url: `/api/users/${w.userIds[who]}/`, remoteAddress: address, headers: { authorization: basic(PEOPLE[who].username, password), ...headers } });

  it('counts a client by its TCP peer whatever X-Forwarded-For it sends: 60 usernames with 60 headers meet 429 after 20', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const spoof = { 'x-forwarded-for': `198.51.100.${i}` };
      statuses.push((await tryLogin(w.browser('10.10.0.1'), `nobody-${i}`, 'guess', spoof)).statusCode);
    }
    assert.deepEqual(statuses.slice(0, L.perAddress), Array(L.perAddress).fill(200));
    assert.deepEqual(statuses.slice(L.perAddress), Array(60 - L.perAddress).fill(429));
    // The real user is elsewhere and unaffected.
    assert.equal((await tryLogin(w.browser('10.10.0.2'), 'olga', passwordOf('olga'))).statusCode, 303);
  });

  it('does not lock a maintainer out: 5+ wrong passwords from one address, the right one from another address logs in', async () => {
    const attacker = '10.11.0.66';
    for (let i = 0; i < L.perAddressAccount; i++) {
      assert.equal((await tryLogin(w.browser(attacker), 'teacher', `wrong-${i}`, { 'x-forwarded-for': `203.0.113.${i}` })).statusCode, 200);
    }
    for (let i = 0; i < 10; i++) assert.equal((await tryLogin(w.browser(attacker), 'teacher', `wrong-more-${i}`)).statusCode, 429);
    // Even the right password is refused to the attacker's address (it would otherwise confirm a guess) …
    assert.equal((await tryLogin(w.browser(attacker), 'teacher', passwordOf('teacher'))).statusCode, 429);
    // … but the maintainer, from another address and a browser that never logged in, gets in at once.
    const real = await tryLogin(w.browser('10.11.0.1'), 'teacher', passwordOf('teacher'));
    assert.equal(real.statusCode, 303);
    assert.ok(setCookie(real, 'patchbay_session'));
    // So does the API with the maintainer's Basic credentials from yet another address.
    assert.equal((await basicGet('teacher', passwordOf('teacher'), '10.11.0.2')).statusCode, 200);
  });

  it('during a distributed attack refuses unproven browsers for that account but lets in the browser that logged in before', async () => {
    // Olga logged in from her laptop once: it holds her device cookie (Path=/login/, HttpOnly, SameSite=Strict).
    const laptop = w.browser('10.12.0.1');
    const first = await tryLogin(laptop, 'olga', passwordOf('olga'));
    assert.equal(first.statusCode, 303);
    assert.match(setCookie(first, 'patchbay_device')!, /^patchbay_device=[^;]+; Path=\/login\/; HttpOnly; SameSite=Strict; Max-Age=7776000$/);
    await laptop.post('/logout/', {}, { csrf: csrfOf((await laptop.get('/login/')).body, '/logout/') });

    // Attackers from perAccount / perAddressAccount addresses, each staying under its own limits.
    const addresses = Math.ceil(L.perAccount / L.perAddressAccount);
    for (let a = 0; a < addresses; a++) {
      for (let i = 0; i < L.perAddressAccount; i++) {
        assert.equal((await tryLogin(w.browser(`10.12.${a + 1}.9`), 'olga', `guess-${a}-${i}`)).statusCode, 200, `address ${a} guess ${i}`);
      }
    }
    // A fresh browser from a fresh address, even with the right password: refused for now, told when to come back.
    const fresh = await tryLogin(w.browser('10.12.200.1'), 'olga', passwordOf('olga'));
    assert.equal(fresh.statusCode, 429);
    assert.ok(Number(fresh.headers['retry-after']) > 0 && Number(fresh.headers['retry-after']) <= L.windowMs / 1000);
    // Olga's laptop gets in, from a new address and even from one of the attackers' (a shared NAT).
    assert.equal((await tryLogin(laptop, 'olga', passwordOf('olga'))).statusCode, 303);
    const atNat = w.browser('10.12.1.9');
    atNat.cookies.set('patchbay_device', laptop.cookies.get('patchbay_device')!);
    assert.equal((await tryLogin(atNat, 'olga', passwordOf('olga'))).statusCode, 303);
    // Another account's device cookie, or a forged one, proves nothing for Olga.
    const zoe = w.browser('10.12.201.1');
    assert.equal((await tryLogin(zoe, 'zoe', passwordOf('zoe'))).statusCode, 303);
    const borrowed = w.browser('10.12.202.1');
    borrowed.cookies.set('patchbay_device', zoe.cookies.get('patchbay_device')!);
    assert.equal((await tryLogin(borrowed, 'olga', passwordOf('olga'))).statusCode, 429);
    const [uid, issued, id] = laptop.cookies.get('patchbay_device')!.split('.');
    borrowed.cookies.set('patchbay_device', `${uid}.${issued}.${id}.${'A'.repeat(43)}`);
    assert.equal((await tryLogin(borrowed, 'olga', passwordOf('olga'))).statusCode, 429);
  });

  it('stops exempting a device cookie after its own failures (a stolen cookie buys no guesses)', async () => {
    const b = w.browser('10.13.0.1');
    assert.equal((await tryLogin(b, 'outsider', passwordOf('outsider'))).statusCode, 303);
    const thief = w.browser('10.13.0.2');
    thief.cookies.set('patchbay_device', b.cookies.get('patchbay_device')!);
    for (let i = 0; i < L.perDevice; i++) assert.equal((await tryLogin(thief, 'outsider', `guess-${i}`)).statusCode, 200);
    // From here counted as any client from its address: five more guesses, then 429.
    assert.equal((await tryLogin(thief, 'outsider', 'guess-6')).statusCode, 200);
    for (let i = 0; i < L.perAddressAccount - 1; i++) await tryLogin(thief, 'outsider', `guess-more-${i}`);
    assert.equal((await tryLogin(thief, 'outsider', 'guess-last')).statusCode, 429);
  });

  it('answers Basic-auth guessing with 429, a JSON error and Retry-After, before checking any password', async () => {
    const guesser = '10.14.0.1';
    const guess = (login: string, i: number) =>
      // A spoofed header changes nothing; missing usernames cost a check and count as well.
      w.app.inject({ url: '/api/users/', remoteAddress: guesser, headers: { authorization: basic(login, `guess-${i}`), 'x-forwarded-for': `192.0.2.${i}` } });
    const check429 = (r: Awaited<ReturnType<typeof guess>>) => {
      assert.equal(r.statusCode, 429);
      assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(JSON.parse(r.body).code, 'auth_rate_limited');
      assert.match(JSON.parse(r.body).detail, /^Too many failed authentications/);
      assert.ok(Number(r.headers['retry-after']) >= 1);
    };
    // One account: the pair (address, account) is limited after 5.
    for (let i = 0; i < L.perAddressAccount; i++) assert.equal((await guess(PEOPLE.admin.username, i)).statusCode, 403);
    check429(await guess(PEOPLE.admin.username, 99));
    // Rotating usernames: the address is limited after 20 failures in all.
    for (let i = L.perAddressAccount; i < L.perAddress; i++) assert.equal((await guess(`ghost-${i}`, i)).statusCode, 403, `guess ${i}`);
    for (let i = 0; i < 10; i++) check429(await guess(`ghost-more-${i}`, i));
    // The right password from that address waits too; from another address it works.
    assert.equal((await basicGet('admin', passwordOf('admin'), guesser)).statusCode, 429);
    assert.equal((await basicGet('admin', passwordOf('admin'), '10.14.0.2')).statusCode, 200);
    // A valid token still works from the limited address (tokens cannot be guessed); a wrong one gets 429 there.
    const token = (t: string) => w.app.inject({ url: `/api/users/${w.userIds.zoe}/`, remoteAddress: guesser, headers: { authorization: `Token ${t}` } });
    assert.equal((await token(w.tokens.zoe)).statusCode, 200);
    assert.equal((await token('0'.repeat(40))).statusCode, 429);
  });

  it('gives the login form and Basic auth one budget: failures on either count for both', async () => {
    const a = '10.15.0.1';
    for (let i = 0; i < 3; i++) assert.equal((await tryLogin(w.browser(a), 'zoe', `form-${i}`)).statusCode, 200);
    for (let i = 0; i < 2; i++) assert.equal((await basicGet('zoe', `basic-${i}`, a)).statusCode, 403);
    assert.equal((await basicGet('zoe', passwordOf('zoe'), a)).statusCode, 429);
    assert.equal((await tryLogin(w.browser(a), 'zoe', passwordOf('zoe'))).statusCode, 429);
  });

  it('counts token guesses per address: 429 after 20 wrong tokens', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const r = await w.app.inject({ url: '/api/patches/', remoteAddress: '10.16.0.1', headers: { authorization: `Token ${String(i).padStart(40, 'f')}` } });
      statuses.push(r.statusCode);
    }
    assert.deepEqual(statuses, [...Array(L.perAddress).fill(403), ...Array(25 - L.perAddress).fill(429)]);
  });

  it('counts an IPv6 client by its /64: rotating the interface id does not reset the count', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < L.perAddress + 1; i++) {
      statuses.push((await tryLogin(w.browser(`2001:db8:1:2::${(i + 1).toString(16)}`), `v6-nobody-${i}`, 'guess')).statusCode);
    }
    assert.equal(statuses[L.perAddress], 429);
    assert.equal((await tryLogin(w.browser('2001:db8:1:3::1'), `v6-nobody-x`, 'guess')).statusCode, 200, 'another /64');
  });

  it('builds redirects and API URLs from the Host header, never from X-Forwarded-Host or -Proto of an unlisted peer', async () => {
    const evil = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', host: 'review.example.org' };
    const r = await w.app.inject({ url: '/proctree', remoteAddress: '10.17.0.1', headers: evil });
    assert.equal(r.statusCode, 301);
    assert.equal(r.headers.location, 'http://review.example.org/proctree/');
    const api = await w.app.inject({ url: '/api/', remoteAddress: '10.17.0.1', headers: evil });
    assert.equal(JSON.parse(api.body).patches, 'http://review.example.org/api/patches/');
    const list = await w.app.inject({ url: '/api/patches/?per_page=1', remoteAddress: '10.17.0.1', headers: evil });
    assert.match(String(list.headers.link), /^<http:\/\/review\.example\.org\/api\/patches\/\?per_page=1&page=2>; rel="next"/);
    assert.doesNotMatch(String(list.headers.link), /evil/);
    assert.doesNotMatch(list.body, /evil\.example/);
  });
});

describe('login limits behind a configured proxy (--trust-proxy)', () => {
  const PROXY = '10.50.0.1';
  let w: WebApp;
  before(async () => {
    w = await startWebApp({ fixtures: ['cover-letter'], trustProxy: [PROXY, '10.60.0.0/16'] });
  });
  after(() => w.close());

  it('counts the clients the proxy names in X-Forwarded-For: one is limited, another behind the same proxy logs in', async () => {
    const via = (client: string) => ({ 'x-forwarded-for': client });
    for (let i = 0; i < L.perAddress; i++) {
      assert.equal((await tryLogin(w.browser(PROXY), `nobody-${i}`, 'guess', via('198.51.100.7'))).statusCode, 200);
    }
    assert.equal((await tryLogin(w.browser(PROXY), 'olga', passwordOf('olga'), via('198.51.100.7'))).statusCode, 429);
    assert.equal((await tryLogin(w.browser(PROXY), 'olga', passwordOf('olga'), via('198.51.100.8'))).statusCode, 303);
    // A client that prepends its own X-Forwarded-For is still counted by the address the proxy saw (the last hop).
    assert.equal((await tryLogin(w.browser(PROXY), 'olga', passwordOf('olga'), via('192.0.2.1, 198.51.100.7'))).statusCode, 429);
    // A proxy in a trusted range passes its client's address on too.
    assert.equal((await tryLogin(w.browser('10.60.3.4'), 'olga', passwordOf('olga'), via('198.51.100.7'))).statusCode, 429);
  });

  it('ignores X-Forwarded-For from a peer that is not a listed proxy', async () => {
    for (let i = 0; i < L.perAddress; i++) {
      await tryLogin(w.browser('10.70.0.1'), `nobody-${i}`, 'guess', { 'x-forwarded-for': `203.0.113.${i}` });
    }
    assert.equal((await tryLogin(w.browser('10.70.0.1'), 'zoe', passwordOf('zoe'), { 'x-forwarded-for': '203.0.113.250' })).statusCode, 429);
  });

  it('takes the scheme and host from the proxy: Secure cookies over https, redirects to the public host', async () => {
    const fwd = { 'x-forwarded-for': '198.51.100.20', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'patches.example.org' };
    const login = await tryLogin(w.browser(PROXY), 'teacher', passwordOf('teacher'), fwd);
    assert.equal(login.statusCode, 303);
    assert.match(setCookie(login, 'patchbay_session')!, /; Secure$/);
    assert.match(setCookie(login, 'patchbay_device')!, /; Secure$/);
    const r = await w.app.inject({ url: '/proctree', remoteAddress: PROXY, headers: fwd });
    assert.equal(r.headers.location, 'https://patches.example.org/proctree/');
    // The same headers from anyone else are not believed.
    const direct = await w.app.inject({ url: '/proctree', remoteAddress: '10.70.0.2', headers: { ...fwd, host: 'review.example.org' } });
    assert.equal(direct.headers.location, 'http://review.example.org/proctree/');
  });
});

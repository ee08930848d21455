// The /lists routes and the subscription service on an in-memory database through app.inject(): edge cases of the web
// flow (RFC 8058 bodies, validation, escaping, tokens of another list) and of the service (token reuse, admin changes).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { simpleParser } from 'mailparser';
import { addressesFor } from '../../src/config/projects.js';
import { migrate, openDatabase, type Db } from '../../src/db/database.js';
import { listOutbound } from '../../src/db/outbound.repository.js';
import { upsertProjects } from '../../src/db/project.repository.js';
import { findSubscriber, recordBounce, setSubscriberState } from '../../src/db/subscriber.repository.js';
import { createLogger } from '../../src/log.js';
import { createSubscriptionService, type SubscriptionService } from '../../src/smtp/subscription.service.js';
import { buildApp } from '../../src/web/app.js';

const REPLY = { kind: 'mail' as const, reply: { messageId: 'm1@example.com', references: [] } };

describe('lists routes and subscription service', () => {
  let db: Db;
  let app: FastifyInstance;
  let service: SubscriptionService;
  let ids: Map<string, number>;
  let kicks = 0;

  before(async () => {
    db = openDatabase(':memory:').db;
    await migrate(db);
    const files = [
      { slug: 'proctree', name: 'Proctree "Syscall" <&>', addresses: addressesFor('proctree@lists.example.org') },
      { slug: 'other', name: 'Other', addresses: addressesFor('other@lists.example.org') },
    ];
    ids = await upsertProjects(db, files.map((f) => ({ slug: f.slug, name: f.name, listAddress: f.addresses.list, policy: 'open' })));
    service = createSubscriptionService({
      db,
      projects: files.map((f) => ({ ...f, id: ids.get(f.slug)! })),
      urls: { base: 'https://patchbay.example.org' },
      hostname: 'patchbay.example.org',
      kick: () => kicks++,
    });
    app = await buildApp({
      log: createLogger('silent'),
      health: { snapshot: async () => ({ mails: 0, pending: 0, outboundQueued: 0 }) },
      lists: service,
    });
  });
  after(async () => {
    await app.close();
    await db.destroy();
  });
  beforeEach(() => {
    kicks = 0;
  });

  const sub = (email: string, slug = 'proctree') => findSubscriber(db, ids.get(slug)!, email);
  const mailsTo = async (rcpt: string) => (await listOutbound(db)).filter((o) => o.rcpt === rcpt);
  const tokenOf = async (raw: Buffer | null) => /^confirm (\S+)$/.exec((await simpleParser(raw!)).subject ?? '')![1]!;

  it('unsubscribes on a one-click POST sent as multipart/form-data (RFC 8058 §3.1 prefers it)', async () => {
    await service.adminAdd('proctree', 'mp@example.com', null);
    const token = (await sub('mp@example.com'))!.token;
    const form = new FormData();
    form.set('List-Unsubscribe', 'One-Click');
    const body = new Response(form);
    const res = await app.inject({
      method: 'POST',
      url: `/lists/proctree/unsubscribe/${token}`,
      headers: { 'content-type': body.headers.get('content-type')! },
      payload: Buffer.from(await body.arrayBuffer()),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await sub('mp@example.com'))?.state, 'unsubscribed');
  });

  it('answers a one-click POST sent as JSON with JSON, and a broken multipart body with invalid', async () => {
    await service.adminAdd('proctree', 'js@example.com', null);
    const token = (await sub('js@example.com'))!.token;
    const broken = await app.inject({
      method: 'POST',
      url: `/lists/proctree/unsubscribe/${token}`,
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
      payload: 'this is not multipart',
    });
    assert.equal(broken.statusCode, 400);
    assert.equal(broken.json().code, 'form_invalid');
    assert.equal((await sub('js@example.com'))?.state, 'active');
    const res = await app.inject({ method: 'POST', url: `/lists/proctree/unsubscribe/${token}`, payload: { 'List-Unsubscribe': 'One-Click' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'unsubscribed', email: 'js@example.com', state: 'unsubscribed', list: 'proctree' });
  });

  it('confirms an unsubscribe asked by mail from the link in the mail: GET shows the question, the form POST does it', async () => {
    await service.adminAdd('proctree', 'leave@example.com', null);
    await service.unsubscribe('proctree', 'leave@example.com', REPLY);
    const [confirm] = await mailsTo('leave@example.com');
    assert.equal(confirm!.kind, 'confirm-unsubscribe');
    const url = `/lists/proctree/confirm/${await tokenOf(confirm!.raw)}`;
    const page = await app.inject({ method: 'GET', url });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<title>Leave the Proctree/);
    assert.match(page.body, /Unsubscribe <strong>leave@example\.com<\/strong> from the Proctree/);
    assert.match(page.body, /<button type="submit">Confirm unsubscription<\/button>/);
    assert.equal((await sub('leave@example.com'))?.state, 'active');
    const done = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    assert.equal(done.statusCode, 200);
    assert.match(String(done.headers['content-type']), /^text\/html/);
    assert.match(done.body, /<strong>leave@example\.com<\/strong> has left the Proctree/);
    assert.equal((await sub('leave@example.com'))?.state, 'unsubscribed');
    assert.deepEqual((await mailsTo('leave@example.com')).map((m) => m.kind), ['confirm-unsubscribe', 'goodbye']);
  });

  it('shows a subscription confirmed from the form as an HTML page', async () => {
    await service.subscribe('proctree', 'page@example.com', null, { kind: 'web' });
    const [confirm] = await mailsTo('page@example.com');
    const url = `/lists/proctree/confirm/${await tokenOf(confirm!.raw)}`;
    const page = await app.inject({ method: 'GET', url });
    assert.match(page.body, /<button type="submit">Confirm subscription<\/button>/);
    const done = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, payload: '' });
    assert.equal(done.statusCode, 200);
    assert.match(done.body, /<title>Subscribed · patchbay<\/title>/);
    assert.match(done.body, /<strong>page@example\.com<\/strong> is now subscribed/);
  });

  it('refuses a one-click POST without "List-Unsubscribe=One-Click", and leaves the subscriber', async () => {
    await service.adminAdd('proctree', 'keep@example.com', null);
    const token = (await sub('keep@example.com'))!.token;
    for (const payload of ['', 'List-Unsubscribe=Yes', 'foo=bar']) {
      const res = await app.inject({
        method: 'POST',
        url: `/lists/proctree/unsubscribe/${token}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload,
      });
      assert.equal(res.statusCode, 400, payload);
      assert.equal(res.json().code, 'validation');
    }
    assert.equal((await sub('keep@example.com'))?.state, 'active');
  });

  it('answers not_found for a token of another list, an unknown token and an unknown list', async () => {
    await service.adminAdd('other', 'x@example.com', null);
    const token = (await sub('x@example.com', 'other'))!.token;
    const cases = [
      ['GET', `/lists/proctree/unsubscribe/${token}`, 'unsubscribe_token_unknown'],
      ['POST', `/lists/proctree/unsubscribe/${token}`, 'unsubscribe_token_unknown'],
      ['GET', `/lists/proctree/confirm/${'A'.repeat(24)}`, 'confirm_token_unknown'],
      ['POST', `/lists/proctree/confirm/${'A'.repeat(24)}`, 'confirm_token_unknown'],
      ['GET', '/lists/nope/subscribe', 'list_unknown'],
    ] as const;
    for (const [method, url, code] of cases) {
      const res = await app.inject({
        method,
        url,
        ...(method === 'POST' ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' } : {}),
      });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      assert.equal(res.json().code, code);
    }
    assert.equal((await sub('x@example.com', 'other'))?.state, 'active');
    const malformed = await app.inject({ method: 'GET', url: '/lists/proctree/confirm/short' });
    assert.equal(malformed.statusCode, 400);
  });

  it('refuses a malformed email with invalid, and queues nothing', async () => {
    const before = (await listOutbound(db)).length;
    for (const email of ['no-at-sign', 'a@b', 'a b@example.com', '<x@example.com>']) {
      const res = await app.inject({ method: 'POST', url: '/lists/proctree/subscribe', payload: { email } });
      assert.equal(res.statusCode, 400, email);
      assert.equal(res.json().code, 'email_invalid');
    }
    const missing = await app.inject({ method: 'POST', url: '/lists/proctree/subscribe', payload: { name: 'x' } });
    assert.equal(missing.statusCode, 400);
    assert.equal((await listOutbound(db)).length, before);
  });

  it("shows every list page in the site's layout and stylesheet, the list name and address escaped", async () => {
    // The address's local part carries the characters HTML escapes; RFC 5321 allows them quoted-free in a local part.
    const email = "o'hara&co@example.com";
    await service.subscribe('proctree', email, null, { kind: 'web' });
    const [confirm] = await mailsTo(email);
    const token = await tokenOf(confirm!.raw);
    await service.adminAdd('proctree', 'gone@example.com', null);
    const unsubscribe = (await sub('gone@example.com'))!.token;
    const form = { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' };
    const pages = [
      await app.inject({ method: 'GET', url: '/lists/proctree/subscribe' }),
      await app.inject({ method: 'GET', url: `/lists/proctree/confirm/${token}` }),
      await app.inject({ method: 'POST', url: '/lists/proctree/subscribe', headers: form, payload: `email=${encodeURIComponent(email)}` }),
      await app.inject({ method: 'GET', url: `/lists/proctree/unsubscribe/${unsubscribe}` }),
      await app.inject({ method: 'POST', url: `/lists/proctree/confirm/${token}`, headers: form, payload: '' }),
      await app.inject({ method: 'POST', url: `/lists/proctree/unsubscribe/${unsubscribe}`, headers: form, payload: 'List-Unsubscribe=One-Click' }),
    ];
    for (const page of pages) {
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.ok([200, 202].includes(page.statusCode), page.body);
      assert.ok(page.body.includes('Proctree &quot;Syscall&quot; &lt;&amp;&gt;'), page.body);
      assert.ok(!page.body.includes('<&>'));
      assert.equal(page.headers['cache-control'], 'no-store');
      // The site's frame: its stylesheet, its icon, its navigation bar with the list's project.
      assert.match(page.body, /<link rel="stylesheet" href="\/static\/style\.css">/);
      assert.match(page.body, /<link rel="icon" href="\/favicon\.ico"/);
      assert.match(page.body, /<header class="top">[\s\S]*<a href="\/project\/proctree\/list\/">Proctree &quot;Syscall&quot; &lt;&amp;&gt;<\/a>/);
      assert.match(page.body, /<title>[^<]* · patchbay<\/title>/);
      assert.match(page.body, /<section class="list-page" id="list-[a-z-]+">/);
    }
    for (const page of [pages[1]!, pages[2]!, pages[4]!]) {
      assert.ok(page.body.includes('o&#x27;hara&amp;co@example.com'), page.body);
      assert.ok(!page.body.includes(email));
    }
    assert.match(pages[1]!.body, /<form class="stacked" method="post" action="\/lists\/proctree\/confirm\/[A-Za-z0-9_-]+">/);
    assert.match(pages[4]!.body, /<title>Subscribed · patchbay<\/title>/);
    assert.match(pages[5]!.body, /<title>Unsubscribed · patchbay<\/title>/);
  });

  it('keeps the first confirmation code valid when the same address asks twice', async () => {
    await service.subscribe('proctree', 'twice@example.com', 'Twice', { kind: 'web' });
    assert.equal(kicks, 1, 'a web request wakes the worker after its commit');
    // By mail, inside the processing transaction: the processing service wakes the worker after that commit.
    await db.transaction().execute((tx) => service.subscribe('proctree', 'twice@example.com', null, REPLY, tx));
    assert.equal(kicks, 1);
    const [first, second] = await mailsTo('twice@example.com');
    assert.equal(await tokenOf(first!.raw), await tokenOf(second!.raw));
    const r = await service.confirm(await tokenOf(first!.raw), 'proctree', { kind: 'web' });
    assert.equal(r.state, 'active');
    assert.equal((await sub('twice@example.com'))?.name, 'Twice');
  });

  it('refuses a confirmation code at another list', async () => {
    await service.subscribe('other', 'cross@example.com', null, { kind: 'web' });
    const [confirm] = await mailsTo('cross@example.com');
    const token = await tokenOf(confirm!.raw);
    await assert.rejects(service.confirm(token, 'proctree', REPLY), { kind: 'not_found', code: 'confirm_token_unknown' });
    const res = await app.inject({ method: 'POST', url: `/lists/proctree/confirm/${token}` });
    assert.equal(res.statusCode, 404);
    assert.equal((await sub('cross@example.com', 'other'))?.state, 'pending');
  });

  it('treats an unsubscribe request from a pending address as not subscribed, keeping its code', async () => {
    await service.subscribe('proctree', 'pend@example.com', null, { kind: 'web' });
    const r = await service.unsubscribe('proctree', 'pend@example.com', REPLY);
    assert.equal(r.outcome, 'not-subscribed');
    const [confirm, answer] = await mailsTo('pend@example.com');
    assert.equal(answer!.kind, 'not-subscribed');
    assert.equal((await service.confirm(await tokenOf(confirm!.raw), null, { kind: 'web' })).state, 'active');
  });

  it('reactivates a disabled subscriber from the CLI with a clean bounce score', async () => {
    await service.adminAdd('proctree', 'dis@example.com', null);
    const row = (await sub('dis@example.com'))!;
    await recordBounce(db, { subscriberId: row.id, kind: 'dsn', detail: 'failed 5.1.1' });
    await setSubscriberState(db, row.id, 'disabled');
    assert.equal(await service.adminAdd('proctree', 'dis@example.com', null), 'added');
    const after = (await sub('dis@example.com'))!;
    assert.equal(after.state, 'active');
    assert.equal(after.bounce_score, 0);
    assert.equal(after.token, row.token, 'the one-click link in old mails keeps working');
    assert.deepEqual(await service.subscribers('proctree').then((l) => l.find((s) => s.email === 'dis@example.com')?.state), 'active');
  });
});

// The admin pages, the maintainers' forms and the live pipeline stream, through the web app with real sessions:
// who may open what, users/roles/tokens/held posts/subscribers changed by form, patch and series actions carried
// out as API writes, and Server-Sent Events read by a real HTTP client.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nowIso } from '../../src/db/database.js';
import { bumpAttempts } from '../../src/db/mail-attempts.repository.js';
import { insertMails, getMail } from '../../src/db/mail.repository.js';
import { listOutbound } from '../../src/db/outbound.repository.js';
import { createRun, finishStep, markStepRunning, startRun } from '../../src/db/pipeline.repository.js';
import { findUserByEmail } from '../../src/db/user.repository.js';
import { extractMsgid, headerText, headerValue } from '../../src/mail/raw.js';
import { FIXTURES } from '../helpers/api-app.js';
import { LIST, readMboxFile } from '../helpers/ingest-harness.js';
import { csrfOf, PEOPLE, startWebApp, type WebApp } from '../helpers/web-app.js';

const ADMIN_PAGES = ['/admin/', '/admin/users/', '/admin/tokens/', '/admin/outbox/', '/admin/held/', '/admin/quarantine/', '/admin/subscribers/', '/admin/health/'];

/** Stores a real list post as the posting policy would have held it (state held, reason non-member). */
async function holdPost(w: WebApp, raw: Buffer): Promise<number> {
  const head = headerText(raw);
  const [row] = await insertMails(w.h.db, [
    {
      project_id: w.project.id,
      route: 'list',
      recipient: LIST,
      msgid: extractMsgid(headerValue(head, 'message-id'))!,
      msgid_generated: 0,
      envelope_from: 'stranger@example.com',
      envelope_to: LIST,
      remote_addr: '192.0.2.1',
      source: 'smtp',
      raw,
      size: raw.length,
      received_at: new Date().toISOString(),
    },
  ]);
  // What processing records for a post the policy holds.
  await w.h.db
    .updateTable('mails')
    .set({ state: 'held', reason: 'non-member', from_addr: 'stranger@example.com', subject: headerValue(head, 'subject') ?? null, processed_at: new Date().toISOString() })
    .where('id', '=', row!.id)
    .execute();
  return row!.id;
}

describe('admin pages and maintainer actions', () => {
  let w: WebApp;
  before(async () => {
    // Series 1: cover-letter (3 patches); series 2 and 3: v1 and v2 of "print the whole tree", linked by the engine.
    w = await startWebApp({ fixtures: ['cover-letter', 'v2-in-reply-to-cover'] });
  });
  after(() => w.close());

  it('sends anonymous visitors of an admin page to the login form, refuses non-admins with 403, shows admins the page', async () => {
    for (const url of ADMIN_PAGES) {
      const anon = await w.browser().get(url);
      assert.equal(anon.statusCode, 303, url);
      assert.equal(anon.headers.location, `/login/?next=${encodeURIComponent(url)}`);
    }
    const teacher = await w.login('teacher');
    const zoe = await w.login('zoe');
    const admin = await w.login('admin');
    for (const url of ADMIN_PAGES) {
      for (const b of [teacher, zoe]) {
        const r = await b.get(url);
        assert.equal(r.statusCode, 403, url);
        assert.match(r.body, /data-code="admin_only"/);
      }
      const ok = await admin.get(url);
      assert.equal(ok.statusCode, 200, url);
      assert.match(ok.body, /<nav class="admin-nav" id="admin-nav">/);
    }
    // A POST by a non-admin, even with a valid token, changes nothing.
    const r = await teacher.post(`/admin/users/${w.userIds.teacher}/role`, { role: 'admin' });
    assert.equal(r.statusCode, 403);
    assert.equal((await findUserByEmail(w.h.db, PEOPLE.teacher.email))!.role, 'maintainer');
    // The layout links the admin pages for admins only.
    assert.match((await admin.get('/login/')).body, /<a href="\/admin\/">Admin<\/a>/);
    assert.doesNotMatch((await teacher.get('/login/')).body, /href="\/admin\/"/);
  });

  it('adds a user with a role and a password who can then log in, changes roles, and keeps the last admin', async () => {
    const admin = await w.login('admin');
    const added = await admin.post('/admin/users/', { email: 'Nina@Example.org', name: 'Nina <b>New</b>', username: 'nina', role: 'maintainer', password: 'nina-password-1' });
    assert.equal(added.statusCode, 303);
    assert.equal(added.headers.location, '/admin/users/?done=user-added');
    const page = await admin.get('/admin/users/?q=nina');
    assert.match(page.body, /<tr data-user="nina" data-nav>/);
    assert.match(page.body, /Nina &lt;b&gt;New&lt;\/b&gt;/);
    const nina = (await findUserByEmail(w.h.db, 'nina@example.org'))!;
    assert.equal(nina.role, 'maintainer');
    assert.match(nina.password_hash!, /^\$argon2id\$/);
    const b = w.browser('10.9.0.1');
    const csrf = csrfOf((await b.get('/login/')).body, '/login/');
    assert.equal((await b.post('/login/', { username: 'nina@example.org', password: 'nina-password-1' }, { csrf })).statusCode, 303);

    const dup = await admin.post('/admin/users/', { email: 'nina@example.org', name: 'Again', role: 'student' });
    assert.equal(dup.statusCode, 409);
    assert.match(dup.body, /data-code="user_exists"/);

    assert.equal((await admin.post(`/admin/users/${nina.id}/role`, { role: 'student' })).statusCode, 303);
    assert.equal((await findUserByEmail(w.h.db, 'nina@example.org'))!.role, 'student');
    assert.match((await admin.get('/admin/users/?q=nina')).body, /<option value="student" selected>/);

    const last = await admin.post(`/admin/users/${w.userIds.admin}/role`, { role: 'student' });
    assert.equal(last.statusCode, 409);
    assert.match(last.body, /data-code="last_admin"/);
    assert.equal((await findUserByEmail(w.h.db, PEOPLE.admin.email))!.role, 'admin');
  });

  it('sets a password and ends that user’s other sessions', async () => {
    const admin = await w.login('admin');
    const nina = (await findUserByEmail(w.h.db, 'nina@example.org'))!;
    const login = async (password: string) => {
      const b = w.browser('10.9.0.2');
      const csrf = csrfOf((await b.get('/login/')).body, '/login/');
      return { b, r: await b.post('/login/', { username: 'nina', password }, { csrf }) };
    };
    const before = await login('nina-password-1');
    assert.equal(before.r.statusCode, 303);
    assert.equal((await admin.post(`/admin/users/${nina.id}/password`, { password: 'nina-password-2' })).statusCode, 303);
    assert.doesNotMatch((await before.b.get('/login/')).body, /class="who"/);
    assert.equal((await login('nina-password-1')).r.statusCode, 200);
    assert.equal((await login('nina-password-2')).r.statusCode, 303);
  });

  it('creates an API token shown once and usable with the API, and revokes it', async () => {
    const admin = await w.login('admin');
    const r = await admin.post('/admin/tokens/', { user: PEOPLE.teacher.email });
    assert.equal(r.statusCode, 200);
    const token = /<pre id="new-token">([0-9a-f]{40})<\/pre>/.exec(r.body)?.[1];
    assert.ok(token, 'the token is on the page');
    const api = await w.app.inject({ method: 'PATCH', url: '/api/patches/2/', headers: { authorization: `Token ${token}` }, payload: { state: 'under-review' } });
    assert.equal(api.statusCode, 200, api.body);
    assert.equal(JSON.parse(api.body).state, 'under-review');
    // The earlier token was replaced; the new one is never shown again.
    assert.equal((await w.app.inject({ url: '/api/users/', headers: { authorization: `Token ${w.tokens.teacher}` } })).statusCode, 403);
    const list = await admin.get('/admin/tokens/');
    assert.doesNotMatch(list.body, new RegExp(token));
    assert.match(list.body, /<tr data-user="teacher" data-nav>[\s\S]*?<time datetime=/);

    assert.equal((await admin.post(`/admin/tokens/${w.userIds.teacher}/revoke`, {})).statusCode, 303);
    assert.equal((await w.app.inject({ url: '/api/users/', headers: { authorization: `Token ${token}` } })).statusCode, 403);
    assert.equal((await admin.post(`/admin/tokens/${w.userIds.teacher}/revoke`, {})).statusCode, 404);
  });

  it('sets a patch’s state, delegate and archived flag through the patch form; the API then reports them', async () => {
    const teacher = await w.login('teacher');
    const r = await teacher.post('/actions/patch/1/', { state: 'accepted', delegate: 'teacher', archived: '1' }, { headers: { referer: 'http://localhost/project/proctree/patch/x/' } });
    assert.equal(r.statusCode, 303);
    assert.equal(r.headers.location, '/project/proctree/patch/x/');
    const patch = await w.apiGet('/api/patches/1/');
    assert.equal(patch.state, 'accepted');
    assert.equal(patch.delegate.username, 'teacher');
    assert.equal(patch.archived, true);
    const events = await w.h.db.selectFrom('events').selectAll().where('patch_id', '=', 1).where('category', 'in', ['patch-state-changed', 'patch-delegated']).execute();
    assert.deepEqual(events.map((e) => [e.category, e.actor_id]).sort(), [['patch-delegated', w.userIds.teacher], ['patch-state-changed', w.userIds.teacher]]);

    // The full form without the box ticked: not archived. A Referer from elsewhere is not followed.
    const r2 = await teacher.post('/actions/patch/1/', { state: 'accepted', delegate: '' }, { headers: { referer: 'https://evil.example/' } });
    assert.equal(r2.headers.location, '/patch/1/');
    const again = await w.apiGet('/api/patches/1/');
    assert.equal(again.archived, false);
    assert.equal(again.delegate, null);

    const bad = await teacher.post('/actions/patch/1/', { state: 'no-such-state' });
    assert.equal(bad.statusCode, 400);
    assert.equal((await w.apiGet('/api/patches/1/')).state, 'accepted');
  });

  it('refuses the patch form to someone who may not edit the patch (403), as the API does', async () => {
    for (const who of ['olga', 'outsider'] as const) {
      const b = await w.login(who);
      const r = await b.post('/actions/patch/3/', { state: 'rejected' });
      assert.equal(r.statusCode, 403, who);
      assert.match(r.body, /data-code="patch_not_editable"/);
    }
    const series = await (await w.login('olga')).post('/actions/series/1/', { op: 'unlink' });
    assert.equal(series.statusCode, 403);
    assert.notEqual((await w.apiGet('/api/patches/3/')).state, 'rejected');
  });

  it('sets every patch of a series, archives them, and unlinks and relinks a revision through the series form', async () => {
    const teacher = await w.login('teacher');
    assert.equal((await teacher.post('/actions/series/1/', { op: 'state', state: 'changes-requested' })).statusCode, 303);
    const series = await w.apiGet('/api/series/1/');
    const states = await Promise.all(series.patches.map(async (p: { id: number }) => (await w.apiGet(`/api/patches/${p.id}/`)).state));
    assert.deepEqual(states, ['changes-requested', 'changes-requested', 'changes-requested']);
    assert.equal((await teacher.post('/actions/series/1/', { op: 'archive' })).statusCode, 303);
    for (const p of series.patches) assert.equal((await w.apiGet(`/api/patches/${p.id}/`)).archived, true);

    const linked = await w.apiGet('/api/patchbay/series/3/revision/');
    assert.equal(linked.previous, 2);
    const unlink = await teacher.post('/actions/series/3/', { op: 'unlink' });
    assert.equal(unlink.statusCode, 303);
    assert.equal(unlink.headers.location, '/series/3/');
    assert.equal((await w.app.inject({ url: '/api/patchbay/series/3/revision/' })).statusCode, 404);
    assert.equal((await teacher.post('/actions/series/3/', { op: 'link', previous: '2' })).statusCode, 303);
    assert.equal((await w.apiGet('/api/patchbay/series/3/revision/')).previous, 2);
    assert.equal((await teacher.post('/actions/series/3/', { op: 'explode' })).statusCode, 400);
  });

  it('approves a held post (relayed to the subscribers, filed as a series) and rejects another (its sender told)', async () => {
    const admin = await w.login('admin');
    const add = await admin.post('/admin/subscribers/proctree/', { email: 'reader@example.net', name: 'Rea Der' });
    assert.equal(add.statusCode, 303);
    assert.equal(add.headers.location, '/admin/subscribers/?project=proctree&done=subscriber-added');
    assert.match((await admin.get('/admin/subscribers/?project=proctree')).body, /<tr data-subscriber="reader@example.net" data-nav>/);

    const [single] = await readMboxFile(path.join(FIXTURES, 'single.mbox'));
    const heldId = await holdPost(w, single!);
    const page = await admin.get('/admin/held/');
    assert.match(page.body, new RegExp(`<tr data-held="${heldId}" data-nav>`));
    assert.match(page.body, /proctree: return 1 when the pid is not found/);
    const seriesBefore = (await w.apiGet('/api/series/')).length;
    const kicks = w.kicks();
    const r = await admin.post(`/admin/held/proctree/${heldId}/approve`, {});
    assert.equal(r.statusCode, 303);
    assert.equal(r.headers.location, '/admin/held/?done=held-approved');
    assert.ok(w.kicks() > kicks, 'the outbound queue was woken');
    const mail = (await getMail(w.h.db, heldId))!;
    assert.deepEqual([mail.state, mail.reason], ['processed', 'approved']);
    assert.deepEqual((await listOutbound(w.h.db, { mailId: heldId })).map((o) => o.rcpt), ['reader@example.net']);
    assert.equal((await w.apiGet('/api/series/')).length, seriesBefore + 1);
    assert.doesNotMatch((await admin.get('/admin/held/')).body, new RegExp(`data-held="${heldId}"`));
    assert.equal((await admin.post(`/admin/held/proctree/${heldId}/approve`, {})).statusCode, 409);

    const raw = fs.readFileSync(path.join(FIXTURES, 'single.mbox')).toString('latin1').replace(/^From .*\n/, '').replace(/Message-ID: <[^>]+>/i, 'Message-ID: <held-2@example.com>');
    const other = await holdPost(w, Buffer.from(raw, 'latin1'));
    assert.equal((await admin.post(`/admin/held/proctree/${other}/reject`, { reason: 'off topic' })).statusCode, 303);
    assert.equal((await getMail(w.h.db, other))!.state, 'rejected');
    const notices = (await listOutbound(w.h.db, { kind: 'notice' })).map((o) => o.rcpt);
    assert.ok(notices.includes('stranger@example.com'));

    const outbox = await admin.get('/admin/outbox/?state=queued');
    assert.match(outbox.body, /<td>reader@example.net<\/td>/);
    assert.match(outbox.body, /<td>stranger@example.com<\/td>/);

    assert.equal((await admin.post('/admin/subscribers/proctree/remove', { email: 'reader@example.net' })).statusCode, 303);
    assert.match((await admin.get('/admin/subscribers/?project=proctree')).body, /<span class="badge unsubscribed">unsubscribed<\/span>/);
  });

  it('lists quarantined mail with its error (escaped) for admins, and puts one back in processing on Retry', async () => {
    const [single] = await readMboxFile(path.join(FIXTURES, 'single.mbox'));
    const raw = Buffer.from(single!.toString('latin1').replace(/Message-ID: <[^>]+>/i, 'Message-ID: <quarantined-1@example.com>'), 'latin1');
    const [row] = await insertMails(w.h.db, [
      { project_id: w.project.id, route: 'list', recipient: LIST, msgid: 'quarantined-1@example.com', msgid_generated: 0, envelope_from: 'zoe@students.example.org', envelope_to: LIST, remote_addr: '192.0.2.1', source: 'smtp', raw, size: raw.length, received_at: nowIso() },
    ]);
    // What processing leaves after three failed attempts.
    for (let i = 0; i < 3; i++) await bumpAttempts(w.h.db, [row!.id], nowIso());
    await w.h.db.updateTable('mails').set({ state: 'quarantined', reason: 'TypeError: <b>bad</b> mail', processed_at: nowIso() }).where('id', '=', row!.id).execute();

    const admin = await w.login('admin');
    const page = await admin.get('/admin/quarantine/');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, new RegExp(`<tr data-quarantined="${row!.id}" data-nav>`));
    assert.match(page.body, /TypeError: &lt;b&gt;bad&lt;\/b&gt; mail/);
    assert.doesNotMatch(page.body, /<b>bad<\/b>/);
    assert.match(page.body, /<td>3<\/td>/, 'its attempts');
    assert.match((await admin.get('/admin/')).body, /id="quarantine-count">1 kept/);
    assert.match((await admin.get('/admin/health/')).body, /<tr data-queue="mails-quarantined"><td>mails quarantined<\/td><td>1<\/td><\/tr>/);

    assert.equal((await (await w.login('teacher')).post(`/admin/quarantine/${row!.id}/retry`, {})).statusCode, 403);
    const r = await admin.post(`/admin/quarantine/${row!.id}/retry`, {});
    assert.equal(r.statusCode, 303);
    assert.equal(r.headers.location, '/admin/quarantine/?done=quarantine-retried');
    // Back in processing with one attempt left (this app's processing is not running: it stays stored).
    assert.equal((await getMail(w.h.db, row!.id))!.state, 'stored');
    const attempts = await w.h.db.selectFrom('mail_attempts').select('attempts').where('mail_id', '=', row!.id).executeTakeFirstOrThrow();
    assert.equal(attempts.attempts, 2);
    assert.doesNotMatch((await admin.get('/admin/quarantine/')).body, new RegExp(`data-quarantined="${row!.id}"`));
    assert.equal((await admin.post(`/admin/quarantine/${row!.id}/retry`, {})).statusCode, 409);
  });

  it('shows the health figures: last mail, queue depths, the last successful run of each stage', async () => {
    const runId = await createRun(w.h.db, { projectId: w.project.id, seriesId: 1, eventId: null, state: 'queued', steps: [{ step: 'apply', job: '' }, { step: 'build', job: 'x86_64' }] });
    await startRun(w.h.db, runId);
    await finishStep(w.h.db, runId, 'apply', '', { status: 'pass', summary: 'applied', findings: [], outputs: null, childMs: 5 });
    const admin = await w.login('admin');
    const r = await admin.get('/admin/health/');
    assert.match(r.body, /<dd id="last-mail"><time datetime="[^"]+">\d+ (s|min) ago<\/time>/);
    assert.match(r.body, /<tr data-queue="runs-running"><td>runs running<\/td><td>1<\/td><\/tr>/);
    assert.match(r.body, new RegExp(`<tr data-step="apply"><td>apply</td>[\\s\\S]*?<a href="/runs/${runId}/">run ${runId}</a>`));
    assert.doesNotMatch(r.body, /data-step="build"/);
  });
});

/** Reads a Server-Sent Events stream: each `event: pipeline` block's data, parsed, in order. */
function sseClient(url: string) {
  const events: unknown[] = [];
  const waiters: (() => void)[] = [];
  let comments = 0;
  let buffer = '';
  const wake = () => waiters.splice(0).forEach((f) => f());
  return new Promise<{ res: http.IncomingMessage; next(n: number): Promise<unknown>; ended: Promise<void>; comments(): number }>((resolve, reject) => {
    http
      .get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
        const ended = new Promise<void>((done) => res.on('end', done).on('close', done));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            if (block.startsWith(':')) comments++;
            const data = /^data: (.*)$/m.exec(block);
            if (/^event: pipeline$/m.test(block) && data) events.push(JSON.parse(data[1]!));
          }
          wake();
        });
        resolve({
          res,
          ended,
          comments: () => comments,
          /** Resolves with the n-th event (0-based) once it has come. */
          next: (n) =>
            new Promise((done) => {
              const check = () => (events.length > n ? done(events[n]) : waiters.push(check));
              check();
            }),
        });
      })
      .on('error', reject);
  });
}

describe('live pipeline updates (SSE)', () => {
  let w: WebApp;
  let base: string;
  before(async () => {
    w = await startWebApp({ fixtures: ['cover-letter'] });
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(w.app.server.address() as AddressInfo).port}`;
  });
  after(() => w.close());

  it('answers 404 for a series that does not exist', async () => {
    const r = await fetch(`${base}/series/999/events`);
    assert.equal(r.status, 404);
  });

  it('sends the state at once, an event when a run step changes, and ends open streams when the server closes', { timeout: 60_000 }, async () => {
    const stream = await sseClient(`${base}/series/1/events`);
    assert.equal(stream.res.statusCode, 200);
    assert.match(String(stream.res.headers['content-type']), /^text\/event-stream/);
    assert.deepEqual(await stream.next(0), { runs: 0, run: null, state: null, outcome: null, steps: { total: 0, running: 0, done: 0 } });

    const runId = await createRun(w.h.db, { projectId: w.project.id, seriesId: 1, eventId: null, state: 'queued', steps: [{ step: 'apply', job: '' }, { step: 'build', job: 'x86_64' }] });
    assert.deepEqual(await stream.next(1), { runs: 1, run: runId, state: 'queued', outcome: null, steps: { total: 2, running: 0, done: 0 } });
    // Two writes, which one poll or two may see: read events until the step shows as running.
    await startRun(w.h.db, runId);
    await markStepRunning(w.h.db, runId, 'apply', '', '/dev/null');
    let n = 2;
    let e = (await stream.next(n)) as { state: string; steps: { total: number; running: number; done: number } };
    while (e.steps.running === 0) e = (await stream.next(++n)) as typeof e;
    assert.equal(e.state, 'running');
    await finishStep(w.h.db, runId, 'apply', '', { status: 'pass', summary: 'applied', findings: [], outputs: null, childMs: 1 });
    assert.deepEqual(((await stream.next(++n)) as typeof e).steps, { total: 2, running: 0, done: 1 });

    const closed = w.app.close();
    await stream.ended;
    await closed;
    assert.ok(stream.res.complete || stream.res.destroyed);
  });
});

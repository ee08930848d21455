// Private course projects (issue 14) through app.inject() on real mail filed by the real services: every read path
// (pages, REST API with tokens, mbox, archive, runs, events, checks, XML-RPC) as student Zoé, student Olga, the
// teacher (maintainer) and anonymous; the course rules (no self-grading, no classmates' emails); the gradebook's
// access rule in a public project too; and the password links (first login, reset, single use, expiry).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { createRun } from '../../src/db/pipeline.repository.js';
import { importRoster } from '../../src/smtp/roster.service.js';
import { createStudentAccounts } from '../../src/web/student-accounts.service.js';
import { routesAfterGate, unguardedRoutes } from '../../src/web/visibility-gate.js';
import { FIXTURES } from '../helpers/api-app.js';
import { readMboxFile } from '../helpers/ingest-harness.js';
import { asOlga, csrfOf, PEOPLE, startWebApp, type WebApp, type Who } from '../helpers/web-app.js';

// zetu is Zoé (every fixture's author), olga is Olga; nadia is on the roster without an account yet.
const ROSTER = ['login,name,email', 'zetu,Zoé Étudiante,zoe@students.example.org', 'olga,Olga Other,olga@students.example.org', 'nadia,Nadia New,nadia@students.example.org'].join('\n');


describe('a private project', () => {
  let w: WebApp;
  let Z: number; // Zoé's series (cover letter and 3 patches)
  let O: number; // Olga's single patch
  let zPatch: number;
  let oPatch: number;
  let zCover: number;
  let zMsgid: string;
  let oMsgid: string;
  let zRun: number;
  let oRun: number;

  const inject = (url: string, who?: Who, method: 'GET' | 'POST' | 'PATCH' = 'GET', payload?: object) =>
    w.app.inject({ method, url, headers: who ? { authorization: `Token ${w.tokens[who]}` } : {}, ...(payload ? { payload } : {}) });
  const status = async (url: string, who?: Who) => (await inject(url, who)).statusCode;

  before(async () => {
    w = await startWebApp({ roster: ROSTER, project: { visibility: 'private', roster: 'roster.csv' }, fixtures: ['cover-letter'] });
    const [single] = await readMboxFile(path.join(FIXTURES, 'single.mbox'));
    await w.h.deliver(asOlga(single!, 'olga solves it', { ownMsgid: true }));
    const series = await w.h.series();
    Z = series.find((s) => /count the children/.test(s.name ?? ''))!.id;
    O = series.find((s) => /olga solves it/.test(s.name ?? ''))!.id;
    const db = w.h.db;
    const patch = (sid: number) => db.selectFrom('patches').select(['id', 'msgid']).where('series_id', '=', sid).orderBy('number').executeTakeFirstOrThrow();
    ({ id: zPatch, msgid: zMsgid } = await patch(Z));
    ({ id: oPatch, msgid: oMsgid } = await patch(O));
    zCover = (await db.selectFrom('covers').select('id').where('series_id', '=', Z).executeTakeFirstOrThrow()).id;
    zRun = await createRun(db, { projectId: w.project.id, seriesId: Z, eventId: null, state: 'running', steps: [] });
    oRun = await createRun(db, { projectId: w.project.id, seriesId: O, eventId: null, state: 'running', steps: [] });
    // A check on each patch (by the teacher, as the bot would).
    for (const id of [zPatch, oPatch]) {
      const r = await inject(`/api/patches/${id}/checks/`, 'teacher', 'POST', { state: 'success', context: 'apply' });
      assert.equal(r.statusCode, 201, r.body);
    }
  });
  after(() => w.close());

  it('names every page, download, log and archive route in the visibility table', () => {
    const seen = routesAfterGate(w.app);
    for (const r of ['/series/:id/mbox/', '/runs/:id/artifacts/*', '/:list/:msgid/t.mbox.gz', '/project/:slug/students.csv']) assert.ok(seen.includes(r), r);
    assert.deepEqual(unguardedRoutes(w.app), []);
  });

  it('is absent for anonymous: 404 for every page, download, log, archive post and API object, and missing from lists', async () => {
    for (const url of [
      '/project/proctree/',
      '/project/proctree/list/',
      '/project/proctree/students/',
      `/series/${Z}/`,
      `/series/${Z}/mbox/`,
      `/patch/${zPatch}/mbox/`,
      `/patch/${zPatch}/raw/`,
      `/cover/${zCover}/mbox/`,
      `/runs/${zRun}/?format=json`,
      `/series/${Z}/runs/`,
      '/proctree/',
      `/proctree/${encodeURIComponent(zMsgid)}/`,
      `/proctree/${encodeURIComponent(zMsgid)}/raw`,
      `/proctree/${encodeURIComponent(zMsgid)}/t.mbox.gz`,
      `/all/${encodeURIComponent(zMsgid)}/`,
      `/api/projects/${w.project.id}/`,
      '/api/projects/proctree/',
      `/api/series/${Z}/`,
      `/api/patches/${zPatch}/`,
      `/api/patches/${zPatch}/checks/`,
      `/api/patches/${zPatch}/comments/`,
      `/api/covers/${zCover}/`,
    ]) {
      assert.equal(await status(url), 404, url);
    }
    assert.doesNotMatch((await w.browser().get('/')).body, /proctree/, 'not on the projects page');
    assert.doesNotMatch((await inject('/all/')).body, /count the children|olga solves/, 'not in /all/');
    for (const list of ['/api/projects/', '/api/series/', '/api/patches/', '/api/covers/', '/api/events/']) {
      assert.deepEqual(JSON.parse((await inject(list)).body), [], list);
    }
  });

  it('shows a student their own series, patches, cover, checks, run, mbox and archive posts, and 404 for a classmate’s', async () => {
    for (const url of [`/series/${Z}/mbox/`, `/patch/${zPatch}/mbox/`, `/cover/${zCover}/mbox/`, `/runs/${zRun}/?format=json`, `/proctree/${encodeURIComponent(zMsgid)}/raw`, `/api/series/${Z}/`, `/api/patches/${zPatch}/checks/`, `/api/projects/proctree/`]) {
      assert.equal(await status(url, 'zoe'), 200, url);
    }
    for (const url of [`/series/${O}/mbox/`, `/patch/${oPatch}/mbox/`, `/runs/${oRun}/?format=json`, `/proctree/${encodeURIComponent(oMsgid)}/raw`, `/api/series/${O}/`, `/api/patches/${oPatch}/`, `/api/patches/${oPatch}/checks/`, '/proctree/']) {
      assert.equal(await status(url, 'zoe'), 404, url);
    }
    const ids = async (url: string, who: Who) => (JSON.parse((await inject(url, who)).body) as { id: number }[]).map((x) => x.id);
    assert.deepEqual(await ids('/api/series/', 'zoe'), [Z]);
    assert.deepEqual(await ids('/api/series/', 'olga'), [O]);
    assert.deepEqual(await ids('/api/projects/', 'olga'), [w.project.id]);
    const zoePatches = await ids('/api/patches/', 'zoe');
    assert.ok(zoePatches.includes(zPatch) && !zoePatches.includes(oPatch));
    assert.deepEqual(await ids('/api/covers/', 'zoe'), [zCover]);
    assert.deepEqual(await ids('/api/covers/', 'olga'), []);
    const events = JSON.parse((await inject('/api/events/', 'olga')).body) as { series?: { id: number } | null; patch?: { id: number } | null }[];
    assert.ok(events.length > 0);
    for (const e of events) assert.ok((e.series?.id ?? O) === O && (e.patch?.id ?? oPatch) === oPatch, JSON.stringify(e));
  });

  it('shows the teacher and the admin everything', async () => {
    for (const who of ['teacher', 'admin'] as const) {
      for (const url of [`/series/${O}/mbox/`, `/series/${Z}/mbox/`, `/runs/${oRun}/?format=json`, '/proctree/', `/proctree/${encodeURIComponent(oMsgid)}/raw`, `/api/patches/${oPatch}/`]) {
        assert.equal(await status(url, who), 200, `${who} ${url}`);
      }
      const ids = (JSON.parse((await inject('/api/series/', who)).body) as { id: number }[]).map((s) => s.id).sort();
      assert.deepEqual(ids, [Z, O].sort());
    }
    assert.equal(await status(`/series/${O}/mbox/`, 'outsider'), 404, 'a maintainer of nothing here is nobody here');
  });

  it('keeps a student to their own series in the web view, the gradebook to the teacher', async () => {
    const zoe = await w.login('zoe');
    const list = await zoe.get('/project/proctree/list/');
    assert.equal(list.statusCode, 200);
    assert.match(list.body, new RegExp(`data-series="${Z}"`));
    assert.doesNotMatch(list.body, new RegExp(`data-series="${O}"`));
    assert.equal((await zoe.get(`/series/${Z}/`)).statusCode, 200);
    assert.equal((await zoe.get(`/series/${O}/`)).statusCode, 404);
    assert.equal((await zoe.get(`/series/${Z}/?from=${O}&to=${Z}`)).statusCode, 404, 'no range-diff against a classmate’s series');
    assert.equal((await zoe.get('/project/proctree/students/')).statusCode, 404);
    assert.equal((await zoe.get('/project/proctree/students.csv')).statusCode, 404);
    assert.match((await zoe.get('/')).body, /proctree/, 'the project is listed to its student');
    const teacher = await w.login('teacher');
    assert.equal((await teacher.get('/project/proctree/students/')).statusCode, 200);
    assert.equal((await teacher.get('/project/proctree/students.csv')).statusCode, 200);
    assert.equal((await teacher.get(`/series/${O}/`)).statusCode, 200);
  });

  it('never serves a page rendered for one token holder to another (the page cache is for anonymous only)', async () => {
    const ids = async (who: Who) => [...(await inject('/project/proctree/list/', who)).body.matchAll(/data-series="(\d+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual((await ids('teacher')).sort(), [Z, O].sort());
    assert.deepEqual([...new Set(await ids('zoe'))], [Z]);
    assert.deepEqual([...new Set(await ids('olga'))], [O]);
    // The student filter names no classmate to a student; the teacher's names every roster student.
    const choices = async (who: Who) => [...(await inject('/project/proctree/list/', who)).body.matchAll(/<option value="([a-z]+)"[^>]*>[a-z]+ \(/g)].map((m) => m[1]);
    assert.deepEqual(await choices('zoe'), ['zetu']);
    assert.deepEqual((await choices('teacher')).sort(), ['nadia', 'olga', 'zetu']);
  });

  it('refuses a student to change their own patch’s state or archived flag, or to post a check, by API and XML-RPC', async () => {
    for (const body of [{ state: 'accepted' }, { archived: true }]) {
      const r = await inject(`/api/patches/${zPatch}/`, 'zoe', 'PATCH', body);
      assert.equal(r.statusCode, 403, JSON.stringify(body));
    }
    assert.equal((await inject(`/api/patches/${zPatch}/checks/`, 'zoe', 'POST', { state: 'success', context: 'apply' })).statusCode, 403);
    const state = (await w.apiGet(`/api/patches/${zPatch}/`, 'teacher')).state;
    assert.equal(state, 'new', 'nothing changed');
    const teacher = await inject(`/api/patches/${zPatch}/`, 'teacher', 'PATCH', { state: 'changes-requested' });
    assert.equal(teacher.statusCode, 200);
    const xml = (method: string, params: string) =>
      w.app.inject({
        method: 'POST',
        url: '/xmlrpc/',
        headers: { 'content-type': 'text/xml', authorization: `Basic ${Buffer.from('zoe:zoe-secret-pw').toString('base64')}` },
        payload: `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params}</params></methodCall>`,
      });
    const set = await xml('patch_set', `<param><value><int>${zPatch}</int></value></param><param><value><struct><member><name>state</name><value><string>accepted</string></value></member></struct></value></param>`);
    assert.match(set.body, /<fault>/, 'XML-RPC patch_set refused');
    const listed = await xml('patch_list', '<param><value><struct></struct></value></param>');
    assert.doesNotMatch(listed.body, /count the children|olga solves/, 'XML-RPC reads show public projects only');
  });

  it('keeps bundles to what their reader may see: no classmate’s patch in a bundle, a teacher’s public bundle for the teacher only', async () => {
    const refused = await inject('/api/bundles/', 'zoe', 'POST', { name: 'mine', patches: [zPatch, oPatch] });
    assert.equal(refused.statusCode, 400, 'a classmate’s patch does not exist for her');
    const own = await inject('/api/bundles/', 'zoe', 'POST', { name: 'mine', patches: [zPatch] });
    assert.equal(own.statusCode, 201, own.body);
    const made = await inject('/api/bundles/', 'teacher', 'POST', { name: 'both', patches: [zPatch, oPatch], public: true });
    assert.equal(made.statusCode, 201, made.body);
    const id = JSON.parse(made.body).id as number;
    for (const who of [undefined, 'zoe'] as const) {
      assert.equal(await status(`/api/bundles/${id}/`, who), 404, `${who ?? 'anonymous'}: the bundle`);
      assert.equal(await status('/bundle/teacher/both/mbox/', who), 404, `${who ?? 'anonymous'}: its mbox`);
      assert.equal(await status('/bundle/teacher/both/', who), 404, `${who ?? 'anonymous'}: its page`);
      assert.deepEqual(JSON.parse((await inject('/api/bundles/', who)).body), [], `${who ?? 'anonymous'}: the list`);
    }
    assert.equal(await status('/bundle/teacher/both/mbox/', 'teacher'), 200);
    assert.equal(await status(`/api/bundles/${JSON.parse(own.body).id}/`, 'zoe'), 200, 'her own bundle');
  });

  it('hides other people’s emails from students in /api/users/ and /api/people/, not from the teacher', async () => {
    const users = JSON.parse((await inject('/api/users/', 'zoe')).body) as { username: string; email: string }[];
    assert.equal(users.find((u) => u.username === 'zoe')!.email, PEOPLE.zoe.email, 'her own');
    assert.equal(users.find((u) => u.username === 'olga')!.email, '');
    assert.equal(users.find((u) => u.username === 'teacher')!.email, '');
    const people = JSON.parse((await inject('/api/people/', 'olga')).body) as { email: string }[];
    assert.ok(people.every((p) => p.email === '' || p.email === PEOPLE.olga.email), JSON.stringify(people));
    const all = JSON.parse((await inject('/api/users/', 'teacher')).body) as { username: string; email: string }[];
    assert.equal(all.find((u) => u.username === 'olga')!.email, PEOPLE.olga.email);
    // Nor by searching or sorting on it: a match on the hidden address would reveal it a letter at a time.
    const probe = async (url: string, who: Who) => (JSON.parse((await inject(url, who)).body) as { username: string }[]).map((u) => u.username);
    assert.deepEqual(await probe('/api/users/?q=olga@students', 'zoe'), [], 'no user found by a hidden email');
    assert.deepEqual(await probe('/api/people/?q=olga@students', 'zoe'), []);
    assert.deepEqual(await probe('/api/users/?q=olga@students', 'teacher'), ['olga'], 'the teacher searches emails');
    const byId = await probe('/api/users/', 'zoe');
    assert.deepEqual(await probe('/api/users/?order=email', 'zoe'), byId, 'order=email falls back to id');
  });

  it('mails a roster student without an account a single-use link that sets their password, then they log in', async () => {
    const b = w.browser();
    const form = await b.get('/password/reset/');
    assert.equal(form.statusCode, 200);
    const sent = await b.post('/password/reset/', { email: 'nadia@students.example.org' }, { csrf: csrfOf(form.body, '/password/reset/') });
    assert.equal(sent.statusCode, 200);
    assert.match(sent.body, /id="reset-sent"/);
    const mail = await w.h.db.selectFrom('outbound').select(['rcpt', 'raw', 'kind']).where('rcpt', '=', 'nadia@students.example.org').executeTakeFirstOrThrow();
    assert.equal(mail.kind, 'password-first-login');
    const link = /\/password\/set\/([A-Za-z0-9_-]+)\//.exec((await simpleParser(mail.raw!)).text ?? '');
    assert.ok(link, 'the mail carries the link');
    const token = link[1]!;
    const stored = await w.h.db.selectFrom('password_tokens').select('token_hash').execute();
    assert.ok(stored.every((t) => !t.token_hash.includes(token)), 'only a hash is stored');

    const page = await b.get(`/password/set/${token}/`);
    assert.equal(page.statusCode, 200);
    const csrf = csrfOf(page.body, `/password/set/${token}/`);
    assert.equal((await b.post(`/password/set/${token}/`, { password: 'short' }, { csrf })).statusCode, 400, 'too short');
    const done = await b.post(`/password/set/${token}/`, { password: 'nadia-new-password' }, { csrf });
    assert.equal(done.statusCode, 200);
    assert.match(done.body, /id="password-done"/);
    assert.equal((await b.get(`/password/set/${token}/`)).statusCode, 404, 'used once');
    assert.equal((await b.post(`/password/set/${token}/`, { password: 'another-password' }, { csrf })).statusCode, 404);

    const login = await b.get('/login/');
    const r = await b.post('/login/', { username: 'nadia', password: 'nadia-new-password' }, { csrf: csrfOf(login.body, '/login/') });
    assert.equal(r.statusCode, 303, 'nadia logs in');
    const user = await w.h.db.selectFrom('users').select(['role', 'email']).where('username', '=', 'nadia').executeTakeFirstOrThrow();
    assert.deepEqual(user, { role: 'student', email: 'nadia@students.example.org' });
  });

  it('refuses an expired link, and a new link voids the older one', async () => {
    let clock = Date.now();
    const accounts = createStudentAccounts({ db: w.h.db, projects: [w.project], baseUrl: () => 'https://pb.example.org', hostname: 'example.org', kick: () => {}, now: () => clock });
    const linkOf = async () => {
      const rows = await w.h.db.selectFrom('outbound').select('raw').where('rcpt', '=', PEOPLE.olga.email).where('kind', '=', 'password-reset').orderBy('id', 'desc').execute();
      const text = (await simpleParser(rows[0]!.raw!)).text ?? '';
      return /\/password\/set\/([A-Za-z0-9_-]+)\//.exec(text)![1]!;
    };
    await accounts.requestReset(PEOPLE.olga.email);
    const first = await linkOf();
    assert.ok(await accounts.linkIsLive(first));
    await accounts.requestReset(PEOPLE.olga.email);
    const second = await linkOf();
    assert.equal(await accounts.linkIsLive(first), false, 'voided by the newer link');
    clock += 2 * 3_600_000;
    assert.equal(await accounts.linkIsLive(second), false, 'a reset link lasts an hour');
    await assert.rejects(accounts.setPassword(second, 'late-password'), (e: { kind?: string }) => e.kind === 'not_found');
    await accounts.requestReset('nobody-at-all@example.org'); // no account, on no roster: nothing sent, no error
  });
});

describe('a public project with a roster', () => {
  let w: WebApp;
  before(async () => {
    w = await startWebApp({ roster: ROSTER, project: { roster: 'roster.csv' }, fixtures: ['single'] });
  });
  after(() => w.close());

  it('stays public, but keeps the gradebook to its maintainers and the grade to them too', async () => {
    const series = await w.h.series();
    assert.equal((await w.app.inject({ url: `/series/${series[0]!.id}/mbox/` })).statusCode, 200, 'anyone downloads');
    assert.equal((await w.browser().get('/project/proctree/list/')).statusCode, 200);
    assert.equal((await w.browser().get('/project/proctree/students/')).statusCode, 404);
    assert.equal((await w.browser().get('/project/proctree/students.csv')).statusCode, 404);
    assert.equal((await (await w.login('zoe')).get('/project/proctree/students/')).statusCode, 404);
    assert.equal((await (await w.login('teacher')).get('/project/proctree/students/')).statusCode, 200);
    const patch = series[0]!.patches[0]!.id;
    const r = await w.app.inject({ method: 'PATCH', url: `/api/patches/${patch}/`, headers: { authorization: `Token ${w.tokens.zoe}` }, payload: { state: 'accepted' } });
    assert.equal(r.statusCode, 403, 'a course project: the submitter does not grade herself');
  });
});

describe('importing a roster with accounts', () => {
  let w: WebApp;
  before(async () => {
    w = await startWebApp({ roster: ROSTER, project: { roster: 'roster.csv' } });
  });
  after(() => w.close());

  it('makes an account for each roster student without one and mails each a first-login link; a re-import makes none', async () => {
    const deps = { db: w.h.db, projects: [w.project], hostname: 'example.org', kick: () => {} };
    const noBase = createStudentAccounts({ ...deps, baseUrl: () => '' });
    await assert.rejects(importRoster(w.h.db, w.project.id, 'roster.csv', ROSTER, noBase), (e: { code?: string }) => e.code === 'base_url_missing');
    const accounts = createStudentAccounts({ ...deps, baseUrl: () => 'https://pb.example.org/' });
    assert.equal((await importRoster(w.h.db, w.project.id, 'roster.csv', ROSTER, accounts)).unchanged, 3);
    const mails = await w.h.db.selectFrom('outbound').select(['rcpt', 'kind', 'raw']).where('kind', '=', 'password-first-login').execute();
    assert.deepEqual(mails.map((m) => m.rcpt), ['nadia@students.example.org'], 'zoe and olga had accounts already');
    assert.match((await simpleParser(mails[0]!.raw!)).text ?? '', /https:\/\/pb\.example\.org\/password\/set\/[A-Za-z0-9_-]{40,}\//);
    assert.deepEqual(await accounts.createAccounts(w.project.id), [], 'nobody left without an account');
  });
});

describe('a public project without a roster', () => {
  let w: WebApp;
  before(async () => {
    w = await startWebApp({ fixtures: ['single'] });
  });
  after(() => w.close());

  it('keeps Patchwork’s rules: the submitter may change her patch, anyone sees emails when logged in', async () => {
    const series = await w.h.series();
    const patch = series[0]!.patches[0]!.id;
    const r = await w.app.inject({ method: 'PATCH', url: `/api/patches/${patch}/`, headers: { authorization: `Token ${w.tokens.zoe}` }, payload: { state: 'accepted' } });
    assert.equal(r.statusCode, 200);
    const users = JSON.parse((await w.app.inject({ url: '/api/users/', headers: { authorization: `Token ${w.tokens.zoe}` } })).body) as { username: string; email: string }[];
    assert.equal(users.find((u) => u.username === 'olga')!.email, PEOPLE.olga.email);
  });
});

// An admin's cancel and retry of runs on the real server (in-process pipeline, no --queue): from /admin/queue/'s
// buttons and /runs/R/'s, and as JSON with an admin's token. The tree is the hold tree (test/helpers/hold-tree.ts): a
// build waits for a file the test makes, so "a run holding the build slot" and "a run waiting behind it" last as long
// as the test needs. A second project's tree is missing at first, so its run ends in `error` (our side failed) and is
// retried once the tree is there.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addUser, createToken } from '../../src/api/user.service.js';
import { openCore } from '../../src/main.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { buildSkipReason, getJson, holdDir, holdProject, makeHoldTree, patchOf, sendSeries, step, sunkReplies, type RunView, type Student } from '../helpers/hold-tree.js';
import { formCsrf, HttpBrowser } from '../helpers/http-browser.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink } from '../helpers/sink-smtp.js';
import { waitFor } from '../helpers/wait.js';

const LIST = 'acts@lists.example.org';
const LATER_LIST = 'later@lists.example.org';
const student = (name: string): Student => ({ name: `${name} Student`, email: `${name.toLowerCase()}@students.example.org` });
const ROOT_PW = 'root-secret-pw';
const TEACHER_PW = 'teacher-secret-pw';
const HOSTNAME = 'patchbay-acts.example.org';

describe("an admin's cancel and retry of runs, in-process", { skip: buildSkipReason() }, () => {
  let server: ServerProcess;
  let sink: Sink;
  let bare: string;
  let later: string;
  const dirs: string[] = [];
  const holds: string[] = [];
  let adminToken: string;
  let teacherToken: string;

  const hold = (): string => {
    const dir = holdDir();
    holds.push(dir);
    return path.join(dir, 'go');
  };
  const api = (method: string, url: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${server.baseUrl}${url}`, { method, headers: { ...(token ? { authorization: `Token ${token}` } : {}), ...headers } });
  /** The series' runs, oldest first. */
  const runsOf = async (msgid: string) => getJson<RunView[]>(server, `/series/${(await patchOf(server, msgid)).series}/runs/`);
  const runWhere = (msgid: string, until: (runs: RunView[]) => RunView | undefined | false, what: string, timeoutMs = 120_000) =>
    waitFor(what, async () => until(await runsOf(msgid)), timeoutMs);
  /** The <tr> of a run in a table of the queue page. */
  const rowOf = (html: string, table: string, runId: number) => {
    const t = new RegExp(`<table id="${table}">([\\s\\S]*?)</table>`).exec(html)?.[1] ?? '';
    return new RegExp(`<tr data-run="${runId}">([\\s\\S]*?)</tr>`).exec(t)?.[1] ?? null;
  };

  before(async () => {
    sink = await startSink();
    bare = makeHoldTree();
    dirs.push(path.dirname(bare));
    // The second project's tree is not there yet: its first run ends in error.
    const laterDir = tempDir('patchbay-acts-later-');
    dirs.push(laterDir);
    later = path.join(laterDir, 'tree.git');
    const projects = projectsDir([holdProject('acts', LIST, bare), holdProject('later', LATER_LIST, later)]);
    const data = tempDir('patchbay-acts-data-');
    dirs.push(projects, data);
    const core = await openCore({ data, projects, logLevel: 'warn' }, {});
    try {
      await addUser(core.db, { email: 'root@example.org', name: 'Ada Admin', role: 'admin', username: 'root', password: ROOT_PW });
      await addUser(core.db, { email: 'teacher@example.org', name: 'Tim Teacher', role: 'maintainer', username: 'teacher', password: TEACHER_PW });
      adminToken = await createToken(core.db, 'root@example.org');
      teacherToken = await createToken(core.db, 'teacher@example.org');
    } finally {
      await core.close();
    }
    server = await startServer(['--data', data, '--projects', projects, '--outbound', sink.url, '--hostname', HOSTNAME, '--pipeline-runs', '1', '--gate-runs', '2', '--pipeline-cpus', '2']);
  });

  after(async () => {
    // A hold never outlives the test: a build still waiting goes on and ends.
    for (const h of holds) fs.writeFileSync(path.join(h, 'go'), '');
    await server?.stop();
    await sink?.close();
    for (const d of [...holds, ...dirs]) fs.rmSync(d, { recursive: true, force: true });
  });

  let aliceRun: number;
  let bobRun: number;
  let bobMsgid: string;

  it('cancels the run holding the build slot from the queue page and the run waiting behind it by token: every unfinished step cancelled, no reply mailed', { timeout: 300_000 }, async () => {
    const ALICE = student('Alice');
    const BOB = student('Bob');
    const alice = await sendSeries(server, LIST, bare, ALICE, 1, { hold: hold() });
    const building = await runWhere(alice, (rs) => rs[0] && step(rs[0], 'build', 'x86_64').status === 'running' && rs[0], "Alice's build to start");
    aliceRun = building.id;
    // Bob's series (its subject carries markup: the page must show it as text) passes its gates and waits for the build slot.
    bobMsgid = await sendSeries(server, LIST, bare, BOB, 2, { subject: 'hello: <img src=x onerror=alert(1)> return 2' });
    const waiting = await runWhere(bobMsgid, (rs) => rs[0]?.queue?.lane === 'builds' && rs[0], "Bob's run to wait for the build slot");
    bobRun = waiting.id;

    const admin = await HttpBrowser.login(server.baseUrl, 'root', ROOT_PW);
    const page = await admin.get('/admin/queue/');
    assert.equal(page.status, 200);
    const aliceRow = rowOf(page.body, 'queue-runs', aliceRun);
    assert.ok(aliceRow, page.body);
    assert.match(aliceRow, /<td>acts<\/td>/);
    assert.match(aliceRow, /builds: running/);
    assert.match(aliceRow, /build \(x86_64\)/);
    // In-process, the worker is this server.
    assert.match(aliceRow, new RegExp(HOSTNAME.replace(/\./g, '\\.')));
    assert.match(aliceRow, new RegExp(`<form class="inline" method="post" action="/admin/runs/${aliceRun}/cancel">`));
    const bobRow = rowOf(page.body, 'queue-runs', bobRun)!;
    assert.match(bobRow, /builds: waiting/);
    assert.ok(!page.body.includes('<img src=x'), 'a series name rendered as markup');
    assert.match(bobRow, /&lt;img src&#x3D;x onerror&#x3D;alert\(1\)&gt;/);
    // A live run is not retried.
    const early = await api('POST', `/admin/runs/${aliceRun}/retry`, adminToken);
    assert.equal(early.status, 409);
    assert.equal(((await early.json()) as { code: string }).code, 'run_not_ended');

    // Bob's by a script.
    const byToken = await api('POST', `/admin/runs/${bobRun}/cancel`, adminToken);
    assert.equal(byToken.status, 200);
    assert.deepEqual(await byToken.json(), { run: bobRun, state: 'cancelled', reason: 'cancelled by admin root' });
    // Alice's by the page's button.
    const posted = await admin.post(`/admin/runs/${aliceRun}/cancel`, { csrf: formCsrf(page.body, `/admin/runs/${aliceRun}/cancel`), back: '/admin/queue/' });
    assert.equal(posted.status, 303, posted.body);
    assert.equal(posted.location, '/admin/queue/?done=run-cancelled');
    const after = await admin.get(posted.location!);
    assert.match(after.body, /<p class="flash" id="admin-done">Run cancelled/);
    assert.equal(rowOf(after.body, 'queue-runs', aliceRun), null);
    assert.match(rowOf(after.body, 'queue-ended', aliceRun) ?? '', new RegExp(`action="/admin/runs/${aliceRun}/retry"`));

    for (const [id, reason] of [
      [aliceRun, 'cancelled by admin root'],
      [bobRun, 'cancelled by admin root'],
    ] as const) {
      const run = await getJson<RunView & { reason: string }>(server, `/runs/${id}/`);
      assert.equal(run.state, 'cancelled');
      assert.equal(run.reason, reason);
      assert.equal(run.queue, null);
      assert.deepEqual(run.steps.filter((s) => s.status === 'pending' || s.status === 'running'), [], JSON.stringify(run.steps));
      assert.equal(step(run, 'build', 'x86_64').status, 'cancelled');
    }
    // Nothing is live any more. (Alice's held build was stopped: its hold is never released, yet the next tests'
    // builds get the one build slot.)
    const board = (await (await api('GET', '/admin/queue.json', adminToken)).json()) as { runs: { live: unknown[] } };
    assert.deepEqual(board.runs.live, []);
    // A cancelled run gets no reply, now or later.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(sunkReplies(sink, alice).length, 0);
    assert.equal(sunkReplies(sink, bobMsgid).length, 0);
    // Cancelling again: the run has ended.
    const again = await api('POST', `/admin/runs/${aliceRun}/cancel`, adminToken);
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { code: string }).code, 'run_ended');
  });

  it('retries a cancelled run once from its page: the new run of the same series completes and its student gets one reply; a second retry does nothing but say so', { timeout: 300_000 }, async () => {
    const admin = await HttpBrowser.login(server.baseUrl, 'root', ROOT_PW);
    const page = await admin.get(`/runs/${bobRun}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.body), /<h1 id="run-title">Run \d+<\/h1>/);
    assert.ok(!page.body.includes('<img src=x'));
    const posted = await admin.post(`/admin/runs/${bobRun}/retry`, { csrf: formCsrf(page.body, `/admin/runs/${bobRun}/retry`), back: `/runs/${bobRun}/` });
    assert.equal(posted.status, 303, posted.body);
    const m = /^\/runs\/(\d+)\/\?done=run-retried$/.exec(posted.location ?? '');
    assert.ok(m, posted.location ?? '');
    const retry = Number(m[1]);
    assert.ok(retry > bobRun);

    const done = await runWhere(bobMsgid, (rs) => rs.length === 2 && rs[1]!.state === 'done' && rs[1], 'the retry to end');
    assert.equal(done.id, retry);
    assert.equal(done.outcome, 'pass', JSON.stringify(done.steps));
    const [reply] = await waitFor("Bob's reply", () => sunkReplies(sink, bobMsgid).length > 0 && sunkReplies(sink, bobMsgid));
    assert.deepEqual(reply!.rcptTo, [student('Bob').email]);

    // Again, by token and by the stale page's button: nothing is done, and the answer says which run came after.
    const again = await api('POST', `/admin/runs/${bobRun}/retry`, adminToken);
    assert.equal(again.status, 409);
    const body = (await again.json()) as { code: string; detail: string };
    assert.equal(body.code, 'already_retried');
    assert.match(body.detail, new RegExp(`run ${retry}\\b`));
    const stale = await admin.post(`/admin/runs/${bobRun}/retry`, { csrf: formCsrf(page.body, `/admin/runs/${bobRun}/retry`), back: `/runs/${bobRun}/` });
    assert.equal(stale.status, 409);
    assert.match(stale.body, /Already done/);
    // The old run's page now points at the newer run instead of offering a retry.
    const oldPage = await admin.get(`/runs/${bobRun}/`);
    assert.doesNotMatch(oldPage.body, /action="\/admin\/runs\/\d+\/retry"/);
    assert.match(oldPage.body, new RegExp(`<a class="newer-run" href="/runs/${retry}/">`));
    // A run that passed is the series' verdict: not retried.
    const verdict = await api('POST', `/admin/runs/${retry}/retry`, adminToken);
    assert.equal(verdict.status, 409);
    assert.equal(((await verdict.json()) as { code: string }).code, 'run_not_retryable');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await runsOf(bobMsgid)).length, 2);
    assert.equal(sunkReplies(sink, bobMsgid).length, 1);
  });

  it('retries a run that ended in error (the tree was missing) once the tree is there: the new run passes and its student gets the reply', { timeout: 300_000 }, async () => {
    const ZOE = student('Zoe');
    const msgid = await sendSeries(server, LATER_LIST, bare, ZOE, 3);
    const failed = await runWhere(msgid, (rs) => rs[0]?.state === 'done' && rs[0], 'the run without a tree to end');
    assert.equal(failed.outcome, 'error', JSON.stringify(failed.steps));

    const admin = await HttpBrowser.login(server.baseUrl, 'root', ROOT_PW);
    const page = await admin.get('/admin/queue/');
    const row = rowOf(page.body, 'queue-ended', failed.id);
    assert.ok(row, page.body);
    assert.match(row, /<span class="badge error">error<\/span>/);
    // The tree comes back (the git server was down), and the admin retries.
    fs.cpSync(bare, later, { recursive: true });
    const posted = await admin.post(`/admin/runs/${failed.id}/retry`, { csrf: formCsrf(page.body, `/admin/runs/${failed.id}/retry`), back: '/admin/queue/' });
    assert.equal(posted.status, 303, posted.body);
    assert.equal(posted.location, '/admin/queue/?done=run-retried');
    const done = await runWhere(msgid, (rs) => rs.length === 2 && rs[1]!.state === 'done' && rs[1], 'the retry to end');
    assert.equal(done.outcome, 'pass', JSON.stringify(done.steps));
    await waitFor("Zoe's reply", () => sunkReplies(sink, msgid).some((m) => m.rcptTo.includes(ZOE.email)));
  });

  it('lets only admins act: 401 without credentials, 403 for a maintainer or a bad token, Basic refused, a form without its CSRF field refused; unknown and malformed ids are JSON 404s', async () => {
    const url = `/admin/runs/${aliceRun}/retry`;
    const anon = await api('POST', url);
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get('www-authenticate'), 'Token');
    assert.equal(((await anon.json()) as { code: string }).code, 'admin_auth_required');
    const maintainer = await api('POST', url, teacherToken);
    assert.equal(maintainer.status, 403);
    assert.equal(((await maintainer.json()) as { code: string }).code, 'admin_only');
    assert.equal((await api('POST', url, 'x'.repeat(40))).status, 403);
    const basic = await api('POST', url, undefined, { authorization: `Basic ${Buffer.from(`root:${ROOT_PW}`).toString('base64')}` });
    assert.equal(basic.status, 401);
    assert.equal(((await basic.json()) as { code: string }).code, 'token_required');
    // A maintainer's session gets the page's 403; an admin's form without the CSRF field is refused as a forgery.
    const teacher = await HttpBrowser.login(server.baseUrl, 'teacher', TEACHER_PW);
    assert.equal((await teacher.post(url, {})).status, 403);
    assert.equal((await teacher.get('/admin/queue/')).status, 403);
    const admin = await HttpBrowser.login(server.baseUrl, 'root', ROOT_PW);
    const forged = await admin.post(url, { back: '/admin/queue/' });
    assert.equal(forged.status, 403);
    assert.match(forged.body, /did not come from this site/);
    // Anonymous browsers are sent to the login form for the page; a run's page shows them no button.
    const nobody = new HttpBrowser(server.baseUrl);
    assert.equal((await nobody.get('/admin/queue/')).status, 303);
    assert.doesNotMatch((await nobody.get(`/runs/${aliceRun}/`)).body, /action="\/admin\/runs\//);
    assert.doesNotMatch((await teacher.get(`/runs/${aliceRun}/`)).body, /action="\/admin\/runs\//);
    // Nothing of this retried anything: Alice's series still has its one (cancelled) run.
    assert.deepEqual((await getJson<RunView[]>(server, `/series/${(await getJson<RunView & { series: number }>(server, `/runs/${aliceRun}/`)).series}/runs/`)).map((r) => r.id), [aliceRun]);

    for (const bad of ['999999', 'abc', '0', '1e3', '-1']) {
      for (const action of ['cancel', 'retry']) {
        const r = await api('POST', `/admin/runs/${bad}/${action}`, adminToken);
        assert.equal(r.status, 404, `${bad} ${action}`);
        assert.match(String(r.headers.get('content-type')), /^application\/json/);
        assert.equal(((await r.json()) as { code: string }).code, 'no_such_run');
      }
    }
  });
});

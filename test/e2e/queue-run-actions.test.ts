// An admin's cancel and retry of runs with `serve --queue` (BullMQ on a real redis-server with a password) and one
// `patchbay worker` process: the same buttons and JSON as in-process (test/integration/run-actions.test.ts) act on
// runs whose jobs are on a worker. The tree is the hold tree: a build waits for a file the test makes, so the worker
// is busy with it for as long as the test needs, and only a cancel can end it early.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addUser, createToken } from '../../src/api/user.service.js';
import { openCore } from '../../src/main.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { buildSkipReason, getJson, holdDir, holdProject, makeHoldTree, patchOf, sendSeries, step, sunkReplies, type RunView, type Student } from '../helpers/hold-tree.js';
import { formCsrf, HttpBrowser } from '../helpers/http-browser.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { runCommand } from '../helpers/run-command.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink } from '../helpers/sink-smtp.js';
import { waitFor } from '../helpers/wait.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const LIST = 'qacts@lists.example.org';
const ALICE: Student = { name: 'Alice Student', email: 'alice@students.example.org' };
const ROOT_PW = 'root-secret-pw';
const NO_REDIS = spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0 ? 'redis-server is not installed (.ci/setup installs it)' : false;

interface Board {
  workers: { name: string; current: { jobId: string } | null }[];
  lanes: { queue: string; waiting: number }[];
  runs: { live: { id: number; workers: string[]; queue: { lane: string; state: string } | null }[] };
}

describe("an admin's cancel and retry of runs through BullMQ", { skip: NO_REDIS || buildSkipReason() }, () => {
  let redis: RedisServer;
  let sink: Sink;
  let server: ServerProcess;
  let worker: WorkerProcess;
  let adminToken: string;
  const dirs: string[] = [];
  let go: string;
  let bare: string;

  const board = async (): Promise<Board> => {
    const res = await fetch(`${server.baseUrl}/admin/queue.json`, { headers: { authorization: `Token ${adminToken}` } });
    assert.equal(res.status, 200);
    return (await res.json()) as Board;
  };
  const post = (url: string) => fetch(`${server.baseUrl}${url}`, { method: 'POST', headers: { authorization: `Token ${adminToken}` } });
  const runsOf = async (msgid: string) => getJson<RunView[]>(server, `/series/${(await patchOf(server, msgid)).series}/runs/`);

  before(async () => {
    redis = await startRedis();
    sink = await startSink();
    bare = makeHoldTree();
    const data = tempDir('patchbay-qacts-server-');
    const projects = projectsDir([holdProject('qacts', LIST, bare)]);
    const workerData = tempDir('patchbay-qacts-lab-1-');
    const holds = holdDir();
    go = path.join(holds, 'go');
    dirs.push(path.dirname(bare), data, projects, workerData, holds);
    const made = await runCommand(process.execPath, [BIN, 'worker', 'token', 'create', 'lab-1', '--data', data, '--projects', projects], { cwd: ROOT, env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' } });
    assert.equal(made.code, 0, made.output);
    const core = await openCore({ data, projects, logLevel: 'warn' }, {});
    try {
      await addUser(core.db, { email: 'root@example.org', name: 'Ada Admin', role: 'admin', username: 'root', password: ROOT_PW });
      adminToken = await createToken(core.db, 'root@example.org');
    } finally {
      await core.close();
    }
    server = await startServer(['--data', data, '--projects', projects, '--queue', redis.url, '--outbound', sink.url, '--http-host', '127.0.0.1']);
    worker = startWorkerProcess([
      '--queue', redis.url, '--server', server.baseUrl, '--token', made.stdout.trim(), '--name', 'lab-1',
      '--lanes', 'gates,builds,tests', '--arches', 'x86_64', '--data', workerData, '--cpus', '1', '--job-lock', '5',
    ]);
    await waitFor('worker lab-1 to register', () => worker.stdout().includes('worker lab-1 registered') || worker.child.exitCode !== null, 60_000);
    assert.ok(worker.stdout().includes('worker lab-1 registered'), worker.stderr());
  });

  after(async () => {
    if (go) fs.writeFileSync(go, '');
    await worker?.stop();
    await server?.stop();
    await sink?.close();
    await redis?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("cancels a run whose build a worker holds: the worker stops the job, no reply; the retry runs on the worker and the student gets one reply; a second retry does nothing", { timeout: 300_000 }, async () => {
    const alice = await sendSeries(server, LIST, bare, ALICE, 1, { hold: go });
    const building = await waitFor("Alice's build to start on lab-1", async () => {
      const [r] = await runsOf(alice);
      return r && step(r, 'build', 'x86_64').status === 'running' && step(r, 'build', 'x86_64').worker === 'lab-1' && r;
    }, 120_000);
    const live = (await board()).runs.live.find((r) => r.id === building.id);
    assert.deepEqual(live?.workers, ['lab-1']);
    assert.equal(live?.queue?.lane, 'builds');

    // The page's button, as an admin's browser presses it.
    const admin = await HttpBrowser.login(server.baseUrl, 'root', ROOT_PW);
    const page = await admin.get('/admin/queue/');
    assert.match(page.body, /BullMQ on Redis/);
    const action = `/admin/runs/${building.id}/cancel`;
    const posted = await admin.post(action, { csrf: formCsrf(page.body, action), back: '/admin/queue/' });
    assert.equal(posted.status, 303, posted.body);
    const cancelled = await getJson<RunView & { reason: string }>(server, `/runs/${building.id}/`);
    assert.equal(cancelled.state, 'cancelled');
    assert.equal(cancelled.reason, 'cancelled by admin root');
    assert.equal(step(cancelled, 'build', 'x86_64').status, 'cancelled');
    // The hold is never released, yet the worker lets the build go: the cancel mark reached it.
    await waitFor('lab-1 to drop the cancelled build', async () => (await board()).workers.find((w) => w.name === 'lab-1')?.current === null, 60_000);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(sunkReplies(sink, alice).length, 0);
    assert.equal((await getJson<RunView>(server, `/runs/${building.id}/`)).state, 'cancelled');

    // The retry (a script): the same series again, its build this time let through.
    fs.writeFileSync(go, '');
    const retried = await post(`/admin/runs/${building.id}/retry`);
    assert.equal(retried.status, 201);
    const body = (await retried.json()) as { run: number; retried: number };
    assert.equal(body.retried, building.id);
    assert.equal(retried.headers.get('location'), `/runs/${body.run}/`);
    const done = await waitFor('the retry to end', async () => {
      const r = await getJson<RunView>(server, `/runs/${body.run}/`);
      return r.state === 'done' && r;
    }, 180_000);
    assert.equal(done.outcome, 'pass', JSON.stringify(done.steps));
    assert.equal(step(done, 'build', 'x86_64').worker, 'lab-1');
    await waitFor("Alice's reply", () => sunkReplies(sink, alice).length > 0, 60_000);

    const again = await post(`/admin/runs/${building.id}/retry`);
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { code: string }).code, 'already_retried');
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual((await runsOf(alice)).map((r) => r.id), [building.id, body.run]);
    assert.equal(sunkReplies(sink, alice).length, 1);
    // Nothing of either run is left waiting in BullMQ.
    assert.deepEqual((await board()).lanes.filter((l) => l.waiting > 0), []);
  });
});

// Warm-tree preference through BullMQ (issue 12 §3): one `patchbay serve --queue` and two `patchbay worker` processes,
// each with its own data folder, on a real redis-server. A project's base is built on lab-1; later series of the
// project, sent while both workers are idle, are built on lab-1 again (lab-2 hands their build jobs back when it takes
// them). A holder that is busy is not waited for; a holder that died is waited for at most --prefer-warm-wait. The
// tree is the hold tree (test/helpers/hold-tree.ts): a build can be held so that lab-1's only build slot stays busy.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { headerText, headerValue } from '../../src/mail/raw.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { buildSkipReason, holdDir, holdProject, makeHoldTree, runWhen, sendSeries, step, sunkReplies, type RunView, type Student } from '../helpers/hold-tree.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink } from '../helpers/sink-smtp.js';
import { waitFor } from '../helpers/wait.js';
import { keepLogs, seedAdminToken, startWorkerProcess, workerSeats, type WorkerProcess } from '../helpers/worker-process.js';

const LIST = 'warm@lists.example.org';
/** A second project (the same tree): its warm tree is held by whichever worker builds it first. */
const OTHER_LIST = 'other@lists.example.org';
const WORKERS = ['lab-1', 'lab-2'] as const;
/** --prefer-warm-wait of both workers, seconds. */
const WAIT_S = 15;
const student = (name: string): Student => ({ name: `${name} Student`, email: `${name.toLowerCase()}@students.example.org` });

const NO_REDIS = spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0 ? 'redis-server is not installed (.ci/setup installs it)' : false;

/** Milliseconds from the end of a run's gates (its build job is queued then) to the start of its build. */
function buildWait(r: RunView): number {
  const apply = step(r, 'apply');
  const build = step(r, 'build', 'x86_64');
  return Date.parse(build.started_at!) - Date.parse(apply.finished_at!);
}

describe('warm-tree preference on two workers through BullMQ', { skip: NO_REDIS || buildSkipReason() }, () => {
  let redis: RedisServer;
  let sink: Sink;
  let server: ServerProcess;
  let bare: string;
  let data: string;
  let projects: string;
  let adminToken: string;
  const workerData = new Map<string, string>();
  const tokens = new Map<string, string>();
  const workers = new Map<string, WorkerProcess>();
  const holds: string[] = [];
  const dirs: string[] = [];

  const startWorker = async (name: string): Promise<WorkerProcess> => {
    const w = startWorkerProcess(
      [
        '--queue', redis.url, '--server', server.baseUrl, '--token', tokens.get(name)!, '--name', name, '--arches', 'x86_64',
        '--data', workerData.get(name)!, '--cpus', '1', '--job-lock', '5', '--prefer-warm-wait', String(WAIT_S),
      ],
      // Info: the hand-backs are logged there.
      { PATCHBAY_LOG_LEVEL: 'info' },
    );
    workers.set(name, w);
    await waitFor(`worker ${name} to register`, () => w.stdout().includes(`worker ${name} registered`) || w.child.exitCode !== null, 60_000);
    assert.ok(w.stdout().includes(`worker ${name} registered`), w.stderr());
    return w;
  };
  /** The hand-back lines a worker logged for a job. */
  const handBacks = (name: string, jobId: string) => workers.get(name)!.stderr().split('\n').filter((l) => l.includes(`handed ${jobId} back for`));
  const warmTrees = async () => {
    const res = await fetch(`${server.baseUrl}/admin/queue.json`, { headers: { authorization: `Token ${adminToken}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { workers: { name: string; warmTrees: string[] }[] };
    return new Map(body.workers.map((w) => [w.name, w.warmTrees]));
  };
  /** Sends a series and waits for its run to pass and its one reply. */
  const passes = async (list: string, who: Student, n: number): Promise<{ msgid: string; run: RunView }> => {
    const msgid = await sendSeries(server, list, bare, who, n);
    const run = await runWhen(server, msgid, (r) => r.state === 'done', `${who.name}'s run to end`, 180_000);
    assert.equal(run.outcome, 'pass', JSON.stringify(run.steps));
    const [reply] = await waitFor(`${who.name}'s reply`, () => sunkReplies(sink, msgid).length > 0 && sunkReplies(sink, msgid));
    assert.equal(headerValue(headerText(reply!.raw), 'x-patchbay-status'), 'pass');
    return { msgid, run };
  };

  before(async () => {
    redis = await startRedis();
    sink = await startSink();
    bare = makeHoldTree();
    data = tempDir('patchbay-warm-server-');
    projects = projectsDir([holdProject('warm', LIST, bare), holdProject('other', OTHER_LIST, bare)]);
    dirs.push(data, projects, path.dirname(bare));
    const seats = await workerSeats(WORKERS, data, projects, 'patchbay-warm-');
    for (const [name, token] of seats.tokens) tokens.set(name, token);
    for (const [name, d] of seats.dirs) {
      workerData.set(name, d);
      dirs.push(d);
    }
    adminToken = await seedAdminToken(data, projects);
    server = await startServer(['--data', data, '--projects', projects, '--queue', redis.url, '--outbound', sink.url, '--http-host', '127.0.0.1']);
  });

  after(async () => {
    keepLogs(server, workers);
    for (const h of holds) fs.writeFileSync(path.join(h, 'go'), '');
    for (const w of workers.values()) await w.stop();
    await server?.stop();
    await sink?.close();
    await redis?.close();
    for (const d of [...holds, ...dirs]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('builds every later series of a project on the worker that built its base, while both workers are idle', { timeout: 600_000 }, async (t) => {
    // The base is built on lab-1: it is the only worker yet.
    await startWorker('lab-1');
    const first = await passes(LIST, student('Alice'), 1);
    assert.equal(step(first.run, 'build', 'x86_64').worker, 'lab-1');
    await startWorker('lab-2');
    const held = await warmTrees();
    assert.ok(held.get('lab-1')?.some((tr) => tr.startsWith('warm/x86_64@')), JSON.stringify([...held]));
    assert.deepEqual(held.get('lab-2'), []);

    // One after another, each sent when both workers are idle: without the preference each build goes to either.
    let handed = 0;
    for (const [i, name] of ['Bob', 'Carol', 'Dave', 'Erin'].entries()) {
      const { msgid, run } = await passes(LIST, student(name), 2 + i);
      assert.equal(step(run, 'build', 'x86_64').worker, 'lab-1', `${name}'s build: ${JSON.stringify(run.steps)}`);
      // Gates go to either worker: only the builds are preferred.
      const backs = handBacks('lab-2', `build-${run.id}-x86_64`);
      for (const l of backs) assert.match(l, /for lab-1, which holds warm tree warm\/x86_64@/);
      handed += backs.length;
      t.diagnostic(`${name}: build on lab-1 ${buildWait(run)} ms after the gates; lab-2 handed it back ${backs.length} times`);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(sunkReplies(sink, msgid).length, 1);
    }
    t.diagnostic(`lab-2 handed ${handed} build jobs back to lab-1`);
    // lab-2 never built the project.
    assert.deepEqual((await warmTrees()).get('lab-2'), []);
  });

  it('builds on the other worker at once when the holder of the warm tree is busy', { timeout: 300_000 }, async (t) => {
    // Frank's build holds lab-1's only build slot (it is the holder, so it takes it).
    const dir = holdDir();
    holds.push(dir);
    const go = path.join(dir, 'go');
    const frank = await sendSeries(server, LIST, bare, student('Frank'), 10, { hold: go });
    const running = await runWhen(server, frank, (r) => step(r, 'build', 'x86_64').status === 'running', "Frank's build to start");
    assert.equal(step(running, 'build', 'x86_64').worker, 'lab-1');

    const grace = await passes(LIST, student('Grace'), 11);
    assert.equal(step(grace.run, 'build', 'x86_64').worker, 'lab-2');
    assert.deepEqual(handBacks('lab-2', `build-${grace.run.id}-x86_64`), [], 'a busy holder is not waited for');
    const waited = buildWait(grace.run);
    t.diagnostic(`Grace's build started on lab-2 ${waited} ms after her gates, lab-1 busy`);
    // The bound is the wait; generous for a loaded machine.
    assert.ok(waited <= WAIT_S * 1000 + 15_000, `waited ${waited} ms`);

    fs.writeFileSync(go, '');
    const done = await runWhen(server, frank, (r) => r.state === 'done', "Frank's run to end");
    assert.equal(done.outcome, 'pass', JSON.stringify(done.steps));
    assert.equal(step(done, 'build', 'x86_64').worker, 'lab-1');
    await waitFor("Frank's reply", () => sunkReplies(sink, frank).length > 0);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(sunkReplies(sink, frank).length, 1);
    assert.equal(sunkReplies(sink, grace.msgid).length, 1);
  });

  it('waits at most --prefer-warm-wait for a holder that died, then builds on the other worker: one reply', { timeout: 300_000 }, async (t) => {
    // Another project, first built by whichever worker takes it: that one holds its warm tree, the other does not.
    const first = await passes(OTHER_LIST, student('Henry'), 20);
    const holder = step(first.run, 'build', 'x86_64').worker!;
    const survivor = WORKERS.find((w) => w !== holder)!;
    assert.ok(!(await warmTrees()).get(survivor)?.some((tr) => tr.startsWith('other/')));
    // kill -9: its registration stays listed, free and holding the tree, until its heartbeat's TTL (30 s).
    await workers.get(holder)!.kill();

    const { msgid, run } = await passes(OTHER_LIST, student('Iris'), 21);
    assert.equal(step(run, 'build', 'x86_64').worker, survivor);
    const backs = handBacks(survivor, `build-${run.id}-x86_64`);
    assert.ok(backs.length > 0, `${survivor} never handed the build back for the dead ${holder}`);
    for (const l of backs) assert.match(l, new RegExp(`for ${holder}, which holds warm tree other/x86_64@`));
    const waited = buildWait(run);
    t.diagnostic(`Iris's build started on ${survivor} ${waited} ms after her gates (${backs.length} hand-backs for the dead ${holder})`);
    assert.ok(waited <= WAIT_S * 1000 + 15_000, `waited ${waited} ms, more than the wait of ${WAIT_S} s`);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(sunkReplies(sink, msgid).length, 1);
  });
});

// The pipeline through BullMQ (issue 12's Must show): one `patchbay serve --queue` and two `patchbay worker`
// processes, each with its own data folder as two machines would have, on a real redis-server with an ACL user and a
// password. The server runs no step; the workers run the gates, builds and uploads. The tree is the hold tree
// (test/helpers/hold-tree.ts): a build can be held until the test releases it, so "a build occupies every build slot"
// and "kill the worker running a build" happen whatever the machine's speed. Workers lock their jobs for 5 s
// (--job-lock), so a killed worker's build goes to the other one within seconds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { headerText, headerValue } from '../../src/mail/raw.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { buildSkipReason, getJson, holdDir, holdProject, makeHoldTree, patchOf, runWhen, sendSeries, step, sunkReplies, type Student } from '../helpers/hold-tree.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink } from '../helpers/sink-smtp.js';
import { waitFor } from '../helpers/wait.js';
import { keepLogs, seedAdminToken, startWorkerProcess, workerSeats, type WorkerProcess } from '../helpers/worker-process.js';

const LIST = 'remote@lists.example.org';
/** A project whose build boots (lava: true), for a boot on another worker than its build. */
const BOOT_LIST = 'boot@lists.example.org';
const student = (name: string): Student => ({ name: `${name} Student`, email: `${name.toLowerCase()}@students.example.org` });
const GATES = ['signoff', 'testdesc', 'checkpatch', 'apply'];
const WORKERS = ['lab-1', 'lab-2'] as const;

/** A free port: the server keeps its HTTP port across a restart, as the workers' --server names it. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const NO_REDIS = spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0 ? 'redis-server is not installed (.ci/setup installs it)' : false;

describe('the pipeline on two workers through BullMQ', { skip: NO_REDIS || buildSkipReason() }, () => {
  let redis: RedisServer;
  let sink: Sink;
  let server: ServerProcess;
  let bare: string;
  let data: string;
  let projects: string;
  const workerData = new Map<string, string>();
  const tokens = new Map<string, string>();
  const workers = new Map<string, WorkerProcess>();
  const holds: string[] = [];
  const dirs: string[] = [];
  let adminToken: string;
  let serverArgs: string[];

  const hold = (): string => {
    const dir = holdDir();
    holds.push(dir);
    return path.join(dir, 'go');
  };
  const release = (file: string) => fs.writeFileSync(file, '');

  const startWorker = async (name: string, lanes = 'gates,builds,tests'): Promise<WorkerProcess> => {
    const w = startWorkerProcess([
      '--queue', redis.url, '--server', server.baseUrl, '--token', tokens.get(name)!, '--name', name,
      '--lanes', lanes, '--arches', 'x86_64', '--data', workerData.get(name)!, '--cpus', '1', '--job-lock', '5',
    ]);
    workers.set(name, w);
    await waitFor(`worker ${name} to register`, () => w.stdout().includes(`worker ${name} registered`) || w.child.exitCode !== null, 60_000);
    assert.ok(w.stdout().includes(`worker ${name} registered`), w.stderr());
    return w;
  };

  /** The live workers of /admin/queue.json, by name. */
  const queueWorkers = async () => {
    const res = await fetch(`${server.baseUrl}/admin/queue.json`, { headers: { authorization: `Token ${adminToken}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { workers: { name: string; current: { jobId: string } | null; warmTrees: string[] }[] };
    return new Map(body.workers.map((w) => [w.name, w]));
  };

  before(async () => {
    redis = await startRedis();
    sink = await startSink();
    bare = makeHoldTree();
    data = tempDir('patchbay-remote-server-');
    projects = projectsDir([holdProject('remote', LIST, bare), { ...holdProject('boot', BOOT_LIST, bare), builds: [{ arch: 'x86_64', base: 'tinyconfig', lava: true }] }]);
    dirs.push(data, projects, path.dirname(bare));
    const seats = await workerSeats(WORKERS, data, projects, 'patchbay-remote-');
    for (const [name, token] of seats.tokens) tokens.set(name, token);
    for (const [name, d] of seats.dirs) {
      workerData.set(name, d);
      dirs.push(d);
    }
    adminToken = await seedAdminToken(data, projects);
    serverArgs = ['--data', data, '--projects', projects, '--queue', redis.url, '--outbound', sink.url, '--http-host', '127.0.0.1', '--http-port', String(await freePort())];
    server = await startServer(serverArgs);
    for (const name of WORKERS) await startWorker(name);
  });

  after(async () => {
    keepLogs(server, workers);
    // A hold never outlives the test: a build still waiting goes on and ends.
    for (const h of holds) fs.writeFileSync(path.join(h, 'go'), '');
    for (const w of workers.values()) await w.stop();
    await server?.stop();
    await sink?.close();
    await redis?.close();
    for (const d of [...holds, ...dirs]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('runs two series on the two workers: the builds ran on both, each reply is right and single, the server holds the logs and artefacts', { timeout: 300_000 }, async () => {
    const ALICE = student('Alice');
    const BOB = student('Bob');
    const go = hold();
    // Alice's reference solution holds the build slot of the worker that takes it; Bob's broken series must then be
    // built by the other worker.
    const alice = await sendSeries(server, LIST, bare, ALICE, 1, { hold: go });
    const building = await runWhen(server, alice, (r) => step(r, 'build', 'x86_64').status === 'running', "Alice's build to start");
    const aliceWorker = step(building, 'build', 'x86_64').worker;
    assert.ok(aliceWorker && (WORKERS as readonly string[]).includes(aliceWorker), JSON.stringify(building.steps));
    assert.deepEqual(building.queue, { lane: 'builds', state: 'active', ahead: 0 });
    // Every gate ran on a worker: the server runs no step.
    for (const g of GATES) assert.ok(step(building, g).worker, `${g} ran on no worker`);
    // The registry shows the build as that worker's current job.
    const busy = await queueWorkers();
    assert.equal(busy.get(aliceWorker)?.current?.jobId, `build-${building.id}-x86_64`, JSON.stringify([...busy.values()]));

    const bob = await sendSeries(server, LIST, bare, BOB, 2, { broken: true });
    const bobRun = await runWhen(server, bob, (r) => r.state === 'done', "Bob's run to end");
    assert.equal(bobRun.outcome, 'fail', JSON.stringify(bobRun.steps));
    assert.equal(step(bobRun, 'build', 'x86_64').status, 'fail');
    const bobWorker = step(bobRun, 'build', 'x86_64').worker;
    assert.ok(bobWorker && bobWorker !== aliceWorker, `both builds on ${bobWorker}`);
    const [bobReply] = await waitFor("Bob's reply", () => sunkReplies(sink, bob).length > 0 && sunkReplies(sink, bob));
    assert.deepEqual(bobReply!.rcptTo, [BOB.email]);
    assert.equal(headerValue(headerText(bobReply!.raw), 'x-patchbay-status'), 'fail');
    assert.match(bobReply!.raw.toString('utf8'), /undeclared_2/);

    release(go);
    const done = await runWhen(server, alice, (r) => r.state === 'done', "Alice's run to end");
    assert.equal(done.outcome, 'pass', JSON.stringify(done.steps));
    assert.equal(step(done, 'build', 'x86_64').worker, aliceWorker);
    assert.deepEqual(new Set([step(done, 'build', 'x86_64').worker, bobWorker]), new Set(WORKERS));
    const [aliceReply] = await waitFor("Alice's reply", () => sunkReplies(sink, alice).length > 0 && sunkReplies(sink, alice));
    assert.equal(headerValue(headerText(aliceReply!.raw), 'x-patchbay-status'), 'pass');
    // The worker's log and image were uploaded where a local step writes them: the run's page shows them.
    const log = fs.readFileSync(path.join(data, 'logs', 'runs', String(done.id), 'build-x86_64.log'), 'utf8');
    assert.match(log, /hold: released/);
    assert.match(log, /applied 1\/1 patches/);
    assert.ok(done.artifacts.some((a) => a.path === 'x86_64/bzImage' && a.bytes > 0), JSON.stringify(done.artifacts));
    const logPage = await fetch(`${server.baseUrl}/runs/${done.id}/logs/build/x86_64`);
    assert.equal(logPage.status, 200);
    assert.match(await logPage.text(), /hold: released/);
    // The series page names the worker of each step.
    const { series } = await patchOf(server, alice);
    assert.match(await (await fetch(`${server.baseUrl}/series/${series}/`)).text(), new RegExp(`<td class="small worker">${aliceWorker}</td>`));
    // Both workers now hold a warm tree of the project (its build slot built it at the base).
    const warm = await queueWorkers();
    for (const w of WORKERS) assert.ok(warm.get(w)?.warmTrees.some((t) => t.startsWith('remote/x86_64@')), JSON.stringify([...warm.values()]));
    // Nothing more comes: one reply per run.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(sunkReplies(sink, alice).length, 1);
    assert.equal(sunkReplies(sink, bob).length, 1);
  });

  it('mails a missing sign-off verdict while held builds occupy every build slot of both workers', { timeout: 300_000 }, async (t) => {
    const [CAROL, DAVE, EVE] = [student('Carol'), student('Dave'), student('Eve')];
    const goCarol = hold();
    const goDave = hold();
    const carol = await sendSeries(server, LIST, bare, CAROL, 3, { hold: goCarol });
    const dave = await sendSeries(server, LIST, bare, DAVE, 4, { hold: goDave });
    const c = await runWhen(server, carol, (r) => step(r, 'build', 'x86_64').status === 'running', "Carol's build to start");
    const d = await runWhen(server, dave, (r) => step(r, 'build', 'x86_64').status === 'running', "Dave's build to start");
    assert.deepEqual(new Set([step(c, 'build', 'x86_64').worker, step(d, 'build', 'x86_64').worker]), new Set(WORKERS));

    const sent = Date.now();
    const eve = await sendSeries(server, LIST, bare, EVE, 5, { signoff: false });
    const [verdict] = await waitFor("Eve's verdict", () => sunkReplies(sink, eve).length > 0 && sunkReplies(sink, eve), 60_000);
    const waited = Date.now() - sent;
    assert.deepEqual(verdict!.rcptTo, [EVE.email], JSON.stringify((await runWhen(server, eve, () => true, "Eve's run")).steps));
    assert.equal(headerValue(headerText(verdict!.raw), 'x-patchbay-status'), 'fail');
    // Both builds were still held when Eve's verdict went out.
    for (const [msgid, who] of [[carol, 'Carol'], [dave, 'Dave']] as const) {
      const r = await runWhen(server, msgid, () => true, `${who}'s run`);
      assert.equal(step(r, 'build', 'x86_64').status, 'running', `${who}: ${JSON.stringify(r.steps)}`);
    }
    const eveRun = await runWhen(server, eve, (r) => r.state === 'done', "Eve's run to end");
    assert.equal(step(eveRun, 'signoff').status, 'fail');
    assert.ok(step(eveRun, 'signoff').worker);
    // The bound for a gate verdict under a full build queue is seconds; a minute allows for a loaded machine.
    assert.ok(waited < 60_000, `Eve waited ${waited} ms`);
    t.diagnostic(`gate verdict mailed ${waited} ms after the series was sent, while held builds filled both workers`);

    release(goCarol);
    release(goDave);
    for (const msgid of [carol, dave]) {
      const r = await runWhen(server, msgid, (x) => x.state === 'done', 'the held run to end');
      assert.equal(r.outcome, 'pass', JSON.stringify(r.steps));
      await waitFor('its reply', () => sunkReplies(sink, msgid).length > 0);
    }
    await new Promise((r) => setTimeout(r, 1500));
    for (const msgid of [carol, dave, eve]) assert.equal(sunkReplies(sink, msgid).length, 1);
  });

  it('finishes a build on the other worker after kill -9 of the worker running it: one reply, no duplicate checks', { timeout: 300_000 }, async (t) => {
    const FRANK = student('Frank');
    const go = hold();
    const frank = await sendSeries(server, LIST, bare, FRANK, 6, { hold: go });
    const running = await runWhen(server, frank, (r) => step(r, 'build', 'x86_64').status === 'running', "Frank's build to start");
    const victim = step(running, 'build', 'x86_64').worker!;
    const other = WORKERS.find((w) => w !== victim)!;
    const killedAt = Date.now();
    await workers.get(victim)!.kill();
    release(go);

    const done = await runWhen(server, frank, (r) => r.state === 'done', "Frank's run to end on the other worker", 120_000);
    t.diagnostic(`the build was taken over and finished ${Date.now() - killedAt} ms after the kill`);
    assert.equal(done.outcome, 'pass', JSON.stringify(done.steps));
    assert.equal(step(done, 'build', 'x86_64').worker, other);
    await waitFor("Frank's reply", () => sunkReplies(sink, frank).length > 0);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(sunkReplies(sink, frank).length, 1);
    const { id } = await patchOf(server, frank);
    const checks = await getJson<{ context: string; state: string }[]>(server, `/api/patches/${id}/checks/`);
    for (const context of ['signoff', 'apply', 'build-x86_64']) {
      assert.deepEqual(
        checks.filter((c) => c.context === context).map((c) => c.state),
        ['pending', 'success'],
        context,
      );
    }
    // The steps that did not run (no test description asked for, checkpatch off) took their pending check back.
    for (const context of ['test-description', 'checkpatch']) assert.deepEqual(checks.filter((c) => c.context === context), [], context);
    // The machine comes back (same name, same data folder) for what follows.
    await startWorker(victim);
  });

  it("cancels v1's build on the worker running it when v2 completes: that worker's slot builds v2, only v2 gets a reply", { timeout: 300_000 }, async () => {
    const [IVY, JACK] = [student('Ivy'), student('Jack')];
    // v1's build waits for a file nobody makes (the test's end releases it, if it is still there); Jack's holds the
    // other worker, so v2 can only be built where v1's build was stopped.
    const v1 = await sendSeries(server, LIST, bare, IVY, 9, { hold: hold() });
    const running = await runWhen(server, v1, (r) => step(r, 'build', 'x86_64').status === 'running', 'the v1 build to start');
    const holder = step(running, 'build', 'x86_64').worker!;
    const goJack = hold();
    const jack = await sendSeries(server, LIST, bare, JACK, 10, { hold: goJack });
    const jackRun = await runWhen(server, jack, (r) => step(r, 'build', 'x86_64').status === 'running', "Jack's build to start");
    assert.notEqual(step(jackRun, 'build', 'x86_64').worker, holder);

    const v2 = await sendSeries(server, LIST, bare, IVY, 11, { v2Of: v1 });
    const cancelled = await runWhen(server, v1, (r) => r.state === 'cancelled', 'v1 to be cancelled');
    assert.match(JSON.stringify(cancelled), /superseded by v2/);
    assert.equal(step(cancelled, 'build', 'x86_64').status, 'cancelled');
    const done = await runWhen(server, v2, (r) => r.state === 'done', 'v2 to end', 120_000);
    assert.equal(done.outcome, 'pass', JSON.stringify(done.steps));
    assert.equal(step(done, 'build', 'x86_64').worker, holder);
    // Jack's build is still held: v2 was built in the slot v1's stopped build gave back.
    assert.equal(step(await runWhen(server, jack, () => true, "Jack's run"), 'build', 'x86_64').status, 'running');
    await waitFor('the v2 reply', () => sunkReplies(sink, v2).length > 0);
    release(goJack);
    await runWhen(server, jack, (r) => r.state === 'done', "Jack's run to end");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(sunkReplies(sink, v2).length, 1);
    assert.equal(sunkReplies(sink, v1).length, 0);
    // v1's job came back from its worker as cancelled: its steps stayed as the cancel left them.
    assert.equal(step(await runWhen(server, v1, () => true, 'v1'), 'build', 'x86_64').status, 'cancelled');
  });

  it('completes a run whose server was killed mid-build once it is back: the worker goes on, one reply, no duplicate checks', { timeout: 300_000 }, async () => {
    const KATE = student('Kate');
    const go = hold();
    const kate = await sendSeries(server, LIST, bare, KATE, 12, { hold: go });
    const running = await runWhen(server, kate, (r) => step(r, 'build', 'x86_64').status === 'running', "Kate's build to start");
    const builder = step(running, 'build', 'x86_64').worker;
    await server.kill();
    server = await startServer(serverArgs);
    // The run resumed in its lane and its build is still the worker's: it was not queued a second time.
    const resumed = await runWhen(server, kate, () => true, "Kate's run after the restart");
    assert.equal(step(resumed, 'build', 'x86_64').status, 'running', JSON.stringify(resumed.steps));
    release(go);
    const done = await runWhen(server, kate, (r) => r.state === 'done', "Kate's run to end");
    assert.equal(done.outcome, 'pass', JSON.stringify(done.steps));
    assert.equal(step(done, 'build', 'x86_64').worker, builder);
    await waitFor("Kate's reply", () => sunkReplies(sink, kate).length > 0);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(sunkReplies(sink, kate).length, 1);
    const { id } = await patchOf(server, kate);
    const checks = await getJson<{ context: string; state: string }[]>(server, `/api/patches/${id}/checks/`);
    for (const context of ['signoff', 'apply', 'build-x86_64']) {
      assert.deepEqual(
        checks.filter((c) => c.context === context).map((c) => c.state),
        ['pending', 'success'],
        context,
      );
    }
  });

  it('accepts mail while Redis is stopped for 30 s mid-run, and completes both runs once it is back', { timeout: 300_000 }, async (t) => {
    const [GRACE, HENRY] = [student('Grace'), student('Henry')];
    const go = hold();
    const grace = await sendSeries(server, LIST, bare, GRACE, 7, { hold: go });
    await runWhen(server, grace, (r) => step(r, 'build', 'x86_64').status === 'running', "Grace's build to start");

    await redis.stop();
    const stoppedAt = Date.now();
    // Mail is accepted and filed, and the API answers, while the queue is away.
    const henry = await sendSeries(server, LIST, bare, HENRY, 8);
    const { series } = await patchOf(server, henry);
    const waiting = await runWhen(server, henry, (r) => r.state === 'running', "Henry's run to be created", 30_000);
    assert.equal(step(waiting, 'signoff').status, 'pending');
    assert.ok((await getJson<unknown[]>(server, `/series/${series}/runs/`)).length === 1);
    await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - stoppedAt))));
    await redis.start();
    t.diagnostic(`Redis was stopped for ${Date.now() - stoppedAt} ms`);
    release(go);

    for (const [msgid, who] of [[grace, 'Grace'], [henry, 'Henry']] as const) {
      const r = await runWhen(server, msgid, (x) => x.state === 'done', `${who}'s run to end after Redis came back`, 180_000);
      assert.equal(r.outcome, 'pass', `${who}: ${JSON.stringify(r.steps)}`);
      await waitFor(`${who}'s reply`, () => sunkReplies(sink, msgid).length > 0, 60_000);
    }
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(sunkReplies(sink, grace).length, 1);
    assert.equal(sunkReplies(sink, henry).length, 1);
  });

  it('boots a build on another worker than the one that built it: the kernel image comes from the server, the boot\'s files go back', { timeout: 300_000 }, async () => {
    // lab-1 now only builds, lab-2 only boots.
    await workers.get('lab-1')!.stop();
    await workers.get('lab-2')!.stop();
    await startWorker('lab-1', 'gates,builds');
    await startWorker('lab-2', 'tests');
    const LEO = student('Leo');
    const leo = await sendSeries(server, BOOT_LIST, bare, LEO, 13);
    const done = await runWhen(server, leo, (r) => r.state === 'done', "Leo's run to end", 180_000);
    const build = step(done, 'build', 'x86_64');
    const boot = step(done, 'test', 'x86_64');
    assert.equal(build.status, 'pass', JSON.stringify(done.steps));
    assert.deepEqual([build.worker, boot.worker], ['lab-1', 'lab-2']);
    // The hold tree's "kernel" is an object file, so QEMU boots nothing: our error, said after it tried, with the image there.
    assert.equal(boot.status, 'error');
    assert.match(boot.summary ?? '', /QEMU/);
    assert.doesNotMatch(boot.summary ?? '', /does not exist/);
    const fromServer = fs.readFileSync(path.join(data, 'artifacts', `run-${done.id}`, 'x86_64', 'bzImage'));
    assert.ok(fs.readFileSync(path.join(workerData.get('lab-2')!, 'artifacts', `run-${done.id}`, 'x86_64', 'bzImage')).equals(fromServer));
    assert.ok(!fs.existsSync(path.join(workerData.get('lab-1')!, 'artifacts', `run-${done.id}`, 'x86_64', 'console.log')));
    // The boot's files went to the server: its console is among the run's artefacts, its log is served.
    assert.ok(done.artifacts.some((a) => a.path === 'x86_64/console.log'), JSON.stringify(done.artifacts));
    assert.match(await (await fetch(`${server.baseUrl}/runs/${done.id}/logs/test/x86_64`)).text(), /QEMU exited/);
    // Our error goes to the maintainers, once.
    await waitFor('the report', () => sunkReplies(sink, leo).length > 0);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(sunkReplies(sink, leo).map((m) => m.rcptTo), [['teacher@example.org']]);
  });
});

// The pipeline's two lanes in the real server: a gate verdict never waits behind a build, and a run cut by a crash
// after its gates resumes in the heavy lane without running its gates again. The project's tree is a stand-in for
// kbuild (tinyconfig, olddefconfig, an "image" compiled with $(CC)); a series may add a `hold` file naming a path:
// its build's make then waits until that path exists (at most 5 minutes), so a build holds the only build slot for as
// long as the test needs, whatever the machine's speed. The path is in a folder of /var/tmp, which the build sandbox
// sees read-only (its /tmp is private).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { extractMsgid, headerText, headerValue } from '../../src/mail/raw.js';
import type { StepFields } from '../../src/web/run-rows.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { startSink, type Sink } from '../helpers/sink-smtp.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const LIST = 'lanes@lists.example.org';
const ALICE = { name: 'Alice Étudiante', email: 'alice@students.example.org' };
const BOB = { name: 'Bob Student', email: 'bob@students.example.org' };

const TOOLS = ['bwrap', 'ccache', 'make', 'prlimit', 'gcc', 'mke2fs'];
const missingTool = TOOLS.find((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
const bwrapWorks = !missingTool && spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-net', 'true'], { stdio: 'ignore' }).status === 0;
const isRoot = process.getuid?.() === 0;
const SKIP = missingTool ? `${missingTool} is not installed` : !bwrapWorks ? 'bubblewrap cannot make a sandbox here' : !isRoot ? 'builds run as root only (the sandbox drops to the build user)' : false;

const MAKEFILE = `# A stand-in for kbuild: what patchbay's build step asks of a kernel tree, and a way to hold a build.
O ?= .
IMAGE := $(O)/arch/x86/boot/bzImage

.PHONY: all tinyconfig olddefconfig modules_install headers_install
all: $(IMAGE)

tinyconfig:
\tmkdir -p $(O)
\tprintf 'CONFIG_TINY=y\\n' > $(O)/.config

olddefconfig:
\ttest -f $(O)/.config

$(IMAGE): hello.c
\t@if [ -f hold ]; then \\
\t  f=$$(cat hold); n=0; echo "hold: waiting for $$f"; \\
\t  while [ ! -e "$$f" ] && [ $$n -lt 3000 ]; do sleep 0.1; n=$$((n + 1)); done; \\
\t  echo "hold: released after $$n tenths"; \\
\tfi
\tmkdir -p $(dir $@)
\t$(CC) -c -o $(O)/hello.o hello.c
\tcp $(O)/hello.o $@

modules_install:
\tmkdir -p $(INSTALL_MOD_PATH)/lib/modules

headers_install:
\tmkdir -p $(INSTALL_HDR_PATH)/include/linux
`;

const MERGE_CONFIG = `#!/bin/sh
# merge_config.sh -m -O DIR BASE FRAGMENT...: appends the fragments to BASE
[ "$1" = -m ] && shift
[ "$1" = -O ] && shift 2
base=$1; shift
for f; do cat "$f" >> "$base"; done
`;

interface Student {
  name: string;
  email: string;
}

interface RunView {
  id: number;
  series: number;
  state: string;
  started_at: string | null;
  finished_at: string | null;
  paused_ms: number | null;
  outcome: string | null;
  queue: { lane: string; state: string; ahead: number } | null;
  steps: StepFields[];
}

function git(cwd: string, student: Student | null, ...args: string[]): string {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent', LC_ALL: 'C' };
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete env[k];
  const who = student ?? { name: 'patchbay', email: 'patchbay@localhost' };
  Object.assign(env, { GIT_AUTHOR_NAME: who.name, GIT_AUTHOR_EMAIL: who.email, GIT_COMMITTER_NAME: who.name, GIT_COMMITTER_EMAIL: who.email });
  return execFileSync('git', ['-c', 'gc.auto=0', '-c', 'init.defaultBranch=master', ...args], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The upstream tree, a bare repository. */
function makeTree(): string {
  const root = tempDir('patchbay-lanes-tree-');
  const dir = path.join(root, 'tree');
  fs.mkdirSync(path.join(dir, 'scripts', 'kconfig'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'Makefile'), MAKEFILE);
  fs.writeFileSync(path.join(dir, 'scripts', 'kconfig', 'merge_config.sh'), MERGE_CONFIG, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'hello.c'), 'int hello(void) { return 0; }\n');
  git(dir, null, 'init', '-q', '-b', 'master');
  git(dir, null, 'add', '-A');
  git(dir, null, 'commit', '-q', '-m', 'A tree that builds like a kernel');
  const bare = path.join(root, 'tree.git');
  git(root, null, 'clone', '-q', '--bare', dir, bare);
  return bare;
}

/** A folder the build sandbox can see (not below the private /tmp), readable by the build user. */
function holdDir(): string {
  const dir = fs.mkdtempSync('/var/tmp/patchbay-lanes-hold-');
  fs.chmodSync(dir, 0o755);
  return dir;
}

/**
 * One patch by `student` on master: hello.c returns `n`; with `hold`, its build waits until that path exists. Sent to
 * the list over SMTP; returns the patch's Message-ID.
 */
async function sendSeries(server: ServerProcess, bare: string, student: Student, n: number, o: { hold?: string; signoff?: boolean; v2Of?: string } = {}): Promise<string> {
  const repo = tempDir('patchbay-lanes-student-');
  git(repo, student, 'clone', '-q', bare, '.');
  fs.writeFileSync(path.join(repo, 'hello.c'), `int hello(void) { return ${n}; }\n`);
  if (o.hold) fs.writeFileSync(path.join(repo, 'hold'), `${o.hold}\n`);
  git(repo, student, 'add', '-A');
  // A v2 keeps the subject and answers v1's mail: the series engine links it as v1's next revision.
  const subject = o.v2Of ? 'hello: return the lab value' : `hello: return ${n}`;
  git(repo, student, 'commit', '-q', ...(o.signoff === false ? [] : ['-s']), '-m', subject, '-m', `The lab asks for ${n}.`);
  const revision = o.v2Of ? ['--subject-prefix=PATCH v2', `--in-reply-to=<${o.v2Of}>`] : [];
  const raw = git(repo, student, 'format-patch', '-1', '--stdout', '--thread', ...revision).replace(/^From [0-9a-f]{40} .*\n/, '').replace(/^Subject:/m, `To: ${LIST}\nSubject:`);
  assert.match((await sendMessage(server.smtpPort, student.email, [LIST], raw)).final, /^250 /);
  return extractMsgid(headerValue(raw, 'message-id'))!;
}

async function getJson<T>(server: ServerProcess, p: string): Promise<T> {
  const res = await fetch(`${server.baseUrl}${p}`);
  assert.equal(res.status, 200, `GET ${p}`);
  return (await res.json()) as T;
}

async function patchOf(server: ServerProcess, msgid: string): Promise<{ id: number; series: number }> {
  return waitFor(`the patch <${msgid}>`, async () => {
    const [patch] = await getJson<{ id: number; series: { id: number }[] }[]>(server, `/api/patches/?msgid=${encodeURIComponent(msgid)}`);
    return patch?.series[0] ? { id: patch.id, series: patch.series[0].id } : undefined;
  });
}

/** The series' run once `until` holds for it (read through GET /runs/R/, which also tells the lane). */
async function runWhen(server: ServerProcess, msgid: string, until: (r: RunView) => boolean, what: string, timeoutMs = 120_000): Promise<RunView> {
  const { series } = await patchOf(server, msgid);
  return waitFor(
    what,
    async () => {
      const [first] = await getJson<{ id: number }[]>(server, `/series/${series}/runs/`);
      if (!first) return undefined;
      const run = await getJson<RunView>(server, `/runs/${first.id}/`);
      return until(run) ? run : undefined;
    },
    timeoutMs,
  );
}

const step = (r: RunView, name: string, job = '') => r.steps.find((s) => s.step === name && s.job === job)!;
const GATES = ['signoff', 'testdesc', 'checkpatch', 'apply'];

/** Mails the sink got that answer this Message-ID. */
function sunkReplies(sink: Sink, msgid: string) {
  return sink.mails.filter((m) => extractMsgid(headerValue(headerText(m.raw), 'in-reply-to')) === msgid);
}

/** Replies in the outbox that answer this Message-ID. */
function outboxReplies(data: string, msgid: string): string[] {
  const dir = path.join(data, 'outbox');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => fs.readFileSync(path.join(dir, f)))
    .filter((raw) => extractMsgid(headerValue(headerText(raw), 'in-reply-to')) === msgid)
    .map((raw) => raw.toString('utf8'));
}

function project(bare: string) {
  return projectsDir([
    {
      slug: 'lanes',
      list: LIST,
      maintainers: ['teacher@example.org'],
      tree: { url: bare, branch: 'master' },
      checkpatch: { enabled: false },
      builds: [{ arch: 'x86_64', base: 'tinyconfig' }],
    },
  ]);
}

describe('the gate lane and the heavy lane', { skip: SKIP }, () => {
  const servers: ServerProcess[] = [];
  const sinks: Sink[] = [];
  const holds: string[] = [];
  after(async () => {
    // A hold never outlives the test: a build still waiting goes on and ends.
    for (const h of holds) fs.writeFileSync(path.join(h, 'go'), '');
    for (const s of servers) await s.stop();
    for (const s of sinks) await s.close();
    for (const h of holds) fs.rmSync(h, { recursive: true, force: true });
  });

  it('mails a missing sign-off verdict while a long build holds the only build slot, then the build’s run ends with one reply', { timeout: 600_000 }, async (t) => {
    const sink = await startSink();
    sinks.push(sink);
    const bare = makeTree();
    const data = tempDir('patchbay-lanes-data-');
    const server = await startServer(['--data', data, '--projects', project(bare), '--outbound', sink.url, '--pipeline-runs', '1', '--gate-runs', '2', '--pipeline-cpus', '2']);
    servers.push(server);
    const hold = holdDir();
    holds.push(hold);
    const release = path.join(hold, 'go');

    // Alice's build holds the one build slot until the test releases it.
    const alice = await sendSeries(server, bare, ALICE, 1, { hold: release });
    const building = await runWhen(server, alice, (r) => step(r, 'build', 'x86_64').status === 'running', "Alice's build to start");
    assert.deepEqual(building.queue, { lane: 'builds', state: 'active', ahead: 0 });
    for (const g of GATES) assert.notEqual(step(building, g).status, 'pending', `${g} ran before the build`);

    // Bob forgot his Signed-off-by: his verdict comes from the gate lane, beside Alice's build.
    const sent = Date.now();
    const bob = await sendSeries(server, bare, BOB, 2, { signoff: false });
    const [verdict] = await waitFor("Bob's verdict at the sink", () => sunkReplies(sink, bob).length > 0 && sunkReplies(sink, bob), 60_000);
    const waited = Date.now() - sent;
    assert.deepEqual(verdict!.rcptTo, [BOB.email]);
    assert.equal(headerValue(headerText(verdict!.raw), 'x-patchbay-status'), 'fail');
    // Alice's build was still running when Bob's verdict was mailed, and she has had nothing yet.
    const meanwhile = await runWhen(server, alice, () => true, "Alice's run");
    assert.equal(step(meanwhile, 'build', 'x86_64').status, 'running', JSON.stringify(meanwhile.steps));
    assert.equal(meanwhile.state, 'running');
    assert.equal(sunkReplies(sink, alice).length, 0);
    assert.ok(!fs.existsSync(release));
    const bobRun = await runWhen(server, bob, (r) => r.state === 'done', "Bob's run to end");
    assert.equal(bobRun.outcome, 'fail');
    assert.equal(step(bobRun, 'signoff').status, 'fail');
    assert.equal(step(bobRun, 'build', 'x86_64').status, 'skip');
    // The bound for a gate verdict under a full build queue is seconds; a minute allows for a loaded machine.
    assert.ok(waited < 60_000, `Bob waited ${waited} ms`);
    t.diagnostic(`gate verdict mailed ${waited} ms after the series was sent, while a build held the only build slot`);

    // The gates ran in a gate slot; the build in build slot 0, where its warm tree lives.
    assert.ok(fs.existsSync(path.join(data, 'work', 'lanes', 'gate-0')));
    assert.ok(fs.existsSync(path.join(data, 'work', 'lanes', '0')));

    fs.writeFileSync(release, '');
    const done = await runWhen(server, alice, (r) => r.state === 'done', "Alice's run to end");
    assert.equal(done.outcome, 'pass', JSON.stringify(done.steps));
    assert.equal(done.queue, null);
    await waitFor("Alice's reply at the sink", () => sunkReplies(sink, alice).length > 0);
    // The heavy lane applied the series again in the build slot, and said so at the top of the build's log.
    const log = fs.readFileSync(path.join(data, 'logs', 'runs', String(done.id), 'build-x86_64.log'), 'utf8');
    assert.match(log, /build slot 0 \(.*\/work\/lanes\/0\)/);
    assert.match(log, /applied 1\/1 patches/);
    assert.match(log, /hold: released/);
    // Nothing more comes: one reply per run.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(sunkReplies(sink, alice).length, 1);
    assert.equal(sunkReplies(sink, bob).length, 1);
  });

  it('resumes a run cut by a crash after its gates in the heavy lane, without running its gates again', { timeout: 600_000 }, async () => {
    const bare = makeTree();
    const data = tempDir('patchbay-lanes-data-');
    const args = ['--data', data, '--projects', project(bare), '--pipeline-runs', '1', '--gate-runs', '2', '--pipeline-cpus', '2'];
    let server = await startServer(args);
    servers.push(server);
    const hold = holdDir();
    holds.push(hold);
    const release = path.join(hold, 'go');

    // Alice's build holds the build slot; Bob's series passes its gates and waits for the heavy lane.
    const alice = await sendSeries(server, bare, ALICE, 1, { hold: release });
    await runWhen(server, alice, (r) => step(r, 'build', 'x86_64').status === 'running', "Alice's build to start");
    const bob = await sendSeries(server, bare, BOB, 2);
    const waiting = await runWhen(server, bob, (r) => r.queue?.lane === 'builds', "Bob's run to wait for the heavy lane");
    assert.deepEqual(waiting.queue, { lane: 'builds', state: 'waiting', ahead: 0 });
    for (const g of GATES) assert.match(step(waiting, g).status, /^(pass|skip)$/, `${g}: ${step(waiting, g).summary}`);
    const before = await runWhen(server, alice, () => true, "Alice's run");
    const bobPatch = await patchOf(server, bob);

    // A crash: SIGKILL. Alice's orphaned build is let go at once (its output then has nowhere to go: it dies).
    await server.kill();
    fs.writeFileSync(release, '');
    await new Promise((r) => setTimeout(r, 1500));
    server = await startServer(args);
    servers.push(server);

    for (const [msgid, was] of [
      [alice, before],
      [bob, waiting],
    ] as const) {
      const run = await runWhen(server, msgid, (r) => r.state === 'done', 'the resumed run to end');
      assert.equal(run.outcome, 'pass', JSON.stringify(run.steps));
      // The gates kept the results and times they had before the crash: they did not run again.
      // (The log's URL names the server's port, which the restart changed.)
      for (const g of GATES) assert.deepEqual({ ...step(run, g), log: null }, { ...step(was, g), log: null }, `${g} ran again`);
      assert.equal(step(run, 'build', 'x86_64').status, 'pass');
      assert.match(fs.readFileSync(path.join(data, 'logs', 'runs', String(run.id), 'build-x86_64.log'), 'utf8'), /the series applied again/);
      // The downtime (1.5 s at least between the kill and the restart) is not the run's time, and the page says so.
      assert.ok((run.paused_ms ?? 0) >= 1500, `paused_ms ${run.paused_ms}`);
      const page = await (await fetch(`${server.baseUrl}/series/${run.series}/`)).text();
      assert.match(page, /<span class="muted small" id="run-paused">\(resumed after a restart; the \d[^<]* the server was down not counted\)<\/span>/);
    }
    // Alice's build was cut after its base build: it ran again over the warm tree, and says so truthfully.
    const aliceRun = await runWhen(server, alice, (r) => r.state === 'done', "Alice's run");
    assert.match(step(aliceRun, 'build', 'x86_64').summary ?? '', /built: \d+ files compiled, /);
    // Bob's gate checks were written once each (pending, then the result), his build's once too.
    const checks = await getJson<{ context: string; state: string }[]>(server, `/api/patches/${bobPatch.id}/checks/`);
    for (const context of ['signoff', 'apply', 'build-x86_64']) {
      assert.deepEqual(
        checks.filter((c) => c.context === context).map((c) => c.state),
        ['pending', 'success'],
        context,
      );
    }
    // The steps that did not run (no test description asked for, checkpatch off) took their pending check back.
    for (const context of ['test-description', 'checkpatch']) assert.deepEqual(checks.filter((c) => c.context === context), [], context);
    await waitFor('both replies', () => outboxReplies(data, alice).length > 0 && outboxReplies(data, bob).length > 0);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(outboxReplies(data, alice).length, 1);
    assert.equal(outboxReplies(data, bob).length, 1);
  });

  it('cancels a run whose build holds the build slot when its v2 completes: the build is stopped, v2 alone gets a reply', { timeout: 600_000 }, async () => {
    const bare = makeTree();
    const data = tempDir('patchbay-lanes-data-');
    const server = await startServer(['--data', data, '--projects', project(bare), '--pipeline-runs', '1', '--gate-runs', '2', '--pipeline-cpus', '2']);
    servers.push(server);
    const hold = holdDir();
    holds.push(hold);

    // v1's build would wait for a file nobody makes (the test's end releases it, if it is still there).
    const v1 = await sendSeries(server, bare, ALICE, 1, { hold: path.join(hold, 'go') });
    const running = await runWhen(server, v1, (r) => step(r, 'build', 'x86_64').status === 'running', 'the v1 build to start');
    const v2 = await sendSeries(server, bare, ALICE, 2, { v2Of: v1 });
    const cancelled = await runWhen(server, v1, (r) => r.state === 'cancelled', 'v1 to be cancelled');
    assert.match(JSON.stringify(await getJson(server, `/runs/${running.id}/`)), /superseded by v2/);
    assert.equal(step(cancelled, 'build', 'x86_64').status, 'cancelled');
    assert.equal(cancelled.queue, null);
    // v2's gates and build follow at once in the build slot v1 gave back.
    const done = await runWhen(server, v2, (r) => r.state === 'done', 'v2 to end');
    assert.equal(done.outcome, 'pass', JSON.stringify(done.steps));
    await waitFor('the v2 reply', () => outboxReplies(data, v2).length > 0);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(outboxReplies(data, v2).length, 1);
    assert.equal(outboxReplies(data, v1).length, 0);
  });
});

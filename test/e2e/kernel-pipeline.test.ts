// End to end on the demo course (projects/proctree.yaml): series sent with `git send-email` are built for x86_64
// and arm64 in the sandbox, booted in QEMU (TCG) with the reference and the student's tests, and answered.
// The reference solution passes; a compile error is quoted per arch; a panic is a boot failure; a Makefile can
// neither write outside its trees nor reach the network; the builds after the first are incremental.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractMsgid, headerText, headerValue, splitHeader } from '../../src/mail/raw.js';
import { detectToolchains } from '../../src/pipeline/toolchains.js';
import { folder, LIST, sendFolder, STUDENT } from '../helpers/course-mail.js';
import { tempDir } from '../helpers/dirs.js';
import { SHARED_CCACHE } from '../helpers/kernel-build.js';
import { ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const KERNEL = process.env.PATCHBAY_KERNEL_TREE ?? path.join(os.homedir(), '.cache/patchbay/linux.git');
const ARCHS = ['x86_64', 'arm64'];

async function missing(): Promise<string | false> {
  if (!fs.existsSync(path.join(KERNEL, 'patchbay-source-version'))) return `no kernel tree at ${KERNEL} (scripts/kernel-tree.sh; .ci/setup runs it)`;
  if (spawnSync('git', ['send-email', '--dump-aliases'], { stdio: 'ignore' }).status !== 0) return 'git send-email is not installed';
  if (spawnSync('bwrap', ['--version'], { stdio: 'ignore' }).status !== 0) return 'bubblewrap is not installed';
  const tcs = await detectToolchains();
  for (const arch of ARCHS) {
    const t = tcs.find((x) => x.arch === arch);
    if (!t?.installed || !t.qemu?.present) return `the ${arch} toolchain or its QEMU is not installed (.ci/setup installs them)`;
  }
  return false;
}
const SKIP = await missing();


interface Step {
  step: string;
  job: string;
  status: string;
  summary: string | null;
  outputs: Record<string, unknown>;
}
interface Run {
  id: number;
  state: string;
  outcome: string | null;
  steps: Step[];
}

/** The shipped project with everything it points at, in a temp folder (its tree stays the kernel repository). */
function projectsCopy(): string {
  const dir = tempDir('patchbay-projects-');
  fs.copyFileSync(path.join(ROOT, 'projects/proctree.yaml'), path.join(dir, 'proctree.yaml'));
  fs.cpSync(path.join(ROOT, 'projects/proctree'), path.join(dir, 'proctree'), { recursive: true });
  return dir;
}

async function getJson<T>(server: ServerProcess, p: string): Promise<T> {
  const res = await fetch(`${server.baseUrl}${p}`);
  assert.equal(res.status, 200, `GET ${p}`);
  return (await res.json()) as T;
}

async function runOfCover(server: ServerProcess, msgid: string): Promise<Run> {
  const series = await waitFor('the series', async () => (await getJson<{ series: { id: number }[] }[]>(server, `/api/covers/?msgid=${encodeURIComponent(msgid)}`))[0]?.series[0]?.id);
  return waitFor(
    'the run to end',
    async () => {
      const runs = await getJson<Run[]>(server, `/series/${series}/runs/`);
      const last = runs[runs.length - 1];
      return last?.state === 'done' || last?.state === 'cancelled' ? last : undefined;
    },
    // The first run builds both bases cold and then the solution over them (its syscall tables feed ~540 objects per
    // arch): 10-15 minutes on 2 quiet cores, twice that beside other work. A bound for a hang, not a timing check.
    45 * 60_000,
  );
}

function replyTo(data: string, msgid: string): string | undefined {
  const dir = path.join(data, 'outbox');
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).filter((x) => x.endsWith('.eml')) : []) {
    const raw = fs.readFileSync(path.join(dir, f));
    if (extractMsgid(headerValue(headerText(raw), 'in-reply-to')) !== msgid) continue;
    const head = headerText(raw);
    const body = raw.subarray(splitHeader(raw).bodyStart).toString('latin1');
    const cte = (headerValue(head, 'content-transfer-encoding') ?? '').toLowerCase();
    if (cte === 'base64') return Buffer.from(body, 'base64').toString('utf8');
    if (cte === 'quoted-printable') return Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
    return Buffer.from(body, 'latin1').toString('utf8');
  }
  return undefined;
}

const step = (run: Run, name: string, job = '') => run.steps.find((s) => s.step === name && s.job === job);

describe('the demo course on real kernels and QEMU', { skip: SKIP }, () => {
  let server: ServerProcess;
  let data: string;

  before(async () => {
    data = tempDir('patchbay-kernel-');
    // The compiler cache the other kernel tests share (CI starts it cold; the first build fills it).
    const ccache = process.env.PATCHBAY_CCACHE_DIR ?? SHARED_CCACHE;
    server = await startServer(['--data', data, '--projects', projectsCopy(), '--ccache-dir', ccache, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0']);
  });
  after(async () => {
    await server?.stop();
    // Its trees, object trees and disk images are gigabytes: gone with the test.
    if (data) fs.rmSync(data, { recursive: true, force: true, maxRetries: 5 });
  });

  it('passes the reference solution: both builds, both boots, "You have passed N tests on N"', async () => {
    const cover = await sendFolder(server, folder(path.join(ROOT, 'projects/proctree/solution')));
    const run = await runOfCover(server, cover);
    assert.equal(run.outcome, 'pass', JSON.stringify(run.steps.map((s) => [s.step, s.job, s.status, s.summary])));
    for (const arch of ARCHS) {
      const build = step(run, 'build', arch)!;
      assert.equal(build.status, 'pass', build.summary ?? '');
      // The base was built first, then the series (its syscall-table line regenerates unistd.h: hundreds of objects).
      assert.equal(build.outputs.incremental, false);
      assert.ok(Number(build.outputs.compiled) > 0);
      const test = step(run, 'test', arch)!;
      assert.equal(test.status, 'pass', test.summary ?? '');
      assert.ok(Number(test.outputs.total) >= 5);
      assert.equal(test.outputs.passed, test.outputs.total);
    }
    const reply = await waitFor('the reply', () => replyTo(data, cover));
    assert.match(reply, /Hi John Smith/);
    assert.match(reply, /You have passed (\d+) tests on \1\./);
    assert.match(reply, /Perfect! Your work will be examined\./);
  });

  it('answers a compile error with "Build failed", quoting file:line: error for each arch, and runs no test', async () => {
    const cover = await sendFolder(server, folder(path.join(ROOT, 'projects/proctree/examples/compile-error')));
    const run = await runOfCover(server, cover);
    assert.equal(run.outcome, 'fail');
    for (const arch of ARCHS) {
      assert.equal(step(run, 'build', arch)?.status, 'fail');
      assert.equal(step(run, 'test', arch)?.status, 'skip');
    }
    const reply = await waitFor('the reply', () => replyTo(data, cover));
    assert.match(reply, /Build failed/);
    assert.match(reply, /kernel\/proctree\.c:\d+(:\d+)?: error: /);
    for (const arch of ARCHS) assert.match(reply, new RegExp(`${arch}: FAILED`));
    assert.match(reply, /\$ make /);
  });

  it('reports a kernel panic during the tests as a boot failure with the panic lines, never a pass', async () => {
    const cover = await sendFolder(server, folder(path.join(ROOT, 'projects/proctree/examples/panic')));
    const run = await runOfCover(server, cover);
    assert.equal(run.outcome, 'fail');
    const test = step(run, 'test', 'x86_64')!;
    assert.equal(test.status, 'fail');
    assert.match(test.summary ?? '', /boot failure|panic/i);
    // A later series on the warm trees: it differs from what they were built from in kernel/proctree.c only, so
    // only that object is compiled again (then the link).
    for (const arch of ARCHS) {
      const build = step(run, 'build', arch)!;
      assert.equal(build.outputs.incremental, true);
      const files = String(build.outputs.compiledFiles).split(',').filter((f) => f.endsWith('.o'));
      assert.ok(files.includes('kernel/proctree.o'), `${arch}: ${files.join(' ')}`);
      assert.ok(Number(build.outputs.compiled) <= 12, `${arch}: ${String(build.outputs.compiled)} compiled: ${files.join(' ')}`);
    }
    const reply = await waitFor('the reply', () => replyTo(data, cover));
    assert.match(reply, /Kernel panic/);
    assert.doesNotMatch(reply, /Perfect!/);
  });

  it('keeps a Makefile from writing outside its trees or reaching the network', async () => {
    const listener = net.createServer();
    let connections = 0;
    listener.on('connection', (s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as net.AddressInfo).port;
    const mark = crypto.randomBytes(6).toString('hex');
    const outside = [path.join(os.homedir(), `patchbay-escape-${mark}`), path.join(os.tmpdir(), `patchbay-escape-${mark}`)];
    try {
      // The reference solution plus a patch to kernel/Makefile that tries both at parse time.
      const work = tempDir('patchbay-sandbox-series-');
      const patches = folder(path.join(ROOT, 'projects/proctree/solution'));
      // Four patches now: the subjects say n/4.
      for (const f of patches) fs.writeFileSync(path.join(work, path.basename(f)), fs.readFileSync(f, 'utf8').replace(/^(Subject: \[PATCH \d+)\/3\]/m, '$1/4]'));
      const evil = makefilePatch(outside, port);
      fs.writeFileSync(path.join(work, '0004-kernel-makefile.patch'), evil);
      const cover = await sendFolder(server, folder(work));
      const run = await runOfCover(server, cover);
      assert.equal(step(run, 'apply')?.status, 'pass', JSON.stringify(step(run, 'apply')));
      assert.ok(step(run, 'build', 'x86_64'), 'the x86_64 build ran');
      for (const f of outside) assert.equal(fs.existsSync(f), false, `${f} was written from the build`);
      assert.equal(connections, 0, 'the build reached a host port');
      const log = await (await fetch(`${server.baseUrl}/runs/${run.id}/logs/build/x86_64`)).text();
      assert.match(log, /patchbay-escape/);
    } finally {
      listener.close();
    }
  });
});

/** A 4th patch for the solution's series: kernel/Makefile writes files outside and connects to the host. */
function makefilePatch(outside: string[], port: number): string {
  const tree = tempDir('patchbay-makefile-');
  const env = { ...process.env, HOME: tree, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: STUDENT.name, GIT_AUTHOR_EMAIL: STUDENT.email, GIT_COMMITTER_NAME: STUDENT.name, GIT_COMMITTER_EMAIL: STUDENT.email };
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: path.join(tree, 'linux'), env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  spawnSync('git', ['clone', '-q', '--shared', '--no-checkout', KERNEL, 'linux'], { cwd: tree, env });
  git('sparse-checkout', 'set', '--no-cone', '/kernel/Makefile');
  git('checkout', '-q', 'master');
  const mk = path.join(tree, 'linux/kernel/Makefile');
  const attempts = [
    ...outside.map((f) => `$(shell echo escaped > ${f}; echo patchbay-escape write ${f} >&2)`),
    `$(shell bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && echo patchbay-escape connected >&2 || echo patchbay-escape no network >&2')`,
  ];
  fs.appendFileSync(mk, `\n# lab: build-time probes\n${attempts.join('\n')}\n`);
  git('commit', '-qas', '-m', 'kernel: probe the build machine', '-m', 'Try to leave the build trees.');
  const out = tempDir('patchbay-makefile-out-');
  git('format-patch', '-q', '-1', '--start-number', '4', '--subject-prefix', 'PATCH 4/4', '-o', out);
  const file = folder(out)[0]!;
  return fs.readFileSync(file, 'utf8').replace(/^Subject: \[PATCH 4\/4 4\/4\]/m, 'Subject: [PATCH 4/4]');
}

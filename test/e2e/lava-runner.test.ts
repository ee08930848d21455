// The LAVA runner end to end (issue 15), on a real lab (test/helpers/lava-lab.ts: Debian 12's lava-server and
// lava-dispatcher) and the demo course: the project builds x86_64 twice with the same config, one boot by the
// embedded QEMU runner (key x86_64) and one through LAVA (x86_64-2), so each series is judged by both in one run.
// The reference solution: the same per-case results from both, "You have passed N tests on N"; the panic example
// quoted from LAVA's console; the worker stopped: our error to the maintainers after --lava-start-wait, nothing to
// the student; a newer revision: the LAVA job is cancelled on the server and only the newer revision is answered.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractMsgid, headerText, headerValue, splitHeader } from '../../src/mail/raw.js';
import { detectToolchains } from '../../src/pipeline/toolchains.js';
import { tempDir } from '../helpers/dirs.js';
import { SHARED_CCACHE } from '../helpers/kernel-build.js';
import { lavaLabSkipReason, startLavaLab, type LavaLab } from '../helpers/lava-lab.js';
import { runCommand } from '../helpers/run-command.js';
import { ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const KERNEL = process.env.PATCHBAY_KERNEL_TREE ?? path.join(os.homedir(), '.cache/patchbay/linux.git');
/** Seconds a LAVA job may wait for a device before it is our error (the worker-stopped case waits this long). */
const START_WAIT_S = 60;

async function missing(): Promise<string | false> {
  if (!fs.existsSync(path.join(KERNEL, 'patchbay-source-version'))) return `no kernel tree at ${KERNEL} (scripts/kernel-tree.sh; .ci/setup runs it)`;
  if (spawnSync('git', ['send-email', '--dump-aliases'], { stdio: 'ignore' }).status !== 0) return 'git send-email is not installed';
  if (spawnSync('bwrap', ['--version'], { stdio: 'ignore' }).status !== 0) return 'bubblewrap is not installed';
  const t = (await detectToolchains()).find((x) => x.arch === 'x86_64');
  if (!t?.installed || !t.qemu?.present) return 'the x86_64 toolchain or its QEMU is not installed (.ci/setup installs them)';
  return lavaLabSkipReason() ?? false;
}
const SKIP = await missing();

const STUDENT = { name: 'John Smith', email: 'john.smith@students.example.org' };
const TEACHER = 'teacher@lse.example.org';
const LIST = 'proctree@lists.patchbay.test';

interface Step {
  step: string;
  job: string;
  status: string;
  summary: string | null;
  outputs: Record<string, unknown>;
  lava: { job: string; url: string | null; state: string; device: string | null } | null;
}
interface Run {
  id: number;
  state: string;
  outcome: string | null;
  reason: string | null;
  steps: Step[];
}
interface Mail {
  to: string;
  inReplyTo: string | undefined;
  text: string;
}

/** The shipped course, building x86_64 twice: booted here (x86_64) and through LAVA (x86_64-2). */
function projectsCopy(): string {
  const dir = tempDir('patchbay-lava-projects-');
  fs.cpSync(path.join(ROOT, 'projects/proctree'), path.join(dir, 'proctree'), { recursive: true });
  const yaml = fs.readFileSync(path.join(ROOT, 'projects/proctree.yaml'), 'utf8');
  const builds = [
    'builds:',
    '  - arch: x86_64',
    '    base: tinyconfig',
    '    config: [proctree/config/proctree_syscall]',
    '    lava: true',
    '  - arch: x86_64',
    '    base: tinyconfig',
    '    config: [proctree/config/proctree_syscall]',
    '    lava: true',
    '    runner: lava',
    '',
  ].join('\n');
  const out = yaml.replace(/^builds:\n(?:[ #].*\n|\n)*?(?=^\S)/m, builds);
  assert.notEqual(out, yaml, 'the builds of projects/proctree.yaml were replaced');
  fs.writeFileSync(path.join(dir, 'proctree.yaml'), out);
  return dir;
}

const folder = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((f) => path.join(dir, f));

/** Sends `git format-patch` files as one thread (the cover answered by the patches); v2 answers v1's cover. */
async function sendFolder(server: ServerProcess, files: string[], o: { version?: number; inReplyTo?: string } = {}): Promise<string> {
  const out = tempDir('patchbay-send-');
  const tag = crypto.randomBytes(6).toString('hex');
  const root = `cover.${tag}@students.example.org`;
  const copies = files.map((f, i) => {
    let text = fs.readFileSync(f, 'utf8');
    if (o.version) text = text.replace(/^Subject: \[PATCH /m, `Subject: [PATCH v${o.version} `);
    const up = i === 0 ? (o.inReplyTo ? `In-Reply-To: <${o.inReplyTo}>\nReferences: <${o.inReplyTo}>\n` : '') : `In-Reply-To: <${root}>\nReferences: <${root}>\n`;
    text = text.replace(/^Subject:/m, `Message-Id: <${i === 0 ? root : `patch${i}.${tag}@students.example.org`}>\n${up}Subject:`);
    const dest = path.join(out, path.basename(f));
    fs.writeFileSync(dest, text);
    return dest;
  });
  const home = tempDir('patchbay-home-');
  const r = await runCommand(
    'git',
    ['send-email', '--quiet', '--confirm=never', '--suppress-cc=all', '--no-thread', '--smtp-server=127.0.0.1', `--smtp-server-port=${server.smtpPort}`, `--from=${STUDENT.name} <${STUDENT.email}>`, `--to=${LIST}`, ...copies],
    { cwd: out, env: { ...process.env, HOME: home, GIT_CONFIG_NOSYSTEM: '1' } },
  );
  assert.equal(r.code, 0, r.output);
  return root;
}

async function getJson<T>(server: ServerProcess, p: string): Promise<T> {
  const res = await fetch(`${server.baseUrl}${p}`);
  assert.equal(res.status, 200, `GET ${p}`);
  return (await res.json()) as T;
}

async function seriesOf(server: ServerProcess, msgid: string): Promise<number> {
  return waitFor('the series', async () => (await getJson<{ series: { id: number }[] }[]>(server, `/api/covers/?msgid=${encodeURIComponent(msgid)}`))[0]?.series[0]?.id);
}

/** The series' last run once `ready` holds (by default: ended). A bound for a hang, not a timing check. */
async function runOf(server: ServerProcess, series: number, ready: (r: Run) => boolean = (r) => r.state === 'done' || r.state === 'cancelled', what = 'the run to end'): Promise<Run> {
  return waitFor(
    what,
    async () => {
      const runs = await getJson<Run[]>(server, `/series/${series}/runs/`);
      const last = runs[runs.length - 1];
      return last && ready(last) ? last : undefined;
    },
    45 * 60_000,
  );
}

/** Every mail of the outbox: its recipients, what it answers, its text. */
function outbox(data: string): Mail[] {
  const dir = path.join(data, 'outbox');
  return (fs.existsSync(dir) ? fs.readdirSync(dir).filter((x) => x.endsWith('.eml')) : []).map((f) => {
    const raw = fs.readFileSync(path.join(dir, f));
    const head = headerText(raw);
    const body = raw.subarray(splitHeader(raw).bodyStart).toString('latin1');
    const cte = (headerValue(head, 'content-transfer-encoding') ?? '').toLowerCase();
    const text =
      cte === 'base64'
        ? Buffer.from(body, 'base64').toString('utf8')
        : cte === 'quoted-printable'
          ? Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8')
          : Buffer.from(body, 'latin1').toString('utf8');
    return { to: headerValue(head, 'to') ?? '', inReplyTo: extractMsgid(headerValue(head, 'in-reply-to')) ?? undefined, text };
  });
}

const repliesTo = (data: string, msgid: string) => outbox(data).filter((m) => m.inReplyTo === msgid);
const step = (run: Run, name: string, job: string) => run.steps.find((s) => s.step === name && s.job === job);
const cases = (s: Step) => JSON.parse(String(s.outputs.cases ?? '[]')) as { suite: string; name: string; result: string }[];

describe('the LAVA runner on a real lab', { skip: SKIP }, () => {
  let lab: LavaLab;
  let server: ServerProcess;
  let data: string;

  before(async () => {
    lab = await startLavaLab({ devices: 2 });
    data = tempDir('patchbay-lava-e2e-');
    const tokenFile = path.join(data, 'lava-token');
    fs.writeFileSync(tokenFile, `${lab.token}\n`, { mode: 0o600 });
    const ccache = process.env.PATCHBAY_CCACHE_DIR ?? SHARED_CCACHE;
    server = await startServer([
      '--data', data,
      '--projects', projectsCopy(),
      '--ccache-dir', ccache,
      '--smtp-conn-per-min', '0',
      '--smtp-msg-per-min', '0',
      '--lava-url', lab.url,
      '--lava-token-file', tokenFile,
      '--lava-retries', '0',
      '--lava-start-wait', String(START_WAIT_S),
      '--lava-poll', '2',
    ]);
  });
  after(async () => {
    await server?.stop();
    await lab?.stop();
  });

  it('passes the reference solution through LAVA with the per-case results of the embedded runner', async () => {
    const cover = await sendFolder(server, folder(path.join(ROOT, 'projects/proctree/solution')));
    const series = await seriesOf(server, cover);
    const run = await runOf(server, series);
    const qemu = step(run, 'test', 'x86_64')!;
    const lava = step(run, 'test', 'x86_64-2')!;
    assert.equal(run.outcome, 'pass', `${JSON.stringify(run.steps.map((s) => [s.step, s.job, s.status, s.summary]))}\n${lab.log('lava-worker', 20)}`);
    assert.equal(lava.status, 'pass', lava.summary ?? '');
    assert.equal(lava.outputs.runner, 'lava');
    // Every reference and student case, reported by LAVA, with the embedded runner's results.
    assert.ok(Number(lava.outputs.total) >= 8, String(lava.outputs.total));
    assert.equal(lava.outputs.passed, lava.outputs.total);
    assert.deepEqual(cases(lava), cases(qemu));
    assert.ok(cases(lava).some((c) => c.suite === '0_proctree') && cases(lava).some((c) => c.suite === '1_proctree'));
    // The series page's link: the job on the LAVA server, which ran it to Complete.
    assert.ok(lava.lava?.url?.startsWith(lab.url), JSON.stringify(lava.lava));
    const job = await lab.api<{ state: string; health: string }>(`api/v0.2/jobs/${lava.lava!.job}/`);
    assert.deepEqual([job.state, job.health], ['Finished', 'Complete']);
    const tests = await lab.api<{ count: number }>(`api/v0.2/jobs/${lava.lava!.job}/tests/`);
    assert.ok(tests.count > Number(lava.outputs.total));
    const page = await (await fetch(`${server.baseUrl}/series/${series}/`, { headers: { accept: 'text/html' } })).text();
    assert.ok(page.includes(`data-lava-job="${lava.lava!.job}"`));
    const reply = await waitFor('the reply', () => repliesTo(data, cover)[0]?.text, 120_000);
    assert.match(reply, /You have passed (\d+) tests on \1\./);
    assert.match(reply, /Perfect!/);
  });

  it('quotes the kernel panic of the panic example from LAVA’s console, never a pass', async () => {
    const cover = await sendFolder(server, folder(path.join(ROOT, 'projects/proctree/examples/panic')));
    const run = await runOf(server, await seriesOf(server, cover));
    assert.equal(run.outcome, 'fail');
    const lava = step(run, 'test', 'x86_64-2')!;
    assert.equal(lava.status, 'fail', lava.summary ?? '');
    assert.match(lava.summary ?? '', /boot failure: .*panic/i);
    assert.match(String(lava.outputs.lavaJobUrl), new RegExp(`^${lab.url}scheduler/job/\\d+$`));
    const reply = await waitFor('the reply', () => repliesTo(data, cover)[0]?.text, 120_000);
    assert.match(reply, /Kernel panic/);
    assert.doesNotMatch(reply, /Perfect!/);
  });

  it('ends as our error to the maintainers when the worker is stopped, and tells the student nothing', async () => {
    await lab.stopWorker();
    try {
      const cover = await sendFolder(server, folder(path.join(ROOT, 'projects/proctree/solution')));
      const run = await runOf(server, await seriesOf(server, cover));
      assert.equal(run.outcome, 'error', JSON.stringify(run.steps.map((s) => [s.step, s.job, s.status, s.summary])));
      const lava = step(run, 'test', 'x86_64-2')!;
      assert.equal(lava.status, 'error');
      assert.match(lava.summary ?? '', /waited \d+ s for a device/);
      // The embedded runner's boot of the same run passed: the student's work is not what failed.
      assert.equal(step(run, 'test', 'x86_64')!.status, 'pass');
      const toTeacher = await waitFor('the maintainers’ mail', () => outbox(data).find((m) => m.to.includes(TEACHER) && m.text.includes(`Run: ${run.id}`)), 120_000);
      assert.match(toTeacher.text, /our own\s+infrastructure failed/);
      assert.ok(!outbox(data).some((m) => m.to.includes(STUDENT.email) && m.inReplyTo === cover), 'the student got a mail for this run');
    } finally {
      await lab.startWorker();
    }
  });

  it('cancels the LAVA job on the server when a newer revision comes, and answers only the newer one', async () => {
    const files = folder(path.join(ROOT, 'projects/proctree/solution'));
    const v1cover = await sendFolder(server, files);
    const v1 = await seriesOf(server, v1cover);
    const running = await runOf(server, v1, (r) => step(r, 'test', 'x86_64-2')?.lava?.state === 'running' || r.state !== 'running', 'v1’s LAVA job to run');
    const lavaJob = step(running, 'test', 'x86_64-2')?.lava?.job;
    assert.ok(lavaJob, `v1's LAVA job never ran: ${JSON.stringify(running.steps.map((s) => [s.step, s.job, s.status, s.summary]))}`);
    const v2cover = await sendFolder(server, files, { version: 2, inReplyTo: v1cover });
    const v2run = await runOf(server, await seriesOf(server, v2cover));
    assert.equal(v2run.outcome, 'pass', JSON.stringify(v2run.steps.map((s) => [s.step, s.job, s.status, s.summary])));
    const v1run = await runOf(server, v1);
    assert.equal(v1run.state, 'cancelled');
    const job = await waitFor(
      'the LAVA job to end',
      async () => {
        const j = await lab.api<{ state: string; health: string }>(`api/v0.2/jobs/${lavaJob}/`);
        return j.state === 'Finished' ? j : undefined;
      },
      5 * 60_000,
    );
    assert.equal(job.health, 'Canceled');
    await waitFor('the v2 reply', () => repliesTo(data, v2cover).length === 1, 120_000);
    assert.equal(repliesTo(data, v1cover).length, 0);
  });
});

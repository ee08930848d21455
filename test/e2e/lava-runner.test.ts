// The LAVA runner end to end (issue 15), on a real lab (test/helpers/lava-lab.ts: Debian 12's lava-server and
// lava-dispatcher) and the demo course: the project builds x86_64 twice with the same config, one boot by the
// embedded QEMU runner (key x86_64) and one through LAVA (x86_64-2), so each series is judged by both in one run.
// The reference solution: the same per-case results from both, "You have passed N tests on N"; the panic example
// quoted from LAVA's console; the worker stopped: our error to the maintainers after --lava-start-wait, nothing to
// the student; a newer revision: the LAVA job is cancelled on the server and only the newer revision is answered.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lavaJobDefinition } from '../../src/pipeline/lava-job.js';
import { lavaBoot } from '../../src/pipeline/lava/lava-run.js';
import { detectToolchains, toolchainFor } from '../../src/pipeline/toolchains.js';
import { tempDir } from '../helpers/dirs.js';
import { SHARED_CCACHE } from '../helpers/kernel-build.js';
import { folder, sendFolder, STUDENT } from '../helpers/course-mail.js';
import { lavaCourse, outbox, runOf, TEACHER, type Run, type Step } from '../helpers/lava-course.js';
import { seriesOf } from '../helpers/pipeline-e2e.js';
import { lavaLabSkipReason, startLavaLab, type LavaLab } from '../helpers/lava-lab.js';
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
      '--projects', lavaCourse(),
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
    // Its trees, object trees and disk images are gigabytes: gone with the test.
    if (data) fs.rmSync(data, { recursive: true, force: true, maxRetries: 5 });
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
    // The reference and the student's file are both proctree.yaml: the student's suite is proctree-2 in both runners.
    assert.ok(cases(lava).some((c) => c.suite === '0_proctree') && cases(lava).some((c) => c.suite === '1_proctree-2'));
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

  it('submits again after a failure of the lab, a bounded number of times, then says it is ours', async () => {
    // A job whose kernel URL answers 404: LAVA ends it Incomplete at validate, before any console.
    const dir = tempDir('patchbay-lava-404-');
    const definition = lavaJobDefinition({
      jobName: 'patchbay e2e: a download that fails',
      tc: toolchainFor('x86_64')!,
      kernel: '/nowhere/bzImage',
      initrd: '/nowhere/initramfs.cpio.gz',
      modules: null,
      tests: '/nowhere/tests.ext2',
      definitions: [],
      timeouts: { job: 5, test: 2 },
      url: (f) => `${server.baseUrl}/runs/999999/lava/${'0'.repeat(32)}/x86_64/${path.basename(f)}`,
    });
    const states: string[] = [];
    const lines: string[] = [];
    const boot = await lavaBoot({
      settings: { server: { url: lab.url.replace(/\/$/, ''), token: lab.token }, retries: 1, startWaitMs: 120_000, pollMs: 1000, maxJobs: 1, slotsDir: path.join(dir, 'slots'), artifactsUrl: '' },
      definition,
      runId: 999999,
      key: 'x86_64',
      deadlineMs: 300_000,
      log: (l) => lines.push(l),
      onState: (n) => states.push(n.state),
    });
    assert.equal(boot.kind, 'error', lines.join('\n'));
    assert.equal(boot.attempts, 2);
    assert.equal(boot.kind === 'error' ? boot.jobIds.length : 0, 2);
    assert.match(boot.kind === 'error' ? boot.why : '', /404.*\(after 2 attempts\)$/s);
    for (const id of boot.kind === 'error' ? boot.jobIds : []) {
      const j = await lab.api<{ health: string }>(`api/v0.2/jobs/${id}/`);
      assert.equal(j.health, 'Incomplete');
    }
    assert.ok(states.includes('finished'));
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

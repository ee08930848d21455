// The test step for real: a tinyconfig Linux 6.1 kernel (test/helpers/guest-kernel.ts) booted in QEMU (TCG) with the
// initramfs and disks the step assembles, running the LAVA test definitions of test/fixtures/guest/. A module on
// the modules disk, a test program cross-built with nolibc, a failing case, a case that never reports, a module
// that panics and one that oopses, a guest that hangs, and a QEMU that never shows a kernel.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseCsv } from 'csv-parse/sync';
import { parse as parseYaml } from 'yaml';
import { TEST_ARTIFACTS, testStep } from '../../src/pipeline/steps/test.step.js';
import { toolchainFor, which } from '../../src/pipeline/toolchains.js';
import type { StepResult, TestContext } from '../../src/pipeline/types.js';
import { tempDir } from '../helpers/dirs.js';
import { guestKernel, modulesImage, type GuestKernel } from '../helpers/guest-kernel.js';
import { buildJob } from '../helpers/kernel-build.js';

const FIX = path.resolve(import.meta.dirname, '../fixtures/guest');
/** busybox downloads and initramfs archives, kept between runs like the step's real cache. */
const CACHE = path.join(os.tmpdir(), 'patchbay-test-guest-cache');
const KERNEL_BUILD_MS = 1_800_000;

function ready(arch: string): boolean {
  const tc = toolchainFor(arch);
  return !!tc?.qemu && which(tc.qemu.binary) !== null && which(`${tc.crossCompile}gcc`) !== null;
}

interface Guest {
  kernel: GuestKernel;
  modules: string;
  dir: string;
}

async function prepare(arch: string): Promise<Guest> {
  const kernel = await guestKernel(arch);
  const dir = tempDir(`patchbay-qemu-${arch}-`);
  const mods = path.join(dir, 'modules-src');
  fs.cpSync(path.join(FIX, 'modules'), mods, { recursive: true });
  const modules = await modulesImage(kernel, mods, path.join(dir, 'modules.ext2'));
  return { kernel, modules, dir };
}

let runs = 0;
type Definition = string | TestContext['definitions'][number];

function run(g: Guest, definitions: Definition[], o: { timeoutMs?: number; kernelImage?: string } = {}): Promise<StepResult & { ctx: TestContext }> {
  const n = ++runs;
  const ctx: TestContext = {
    logPath: path.join(g.dir, `step-${n}.log`),
    mirror: '',
    worktree: g.kernel.source,
    previous: {},
    timeoutMs: o.timeoutMs ?? 180_000,
    build: { key: g.kernel.arch, arch: g.kernel.arch, base: 'tinyconfig', fragments: [], lava: true },
    kernelImage: o.kernelImage ?? g.kernel.image,
    modulesImage: g.modules,
    definitions: definitions.map((d) => (typeof d === 'string' ? { name: d, path: path.join(FIX, 'definitions', `${d}.yaml`), origin: 'reference' as const } : d)),
    programsDir: path.join(FIX, 'programs'),
    artifactsDir: path.join(g.dir, `artifacts-${n}`),
    cacheDir: CACHE,
  };
  return testStep(buildJob(n), ctx).then((r) => ({ ...r, ctx }));
}

const artifact = (r: { ctx: TestContext }, name: keyof typeof TEST_ARTIFACTS) => path.join(r.ctx.artifactsDir, TEST_ARTIFACTS[name]);

describe('test step on x86_64 (QEMU TCG)', { skip: !ready('x86_64') && 'qemu-system-x86_64 or gcc missing' }, () => {
  let g: Guest;
  before(async () => {
    g = await prepare('x86_64');
  }, { timeout: KERNEL_BUILD_MS });
  after(() => {
    if (g) fs.rmSync(g.dir, { recursive: true, force: true });
  });

  it('passes a definition whose cases pass: a module from the modules disk, a nolibc program, a set, a measurement', async () => {
    const r = await run(g, ['smoke']);
    assert.equal(r.status, 'pass', r.summary);
    assert.equal(r.summary, '7/7 test cases passed on x86_64');
    assert.deepEqual([r.outputs!.passed, r.outputs!.total, r.outputs!.failedCases], [7, 7, '']);
    assert.equal(r.outputs!.accel, 'tcg');
    assert.deepEqual(r.findings, []);

    const rows = parseCsv(fs.readFileSync(artifact(r, 'results'), 'utf8'), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      rows.map((x) => [x.suite, x.name, x.result]),
      ['proc-mounted', 'greeting', 'module-loads', 'program-runs', 'boot-seconds', 'lava-docs', 'getpid-matches'].map((n) => ['0_smoke', n, 'pass']),
    );
    assert.deepEqual([rows[4]!.measurement, rows[4]!.unit], ['1', 'seconds']);
    assert.match(fs.readFileSync(artifact(r, 'junit'), 'utf8'), /<testsuite disabled="0" errors="0" failures="0" name="0_smoke" skipped="0" tests="7"/);

    const consoleLog = fs.readFileSync(String(r.outputs!.console), 'utf8');
    assert.match(consoleLog, /pb_hello: loaded/);
    assert.match(consoleLog, /getpid-check: getpid\(\)=(\d+) syscall\(39\)=\1/, 'the program ran, with __NR_getpid from the build\'s headers');

    const line = String(r.outputs!.qemuCommand);
    assert.match(line, /^qemu-system-x86_64 .* -nographic -no-reboot .* -append 'console=ttyS0 panic=-1 oops=panic' /);
    assert.ok(line.includes(g.modules) && line.includes(artifact(r, 'tests')) && line.includes(artifact(r, 'initramfs')));
    const lavaJob = parseYaml(fs.readFileSync(String(r.outputs!.lavaJob), 'utf8'), { version: '1.1' }) as { device_type: string; context: { arch: string } };
    assert.deepEqual([lavaJob.device_type, lavaJob.context.arch], ['qemu', 'amd64']);
  });

  it('fails a case with the tail of its output, the case after a failing step and a listed case that never reported', async () => {
    const r = await run(g, ['failing']);
    assert.equal(r.status, 'fail');
    assert.deepEqual([r.outputs!.passed, r.outputs!.total, r.outputs!.failedCases], [1, 4, 'lists-missing,after-false,ghost-case']);
    const byMessage = (re: RegExp) => r.findings.find((f) => re.test(f.message));
    assert.equal(byMessage(/lists-missing failed$/)?.quote, 'ls: /no/such/file: No such file or directory');
    const after = byMessage(/after-false failed/)!;
    assert.match(after.message, /never reported: run\.sh stopped at a failing step \(exit code 1\) before it/);
    assert.equal(after.quote, '+ false');
    assert.match(byMessage(/ghost-case failed/)!.message, /never reported/);
  });

  it('ends the run as a boot failure when a module panics the kernel, quoting the panic; never a pass', async () => {
    const r = await run(g, ['panic']);
    assert.equal(r.status, 'fail');
    assert.match(r.summary, /^boot failure: kernel panic: pb_panic: the proctree walk found a loop \(1\/3 test cases passed on x86_64\)$/);
    const crash = r.findings[0]!;
    assert.equal(crash.type, 'KERNEL_CRASH');
    assert.match(crash.quote!, /^Kernel panic - not syncing: pb_panic: the proctree walk found a loop$/m);
    assert.deepEqual(r.outputs!.failedCases, 'load-panic,after-panic');
    assert.ok(r.findings.filter((f) => f.type === 'TEST_FAILED').every((f) => /never reported: the kernel crashed/.test(f.message)));
  });

  it('ends the run when a module oopses (oops=panic), quoting the BUG and Oops lines', async () => {
    const r = await run(g, ['oops']);
    assert.equal(r.status, 'fail');
    assert.match(r.summary, /^boot failure: BUG: kernel NULL pointer dereference, address: 0+ \(kernel panic: Fatal exception\)/);
    const quote = r.findings[0]!.quote!.split('\n');
    assert.equal(quote[0], 'BUG: kernel NULL pointer dereference, address: 0000000000000000');
    assert.ok(quote.includes('Oops: 0002 [#1]'));
    assert.ok(quote.includes('Modules linked in: pb_oops(O+)'));
  });

  it('fails a guest that hangs, at the timeout, with the last lines it printed', async () => {
    const dir = tempDir();
    const def = path.join(dir, 'hang.yaml');
    fs.writeFileSync(def, fs.readFileSync(path.join(FIX, 'definitions/failing.yaml'), 'utf8').replace('name: failing', 'name: hang').replace('- "false"', '- sleep 600'));
    // The timeout covers the whole step; the boot itself takes a few seconds.
    const r = await run(g, [{ name: 'hang', path: def, origin: 'student' }], { timeoutMs: 25_000 });
    assert.equal(r.status, 'fail');
    assert.match(r.summary, /^boot failure: the guest hung/);
    const hung = r.findings.find((f) => f.type === 'GUEST_HUNG')!;
    assert.match(hung.quote!, /^\+ sleep 600$/m);
    assert.deepEqual(r.outputs!.failedCases, 'lists-missing,after-false,ghost-case');
  });

  it('is our error, not the student\'s, when QEMU never shows a kernel line', async () => {
    const bogus = path.join(g.dir, 'not-a-kernel');
    fs.writeFileSync(bogus, 'this is not a bzImage\n');
    const r = await run(g, ['smoke'], { kernelImage: bogus });
    assert.equal(r.status, 'error');
    assert.match(r.summary, /before the kernel printed anything|never booted/);
  });
});

describe('test step on arm64 (QEMU TCG)', { skip: !ready('arm64') && 'qemu-system-aarch64 or aarch64-linux-gnu-gcc missing' }, () => {
  let g: Guest;
  before(async () => {
    g = await prepare('arm64');
  }, { timeout: KERNEL_BUILD_MS });
  after(() => {
    if (g) fs.rmSync(g.dir, { recursive: true, force: true });
  });

  it('passes the same definition with busybox-static:arm64 and the program cross-built for arm64', async () => {
    const r = await run(g, ['smoke']);
    assert.equal(r.status, 'pass', r.summary);
    assert.equal(r.summary, '7/7 test cases passed on arm64');
    assert.match(fs.readFileSync(String(r.outputs!.console), 'utf8'), /patchbay: init up, kernel \S+ aarch64/);
  });

  it('quotes the arm64 oops that ended the run', async () => {
    const r = await run(g, ['oops']);
    assert.equal(r.status, 'fail');
    assert.match(r.findings[0]!.quote!, /^Unable to handle kernel NULL pointer dereference at virtual address 0+\n/);
    assert.match(r.findings[0]!.quote!, /^Internal error: Oops: \S+ \[#1\]/m);
  });
});

// The test step (issue 6 §4): boots one build's kernel in QEMU with an initramfs patchbay assembles (busybox for the
// guest arch, /init, LAVA's helpers) and two read-only disks (the build's modules image; the tests image with each
// LAVA test definition as a run.sh and the project's test programs cross-built on the host), then reads the serial
// console: LAVA's signals give the test cases, the kernel's panic/oops/BUG lines end the run as a boot failure, a
// listed case that never reported fails. QEMU that never shows a kernel line is our `error`. Keeps the console,
// the results as LAVA's CSV and as JUnit, the QEMU command line and the equivalent LAVA job.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logLine, runTool, type ToolRun } from '../exec.js';
import { BusyboxError, guestBusybox, hostArch } from '../guest/busybox.js';
import { buildInitramfs } from '../guest/initramfs.js';
import { buildPrograms } from '../guest/programs.js';
import { qemuCommand, shellLine } from '../guest/qemu.js';
import { headersFromImage, makeExt2, readDefinition, stageTestsDisk, type GuestDefinition } from '../guest/tests-disk.js';
import { lavaJobDefinition } from '../lava-job.js';
import type { LavaCase } from '../lava/lava-answers.js';
import { lavaBoot } from '../lava/lava-run.js';
import { tellLavaState } from '../lava/lava-state.js';
import { crashLines, readConsole, type ConsoleReading } from '../rules/console-output.js';
import { collectResults, countResults, resultsCsv, resultsJunit, type Results } from '../test-results.js';
import { kvmStatus, toolchainFor, which } from '../toolchains.js';
import type { Finding, Job, StepResult, TestContext } from '../types.js';

/** Artefact names in ctx.artifactsDir. */
export const TEST_ARTIFACTS = {
  console: 'console.log',
  results: 'results.csv',
  junit: 'results.xml',
  lavaJob: 'lava-job.yaml',
  initramfs: 'initramfs.cpio.gz',
  tests: 'tests.ext2',
  qemuCommand: 'qemu-command.sh',
} as const;

/** Lines of a failed case's output quoted in its finding. */
const TAIL_LINES = 20;
/**
 * The console file's limit: QEMU runs under `prlimit --fsize` (util-linux), so a test that prints without end
 * cannot fill the disk (QEMU 7.2 goes on, its writes past the limit fail; the guest prints about 0.5 MB/s under
 * TCG). Also what we read of it.
 */
const CONSOLE_BYTES = 32 * 1024 * 1024;

export async function testStep(job: Job, ctx: TestContext): Promise<StepResult> {
  const started = performance.now();
  let childMs = 0;
  const findings: Finding[] = [];
  const outputs: Record<string, string | number | boolean | null> = {};
  const finish = (r: Pick<StepResult, 'status' | 'summary'>): StepResult => ({ ...r, findings, outputs, logPath: ctx.logPath, childMs });
  const fail = (summary: string) => finish({ status: 'error', summary });
  const left = () => Math.max(1000, ctx.timeoutMs - (performance.now() - started));
  const arch = ctx.build.arch;

  const tc = toolchainFor(arch);
  if (!tc?.qemu) return fail(`${arch}: the toolchain table has no QEMU machine for this arch`);
  if (!which(tc.qemu.binary)) return fail(`${tc.qemu.binary} is not installed (Debian: qemu-system-*)`);
  if (!fs.existsSync(ctx.kernelImage)) return fail(`the kernel image ${ctx.kernelImage} does not exist`);
  if (ctx.modulesImage && !fs.existsSync(ctx.modulesImage)) return fail(`the modules image ${ctx.modulesImage} does not exist`);
  fs.mkdirSync(ctx.artifactsDir, { recursive: true });
  const tool = { logPath: ctx.logPath, runId: job.runId };
  const art = (name: keyof typeof TEST_ARTIFACTS) => path.join(ctx.artifactsDir, TEST_ARTIFACTS[name]);

  // 1. The initramfs: busybox for the guest arch, /init, the LAVA helpers.
  let initrd: string;
  try {
    const bb = await guestBusybox(tc, { cacheDir: ctx.cacheDir, ...tool, timeoutMs: left() });
    childMs += bb.childMs;
    logLine(ctx.logPath, `busybox: ${bb.source}`);
    const ramfs = buildInitramfs(bb.path, ctx.cacheDir);
    logLine(ctx.logPath, `initramfs: ${ramfs.path}${ramfs.cached ? ' (cached)' : ''}`);
    initrd = art('initramfs');
    fs.copyFileSync(ramfs.path, initrd);
  } catch (e) {
    return fail(e instanceof BusyboxError ? e.message : `cannot assemble the initramfs: ${(e as Error).message}`);
  }

  // 2. The definitions. A reference definition that cannot run is the project's (our) problem; a student's is theirs.
  const defs = ctx.definitions.map((d, i) => readDefinition(d, i));
  for (const d of defs.filter((x) => x.problem)) {
    logLine(ctx.logPath, `${d.suite}: cannot run: ${d.problem}`);
    if (d.origin === 'reference') return fail(`the project's test definition ${d.path} cannot run: ${d.problem}`);
    findings.push({ level: 'ERROR', type: 'TESTDEF_UNUSABLE', message: `your test definition ${d.name} cannot run: ${d.problem}`, file: d.path });
  }
  const runnable = defs.filter((d) => !d.problem);
  const uuidOf = (d: GuestDefinition) => `${job.runId}_${d.index}`;

  // 3. The tests disk, with the test programs cross-built on the host.
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'patchbay-tests-disk-'));
  let programFailures = 0;
  try {
    const skipped = stageTestsDisk(stage, runnable, uuidOf);
    for (const s of skipped) logLine(ctx.logPath, `not copied to the tests disk (too big): ${s}`);
    const sources = ctx.programsDir && fs.existsSync(ctx.programsDir) ? fs.readdirSync(ctx.programsDir).filter((f) => f.endsWith('.c')) : [];
    if (sources.length) {
      // A tree whose nolibc lacks the arch cannot build any program for it: ours to fix, not the student's compile error.
      const nolibcHeader = path.join('tools/include/nolibc', `arch-${tc.nolibcArch}.h`);
      if (!fs.existsSync(path.join(ctx.worktree, nolibcHeader))) {
        return fail(`the tree's nolibc has no ${tc.nolibcArch} (${nolibcHeader} is missing): the test programs cannot be built for ${arch}`);
      }
      let headers: string | null = null;
      if (ctx.modulesImage) {
        const h = await headersFromImage(ctx.modulesImage, path.join(stage, '.headers'), { ...tool, timeoutMs: left() });
        childMs += h.ms;
        headers = h.dir;
      }
      logLine(ctx.logPath, `test programs: ${sources.join(' ')}; headers: ${headers ?? "the compiler's own"}`);
      const built = await buildPrograms(ctx.programsDir!, path.join(stage, 'bin'), { tc, tree: ctx.worktree, headers, cacheDir: ctx.cacheDir, privateDirs: ctx.privateDirs ?? [], ...tool, timeoutMs: left() });
      childMs += built.childMs;
      programFailures = built.failed.length;
      for (const f of built.failed) {
        findings.push({ level: 'ERROR', type: 'TEST_PROGRAM_BUILD', message: `the test program ${f.source} does not compile for ${arch}`, file: f.source, quote: f.output });
      }
      // The headers were only needed to compile: they stay off the tests disk.
      fs.rmSync(path.join(stage, '.headers'), { recursive: true, force: true });
    }
    const img = await makeExt2(stage, art('tests'), 'patchbay-tests', { ...tool, timeoutMs: left() });
    childMs += img.ms;
    if (!img.ok) return fail(`mke2fs could not make the tests disk: ${img.output.split('\n')[0]}`);
  } catch (e) {
    return fail(`cannot make the tests disk: ${(e as Error).message}`);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }

  // 4. Boot. KVM only when it really works and the guest is the host's arch.
  const kvm = kvmStatus();
  const useKvm = kvm.usable && hostArch() === arch;
  logLine(ctx.logPath, `accelerator: ${useKvm ? 'kvm' : 'tcg'} (${kvm.reason})`);
  const disks = [...(ctx.modulesImage ? [ctx.modulesImage] : []), art('tests')];
  const q = qemuCommand(tc, { kernel: ctx.kernelImage, initrd, disks, kvm: useKvm, consoleFile: art('console') });
  const human = qemuCommand(tc, { kernel: ctx.kernelImage, initrd, disks, kvm: useKvm });
  const line = shellLine(human.cmd, human.args);
  outputs.qemuCommand = line;
  // The same line for a student who downloaded the files (all artefacts of this build, at /runs/R/artifacts/KEY/NAME):
  // the files by their names, in the folder the command runs in. None when a file is not among the artefacts.
  const files = [ctx.kernelImage, initrd, ...disks];
  if (files.every((f) => path.dirname(path.resolve(f)) === path.resolve(ctx.artifactsDir))) {
    const local = qemuCommand(tc, { kernel: path.basename(ctx.kernelImage), initrd: path.basename(initrd), disks: disks.map((d) => path.basename(d)), kvm: false });
    outputs.qemuDownloaded = shellLine(local.cmd, local.args);
    outputs.qemuFiles = JSON.stringify(files.map((f) => path.basename(f)));
  }
  outputs.accel = useKvm ? 'kvm' : 'tcg';
  fs.writeFileSync(art('qemuCommand'), `#!/bin/sh\n# Boots the guest of run ${job.runId} (${ctx.build.key}); the serial console comes to this terminal (Ctrl-A x quits).\n${line}\n`, { mode: 0o755 });

  // The LAVA job is written before the boot: it is useful even when our boot fails. With the lava runner it is the
  // job submitted, its files fetched by the LAVA worker from our artefacts URL (per-run secret).
  const viaLava = ctx.build.runner === 'lava';
  let lavaDefinition: string | null = null;
  try {
    const inArtifacts = (f: string) => path.dirname(path.resolve(f)) === path.resolve(ctx.artifactsDir);
    if (viaLava && ctx.lava && ![ctx.kernelImage, initrd, ...disks].every(inArtifacts)) throw new Error('the kernel, initramfs and disks must all be among the build\'s artefacts for a LAVA worker to fetch them');
    lavaDefinition = lavaJobDefinition({
      jobName: `${job.project.slug} run ${job.runId} ${ctx.build.key}: ${job.series.name}`,
      tc,
      kernel: ctx.kernelImage,
      initrd,
      modules: ctx.modulesImage,
      tests: art('tests'),
      definitions: runnable.map((d) => ({ name: d.name, text: fs.readFileSync(d.path, 'utf8') })),
      timeouts: { job: Math.max(5, Math.ceil(ctx.timeoutMs / 60_000) + 5), test: Math.max(2, Math.ceil(ctx.timeoutMs / 60_000)) },
      metadata: { source: 'patchbay', project: job.project.slug, run: job.runId, build: ctx.build.key, series: job.series.id },
      ...(viaLava && ctx.lava ? { url: (f: string) => `${ctx.lava!.artifactsUrl}${encodeURIComponent(path.basename(f))}`, ...(ctx.lava.notifyUrl ? { notifyUrl: ctx.lava.notifyUrl } : {}) } : {}),
    });
    fs.writeFileSync(art('lavaJob'), lavaDefinition);
    outputs.lavaJob = art('lavaJob');
  } catch (e) {
    logLine(ctx.logPath, `LAVA job not written: ${(e as Error).message}`);
    if (viaLava) return fail(`cannot write the LAVA job: ${(e as Error).message}`);
  }

  let boot: Boot;
  fs.rmSync(art('console'), { force: true });
  if (viaLava) {
    if (!ctx.lava) return fail('the build\'s runner is lava, but this server has no LAVA server configured (--lava-url, --lava-token-file)');
    const lb = await lavaBoot({
      settings: ctx.lava,
      definition: lavaDefinition!,
      runId: job.runId,
      key: ctx.build.key,
      deadlineMs: left(),
      log: (l) => logLine(ctx.logPath, l),
      onState: (note) => tellLavaState(job.runId, ctx.build.key, ctx.artifactsDir, note),
    });
    Object.assign(outputs, { runner: 'lava', lavaJobIds: (lb.kind === 'error' ? lb.jobIds : [lb.job.id]).join(','), lavaJobUrl: lb.jobUrl, lavaAttempts: lb.attempts, lavaOverheadMs: Math.round(lb.overheadMs), lavaHttpMs: Math.round(lb.httpMs), lavaParseMs: Math.round(lb.parseMs), lavaRequests: lb.requests, lavaNoticeMs: lb.noticeMs === null ? null : Math.round(lb.noticeMs), lavaMs: Math.round(lb.lavaMs) });
    if (lb.consoleText) fs.writeFileSync(art('console'), lb.consoleText);
    if (lb.kind === 'error') {
      outputs.console = lb.consoleText ? art('console') : null;
      return fail(lb.why);
    }
    boot = { consoleText: lb.consoleText.slice(0, CONSOLE_BYTES), ms: lb.lavaMs, timedOut: lb.hung, flooded: lb.consoleText.length >= CONSOLE_BYTES, ended: lb.ended, said: '', lavaCases: lb.cases };
    outputs.bootMs = Math.round(lb.lavaMs);
    outputs.console = art('console');
  } else {
    const bootTimeout = left();
    let run: ToolRun;
    try {
      const prlimit = which('prlimit');
      const [cmd, args] = prlimit ? [prlimit, [`--fsize=${CONSOLE_BYTES}`, q.cmd, ...q.args]] : [q.cmd, q.args];
      // Below the build it overlaps (the next build of the run on the same cores): the build is the critical path.
      run = await runTool(cmd, args, { cwd: ctx.artifactsDir, ...tool, timeoutMs: bootTimeout, nice: 10 });
    } catch (e) {
      return fail(`cannot start ${q.cmd}: ${(e as Error).message}`);
    }
    childMs += run.ms;
    outputs.bootMs = Math.round(run.ms);
    const consoleBytes = fs.existsSync(art('console')) ? fs.statSync(art('console')).size : 0;
    const consoleText = consoleBytes ? readHead(art('console'), CONSOLE_BYTES) : '';
    outputs.console = art('console');
    logLine(ctx.logPath, `QEMU ${run.timedOut ? `timed out after ${Math.round(run.ms)} ms` : `exited with ${run.code ?? run.signal} after ${Math.round(run.ms)} ms`}; console: ${art('console')} (${consoleBytes} bytes)`);
    boot = {
      consoleText,
      ms: run.ms,
      timedOut: run.timedOut,
      flooded: consoleBytes >= CONSOLE_BYTES || run.signal === 'SIGXFSZ',
      ended: null,
      said: `${run.stdout}\n${run.stderr}`,
      exit: run.timedOut
        ? `QEMU showed no kernel output in ${Math.round(run.ms / 1000)} s (${arch}, ${outputs.accel}): the guest never booted`
        : `QEMU exited with ${run.code ?? run.signal} before the kernel printed anything`,
    };
  }
  const consoleText = boot.consoleText;
  const bootTimeout = boot.ms;

  // 5. Read the console.
  const reading = readConsole(consoleText);
  if (reading.kernelRelease) outputs.kernelRelease = reading.kernelRelease;
  const kernelSpoke = reading.marks.linuxVersion > 0 || reading.marks.runInit > 0 || reading.marks.initUp > 0 || reading.kernel.length > 0;
  if (!kernelSpoke) {
    // (LAVA's boots without kernel output ended in lavaBoot as the lab's error.)
    const said = `${consoleText}\n${boot.said}`.replace(/\r/g, '').split('\n').filter((l) => l.trim()).slice(-10).join('\n');
    if (said) findings.push({ level: 'ERROR', type: 'NO_BOOT', message: 'what QEMU printed', quote: said });
    return finish({ status: 'error', summary: boot.exit ?? 'the guest printed nothing on its console' });
  }

  const crash = crashLines(reading);
  const fatal = reading.kernel.find((e) => e.kind === 'panic') ?? reading.kernel.find((e) => e.kind === 'oops' || e.kind === 'bug');
  const flooded = boot.flooded;
  const hung = boot.timedOut && !crash && !flooded;
  const consoleResults = collectResults(
    reading,
    runnable,
    {
      tailLines: TAIL_LINES,
      neverReported: (suite) => neverReportedWhy(suite, runnable, reading, { crashLine: crash?.from ?? 0, hung }),
    },
  );
  // LAVA's own record of the cases (the same signals, read by its dispatcher) is the result where it has one.
  const results = boot.lavaCases ? mergeLavaCases(consoleResults, boot.lavaCases, (l) => logLine(ctx.logPath, l)) : consoleResults;
  const raisedWhy = results.raised ? `lava-test-raise stopped the run: ${results.raised.message}` : null;

  // 6. Results files.
  const logged = new Date().toISOString();
  fs.writeFileSync(art('results'), resultsCsv(job.runId, results.cases, logged));
  fs.writeFileSync(art('junit'), resultsJunit(results.cases));
  const counts = countResults(results.cases);
  const failed = results.cases.filter((c) => c.result === 'fail');
  Object.assign(outputs, {
    passed: counts.passed,
    total: counts.total,
    failed: counts.failed,
    skipped: counts.skipped,
    failedCases: failed.map((c) => c.name).join(','),
    // Every case with its result, for the report ("You have passed X tests on Y").
    cases: JSON.stringify(results.cases.map((c) => ({ suite: c.suite, name: c.name, result: c.result }))),
    results: art('results'),
    junit: art('junit'),
  });
  for (const c of results.cases) logLine(ctx.logPath, `${c.suite}/${c.set ? `${c.set}/` : ''}${c.name}: ${c.result}${c.measurement !== null ? ` ${c.measurement}${c.units ? ` ${c.units}` : ''}` : ''}${c.note ? ` (${c.note})` : ''}`);

  // 7. Findings and the verdict.
  if (crash && fatal) {
    const what = fatal.kind === 'panic' ? `kernel panic: ${fatal.detail}` : fatal.detail;
    const bug = reading.kernel.find((e) => (e.kind === 'bug' || e.kind === 'oops') && e.line <= fatal.line);
    findings.unshift({ level: 'ERROR', type: 'KERNEL_CRASH', message: bug && bug !== fatal ? `${bug.detail} (${what})` : what, file: TEST_ARTIFACTS.console, line: crash.from, quote: crash.quote });
  }
  for (const w of reading.kernel.filter((e) => e.kind === 'warning')) {
    findings.push({ level: 'WARNING', type: 'KERNEL_WARNING', message: `WARNING at ${w.detail}`, file: TEST_ARTIFACTS.console, line: w.line, quote: reading.lines.slice(w.line - 1, w.line + 9).join('\n') });
  }
  if (flooded) {
    findings.push({ level: 'ERROR', type: 'CONSOLE_FLOOD', message: `the guest printed more than ${CONSOLE_BYTES >> 20} MB on its console: the rest was not kept`, quote: reading.lines.slice(-TAIL_LINES).join('\n') });
  }
  if (hung) {
    findings.push({ level: 'ERROR', type: 'GUEST_HUNG', message: `the guest did not finish within ${Math.round(bootTimeout / 1000)} s`, quote: reading.lines.slice(-TAIL_LINES).join('\n') });
  }
  if (results.raised) findings.push({ level: 'ERROR', type: 'TEST_RAISED', message: raisedWhy!, file: TEST_ARTIFACTS.console, line: results.raised.line });
  for (const c of failed) {
    findings.push({
      level: 'ERROR',
      type: 'TEST_FAILED',
      message: `${c.suite}/${c.name} failed${c.note ? `: ${c.note}` : ''}`,
      ...(c.startLine ? { file: TEST_ARTIFACTS.console, line: c.startLine } : {}),
      ...(c.tail.length ? { quote: c.tail.join('\n') } : {}),
    });
  }

  const stoppedEarly = !crash && !hung && !flooded && !results.raised && (boot.ended === null ? reading.marks.done === 0 : !boot.ended);
  if (stoppedEarly) {
    findings.push({ level: 'ERROR', type: 'GUEST_STOPPED', message: 'the guest stopped before every test definition had run', quote: reading.lines.slice(-TAIL_LINES).join('\n') });
  }
  const score = `${counts.passed}/${counts.total} test case${counts.total === 1 ? '' : 's'} passed on ${arch}`;
  const failedList = failed.length ? `; failed: ${failed.slice(0, 5).map((c) => c.name).join(', ')}${failed.length > 5 ? ` and ${failed.length - 5} more` : ''}` : '';
  if (crash && fatal) return finish({ status: 'fail', summary: `boot failure: ${findings[0]!.message} (${score})` });
  if (flooded) return finish({ status: 'fail', summary: `the guest printed more than ${CONSOLE_BYTES >> 20} MB on its console (${score})` });
  if (hung) return finish({ status: 'fail', summary: `boot failure: the guest hung, no end after ${Math.round(boot.ms / 1000)} s (${score})` });
  if (results.raised) return finish({ status: 'fail', summary: `${raisedWhy} (${score})` });
  if (stoppedEarly) return finish({ status: 'fail', summary: `the guest stopped before the tests finished (${score})` });
  if (counts.failed || programFailures || findings.some((f) => f.type === 'TESTDEF_UNUSABLE')) {
    const extra = programFailures ? `; ${programFailures} test program(s) did not compile` : '';
    return finish({ status: 'fail', summary: `${score}${failedList}${extra}` });
  }
  if (counts.total === 0 && runnable.length) return finish({ status: 'warn', summary: `booted on ${arch}, but no test case reported a result` });
  if (counts.unknown || findings.some((f) => f.type === 'KERNEL_WARNING')) {
    return finish({ status: 'warn', summary: `${score}${counts.unknown ? `; ${counts.unknown} with an unknown result` : ''}${findings.some((f) => f.type === 'KERNEL_WARNING') ? '; the kernel printed a WARNING' : ''}` });
  }
  if (!runnable.length) return finish({ status: 'pass', summary: `booted on ${arch}; no test definitions to run` });
  return finish({ status: 'pass', summary: score });
}

/** How the guest's run ended, from QEMU here or from a LAVA job. */
interface Boot {
  consoleText: string;
  ms: number;
  /** Stopped at the timeout (QEMU killed; the LAVA job hung or timed out after the kernel spoke). */
  timedOut: boolean;
  flooded: boolean;
  /** LAVA: its test runner exited (every definition ran); null: QEMU here, where our init's last line says it. */
  ended: boolean | null;
  /** What else the boot printed (QEMU's own output), quoted when the kernel never spoke. */
  said: string;
  /** Why no kernel output, for QEMU here. */
  exit?: string;
  /** The test cases LAVA recorded. */
  lavaCases?: LavaCase[];
}

/**
 * The console's results with LAVA's record laid over them: a case LAVA recorded takes LAVA's result, measurement and
 * units where the console has none (its dispatcher read the same signals); a case only LAVA has is added; listed cases that never reported stay
 * failed as the console says (LAVA does not record them). The dispatcher's own `lava` suite is not a test case.
 */
export function mergeLavaCases(results: Results, lavaCases: LavaCase[], log: (line: string) => void = () => {}): Results {
  const cases = results.cases.map((c) => ({ ...c }));
  for (const l of lavaCases) {
    if (l.suite === 'lava') continue;
    const mine = cases.find((c) => c.suite === l.suite && c.name === l.name && (c.set ?? null) === (l.set ?? null));
    if (!mine) {
      log(`${l.suite}/${l.name}: recorded by LAVA only (${l.result})`);
      cases.push({ suite: l.suite, set: l.set, name: l.name, result: l.result, measurement: l.measurement, units: l.units, note: null, startLine: 0, endLine: 0, tail: [] });
      continue;
    }
    if (mine.result !== l.result) log(`${l.suite}/${l.name}: the console says ${mine.result}, LAVA ${l.result}: LAVA's is kept`);
    mine.result = l.result;
    // LAVA keeps a measurement as a decimal with ten places ("99.0000000000"): the console's text is kept when it has one.
    if (mine.measurement === null && l.measurement !== null) mine.measurement = l.measurement;
    if (mine.units === null && l.units !== null) mine.units = l.units;
  }
  return { ...results, cases };
}

/** Why the listed cases of a definition never reported, from what the console shows. */
function neverReportedWhy(
  suite: string,
  defs: GuestDefinition[],
  reading: ConsoleReading,
  seen: { crashLine: number; hung: boolean },
): string | null {
  const d = defs.find((x) => x.suite === suite);
  const start = reading.signals.find((s) => s.kind === 'startRun' && s.args[0] === suite);
  if (seen.crashLine) return `the kernel crashed (console line ${seen.crashLine})`;
  if (seen.hung) return 'the guest hung';
  const raise = reading.signals.find((s) => s.kind === 'testRaise');
  if (raise && (!start || start.line < raise.line)) return `lava-test-raise stopped the run: ${raise.args[0]}`;
  if (d && reading.runExits.has(d.index)) return `run.sh stopped at a failing step (exit code ${reading.runExits.get(d.index)!.code}) before it`;
  if (!start) return 'the definition never started';
  return null;
}

/** The first `max` bytes of a file as text. */
function readHead(file: string, max: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min(max, fs.fstatSync(fd).size));
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

// Runs a heavy unit (./heavy-unit.ts) on a host: leases a build slot of the project at the unit's base (the slots
// whose warm object trees stay at <data>/build/<slug>/slot-N), applies the series there again with the apply step's
// own code (logged at the top of each build's log, not a check: the apply gate already judged it), then builds within
// the unit's CPU share and boots each build beside the next one. Several builds go at once only when their object
// trees already hold the base (the series' files given their recorded mtimes once for all of them); a cold tree
// builds its base alone with the whole share. Never touches the database: it tells the reporter when a step starts
// and what it returned, and the caller (the engine, or later a remote worker) records it.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { configHash } from './kconfig.js';
import { materializeUnit, studentTestsDir, type HeavyUnit, type UnpackedUnit } from './heavy-unit.js';
import { readTouched, recordTouched } from './object-tree.js';
import { patchFiles } from './patch-files.js';
import { errorResult, message, rowKey, runInPool } from './run-step.js';
import type { StepPool } from './step-pool.js';
import { buildBudget } from './steps.js';
import { holdsBase, keepSourceTimes } from './steps/build.step.js';
import { studentCopyName, takeStudentFile } from './guest/tests-disk.js';
import type { LavaJobs } from './lava/lava-jobs.service.js';
import type { Lease, TreeService } from './tree.service.js';
import type { BuildContext, BuildSpec, StepContext, StepResult, TestContext } from './types.js';

/** What runs a heavy unit: its own data folder (logs, artefacts, warm trees, caches), trees, ccache and worker pool. */
export interface HeavyHost {
  dataDir: string;
  ccacheDir: string;
  /** The socket of the ccache's remote storage for trusted base builds (./ccache-remote.service.ts); null: none. */
  ccacheRemote?: string | null;
  trees: Pick<TreeService, 'fetch' | 'resolve' | 'lease' | 'mirrorPath'>;
  pool: StepPool;
  log: Logger;
  /** The LAVA server for builds whose runner is `lava` (./lava/lava-jobs.service.ts); absent: none here. */
  lava?: Pick<LavaJobs, 'stepSettings'> | null;
}

export type HeavyStep = 'build' | 'test';

/** How the host tells whoever owns the run what happens (the engine writes the steps and checks). */
export interface HeavyReporter {
  started(step: HeavyStep, key: string, logPath: string): Promise<void>;
  finished(step: HeavyStep, key: string, result: StepResult): Promise<void>;
  /** A boot not run because its build did not pass (no check: the build's says why). */
  skipped(step: 'test', key: string, summary: string): Promise<void>;
}

export interface HeavyHandle {
  /** Resets the build slot, gives it back and removes the unit's files: called once the reply is queued. */
  release(): Promise<void>;
}

/** What the scheduler decides for one build: its make -j, and whether it kept the sources' mtimes for it. */
interface BuildExtra {
  jobs?: number;
  sourcesPrepared?: boolean;
  /** The step's log is already started (with the mtimes kept): append to it. */
  logStarted?: boolean;
}

/**
 * Runs the unit's pending builds and boots. Resolves when every step has finished (each reported), holding the build
 * slot until the handle's release. Rejects when `signal` aborts (a cancel, a stop): the slot is then given back.
 */
export async function runHeavyUnit(unit: HeavyUnit, host: HeavyHost, reporter: HeavyReporter, signal: AbortSignal): Promise<HeavyHandle> {
  const { runId } = unit;
  const done = new Map<string, StepResult>();
  for (const b of unit.builds) if (b.built) done.set(rowKey('build', b.key), b.built);
  const pendingBuilds = unit.builds.filter((b) => !b.built).map((b) => b.key);
  const pendingTests = unit.builds.filter((b) => b.test === 'pending').map((b) => b.key);
  if (!pendingBuilds.length && !pendingTests.length) return { release: async () => {} };

  const runDir = path.join(host.dataDir, 'logs', 'runs', String(runId));
  fs.mkdirSync(runDir, { recursive: true });
  const logOf = (step: HeavyStep, key: string) => path.join(runDir, `${step}-${key}.log`);
  const setupLog = path.join(runDir, 'heavy-setup.log');
  fs.writeFileSync(setupLog, '');
  const unitDir = path.join(unitsDir(host.dataDir), `run-${runId}`);
  let lease: Lease | null = null;
  const release = async (opts?: { childrenMayLinger?: boolean }) => {
    try {
      await lease?.release(opts);
    } finally {
      fs.rmSync(unitDir, { recursive: true, force: true });
    }
  };

  // The build slot at the base, and the series applied there again.
  let files: UnpackedUnit | null = null;
  let applied: StepResult | null = null;
  let setupError: string | null = null;
  let setupMs = 0;
  try {
    files = materializeUnit(unit, unitDir);
    lease = await leaseAtBase(unit, host, setupLog, signal);
    setupMs += lease.childMs;
    // Before anything rewrites them: the series' files get new mtimes in this slot (./object-tree.ts).
    recordTouched(touchedFile(host, unit, lease.slot), patchFiles(unit.job.series.patches.map((p) => p.diff)));
    // On the gate's base whatever the branch did since: the same tree the apply gate judged.
    const job = { ...unit.job, series: { ...unit.job.series, baseCommit: unit.base } };
    const ctx: StepContext = { logPath: setupLog, mirror: mirrorOf(host, unit), worktree: lease.path, previous: {}, timeoutMs: unit.timeouts.apply, cpus: unit.cpus, privateDirs: [host.dataDir], pristineAt: lease.commit };
    applied = await runInPool(host.pool, 'apply', job, ctx, unit.timeouts.apply, signal);
    setupMs += applied.childMs;
    fs.appendFileSync(setupLog, `--- ${applied.summary}\n`);
    if (applied.status !== 'pass' && applied.status !== 'warn' && applied.status !== 'skip') setupError = `the series did not apply again in build slot ${lease.slot} (the apply gate passed): ${applied.summary}`;
  } catch (e) {
    if (signal.aborted) {
      await release({ childrenMayLinger: true }).catch(() => {});
      throw e;
    }
    setupError = !files ? `the unit's files cannot be unpacked: ${message(e)}` : lease ? message(e) : `the project's tree is not available: ${message(e)}`;
  }
  if (setupError) fs.appendFileSync(setupLog, `patchbay: ${setupError}\n`);
  const setupText = fs.readFileSync(setupLog, 'utf8');
  let setupCharged = false;

  const contextFor = (step: HeavyStep, key: string, logPath: string, extra: BuildExtra): BuildContext | TestContext => {
    const build = files?.specs.get(key);
    if (!build || !lease) throw new Error(`no build ${key} in the unit`);
    const common: StepContext = {
      logPath,
      mirror: mirrorOf(host, unit),
      worktree: lease.path,
      previous: applied ? { apply: applied } : {},
      timeoutMs: unit.timeouts[step],
      cpus: unit.cpus,
      // Sandboxed builds see none of it but the folders bound for them.
      privateDirs: [host.dataDir],
    };
    const artifactsDir = path.join(host.dataDir, 'artifacts', `run-${runId}`, key);
    fs.mkdirSync(artifactsDir, { recursive: true });
    if (step === 'build') {
      const ctx: BuildContext = {
        ...common,
        build,
        objDir: objDirOf(host, unit, lease, key, files!),
        ccacheDir: host.ccacheDir,
        ...(host.ccacheRemote ? { ccacheRemote: host.ccacheRemote } : {}),
        artifactsDir,
        jobs: extra.jobs ?? unit.cpus,
        baseCommit: lease.commit,
        ...(extra.sourcesPrepared ? { sourcesPrepared: true } : {}),
        touched: readTouched(touchedFile(host, unit, lease.slot)),
      };
      fs.mkdirSync(ctx.objDir, { recursive: true });
      fs.mkdirSync(ctx.ccacheDir, { recursive: true });
      return ctx;
    }
    const built = done.get(rowKey('build', key))?.outputs ?? {};
    return {
      ...common,
      build,
      kernelImage: String(built.image ?? ''),
      modulesImage: typeof built.modulesImage === 'string' ? built.modulesImage : null,
      definitions: uniqueNames([
        ...(files!.reference ? [{ name: definitionName(files!.reference), path: files!.reference, origin: 'reference' as const }] : []),
        ...unit.tests.student.map((s) => ({ name: definitionName(s.file), origin: 'student' as const, ...studentDefinition(host, unit, lease!, s) })),
      ]),
      programsDir: files!.programs,
      artifactsDir,
      cacheDir: path.join(host.dataDir, 'cache', 'guest'),
      ...(build.runner === 'lava' && host.lava ? { lava: host.lava.stepSettings(runId, key, unit.tree.slug, unit.lava?.maxJobs ?? 2) } : {}),
    };
  };

  const runRow = async (step: HeavyStep, key: string, extra: BuildExtra = {}): Promise<StepResult> => {
    const logPath = logOf(step, key);
    // Each log starts with how the tree was made (the slot, the series applied again).
    if (!extra.logStarted) fs.writeFileSync(logPath, setupText);
    await reporter.started(step, key, logPath);
    let result: StepResult;
    try {
      if (setupError) result = errorResult(logPath, setupError);
      else result = await runInPool(host.pool, step, unit.job, contextFor(step, key, logPath, extra), unit.timeouts[step], signal);
    } catch (e) {
      if (signal.aborted) throw e;
      result = errorResult(logPath, message(e));
    }
    // Preparing the worktree is git's time too: it counts with the first step that needed it.
    if (!setupCharged) {
      setupCharged = true;
      result = { ...result, childMs: result.childMs + setupMs };
    }
    done.set(rowKey(step, key), result);
    await reporter.finished(step, key, result);
    return result;
  };

  /** A build's boot, once: beside whatever builds next (a TCG boot takes about one core for a few seconds). */
  const tests: Promise<unknown>[] = [];
  const started = new Set<string>();
  const startTest = async (key: string): Promise<void> => {
    if (!pendingTests.includes(key) || started.has(key)) return;
    started.add(key);
    const built = done.get(rowKey('build', key));
    if (!built || (built.status !== 'pass' && built.status !== 'warn')) {
      await reporter.skipped('test', key, 'not run: the build did not pass');
      return;
    }
    const test = runRow('test', key);
    // Awaited with the others at the end; until then a rejection (the run cancelled) must not count as unhandled.
    test.catch(() => {});
    tests.push(test);
  };
  const build = async (key: string, extra: BuildExtra): Promise<void> => {
    await runRow('build', key, extra);
    await startTest(key);
  };

  try {
    // Boots whose build finished before a restart.
    for (const key of pendingTests) if (done.has(rowKey('build', key))) await startTest(key);
    const cpus = unit.cpus;
    const { concurrent } = buildBudget(cpus, pendingBuilds.length);
    // At once only in different object trees: a build whose tree another warm build uses runs after them, alone.
    const trees = new Set<string>();
    const warm =
      concurrent > 1 && lease && files && !setupError
        ? pendingBuilds.filter((key) => {
            if (!files!.specs.has(key)) return false;
            const dir = objDirOf(host, unit, lease!, key, files!);
            if (trees.has(dir) || !holdsBase(dir, lease!.commit, files!.specs.get(key)!, lease!.path)) return false;
            trees.add(dir);
            return true;
          })
        : [];
    if (warm.length < 2) {
      // One build at a time, in order, each with the run's CPUs (a cold tree checks the base out and back).
      for (const key of pendingBuilds) await build(key, { jobs: cpus });
    } else {
      // Several at once in the one worktree (one applied series, an O= folder each): the warm ones first, the
      // series' files given their recorded mtimes once for all of them; then each cold one alone with all the
      // CPUs, as it checks the base out in the worktree while it builds it.
      const width = Math.min(concurrent, warm.length);
      const jobs = buildBudget(cpus, warm.length).jobs;
      const logs = warm.map((key) => logOf('build', key));
      for (const l of logs) fs.writeFileSync(l, setupText);
      const kept = await keepSourceTimes({
        worktree: lease!.path,
        objDirs: warm.map((key) => objDirOf(host, unit, lease!, key, files!)),
        base: lease!.commit,
        email: unit.job.series.submitter.email,
        touched: readTouched(touchedFile(host, unit, lease!.slot)),
        logPath: logs[0]!,
        runId,
        timeoutMs: unit.timeouts.build,
      });
      for (const l of logs.slice(1)) fs.appendFileSync(l, `--- ${warm.length} builds at once in this worktree; mtime kept (built from this content): ${kept.join(', ') || 'none'}\n`);
      let next = 0;
      const lanes = await Promise.allSettled(
        Array.from({ length: width }, async () => {
          for (let i = next++; i < warm.length; i = next++) await build(warm[i]!, { jobs, sourcesPrepared: true, logStarted: true });
        }),
      );
      for (const l of lanes) if (l.status === 'rejected') throw l.reason;
      for (const key of pendingBuilds.filter((k) => !warm.includes(k))) await build(key, { jobs: cpus });
    }
    for (const r of await Promise.allSettled(tests)) if (r.status === 'rejected') throw r.reason;
  } catch (e) {
    await Promise.allSettled(tests);
    // Killed tools may still be exiting: the slot is reset, and reset again by the next lease.
    await release({ childrenMayLinger: true }).catch((err: unknown) => host.log.warn({ err, run: runId }, 'could not reset the build slot'));
    throw e;
  }
  return {
    release: () => release().catch((e: unknown) => host.log.warn({ err: e, run: runId }, 'could not reset the build slot')),
  };
}

/** Where a host unpacks the units it runs (each removed when its unit ends). */
function unitsDir(dataDir: string): string {
  return path.join(dataDir, 'cache', 'units');
}

/** At a host's start nothing runs: what units a crash left unpacked goes (a resumed unit unpacks again). */
export function clearUnits(dataDir: string): void {
  fs.rmSync(unitsDir(dataDir), { recursive: true, force: true });
}

/** The build slot at the unit's base; a host whose mirror does not have the base yet fetches once. */
async function leaseAtBase(unit: HeavyUnit, host: HeavyHost, logPath: string, signal: AbortSignal): Promise<Lease> {
  const { slug } = unit.tree;
  const resolve = () => host.trees.resolve(slug, unit.base).catch(() => null);
  let base = await resolve();
  if (!base) {
    const fetched = await host.trees.fetch(slug);
    if (fetched.warning) fs.appendFileSync(logPath, `patchbay: ${fetched.warning}\n`);
    base = await resolve();
  }
  if (!base) throw new Error(`the base ${unit.base} is not in the mirror of ${unit.tree.url}`);
  fs.appendFileSync(logPath, `build slot for run ${unit.runId} at ${base}\n`);
  const lease = await host.trees.lease(slug, base, unit.runId, { signal, pool: 'build' });
  const how = { kept: 'clean since the last run, used as it is', checkout: 'clean, checked out at the base', reset: 'reset', created: 'created' }[lease.prepared];
  fs.appendFileSync(logPath, `build slot ${lease.slot} (${lease.path}): ${how}; the series applied again as the apply gate did:\n`);
  return lease;
}

/** One warm object tree per build slot, arch and config, at a fixed path (objtool records absolute paths). */
function objDirOf(host: HeavyHost, unit: HeavyUnit, lease: Lease, key: string, files: UnpackedUnit): string {
  const build = files.specs.get(key);
  if (!build) throw new Error(`no build ${key} in the unit`);
  return objectTreeDir(host.dataDir, unit.tree.slug, lease.slot, build);
}

/**
 * Named by what is built, not by the build's key: two builds of one arch and config (`x86_64` booted by QEMU and
 * `x86_64-2` by LAVA) share the tree, so the second finds everything up to date instead of building it again.
 */
export function objectTreeDir(dataDir: string, slug: string, slot: number, build: Pick<BuildSpec, 'arch' | 'base' | 'fragments'>): string {
  const hash = configHash({ arch: build.arch, base: build.base, fragments: build.fragments }).slice(0, 12);
  return path.join(dataDir, 'build', slug, `slot-${slot}`, `${build.arch}-${hash}`);
}

/** The files of a build slot that runs rewrote (./object-tree.ts): host-only, beside the slot's object trees. */
function touchedFile(host: HeavyHost, unit: HeavyUnit, slot: number): string {
  return path.join(host.dataDir, 'build', unit.tree.slug, `slot-${slot}`, 'touched.json');
}

function mirrorOf(host: HeavyHost, unit: HeavyUnit): string {
  try {
    return host.trees.mirrorPath(unit.tree.slug);
  } catch {
    return '';
  }
}

/**
 * A definition named as one before it gets `-2`, `-3`…: LAVA refuses a job whose test definitions share a name ("Test
 * definition names need to be unique", seen with proctree.yaml as both the reference and the student's file), and
 * both runners name the results' suites `<index>_<name>` from the same names.
 */
export function uniqueNames<T extends { name: string }>(defs: T[]): T[] {
  const seen = new Set<string>();
  return defs.map((d) => {
    let name = d.name;
    for (let n = 2; seen.has(name); n++) name = `${d.name}-${n}`;
    seen.add(name);
    return name === d.name ? d : { ...d, name };
  });
}

function definitionName(file: string): string {
  return path.basename(file).replace(/\.ya?ml$/, '');
}

/** The student's definition as the gate lane took it, else taken from this host's applied tree (same rules). */
function studentDefinition(host: HeavyHost, unit: HeavyUnit, lease: Lease, s: HeavyUnit['tests']['student'][number]): { path: string; problem?: string } {
  const dir = studentTestsDir(host.dataDir, unit.runId);
  if (s.base64 === null) return takeStudentFile(lease.path, s.file, dir);
  const dest = path.join(dir, studentCopyName(s.file));
  if (!fs.existsSync(dest)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(dest, Buffer.from(s.base64, 'base64'));
  }
  return { path: dest };
}

// The CI engine: turns series-completed events into runs, runs their steps in the worker pool (the gates one after
// another, then the builds within the run's CPU budget, each boot beside the builds), stores each step's outcome and
// Patchwork check, cancels an older revision's run when a newer one completes, resumes unfinished runs after a
// restart, and queues exactly one reply per run in the transaction that ends it.
import fs from 'node:fs';
import path from 'node:path';
import type { PublicUrls } from '../config/config.js';
import type { Db } from '../db/database.js';
import {
  activeRuns,
  cancelRun,
  completedSince,
  createRun,
  finishRun,
  finishStep,
  getRun,
  hasCursor,
  lastCompletedEvent,
  markStepRunning,
  newerRevision,
  olderRevisions,
  readCursor,
  resetSteps,
  runSteps,
  seriesVersion,
  startRun,
  writeCursor,
} from '../db/pipeline.repository.js';
import type { RunOutcome, RunStepRow } from '../db/pipeline-schema.js';
import type { Logger } from '../log.js';
import { checkFor, writeCheck } from './checks.js';
import { buildJob, type JobSource, type PipelineProject } from './job.js';
import type { Lease, TreeService } from './tree.service.js';
import { queueReport } from './reply.service.js';
import type { StepPool } from './step-pool.js';
import { buildBudget, buildSpecs, planSteps, stepSpec } from './steps.js';
import { holdsBase, keepSourceTimes } from './steps/build.step.js';
import { configHash } from './kconfig.js';
import { readTouched, recordTouched } from './object-tree.js';
import { patchFiles } from './patch-files.js';
import { takeStudentFile } from './guest/tests-disk.js';
import { STEP_NAMES, type BuildContext, type BuildSpec, type GateName, type Job, type StepContext, type StepName, type StepResult, type TestContext } from './types.js';

/** What the engine needs of tree management (src/pipeline/tree.service.ts). */
export type TreeAccess = Pick<TreeService, 'ensureFresh' | 'mirrorPath' | 'resolve' | 'lease'>;

export interface PipelineDeps {
  db: Db;
  projects: PipelineProject[];
  trees: TreeAccess;
  pool: StepPool;
  dataDir: string;
  ccacheDir: string;
  urls: PublicUrls;
  hostname: string;
  /** Runs at once. */
  runs: number;
  /** CPUs the pipeline's tools may keep busy (--pipeline-cpus); each run at once gets an equal share. */
  cpus: number;
  source: JobSource;
  /** After a reply is queued (outbound) or posted to the list (processing): wake those workers. */
  delivered(mailIds: number[]): void;
  log: Logger;
}

/** Extra time a step gets beyond its timeout before the engine gives up on it (the step kills its own children). */
const GRACE_MS = 10_000;
const SCAN_EVERY_MS = 5_000;

export class PipelineService {
  private readonly projects: Map<number, PipelineProject>;
  private readonly queue: number[] = [];
  private readonly active = new Map<number, AbortController>();
  private scanning: Promise<void> | null = null;
  private rescan = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: PipelineDeps) {
    this.projects = new Map(deps.projects.map((p) => [p.id, p]));
  }

  /** One run's share of the CPU budget. */
  private get runCpus(): number {
    return Math.max(1, Math.floor(this.deps.cpus / Math.max(1, this.deps.runs)));
  }

  /** Resumes unfinished runs, then follows new series-completed events. */
  async start(): Promise<void> {
    const { db } = this.deps;
    // A database that had series before the pipeline existed starts after them: history gets no runs.
    if (!(await hasCursor(db))) await writeCursor(db, await lastCompletedEvent(db));
    for (const run of await activeRuns(db)) {
      if (run.state === 'running') await this.prepareResume(run.id);
      this.queue.push(run.id);
    }
    if (this.queue.length) this.deps.log.info({ runs: this.queue.length }, 'resuming unfinished runs');
    this.timer = setInterval(() => this.kick(), SCAN_EVERY_MS);
    this.timer.unref();
    this.kick();
  }

  /** New events may be there (called after processing commits a batch). */
  kick(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    this.scanning = this.scan()
      .catch((e: unknown) => this.deps.log.error({ err: e }, 'pipeline scan failed'))
      .finally(() => {
        this.scanning = null;
        if (this.rescan) {
          this.rescan = false;
          this.kick();
        }
      });
  }

  /** Cancels a run (a maintainer's request, or a newer revision): its steps stop, its children are killed. */
  async cancel(runId: number, reason: string): Promise<void> {
    await cancelRun(this.deps.db, runId, reason);
    this.abort(runId);
  }

  /** Resolves when no run is queued or running (tests, benchmarks, orderly stop). */
  idle(): Promise<void> {
    if (!this.queue.length && !this.active.size && !this.scanning) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking runs; running ones are aborted and resume at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.scanning;
    for (const [runId, ac] of this.active) {
      this.deps.pool.killChildren(runId);
      ac.abort(new Error('server stopping'));
    }
    while (this.active.size) await new Promise((r) => setTimeout(r, 20));
  }

  private abort(runId: number): void {
    const i = this.queue.indexOf(runId);
    if (i >= 0) this.queue.splice(i, 1);
    const ac = this.active.get(runId);
    if (ac) {
      this.deps.pool.killChildren(runId);
      ac.abort(new Error('run cancelled'));
    }
  }

  private async scan(): Promise<void> {
    const { db, log } = this.deps;
    for (;;) {
      const cursor = await readCursor(db);
      const events = await completedSince(db, cursor, 100);
      if (!events.length) break;
      for (const ev of events) {
        const { created, cancelled } = await db.transaction().execute(async (tx) => {
          const cancelled: number[] = [];
          let created: number | null = null;
          const project = this.projects.get(ev.projectId);
          // A project without a tree has no pipeline (a plain mailing list).
          if (ev.live && project?.tree) {
            const newer = await newerRevision(tx, ev.seriesId);
            if (newer) {
              await createRun(tx, { projectId: ev.projectId, seriesId: ev.seriesId, eventId: ev.eventId, state: 'cancelled', reason: `superseded by v${newer.version} (series ${newer.id}) before it started`, steps: planSteps(buildSpecs(project.builds)) });
            } else {
              const older = await olderRevisions(tx, ev.seriesId);
              const version = await seriesVersion(tx, ev.seriesId);
              for (const run of await activeRuns(tx, older)) {
                await cancelRun(tx, run.id, `superseded by v${version} (series ${ev.seriesId})`);
                cancelled.push(run.id);
              }
              created = await createRun(tx, { projectId: ev.projectId, seriesId: ev.seriesId, eventId: ev.eventId, state: 'queued', steps: planSteps(buildSpecs(project.builds)) });
            }
          }
          await writeCursor(tx, ev.eventId);
          return { created, cancelled };
        });
        for (const id of cancelled) {
          log.info({ run: id, series: ev.seriesId }, 'run cancelled: a newer revision completed');
          this.abort(id);
        }
        if (created !== null) {
          log.info({ run: created, series: ev.seriesId }, 'run queued');
          this.queue.push(created);
        }
      }
    }
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.active.size < this.deps.runs && this.queue.length) {
      const runId = this.queue.shift()!;
      const ac = new AbortController();
      this.active.set(runId, ac);
      void this.execute(runId, ac.signal)
        .catch((e: unknown) => this.deps.log.error({ err: e, run: runId }, 'run failed'))
        .finally(() => {
          this.active.delete(runId);
          this.pump();
          this.settle();
        });
    }
    this.settle();
  }

  private settle(): void {
    if (this.queue.length || this.active.size || this.scanning) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** After a crash: a step cut short starts again; a tree-changing step and all after it redo on a fresh tree. */
  private async prepareResume(runId: number): Promise<void> {
    const steps = await runSteps(this.deps.db, runId);
    const again = new Set(steps.filter((s) => s.status === 'running').map((s) => s.step));
    const firstMutating = steps.findIndex((s) => stepSpec(s.step).mutatesTree);
    if (firstMutating >= 0 && steps.slice(firstMutating).some((s) => s.status === 'pending' || s.status === 'running')) {
      for (const s of steps.slice(firstMutating)) again.add(s.step);
    }
    await resetSteps(this.deps.db, runId, [...again]);
  }

  private logPath(runId: number, step: string, job: string): string {
    const dir = path.join(this.deps.dataDir, 'logs', 'runs', String(runId));
    fs.mkdirSync(dir, { recursive: true });
    return path.join(dir, job ? `${step}-${job}.log` : `${step}.log`);
  }

  private async execute(runId: number, signal: AbortSignal): Promise<void> {
    const { db, log } = this.deps;
    const run = await getRun(db, runId);
    if (!run || (run.state !== 'queued' && run.state !== 'running')) return;
    const project = this.projects.get(run.project_id);
    if (!project) {
      await finishRun(db, runId, { outcome: 'error', base: null, reportMsgid: null, reason: 'the project is no longer configured' });
      return;
    }
    await startRun(db, runId);
    const job = await buildJob(db, this.deps.source, runId, project, run.series_id);
    const builds = new Map(buildSpecs(project.builds).map((b) => [b.key, b]));
    const rows = await runSteps(db, runId);
    const done = new Map<string, StepResult>(rows.filter(isFinished).map((s) => [rowKey(s.step, s.job), stepResultOf(s)]));
    const gate = (name: GateName) => done.get(rowKey(name, ''));
    // Written by runRow (also from the tests that run beside the builds), read after the loop.
    const st: {
      lease: Promise<Lease> | null;
      leased: Lease | null;
      /** The leased tree is still as the lease made it (no tree-changing step has started). */
      pristine: boolean;
      firstStop: { step: StepName; job: string; result: StepResult } | null;
    } = { lease: null, leased: null, pristine: false, firstStop: null };
    // A run resumed after a crash: a step that failed before it counts as it did then.
    for (const r of rows) {
      const prior = isFinished(r) ? done.get(rowKey(r.step, r.job)) : undefined;
      if (prior && (prior.status === 'fail' || prior.status === 'error')) {
        st.firstStop = { step: r.step as StepName, job: r.job, result: prior };
        break;
      }
    }
    const tests: Promise<unknown>[] = [];
    const cpus = this.runCpus;

    const runRow = async (row: { step: string; job: string }, extra: BuildExtra = {}): Promise<StepResult> => {
      const spec = stepSpec(row.step);
      const logPath = this.logPath(runId, spec.name, row.job);
      if (!extra.logStarted) fs.writeFileSync(logPath, '');
      await db.transaction().execute(async (tx) => {
        await markStepRunning(tx, runId, spec.name, row.job, logPath);
        await writeCheck(tx, this.deps.urls, project.id, job, runId, spec.name, row.job, { state: 'pending', summary: 'running' });
      });
      let result: StepResult;
      let leaseMs = 0;
      try {
        if (spec.needsTree && !st.leased) {
          st.lease ??= this.leaseTree(project, job, runId, logPath, signal).then((l) => {
            st.pristine = true;
            return l;
          });
          st.leased = await st.lease;
          leaseMs = st.leased.childMs;
        }
        const ctx = this.contextFor(project, job, spec.name, row.job, builds, done, st.leased, logPath, { cpus, pristine: st.pristine, ...extra });
        if (spec.mutatesTree) st.pristine = false;
        result = await this.runInPool(spec.name, job, ctx, project.timeouts[spec.name], signal);
      } catch (e) {
        if (signal.aborted) throw e;
        result = errorResult(logPath, spec.needsTree && !st.leased ? `the project's tree is not available: ${message(e)}` : message(e));
      }
      // Preparing the worktree is git's time too: it counts with the step that needed it.
      if (leaseMs) result = { ...result, childMs: result.childMs + leaseMs };
      done.set(rowKey(spec.name, row.job), result);
      await db.transaction().execute(async (tx) => {
        await finishStep(tx, runId, spec.name, row.job, { status: result.status, summary: result.summary, findings: result.findings, outputs: result.outputs ?? null, childMs: result.childMs });
        await writeCheck(tx, this.deps.urls, project.id, job, runId, spec.name, row.job, checkFor(result));
      });
      log.info({ run: runId, step: spec.name, job: row.job || undefined, status: result.status }, result.summary);
      if ((result.status === 'fail' || result.status === 'error') && !st.firstStop) st.firstStop = { step: spec.name, job: row.job, result };
      return result;
    };

    /** A build's test, once: booted beside whatever builds next (a TCG boot takes about one core for a few seconds). */
    const started = new Set<string>();
    const startTest = async (key: string): Promise<void> => {
      const row = rows.find((r) => r.step === 'test' && r.job === key && r.status === 'pending');
      if (!row || started.has(key)) return;
      started.add(key);
      const built = done.get(rowKey('build', key));
      if (!built || (built.status !== 'pass' && built.status !== 'warn')) {
        await finishStep(db, runId, 'test', key, { status: 'skip', summary: 'not run: the build did not pass', findings: [], outputs: null, childMs: 0 });
        return;
      }
      const test = runRow(row);
      // Awaited with the others at the end; until then a rejection (the run cancelled) must not count as unhandled.
      test.catch(() => {});
      tests.push(test);
    };
    const build = async (row: RunStepRow, extra: BuildExtra): Promise<void> => {
      await runRow(row, extra);
      await startTest(row.job);
    };

    try {
      for (const row of rows) {
        if (row.status !== 'pending' || stepSpec(row.step).perBuild) continue;
        const result = await runRow(row);
        // A gate that fails stops the run: the report goes out now.
        if (result.status === 'fail' || result.status === 'error') break;
      }
      if (!st.firstStop || stepSpec(st.firstStop.step).perBuild) {
        // Tests whose build finished before a restart.
        for (const r of rows) if (r.step === 'test' && r.status === 'pending' && done.has(rowKey('build', r.job))) await startTest(r.job);
        const pending = rows.filter((r) => r.step === 'build' && r.status === 'pending');
        const { concurrent } = buildBudget(cpus, pending.length);
        const base = String(gate('apply')?.outputs?.base ?? st.leased?.commit ?? '');
        const warm =
          concurrent > 1 && st.leased && base
            ? pending.filter((r) => builds.has(r.job) && holdsBase(this.objDirOf(project, builds, st.leased!, r.job), base, builds.get(r.job)!, st.leased!.path))
            : [];
        if (warm.length < 2) {
          // One build at a time, in order, each with the run's CPUs (a cold tree checks the base out and back).
          for (const row of pending) await build(row, { jobs: cpus });
        } else {
          // Several at once in the one worktree (one applied series, an O= folder each): the warm ones first, the
          // series' files given their recorded mtimes once for all of them; then each cold one alone with all the
          // CPUs, as it checks the base out in the worktree while it builds it.
          const width = Math.min(concurrent, warm.length);
          const jobs = buildBudget(cpus, warm.length).jobs;
          const logs = warm.map((r) => this.logPath(runId, 'build', r.job));
          for (const l of logs) fs.writeFileSync(l, '');
          const kept = await keepSourceTimes({
            worktree: st.leased!.path,
            objDirs: warm.map((r) => this.objDirOf(project, builds, st.leased!, r.job)),
            base,
            email: job.series.submitter.email,
            touched: readTouched(this.touchedFile(project, st.leased!.slot)),
            logPath: logs[0]!,
            runId,
            timeoutMs: project.timeouts.build,
          });
          for (const l of logs.slice(1)) fs.appendFileSync(l, `--- ${warm.length} builds at once in this worktree; mtime kept (built from this content): ${kept.join(', ') || 'none'}\n`);
          let next = 0;
          const lanes = await Promise.allSettled(
            Array.from({ length: width }, async () => {
              for (let i = next++; i < warm.length; i = next++) await build(warm[i]!, { jobs, sourcesPrepared: true, logStarted: true });
            }),
          );
          for (const l of lanes) if (l.status === 'rejected') throw l.reason;
          for (const row of pending.filter((r) => !warm.includes(r))) await build(row, { jobs: cpus });
        }
      }
      for (const r of await Promise.allSettled(tests)) if (r.status === 'rejected') throw r.reason;
    } catch (e) {
      await Promise.allSettled(tests);
      const held = st.leased ?? (st.lease ? await st.lease.catch(() => null) : null);
      // Killed tools may still be exiting: the slot is reset, and reset again by the next lease.
      if (signal.aborted) {
        await held?.release({ childrenMayLinger: true }).catch(() => {});
        if (!this.stopped) await cancelRun(db, runId, (await getRun(db, runId))?.reason ?? 'cancelled');
        return;
      }
      await held?.release({ childrenMayLinger: true }).catch((err: unknown) => log.warn({ err, run: runId }, 'could not reset the worktree'));
      throw e;
    }
    // The slot is reset and given back only after the reply is queued: on the kernel the reset takes ~0.4 s
    // (bench/pipeline-overhead) that the student need not wait for. The run holds the slot until then.
    try {
      if (signal.aborted) return;
      const all = [...done.values()];
      const stop = st.firstStop;
      const outcome: RunOutcome = all.some((r) => r.status === 'error') ? 'error' : stop ? 'fail' : all.some((r) => r.status === 'warn') ? 'warn' : 'pass';
      const base = (gate('apply')?.outputs?.base as string | undefined) ?? null;
      // A gate failed before apply: the report still names the commit the series would have gone on.
      const tip = base ?? (project.tree ? await this.deps.trees.resolve(project.slug, project.tree.branch).catch(() => null) : null);
      const gates = Object.fromEntries(STEP_NAMES.flatMap((n) => (gate(n) ? [[n, gate(n)!]] : []))) as Partial<Record<GateName, StepResult>>;
      const perBuild = (step: 'build' | 'test') =>
        [...builds.values()].flatMap((b) => {
          const r = done.get(rowKey(step, b.key));
          return r && r.status !== 'skip' ? [{ build: b, result: r }] : [];
        });
      const errored = all.find((r) => r.status === 'error');
      const mailIds = await db.transaction().execute(async (tx) => {
        const current = await getRun(tx, runId);
        if (current?.state !== 'running') return [];
        const queued = await queueReport(tx, {
          project,
          job,
          runId,
          outcome,
          results: gates,
          builds: perBuild('build'),
          tests: perBuild('test'),
          stoppedAt: stop ? { step: stop.step, job: stop.job } : null,
          urls: this.deps.urls,
          hostname: this.deps.hostname,
          base: tip,
        });
        await finishRun(tx, runId, { outcome, base, reportMsgid: queued.msgid, reason: errored?.summary ?? null });
        return queued.mailIds;
      });
      this.deps.delivered(mailIds);
    } finally {
      await st.leased?.release().catch((e: unknown) => log.warn({ err: e, run: runId }, 'could not reset the worktree'));
    }
  }

  /** The context a step runs in: the common part, and for build and test their build's paths and inputs. */
  private contextFor(
    project: PipelineProject,
    job: Job,
    step: StepName,
    key: string,
    builds: Map<string, BuildSpec>,
    done: Map<string, StepResult>,
    lease: Lease | null,
    logPath: string,
    extra: BuildExtra & { cpus: number; pristine: boolean },
  ): StepContext | BuildContext | TestContext {
    const previous = Object.fromEntries(STEP_NAMES.flatMap((n) => (done.has(rowKey(n, '')) ? [[n, done.get(rowKey(n, ''))!]] : [])));
    const common: StepContext = {
      logPath,
      mirror: this.mirrorOf(project.slug),
      worktree: lease?.path ?? '',
      previous,
      timeoutMs: project.timeouts[step],
      cpus: extra.cpus,
      // Sandboxed builds see none of it but the folders bound for them.
      privateDirs: [this.deps.dataDir],
      ...(lease && extra.pristine ? { pristineAt: lease.commit } : {}),
    };
    if (step !== 'build' && step !== 'test') return common;
    const build = builds.get(key);
    if (!build || !lease) throw new Error(`no build ${key} in ${path.basename(project.file)}`);
    const { dataDir } = this.deps;
    const artifactsDir = path.join(dataDir, 'artifacts', `run-${job.runId}`, key);
    fs.mkdirSync(artifactsDir, { recursive: true });
    if (step === 'build') {
      const base = done.get(rowKey('apply', ''))?.outputs?.base;
      const ctx: BuildContext = {
        ...common,
        build,
        objDir: this.objDirOf(project, builds, lease, key),
        ccacheDir: this.deps.ccacheDir,
        artifactsDir,
        jobs: extra.jobs ?? extra.cpus,
        baseCommit: typeof base === 'string' ? base : lease.commit,
        ...(extra.sourcesPrepared ? { sourcesPrepared: true } : {}),
        touched: readTouched(this.touchedFile(project, lease.slot)),
      };
      fs.mkdirSync(ctx.objDir, { recursive: true });
      fs.mkdirSync(ctx.ccacheDir, { recursive: true });
      return ctx;
    }
    const built = done.get(rowKey('build', key))?.outputs ?? {};
    const testdesc = done.get(rowKey('testdesc', ''));
    const studentFiles = testdesc?.status === 'pass' || testdesc?.status === 'warn' ? parseList(testdesc.outputs?.files) : [];
    const ctx: TestContext = {
      ...common,
      build,
      kernelImage: String(built.image ?? ''),
      modulesImage: typeof built.modulesImage === 'string' ? built.modulesImage : null,
      definitions: [
        ...(project.tests?.path ? [{ name: path.basename(project.tests.path).replace(/\.ya?ml$/, ''), path: project.tests.path, origin: 'reference' as const }] : []),
        ...studentFiles.map((f) => ({ name: path.basename(f).replace(/\.ya?ml$/, ''), origin: 'student' as const, ...this.studentFile(job.runId, lease.path, f) })),
      ],
      programsDir: project.tests?.programs ?? null,
      artifactsDir,
      cacheDir: path.join(dataDir, 'cache', 'guest'),
    };
    return ctx;
  }

  /** One warm object tree per worktree slot, build and config, at a fixed path (objtool records absolute paths). */
  private objDirOf(project: PipelineProject, builds: Map<string, BuildSpec>, lease: Lease, key: string): string {
    const build = builds.get(key);
    if (!build) throw new Error(`no build ${key} in ${path.basename(project.file)}`);
    const hash = configHash({ arch: build.arch, base: build.base, fragments: build.fragments }).slice(0, 12);
    return path.join(this.deps.dataDir, 'build', project.slug, `slot-${lease.slot}`, `${key}-${hash}`);
  }

  /** The files of a worktree slot that runs rewrote (../object-tree.ts): host-only, beside the slot's object trees. */
  private touchedFile(project: PipelineProject, slot: number): string {
    return path.join(this.deps.dataDir, 'build', project.slug, `slot-${slot}`, 'touched.json');
  }

  /** The student's test definition as applied, copied out of the worktree (a later build resets the tree). */
  private studentFile(runId: number, worktree: string, file: string): { path: string; problem?: string } {
    return takeStudentFile(worktree, file, path.join(this.deps.dataDir, 'artifacts', `run-${runId}`, 'student-tests'));
  }

  private async leaseTree(project: PipelineProject, job: Job, runId: number, logPath: string, signal: AbortSignal): Promise<Lease> {
    const { trees } = this.deps;
    if (!project.tree) throw new Error(`${path.basename(project.file)} has no tree`);
    const mirror = await trees.ensureFresh(project.slug, project.tree.max_age);
    if (mirror.warning) fs.appendFileSync(logPath, `patchbay: ${mirror.warning}\n`);
    const base = (job.series.baseCommit && (await trees.resolve(project.slug, job.series.baseCommit))) || (await trees.resolve(project.slug, project.tree.branch));
    if (!base) throw new Error(`branch ${project.tree.branch} not found in ${project.tree.url}`);
    fs.appendFileSync(logPath, `worktree for run ${runId} at ${base}\n`);
    const lease = await trees.lease(project.slug, base, runId, { signal });
    // Before anything rewrites them: the series' files get new mtimes in this slot (../object-tree.ts).
    recordTouched(this.touchedFile(project, lease.slot), patchFiles(job.series.patches.map((p) => p.diff)));
    const how = { kept: 'clean since the last run, used as it is', checkout: 'clean, checked out at the base', reset: 'reset', created: 'created' }[lease.prepared];
    fs.appendFileSync(logPath, `worktree slot ${lease.slot} (${lease.path}): ${how}\n`);
    return lease;
  }

  private async runInPool(step: StepName, job: Job, ctx: StepContext, timeoutMs: number, signal: AbortSignal): Promise<StepResult> {
    const guard = new AbortController();
    const onAbort = () => guard.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => guard.abort(new Error('timeout')), timeoutMs + GRACE_MS);
    try {
      return await this.deps.pool.run({ step, job, ctx }, guard.signal);
    } catch (e) {
      if (signal.aborted) throw e;
      if (guard.signal.aborted) return errorResult(ctx.logPath, `${step} did not finish within ${Math.round(timeoutMs / 1000)} s`);
      return errorResult(ctx.logPath, `${step} crashed: ${message(e)}`);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private mirrorOf(slug: string): string {
    try {
      return this.deps.trees.mirrorPath(slug);
    } catch {
      return '';
    }
  }
}

/** What the build scheduler decides for one build: its make -j, and whether the engine kept the sources' mtimes. */
interface BuildExtra {
  jobs?: number;
  sourcesPrepared?: boolean;
  /** The engine already started the step's log (with the mtimes it kept): append to it. */
  logStarted?: boolean;
}

function rowKey(step: string, job: string): string {
  return job ? `${step}:${job}` : step;
}

/** A list output (JSON array of strings), or nothing. */
function parseList(v: unknown): string[] {
  if (typeof v !== 'string') return [];
  try {
    const list: unknown = JSON.parse(v);
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function isFinished(s: RunStepRow): boolean {
  return s.status !== 'pending' && s.status !== 'running';
}

function stepResultOf(s: RunStepRow): StepResult {
  return {
    status: s.status === 'cancelled' || s.status === 'pending' || s.status === 'running' ? 'error' : s.status,
    summary: s.summary ?? '',
    findings: s.findings ? JSON.parse(s.findings) : [],
    logPath: s.log_path ?? '',
    outputs: s.outputs ? JSON.parse(s.outputs) : undefined,
    childMs: s.child_ms ?? 0,
  };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function errorResult(logPath: string, summary: string): StepResult {
  fs.appendFileSync(logPath, `patchbay: ${summary}\n`);
  return { status: 'error', summary, findings: [], logPath, childMs: 0 };
}

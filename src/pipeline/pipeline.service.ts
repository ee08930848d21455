// The CI engine: turns series-completed events into runs and moves each run through two lanes. The gate lane
// (--gate-runs at once, its own worktree slots and worker threads) runs signoff, testdesc, checkpatch and apply; a
// gate that fails or errors ends the run and its reply goes out at once. A run whose gates pass gives its gate slot
// back and waits for the heavy lane (--pipeline-runs at once), which hands its builds and boots to a host as one
// portable unit (heavy-unit.ts, heavy-runner.ts) and records what the host reports. The engine stores each step's
// outcome and Patchwork check, cancels an older revision's run in either lane when a newer one completes, resumes
// unfinished runs after a restart in the lane they were in, and queues exactly one reply per run in the transaction
// that ends it.
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
  resetRunningSteps,
  runSteps,
  seriesVersion,
  startRun,
  writeCursor,
} from '../db/pipeline.repository.js';
import type { RunOutcome, RunStepRow } from '../db/pipeline-schema.js';
import type { Logger } from '../log.js';
import { checkFor, writeCheck } from './checks.js';
import { buildJob, type JobSource, type PipelineProject } from './job.js';
import { Lane, type LanePosition } from './lane.js';
import { clearUnits, runHeavyUnit, type HeavyHandle, type HeavyHost, type HeavyReporter } from './heavy-runner.js';
import { makeHeavyUnit, studentTestsDir } from './heavy-unit.js';
import type { Lease, TreeService } from './tree.service.js';
import { queueReport } from './reply.service.js';
import { errorResult, message, rowKey, runInPool } from './run-step.js';
import type { StepPool } from './step-pool.js';
import { buildSpecs, planSteps, stepSpec } from './steps.js';
import { takeStudentFile } from './guest/tests-disk.js';
import { STEP_NAMES, type GateName, type Job, type StepContext, type StepName, type StepResult } from './types.js';

/** What the engine needs of tree management (src/pipeline/tree.service.ts). */
export type TreeAccess = Pick<TreeService, 'ensureFresh' | 'fetch' | 'mirrorPath' | 'resolve' | 'lease'>;

export interface PipelineDeps {
  db: Db;
  projects: PipelineProject[];
  trees: TreeAccess;
  /** Worker threads of the heavy lane (builds, boots). */
  pool: StepPool;
  /** Worker threads of the gate lane: a gate never waits for a thread a build holds. */
  gatePool: StepPool;
  dataDir: string;
  ccacheDir: string;
  urls: PublicUrls;
  hostname: string;
  /** Runs in the heavy lane at once (--pipeline-runs). */
  runs: number;
  /** Runs in the gate lane at once (--gate-runs). */
  gateRuns: number;
  /** CPUs the pipeline's tools may keep busy (--pipeline-cpus); each run at once in a lane gets an equal share. */
  cpus: number;
  source: JobSource;
  /** After a reply is queued (outbound) or posted to the list (processing): wake those workers. */
  delivered(mailIds: number[]): void;
  log: Logger;
}

const SCAN_EVERY_MS = 5_000;

export class PipelineService {
  private readonly projects: Map<number, PipelineProject>;
  private readonly gates: Lane;
  private readonly heavy: Lane;
  /** The job the gate lane read, for the heavy lane of the same run (read again after a restart). */
  private readonly jobs = new Map<number, Job>();
  private scanning: Promise<void> | null = null;
  private rescan = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: PipelineDeps) {
    if (deps.gateRuns < 1 || deps.runs < 1) throw new Error('the pipeline needs at least one run at once in each lane');
    this.projects = new Map(deps.projects.map((p) => [p.id, p]));
    this.gates = new Lane('gates', deps.gateRuns, (id, signal) => this.runGates(id, signal), (id, e) => this.left(id, e));
    this.heavy = new Lane('builds', deps.runs, (id, signal) => this.runHeavy(id, signal), (id, e) => this.left(id, e));
  }

  /** Resumes unfinished runs in their lane, then follows new series-completed events. */
  async start(): Promise<void> {
    const { db } = this.deps;
    // A database that had series before the pipeline existed starts after them: history gets no runs.
    if (!(await hasCursor(db))) await writeCursor(db, await lastCompletedEvent(db));
    clearUnits(this.deps.dataDir);
    const resumed = { gates: 0, builds: 0 };
    for (const run of await activeRuns(db)) {
      // A step cut short starts again; finished steps keep their results (each lane leases a fresh tree anyway).
      if (run.state === 'running') await resetRunningSteps(db, run.id);
      const lane = run.state === 'running' && gatesPassed(await runSteps(db, run.id)) ? this.heavy : this.gates;
      lane.push(run.id);
      resumed[lane.name]++;
    }
    if (resumed.gates || resumed.builds) this.deps.log.info(resumed, 'resuming unfinished runs');
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
        this.settle();
      });
  }

  /** Cancels a run (a maintainer's request, or a newer revision): its steps stop, its children are killed. */
  async cancel(runId: number, reason: string): Promise<void> {
    await cancelRun(this.deps.db, runId, reason);
    this.abort(runId);
  }

  /** Where a run is in the lanes (null when it is in neither: done, cancelled, or not this process's). */
  position(runId: number): LanePosition | null {
    return this.gates.position(runId) ?? this.heavy.position(runId);
  }

  /** Runs waiting and running in each lane. */
  lanes(): Record<'gates' | 'builds', { waiting: number; active: number }> {
    return { gates: this.gates.counts, builds: this.heavy.counts };
  }

  /** Resolves when no run is queued or running (tests, benchmarks, orderly stop). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking runs; running ones are aborted and resume at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.scanning;
    const reason = new Error('server stopping');
    await Promise.all([this.gates.stop(reason, (id) => this.killChildren(id)), this.heavy.stop(reason, (id) => this.killChildren(id))]);
  }

  private isIdle(): boolean {
    return this.gates.idle && this.heavy.idle && !this.scanning;
  }

  private settle(): void {
    if (!this.isIdle()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private left(runId: number, error: unknown): void {
    if (error) this.deps.log.error({ err: error, run: runId }, 'run failed');
    if (!this.position(runId)) this.jobs.delete(runId);
    this.settle();
  }

  private killChildren(runId: number): void {
    this.deps.pool.killChildren(runId);
    this.deps.gatePool.killChildren(runId);
  }

  private abort(runId: number): void {
    const reason = new Error('run cancelled');
    // Both lanes: a run whose gates just passed may be leaving the one while it waits in the other.
    const inGates = this.gates.abort(runId, reason);
    const inHeavy = this.heavy.abort(runId, reason);
    if (inGates || inHeavy) this.killChildren(runId);
    // A run taken out of a queue never runs its lane's code: nothing else forgets its job.
    if (!this.position(runId)) this.jobs.delete(runId);
    this.settle();
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
        if (created !== null && !this.stopped) {
          log.info({ run: created, series: ev.seriesId }, 'run queued');
          this.gates.push(created);
        }
      }
    }
  }

  private logPath(runId: number, step: string, job: string): string {
    const dir = path.join(this.deps.dataDir, 'logs', 'runs', String(runId));
    fs.mkdirSync(dir, { recursive: true });
    return path.join(dir, job ? `${step}-${job}.log` : `${step}.log`);
  }

  /** The run and its project when it is still to be worked on; a run of a project no longer configured ends here. */
  private async open(runId: number, states: readonly string[]): Promise<{ project: PipelineProject; job: Job } | null> {
    const { db } = this.deps;
    const run = await getRun(db, runId);
    if (!run || !states.includes(run.state)) return null;
    const project = this.projects.get(run.project_id);
    if (!project) {
      await finishRun(db, runId, { outcome: 'error', base: null, reportMsgid: null, reason: 'the project is no longer configured' });
      return null;
    }
    if (run.state === 'queued') await startRun(db, runId);
    let job = this.jobs.get(runId);
    if (!job) this.jobs.set(runId, (job = await buildJob(db, this.deps.source, runId, project, run.series_id)));
    return { project, job };
  }

  /** The gate lane: the pending gates in a gate slot, one after another; a failing gate ends the run here. */
  private async runGates(runId: number, signal: AbortSignal): Promise<void> {
    const { db, log } = this.deps;
    const opened = await this.open(runId, ['queued', 'running']);
    if (!opened) return;
    const { project, job } = opened;
    const rows = await runSteps(db, runId);
    const done = finishedResults(rows);
    let gateStopped = rows.some((r) => !stepSpec(r.step).perBuild && isStop(done.get(rowKey(r.step, r.job))));
    const st: { lease: Promise<Lease> | null; leased: Lease | null; pristine: boolean } = { lease: null, leased: null, pristine: false };
    const cpus = Math.max(1, Math.floor(this.deps.cpus / this.deps.gateRuns));

    const runGate = async (name: GateName): Promise<StepResult> => {
      const spec = stepSpec(name);
      const logPath = this.logPath(runId, name, '');
      fs.writeFileSync(logPath, '');
      await db.transaction().execute(async (tx) => {
        await markStepRunning(tx, runId, name, '', logPath);
        await writeCheck(tx, this.deps.urls, project.id, job, runId, name, '', { state: 'pending', summary: 'running' });
      });
      let result: StepResult;
      let leaseMs = 0;
      try {
        if (spec.needsTree && !st.leased) {
          st.lease ??= this.leaseGateSlot(project, job, runId, logPath, signal).then((l) => {
            st.pristine = true;
            return l;
          });
          st.leased = await st.lease;
          leaseMs = st.leased.childMs;
        }
        const ctx: StepContext = {
          logPath,
          mirror: this.mirrorOf(project.slug),
          worktree: st.leased?.path ?? '',
          previous: Object.fromEntries(STEP_NAMES.flatMap((n) => (done.has(n) ? [[n, done.get(n)!]] : []))),
          timeoutMs: project.timeouts[name],
          cpus,
          privateDirs: [this.deps.dataDir],
          ...(st.leased && st.pristine ? { pristineAt: st.leased.commit } : {}),
        };
        if (spec.mutatesTree) st.pristine = false;
        result = await runInPool(this.deps.gatePool, name, job, ctx, project.timeouts[name], signal);
      } catch (e) {
        if (signal.aborted) throw e;
        result = errorResult(logPath, spec.needsTree && !st.leased ? `the project's tree is not available: ${message(e)}` : message(e));
      }
      // Preparing the worktree is git's time too: it counts with the step that needed it.
      if (leaseMs) result = { ...result, childMs: result.childMs + leaseMs };
      done.set(name, result);
      // The test step boots the student's definition as applied: taken out of the gate slot before it is reset.
      if (name === 'apply' && !isStop(result) && st.leased) this.takeStudentFiles(runId, st.leased.path, done.get('testdesc'));
      await this.recordStep(project, job, runId, name, '', result);
      return result;
    };

    try {
      for (const row of rows) {
        if (gateStopped) break;
        if (row.status !== 'pending' || stepSpec(row.step).perBuild) continue;
        // A gate that fails stops the run: the report goes out now.
        gateStopped = isStop(await runGate(row.step as GateName));
      }
    } catch (e) {
      const held = st.leased ?? (st.lease ? await st.lease.catch(() => null) : null);
      // Killed tools may still be exiting: the slot is reset, and reset again by the next lease.
      await held?.release({ childrenMayLinger: true }).catch((err: unknown) => log.warn({ err, run: runId }, 'could not reset the gate slot'));
      if (!signal.aborted) throw e;
      if (!this.stopped) await cancelRun(db, runId, (await getRun(db, runId))?.reason ?? 'cancelled');
      return;
    }
    // A failed gate's reply goes before the slot's reset (~0.4 s on the kernel); a run that goes on to the heavy lane
    // is queued there first too.
    try {
      if (signal.aborted) return;
      if (gateStopped || !rows.some((r) => stepSpec(r.step).perBuild && r.status === 'pending')) await this.finish(runId, project, job);
      else this.heavy.push(runId);
    } finally {
      await st.leased?.release().catch((e: unknown) => log.warn({ err: e, run: runId }, 'could not reset the gate slot'));
    }
  }

  /** The heavy lane: the run's builds and boots as one portable unit, run here by the local host. */
  private async runHeavy(runId: number, signal: AbortSignal): Promise<void> {
    const { db, log } = this.deps;
    const opened = await this.open(runId, ['running']);
    if (!opened) return;
    const { project, job } = opened;
    const rows = await runSteps(db, runId);
    const done = finishedResults(rows);
    const host: HeavyHost = { dataDir: this.deps.dataDir, ccacheDir: this.deps.ccacheDir, trees: this.deps.trees, pool: this.deps.pool, log };
    const reporter: HeavyReporter = {
      started: async (step, key, logPath) => {
        await db.transaction().execute(async (tx) => {
          await markStepRunning(tx, runId, step, key, logPath);
          await writeCheck(tx, this.deps.urls, project.id, job, runId, step, key, { state: 'pending', summary: 'running' });
        });
      },
      finished: (step, key, result) => this.recordStep(project, job, runId, step, key, result),
      skipped: async (step, key, summary) => {
        await finishStep(db, runId, step, key, { status: 'skip', summary, findings: [], outputs: null, childMs: 0 });
      },
    };
    let unit;
    try {
      const base = await this.heavyBase(project, job, done.get('apply'));
      const testdesc = done.get('testdesc');
      unit = makeHeavyUnit({
        project,
        job,
        base,
        cpus: Math.max(1, Math.floor(this.deps.cpus / this.deps.runs)),
        dataDir: this.deps.dataDir,
        steps: rows.filter((r) => stepSpec(r.step).perBuild).map((r) => ({ step: r.step, job: r.job, result: done.get(rowKey(r.step, r.job)) ?? null })),
        studentFiles: testdesc && !isStop(testdesc) && testdesc.status !== 'skip' ? parseList(testdesc.outputs?.files) : [],
      });
    } catch (e) {
      // The unit cannot be made (the project's files, the tree): our error on every step still to run.
      unit = null;
      for (const r of rows.filter((x) => stepSpec(x.step).perBuild && x.status === 'pending')) {
        const logPath = this.logPath(runId, r.step, r.job);
        fs.writeFileSync(logPath, '');
        await reporter.started(r.step as 'build' | 'test', r.job, logPath);
        await this.recordStep(project, job, runId, r.step as StepName, r.job, errorResult(logPath, `the builds could not be prepared: ${message(e)}`));
      }
    }
    let handle: HeavyHandle | null = null;
    try {
      if (unit) handle = await runHeavyUnit(unit, host, reporter, signal);
    } catch (e) {
      if (!signal.aborted) throw e;
      if (!this.stopped) await cancelRun(db, runId, (await getRun(db, runId))?.reason ?? 'cancelled');
      return;
    }
    // The build slot is reset and given back only after the reply is queued (see runGates).
    try {
      if (!signal.aborted) await this.finish(runId, project, job);
    } finally {
      await handle?.release();
    }
  }

  /** The commit the apply gate used; without one (no patch to apply), the series' base or the branch. */
  private async heavyBase(project: PipelineProject, job: Job, apply: StepResult | undefined): Promise<string> {
    const base = apply?.outputs?.base;
    if (typeof base === 'string' && base) return base;
    const { trees } = this.deps;
    const found = (job.series.baseCommit && (await trees.resolve(project.slug, job.series.baseCommit))) || (await trees.resolve(project.slug, project.tree!.branch));
    if (!found) throw new Error(`branch ${project.tree!.branch} not found in ${project.tree!.url}`);
    return found;
  }

  /** Stores a step's result and its check, once. */
  private async recordStep(project: PipelineProject, job: Job, runId: number, step: StepName, key: string, result: StepResult): Promise<void> {
    const wrote = await this.deps.db.transaction().execute(async (tx) => {
      const first = await finishStep(tx, runId, step, key, { status: result.status, summary: result.summary, findings: result.findings, outputs: result.outputs ?? null, childMs: result.childMs });
      if (first) await writeCheck(tx, this.deps.urls, project.id, job, runId, step, key, checkFor(result));
      return first;
    });
    if (wrote) this.deps.log.info({ run: runId, step, job: key || undefined, status: result.status }, result.summary);
  }

  /** Ends the run with its one reply, from what the database holds of its steps. */
  private async finish(runId: number, project: PipelineProject, job: Job): Promise<void> {
    const { db } = this.deps;
    const rows = await runSteps(db, runId);
    const done = finishedResults(rows);
    const finished = rows.filter((r) => done.has(rowKey(r.step, r.job)));
    const all = finished.map((r) => done.get(rowKey(r.step, r.job))!);
    const outcome: RunOutcome = all.some((r) => r.status === 'error') ? 'error' : all.some((r) => r.status === 'fail') ? 'fail' : all.some((r) => r.status === 'warn') ? 'warn' : 'pass';
    // The step the report names: our first error, else the student's first failure.
    const stopRow = finished.find((r) => done.get(rowKey(r.step, r.job))!.status === (outcome === 'error' ? 'error' : 'fail'));
    const gate = (n: GateName) => done.get(n);
    const base = (gate('apply')?.outputs?.base as string | undefined) ?? null;
    // A gate failed before apply: the report still names the commit the series would have gone on.
    const tip = base ?? (project.tree ? await this.deps.trees.resolve(project.slug, project.tree.branch).catch(() => null) : null);
    const gates = Object.fromEntries(STEP_NAMES.flatMap((n) => (gate(n) ? [[n, gate(n)!]] : []))) as Partial<Record<GateName, StepResult>>;
    const specs = buildSpecs(project.builds);
    const perBuild = (step: 'build' | 'test') =>
      specs.flatMap((b) => {
        const r = done.get(rowKey(step, b.key));
        return r && r.status !== 'skip' ? [{ build: b, result: r }] : [];
      });
    const errored = all.find((r) => r.status === 'error');
    const mailIds = await db.transaction().execute(async (tx) => {
      // Only the transaction that moves the run out of `running` queues a reply: one per run, whatever ran twice.
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
        stoppedAt: stopRow ? { step: stopRow.step as StepName, job: stopRow.job } : null,
        urls: this.deps.urls,
        hostname: this.deps.hostname,
        base: tip,
      });
      await finishRun(tx, runId, { outcome, base, reportMsgid: queued.msgid, reason: errored?.summary ?? null });
      return queued.mailIds;
    });
    this.deps.delivered(mailIds);
  }

  /** The student's test definitions, copied out of the gate slot into the run's artefacts (the heavy unit carries them). */
  private takeStudentFiles(runId: number, worktree: string, testdesc: StepResult | undefined): void {
    if (!testdesc || testdesc.status === 'skip' || isStop(testdesc)) return;
    for (const f of parseList(testdesc.outputs?.files)) takeStudentFile(worktree, f, studentTestsDir(this.deps.dataDir, runId));
  }

  private async leaseGateSlot(project: PipelineProject, job: Job, runId: number, logPath: string, signal: AbortSignal): Promise<Lease> {
    const { trees } = this.deps;
    if (!project.tree) throw new Error(`${path.basename(project.file)} has no tree`);
    const mirror = await trees.ensureFresh(project.slug, project.tree.max_age);
    if (mirror.warning) fs.appendFileSync(logPath, `patchbay: ${mirror.warning}\n`);
    const base = (job.series.baseCommit && (await trees.resolve(project.slug, job.series.baseCommit))) || (await trees.resolve(project.slug, project.tree.branch));
    if (!base) throw new Error(`branch ${project.tree.branch} not found in ${project.tree.url}`);
    fs.appendFileSync(logPath, `worktree for run ${runId} at ${base}\n`);
    const lease = await trees.lease(project.slug, base, runId, { signal, pool: 'gate' });
    const how = { kept: 'clean since the last run, used as it is', checkout: 'clean, checked out at the base', reset: 'reset', created: 'created' }[lease.prepared];
    fs.appendFileSync(logPath, `gate slot ${lease.slot} (${lease.path}): ${how}\n`);
    return lease;
  }

  private mirrorOf(slug: string): string {
    try {
      return this.deps.trees.mirrorPath(slug);
    } catch {
      return '';
    }
  }
}

/** Every gate finished and none failed or errored: what is left is the heavy lane's. */
function gatesPassed(rows: RunStepRow[]): boolean {
  const gates = rows.filter((r) => !stepSpec(r.step).perBuild);
  return gates.every((r) => isFinished(r) && r.status !== 'fail' && r.status !== 'error' && r.status !== 'cancelled');
}

function isStop(r: StepResult | undefined): boolean {
  return r?.status === 'fail' || r?.status === 'error';
}

function finishedResults(rows: RunStepRow[]): Map<string, StepResult> {
  return new Map(rows.filter(isFinished).map((s) => [rowKey(s.step, s.job), stepResultOf(s)]));
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

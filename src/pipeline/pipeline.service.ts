// The CI engine: turns series-completed events into runs and moves each run through two lanes. The gate lane
// (--gate-runs at once, its own worktree slots and worker threads) runs signoff, testdesc, checkpatch and apply; a
// gate that fails or errors ends the run and its reply goes out at once. A run whose gates pass gives its gate slot
// back and waits for the heavy lane (--pipeline-runs at once), which hands its builds and boots to a host as one
// portable unit (heavy-unit.ts, heavy-runner.ts) and records what the host reports. The engine stores each step's
// outcome and Patchwork check, cancels an older revision's run in either lane when a newer one completes, resumes
// unfinished runs after a restart in the lane they were in, and queues exactly one reply per run in the transaction
// that ends it. With a PipelineRemote (serve --queue) the lanes only queue each unit: `patchbay worker` machines run
// them, and the remote's events (a step started, a result, a lane's jobs over) are recorded here just the same.
import fs from 'node:fs';
import path from 'node:path';
import type { PublicUrls } from '../config/config.js';
import { nowIso, type Db } from '../db/database.js';
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
  markResumed,
  markStepRunning,
  newerRevision,
  newerRunOfSeries,
  olderRevisions,
  readCursor,
  resetRunningSteps,
  runSteps,
  seriesVersion,
  startRun,
  startStepOn,
  writeCursor,
} from '../db/pipeline.repository.js';
import type { RunOutcome, RunStepRow } from '../db/pipeline-schema.js';
import { conflict, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import { checkFor, withdrawPendingCheck, writeCheck } from './checks.js';
import { buildJob, type JobSource, type PipelineProject } from './job.js';
import { Lane, type LanePosition } from './lane.js';
import { isStop, makeGateUnit, outputList, runGateUnit, type GateHost, type GateReporter } from './gate-runner.js';
import type { LavaJobs } from './lava/lava-jobs.service.js';
import { clearUnits, runHeavyUnit, type HeavyHandle, type HeavyHost, type HeavyReporter } from './heavy-runner.js';
import { makeHeavyUnit } from './heavy-unit.js';
import type { PipelineRemote, RemoteEvents, RemoteLane, RemoteStepResult } from './remote.js';
import type { TreeService } from './tree.service.js';
import { queueReport } from './reply.service.js';
import { errorResult, message, rowKey } from './run-step.js';
import type { StepPool } from './step-pool.js';
import { buildSpecs, planSteps, stepSpec } from './steps.js';
import { STEP_NAMES, type GateName, type Job, type StepName, type StepResult } from './types.js';

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
  /** The socket of the ccache's remote storage for trusted base builds (./ccache-remote.service.ts); null: none. */
  ccacheRemote?: string | null;
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
  /** serve --queue: the lanes queue their units for `patchbay worker` machines instead of running them here. */
  remote?: PipelineRemote;
  /** The LAVA runner's side in the engine (issue 15): step settings, live job states, cancels; absent: no LAVA server. */
  lava?: LavaJobs | null;
  log: Logger;
}

const SCAN_EVERY_MS = 5_000;
/** Touched at each scan and at a stop: when the server was last seen alive, for the downtime of a resumed run. */
const ALIVE_FILE = 'pipeline.alive';
/** With a remote, a lane only queues units (the workers' concurrency is theirs): this many enqueues at once. */
const REMOTE_ENQUEUES = 16;

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
  /** Runs whose lane's jobs are in the remote queue (in insertion order: the order they were queued). */
  private readonly remoteRuns = new Map<number, { lane: RemoteLane; state: 'waiting' | 'active' }>();

  constructor(private readonly deps: PipelineDeps) {
    if (deps.gateRuns < 1 || deps.runs < 1) throw new Error('the pipeline needs at least one run at once in each lane');
    this.projects = new Map(deps.projects.map((p) => [p.id, p]));
    const width = (n: number) => (deps.remote ? REMOTE_ENQUEUES : n);
    this.gates = new Lane('gates', width(deps.gateRuns), (id, signal) => this.runGates(id, signal), (id, e) => this.left(id, e));
    this.heavy = new Lane('builds', width(deps.runs), (id, signal) => this.runHeavy(id, signal), (id, e) => this.left(id, e));
  }

  /** Resumes unfinished runs in their lane, then follows new series-completed events. */
  async start(): Promise<void> {
    const { db } = this.deps;
    // A database that had series before the pipeline existed starts after them: history gets no runs.
    if (!(await hasCursor(db))) await writeCursor(db, await lastCompletedEvent(db));
    clearUnits(this.deps.dataDir);
    await this.deps.remote?.start(this.remoteEvents());
    const aliveAt = this.lastAlive();
    this.touchAlive();
    const resumed = { gates: 0, builds: 0 };
    for (const run of await activeRuns(db)) {
      // A step cut short starts again; finished steps keep their results (each lane leases a fresh tree anyway). A
      // remote step may still be running on its worker: it stays `running` (its result is written over it all the
      // same), and the lane queues it again if its job is gone.
      // The time the server was down is not the run's: counted from its last activity (before the steps cut short
      // lose their start). With a remote, the workers went on building meanwhile: nothing is taken off.
      if (run.state === 'running' && !this.deps.remote) {
        await db.transaction().execute(async (tx) => {
          await markResumed(tx, run.id, nowIso(), aliveAt);
          await resetRunningSteps(tx, run.id);
        });
      }
      const lane = run.state === 'running' && gatesPassed(await runSteps(db, run.id)) ? this.heavy : this.gates;
      lane.push(run.id);
      resumed[lane.name]++;
    }
    if (resumed.gates || resumed.builds) this.deps.log.info(resumed, 'resuming unfinished runs');
    this.timer = setInterval(() => {
      this.touchAlive();
      this.kick();
    }, SCAN_EVERY_MS);
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

  /**
   * Cancels a run (an admin's request, or a newer revision): its steps stop, its children are killed, its queued jobs
   * are taken out. No reply is mailed for it. False when the run was not queued or running (it had ended).
   */
  async cancel(runId: number, reason: string): Promise<boolean> {
    const cancelled = await cancelRun(this.deps.db, runId, reason);
    // Only a run that was live: the cancel mark a remote sets for it would also stop a run of that id yet to come.
    if (cancelled) this.abort(runId);
    return cancelled;
  }

  /**
   * A new run of an ended run's series (an admin's retry), made and queued in the gate lane as a new series event's
   * run is; its reply goes out as any run's. Only a run our side failed (`error`) or that was cancelled, and only once:
   * a series that already has a run made after this one, or a newer revision, gets nothing (409, saying so); so does a
   * live run, or one whose project has no pipeline any more. 404 for no such run. A `rerun` (a maintainer's) also takes
   * a run that ended in a verdict: the series is judged again, and its new run sends one new reply.
   */
  async retry(runId: number, by: string, mode: 'retry' | 'rerun' = 'retry'): Promise<number> {
    const { db, log } = this.deps;
    // One transaction: two retries at once cannot both find no newer run.
    const created = await db.transaction().execute(async (tx) => {
      const run = await getRun(tx, runId);
      if (!run) throw notFound('no_such_run', `no run ${runId}`);
      if (run.state === 'queued' || run.state === 'running') throw conflict('run_not_ended', `run ${runId} is ${run.state}: only an ended run is retried`);
      // A re-run (a maintainer's, from the series page) asks for a new verdict: any ended run, the series' latest.
      if (mode === 'retry' && run.state === 'done' && run.outcome !== 'error') {
        throw conflict('run_not_retryable', `run ${runId} ended in ${run.outcome ?? 'nothing'}: that is the series' verdict, not our failure; only runs that ended in error or were cancelled are retried`);
      }
      const newer = await newerRunOfSeries(tx, run.series_id, runId);
      if (newer) throw conflict('already_retried', `series ${run.series_id} already has run ${newer.id} (${newer.state}), made after run ${runId}: nothing done`);
      const revision = await newerRevision(tx, run.series_id);
      if (revision) throw conflict('superseded', `series ${run.series_id} has a newer revision, v${revision.version} (series ${revision.id}): nothing done`);
      const project = this.projects.get(run.project_id);
      if (!project?.tree) throw conflict('no_pipeline', `the project of run ${runId} has no pipeline any more: nothing done`);
      return createRun(tx, { projectId: run.project_id, seriesId: run.series_id, eventId: null, state: 'queued', reason: `${mode === 'rerun' ? 're-run' : 'retry'} of run ${runId} by ${by}`, steps: planSteps(buildSpecs(project.builds)) });
    });
    log.info({ run: created, retried: runId, by }, `run queued: a ${mode === 'rerun' ? 're-run' : 'retry'}`);
    // A stopping server leaves it queued: the next start resumes it.
    if (!this.stopped) this.gates.push(created);
    return created;
  }

  /** Where a run is in the lanes (null when it is in neither: done, cancelled, or not this process's). */
  position(runId: number): LanePosition | null {
    const local = this.gates.position(runId) ?? this.heavy.position(runId);
    // Being queued for the remote is waiting, whatever the local lane does.
    if (local || !this.remoteRuns.has(runId)) return local && this.deps.remote ? { ...local, state: 'waiting' } : local;
    const at = this.remoteRuns.get(runId)!;
    if (at.state === 'active') return { lane: at.lane, state: 'active', ahead: 0 };
    let ahead = 0;
    for (const [id, r] of this.remoteRuns) {
      if (id === runId) break;
      if (r.lane === at.lane && r.state === 'waiting') ahead++;
    }
    return { lane: at.lane, state: 'waiting', ahead };
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
    await this.deps.remote?.stop();
    this.touchAlive();
  }

  /** When the pipeline was last seen alive (its file's mtime: the last scan, or the stop), as an ISO time. */
  private lastAlive(): string | null {
    const st = fs.statSync(path.join(this.deps.dataDir, ALIVE_FILE), { throwIfNoEntry: false });
    return st ? new Date(st.mtimeMs).toISOString() : null;
  }

  private touchAlive(): void {
    try {
      const file = path.join(this.deps.dataDir, ALIVE_FILE);
      const now = new Date();
      if (fs.existsSync(file)) fs.utimesSync(file, now, now);
      else fs.writeFileSync(file, '');
    } catch (e) {
      this.deps.log.warn({ err: e }, 'could not touch the pipeline alive file');
    }
  }

  private isIdle(): boolean {
    return this.gates.idle && this.heavy.idle && !this.scanning && !this.remoteRuns.size;
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
    // The run's LAVA jobs are cancelled on the server: the step thread that followed them is stopped.
    this.deps.lava?.cancelRun(runId).catch((e: unknown) => this.deps.log.warn({ err: e, run: runId }, "could not cancel the run's LAVA jobs"));
    if (this.deps.remote) {
      this.remoteRuns.delete(runId);
      this.deps.remote.cancel(runId).catch((e: unknown) => this.deps.log.warn({ err: e, run: runId }, "could not cancel the run's queued jobs"));
    }
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

  /**
   * The gate lane: the pending gates as one unit, run here in a gate slot (a failing gate ends the run here), or queued
   * for the workers (the remote's gatesEnded takes it on from there).
   */
  private async runGates(runId: number, signal: AbortSignal): Promise<void> {
    const { db, remote } = this.deps;
    const opened = await this.open(runId, ['queued', 'running']);
    if (!opened) return;
    const { project, job } = opened;
    const rows = await runSteps(db, runId);
    const done = finishedResults(rows);
    const stoppedBefore = rows.some((r) => !stepSpec(r.step).perBuild && isStop(done.get(rowKey(r.step, r.job))));
    // With a remote, a gate left `running` by a restart is still to run (queueing it again adds nothing if its job is there).
    const toRun = (status: string) => status === 'pending' || (remote !== undefined && status === 'running');
    const pending = stoppedBefore ? [] : rows.filter((r) => toRun(r.status) && !stepSpec(r.step).perBuild).map((r) => r.step as GateName);
    if (!pending.length) return this.afterGates(runId, project, job, stoppedBefore);
    const unit = makeGateUnit({
      project,
      job,
      gates: pending,
      done: Object.fromEntries(STEP_NAMES.flatMap((n) => (done.has(n) ? [[n, done.get(n)!]] : []))),
      cpus: Math.max(1, Math.floor(this.deps.cpus / this.deps.gateRuns)),
    });
    if (remote) return this.enqueueRemote(runId, 'gates', () => remote.enqueueGates(unit, signal), signal, project, job);
    const host: GateHost = { dataDir: this.deps.dataDir, trees: this.deps.trees, pool: this.deps.gatePool, log: this.deps.log };
    const reporter: GateReporter = {
      started: (step, logPath) => this.stepStarted(project, job, runId, step, '', logPath),
      finished: (step, result) => this.recordStep(project, job, runId, step, '', result),
    };
    let outcome;
    try {
      outcome = await runGateUnit(unit, host, reporter, signal);
    } catch (e) {
      if (!signal.aborted) throw e;
      if (!this.stopped) await cancelRun(db, runId, (await getRun(db, runId))?.reason ?? 'cancelled');
      return;
    }
    // A failed gate's reply goes before the slot's reset (~0.4 s on the kernel); a run that goes on to the heavy lane
    // is queued there first too.
    try {
      if (!signal.aborted) await this.afterGates(runId, project, job, outcome.stopped);
    } finally {
      await outcome.release();
    }
  }

  /** After the gates: a stop (or nothing to build) ends the run with its reply, else it queues in the heavy lane. */
  private async afterGates(runId: number, project: PipelineProject, job: Job, stopped: boolean): Promise<void> {
    const rows = await runSteps(this.deps.db, runId);
    if (stopped || !rows.some((r) => stepSpec(r.step).perBuild && r.status === 'pending')) await this.finish(runId, project, job);
    else this.heavy.push(runId);
  }

  /** The heavy lane: the run's builds and boots as one portable unit, run here by the local host or queued for the workers. */
  private async runHeavy(runId: number, signal: AbortSignal): Promise<void> {
    const { db, log, remote } = this.deps;
    const opened = await this.open(runId, ['running']);
    if (!opened) return;
    const { project, job } = opened;
    const rows = await runSteps(db, runId);
    const done = finishedResults(rows);
    const host: HeavyHost = { dataDir: this.deps.dataDir, ccacheDir: this.deps.ccacheDir, ccacheRemote: this.deps.ccacheRemote ?? null, trees: this.deps.trees, pool: this.deps.pool, log, lava: this.deps.lava ?? null };
    const reporter: HeavyReporter = {
      started: (step, key, logPath) => this.stepStarted(project, job, runId, step, key, logPath),
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
        studentFiles: testdesc && !isStop(testdesc) && testdesc.status !== 'skip' ? outputList(testdesc.outputs?.files) : [],
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
    if (unit && remote) {
      if (!unit.builds.some((b) => !b.built || b.test === 'pending')) return this.finish(runId, project, job);
      return this.enqueueRemote(runId, 'builds', () => remote.enqueueHeavy(unit, signal), signal, project, job);
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

  /** A step starts: it is marked running and gets its pending check. */
  private async stepStarted(project: PipelineProject, job: Job, runId: number, step: StepName, key: string, logPath: string): Promise<void> {
    await this.deps.db.transaction().execute(async (tx) => {
      await markStepRunning(tx, runId, step, key, logPath);
      await writeCheck(tx, this.deps.urls, project.id, job, runId, step, key, { state: 'pending', summary: 'running' });
    });
  }

  // --- what the remote reports (serve --queue) ---

  private remoteEvents(): RemoteEvents {
    return {
      active: (runId, lane) => {
        const at = this.remoteRuns.get(runId);
        if (at?.lane === lane) at.state = 'active';
      },
      started: async (runId, step, key, worker) => {
        const c = await this.remoteContext(runId);
        if (!c) return;
        const logPath = this.logPath(runId, step, key);
        await this.deps.db.transaction().execute(async (tx) => {
          // Only the first start writes the pending check: a job taken over by another worker renames the worker.
          if ((await startStepOn(tx, runId, step, key, logPath, worker)) === 'first') {
            await writeCheck(tx, this.deps.urls, c.project.id, c.job, runId, step, key, { state: 'pending', summary: 'running' });
          }
        });
        const at = this.remoteRuns.get(runId);
        if (at) at.state = 'active';
      },
      finished: async (runId, r) => {
        const c = await this.remoteContext(runId);
        if (c) await this.recordRemote(c.project, c.job, runId, r);
      },
      gatesEnded: (runId, end) =>
        this.laneEnded(runId, 'gates', end.results, async (c) => {
          const lost = end.lost[0]?.reason;
          const rows = await runSteps(this.deps.db, runId);
          const done = finishedResults(rows);
          let stopped = rows.some((r) => !stepSpec(r.step).perBuild && isStop(done.get(rowKey(r.step, r.job))));
          // A gate job that gave up, or came back without a gate's result: our error on the first gate left (the gates
          // after a failed one are never run: they stay pending and the run's end skips them).
          const left = rows.find((r) => !stepSpec(r.step).perBuild && (r.status === 'pending' || r.status === 'running'));
          if (left && !stopped) {
            const logPath = this.logPath(runId, left.step, '');
            const why = lost ? `the gate job failed on the workers: ${lost}` : "the gate job ended without this gate's result";
            await this.recordStep(c.project, c.job, runId, left.step as StepName, '', errorResult(fs.existsSync(logPath) ? logPath : '', why));
            stopped = true;
          }
          await this.afterGates(runId, c.project, c.job, stopped);
        }),
      heavyEnded: (runId, end) =>
        this.laneEnded(runId, 'builds', end.results, async (c) => {
          // A build or boot whose job gave up (or came back empty): our error, said with the job's reason.
          for (const row of await runSteps(this.deps.db, runId)) {
            if (!stepSpec(row.step).perBuild || (row.status !== 'pending' && row.status !== 'running')) continue;
            const lost = end.lost.find((l) => l.key === row.job && l.step === row.step) ?? end.lost.find((l) => l.key === row.job);
            const logPath = this.logPath(runId, row.step, row.job);
            const why = lost ? `the ${row.step} job failed on the workers: ${lost.reason}` : `the ${row.step} job ended without a result`;
            await this.recordStep(c.project, c.job, runId, row.step as StepName, row.job, errorResult(fs.existsSync(logPath) ? logPath : '', why));
          }
          await this.finish(runId, c.project, c.job);
        }),
    };
  }

  /** A lane's remote unit has ended: its results written, then `then` with the run's context (none: run over). */
  private async laneEnded(
    runId: number,
    lane: 'gates' | 'builds',
    results: readonly RemoteStepResult[],
    then: (c: { project: PipelineProject; job: Job }) => Promise<void>,
  ): Promise<void> {
    if (this.remoteRuns.get(runId)?.lane === lane) this.remoteRuns.delete(runId);
    try {
      const c = await this.remoteContext(runId);
      if (!c) return;
      for (const r of results) await this.recordRemote(c.project, c.job, runId, r);
      await then(c);
    } finally {
      this.forget(runId);
    }
  }

  /**
   * Queues a lane's unit with the remote. The run counts as waiting there from before the add (its end may be reported
   * before the add returns: a run resumed after a restart whose jobs were already done). While the queue is unreachable
   * the add waits; an add the queue refuses ends the run with our error, said in the first step left.
   */
  private async enqueueRemote(runId: number, lane: RemoteLane, add: () => Promise<void>, signal: AbortSignal, project: PipelineProject, job: Job): Promise<void> {
    this.remoteRuns.delete(runId);
    this.remoteRuns.set(runId, { lane, state: 'waiting' });
    try {
      await add();
    } catch (e) {
      if (this.remoteRuns.get(runId)?.lane === lane) this.remoteRuns.delete(runId);
      if (signal.aborted) return;
      this.deps.log.error({ err: e, run: runId, lane }, 'could not queue the run for the workers');
      const why = `the run could not be queued for the workers: ${message(e)}`;
      for (const row of await runSteps(this.deps.db, runId)) {
        if (row.status !== 'pending' || stepSpec(row.step).perBuild !== (lane === 'builds')) continue;
        await this.recordStep(project, job, runId, row.step as StepName, row.job, errorResult('', why));
        // A gate's error stops the run: the gates after it are never run.
        if (lane === 'gates') break;
      }
      await this.finish(runId, project, job);
    }
  }

  /** A running run's project and job, for what the remote reports; null when the run has ended or was cancelled. */
  private async remoteContext(runId: number): Promise<{ project: PipelineProject; job: Job } | null> {
    const run = await getRun(this.deps.db, runId);
    if (run?.state !== 'running') return null;
    const project = this.projects.get(run.project_id);
    if (!project) return null;
    let job = this.jobs.get(runId);
    if (!job) {
      job = await buildJob(this.deps.db, this.deps.source, runId, project, run.series_id);
      if (this.position(runId)) this.jobs.set(runId, job);
    }
    return { project, job };
  }

  /** A remote step's result: written once, with this server's log path and the worker's name; a skipped boot gets no check. */
  private async recordRemote(project: PipelineProject, job: Job, runId: number, r: RemoteStepResult): Promise<void> {
    const logPath = this.logPath(runId, r.step, r.key);
    const result = { ...r.result, logPath };
    if (r.step === 'test' && result.status === 'skip') {
      await finishStep(this.deps.db, runId, r.step, r.key, { status: 'skip', summary: result.summary, findings: [], outputs: null, childMs: 0, worker: r.worker, logPath });
      return;
    }
    await this.recordStep(project, job, runId, r.step, r.key, result, { worker: r.worker });
  }

  /** After a remote lane's end: a run in neither lane nor the remote forgets its job. */
  private forget(runId: number): void {
    if (!this.position(runId)) this.jobs.delete(runId);
    this.settle();
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
  private async recordStep(project: PipelineProject, job: Job, runId: number, step: StepName, key: string, result: StepResult, remote?: { worker: string | null }): Promise<void> {
    const wrote = await this.deps.db.transaction().execute(async (tx) => {
      const first = await finishStep(tx, runId, step, key, {
        status: result.status,
        summary: result.summary,
        findings: result.findings,
        outputs: result.outputs ?? null,
        childMs: result.childMs,
        ...(remote ? { worker: remote.worker, logPath: result.logPath } : {}),
      });
      if (first) {
        const check = checkFor(result);
        if (check) await writeCheck(tx, this.deps.urls, project.id, job, runId, step, key, check);
        else await withdrawPendingCheck(tx, this.deps.urls, job, runId, step, key);
      }
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
}

/** Every gate finished and none failed or errored: what is left is the heavy lane's. */
function gatesPassed(rows: RunStepRow[]): boolean {
  const gates = rows.filter((r) => !stepSpec(r.step).perBuild);
  return gates.every((r) => isFinished(r) && r.status !== 'fail' && r.status !== 'error' && r.status !== 'cancelled');
}

function finishedResults(rows: RunStepRow[]): Map<string, StepResult> {
  return new Map(rows.filter(isFinished).map((s) => [rowKey(s.step, s.job), stepResultOf(s)]));
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

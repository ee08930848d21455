// The CI engine: turns series-completed events into runs, runs their steps in the worker pool one after another,
// stores each step's outcome and Patchwork check, cancels an older revision's run when a newer one completes,
// resumes unfinished runs after a restart, and queues exactly one reply per run in the transaction that ends it.
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
  lastCompletedEvent,
  markStepRunning,
  newerRevision,
  olderRevisions,
  readCursor,
  resetSteps,
  runSteps,
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
import { STEPS, stepSpec } from './steps.js';
import type { Job, StepName, StepResult } from './types.js';

/** What the engine needs of tree management (src/pipeline/tree.service.ts). */
export type TreeAccess = Pick<TreeService, 'ensureFresh' | 'mirrorPath' | 'resolve' | 'lease'>;

export interface PipelineDeps {
  db: Db;
  projects: PipelineProject[];
  trees: TreeAccess;
  pool: StepPool;
  dataDir: string;
  urls: PublicUrls;
  hostname: string;
  /** Runs at once. */
  runs: number;
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

  /** Resumes unfinished runs, then follows new series-completed events. */
  async start(): Promise<void> {
    const { db } = this.deps;
    // A database that had series before the pipeline existed starts after them: history gets no runs.
    const hasCursor = (await db.selectFrom('pipeline_cursor').select('name').executeTakeFirst()) !== undefined;
    if (!hasCursor) await writeCursor(db, await lastCompletedEvent(db));
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
              await createRun(tx, { projectId: ev.projectId, seriesId: ev.seriesId, eventId: ev.eventId, state: 'cancelled', reason: `superseded by v${newer.version} (series ${newer.id}) before it started`, steps: STEPS.map((s) => s.name) });
            } else {
              const older = await olderRevisions(tx, ev.seriesId);
              const version = (await tx.selectFrom('series').select('version').where('id', '=', ev.seriesId).executeTakeFirstOrThrow()).version;
              for (const run of await activeRuns(tx, older)) {
                await cancelRun(tx, run.id, `superseded by v${version} (series ${ev.seriesId})`);
                cancelled.push(run.id);
              }
              created = await createRun(tx, { projectId: ev.projectId, seriesId: ev.seriesId, eventId: ev.eventId, state: 'queued', steps: STEPS.map((s) => s.name) });
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

  private logPath(runId: number, step: string): string {
    const dir = path.join(this.deps.dataDir, 'logs', 'runs', String(runId));
    fs.mkdirSync(dir, { recursive: true });
    return path.join(dir, `${step}.log`);
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
    const steps = await runSteps(db, runId);
    const results: Partial<Record<StepName, StepResult>> = Object.fromEntries(steps.filter(isFinished).map((s) => [s.step, stepResultOf(s)]));
    let lease: Lease | null = null;
    let stoppedAt: { step: StepName; result: StepResult } | null = null;
    try {
      for (const row of steps) {
        if (row.status !== 'pending') continue;
        const spec = stepSpec(row.step);
        const logPath = this.logPath(runId, spec.name);
        fs.writeFileSync(logPath, '');
        const timeoutMs = project.timeouts[spec.name];
        await db.transaction().execute(async (tx) => {
          await markStepRunning(tx, runId, spec.name, logPath);
          await writeCheck(tx, this.deps.urls, project.id, job, runId, spec, { state: 'pending', summary: 'running' });
        });
        let result: StepResult;
        if (spec.needsTree && !lease) {
          const leased = await this.leaseTree(project, job, runId, logPath, signal).catch((e: unknown) => {
            if (signal.aborted) throw e;
            return errorResult(logPath, `the project's tree is not available: ${message(e)}`);
          });
          if ('status' in leased) result = leased;
          else {
            lease = leased;
            result = await this.runStep(spec.name, job, lease.path, results, logPath, timeoutMs, signal);
            // Preparing the worktree is git's time too: it counts with the step that needed it.
            result = { ...result, childMs: result.childMs + leased.childMs };
          }
        } else {
          result = await this.runStep(spec.name, job, lease?.path ?? '', results, logPath, timeoutMs, signal);
        }
        results[spec.name] = result;
        await db.transaction().execute(async (tx) => {
          await finishStep(tx, runId, spec.name, { status: result.status, summary: result.summary, findings: result.findings, outputs: result.outputs ?? null, childMs: result.childMs });
          await writeCheck(tx, this.deps.urls, project.id, job, runId, spec, checkFor(result));
        });
        log.info({ run: runId, step: spec.name, status: result.status }, result.summary);
        if (result.status === 'fail' || result.status === 'error') {
          stoppedAt = { step: spec.name, result };
          break;
        }
      }
    } catch (e) {
      if (signal.aborted) {
        await lease?.release().catch(() => {});
        lease = null;
        if (!this.stopped) await cancelRun(db, runId, (await getRun(db, runId))?.reason ?? 'cancelled');
        return;
      }
      throw e;
    } finally {
      await lease?.release().catch((e: unknown) => log.warn({ err: e, run: runId }, 'could not reset the worktree'));
    }
    if (signal.aborted) return;
    const outcome: RunOutcome = stoppedAt?.result.status === 'error' ? 'error' : stoppedAt ? 'fail' : Object.values(results).some((r) => r?.status === 'warn') ? 'warn' : 'pass';
    const base = (results.apply?.outputs?.base as string | undefined) ?? null;
    // A gate failed before apply: the report still names the commit the series would have gone on.
    const tip = base ?? (project.tree ? await this.deps.trees.resolve(project.slug, project.tree.branch).catch(() => null) : null);
    const mailIds = await db.transaction().execute(async (tx) => {
      const current = await getRun(tx, runId);
      if (current?.state !== 'running') return [];
      const queued = await queueReport(tx, { project, job, runId, outcome, results, stoppedAt: stoppedAt?.step ?? null, urls: this.deps.urls, hostname: this.deps.hostname, base: tip });
      await finishRun(tx, runId, { outcome, base, reportMsgid: queued.msgid, reason: stoppedAt?.result.status === 'error' ? stoppedAt.result.summary : null });
      return queued.mailIds;
    });
    this.deps.delivered(mailIds);
  }

  private async leaseTree(project: PipelineProject, job: Job, runId: number, logPath: string, signal: AbortSignal): Promise<Lease> {
    const { trees } = this.deps;
    if (!project.tree) throw new Error(`${path.basename(project.file)} has no tree`);
    const mirror = await trees.ensureFresh(project.slug, project.tree.max_age);
    if (mirror.warning) fs.appendFileSync(logPath, `patchbay: ${mirror.warning}\n`);
    const base = (job.series.baseCommit && (await trees.resolve(project.slug, job.series.baseCommit))) || (await trees.resolve(project.slug, project.tree.branch));
    if (!base) throw new Error(`branch ${project.tree.branch} not found in ${project.tree.url}`);
    fs.appendFileSync(logPath, `worktree for run ${runId} at ${base}\n`);
    return trees.lease(project.slug, base, runId, { signal });
  }

  private async runStep(
    step: StepName,
    job: Job,
    worktree: string,
    previous: Partial<Record<StepName, StepResult>>,
    logPath: string,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<StepResult> {
    const mirror = job.project ? this.mirrorOf(job.project.slug) : '';
    const ctx = { logPath, mirror, worktree, previous, timeoutMs };
    const guard = new AbortController();
    const onAbort = () => guard.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => guard.abort(new Error('timeout')), timeoutMs + GRACE_MS);
    try {
      return await this.deps.pool.run({ step, job, ctx }, guard.signal);
    } catch (e) {
      if (signal.aborted) throw e;
      if (guard.signal.aborted) return errorResult(logPath, `${step} did not finish within ${Math.round(timeoutMs / 1000)} s`);
      return errorResult(logPath, `${step} crashed: ${message(e)}`);
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

// The admin's hands on runs (issue 12, "cancel/retry buttons"): the runs board of /admin/queue/ (live runs with their
// lane, current steps and workers; recent runs that ended in error or were cancelled) and the two actions. They act on
// runs, the server's database being the one source of truth: a cancel is the engine's (steps stopped, queued jobs taken
// out, BullMQ's cancel mark set, no reply), a retry is a new run of the same series, made once. The same in-process
// and with --queue: the lanes and BullMQ are the engine's business.
import type { Db } from '../db/database.js';
import { getRun } from '../db/pipeline.repository.js';
import type { RunOutcome, RunState } from '../db/pipeline-schema.js';
import { boardRun, liveRuns, openSteps, retryableRuns, type BoardRunRow, type BoardStepRow } from '../db/run-board.repository.js';
import { conflict, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import type { LanePosition } from './lane.js';

/** Live runs listed at most (a deadline burst has hundreds: the board says how many more). */
export const BOARD_LIVE = 200;
/** Ended runs listed (newest first). */
export const BOARD_ENDED = 50;

/** What the board needs of the engine (PipelineService). */
export interface RunControl {
  cancel(runId: number, reason: string): Promise<boolean>;
  retry(runId: number, by: string, mode?: 'retry' | 'rerun'): Promise<number>;
  position(runId: number): LanePosition | null;
}

export interface BoardRun {
  id: number;
  project: { id: number; slug: string; name: string } | null;
  series: { id: number; name: string | null; version: number; submitter: string };
  state: RunState;
  outcome: RunOutcome | null;
  reason: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Where a live run is in the lanes (null: ended, or between lanes). */
  queue: LanePosition | null;
  /** The steps running now, each with who runs it. */
  current: { step: string; job: string; worker: string | null }[];
  /** The workers of the running steps (this server's name for a step run in-process). */
  workers: string[];
  /** The run of the same series made after this one (its retry), or null. */
  newerRun: number | null;
  /** A completed newer revision of the series exists: its run counts, this one is not retried. */
  superseded: boolean;
  /** Which button the run gets. */
  canCancel: boolean;
  canRetry: boolean;
}

export interface RunBoard {
  live: BoardRun[];
  /** Live runs in all (more than listed in a burst). */
  liveTotal: number;
  ended: BoardRun[];
}

export interface CancelResult {
  run: number;
  state: 'cancelled';
  reason: string;
}

export interface RetryResult {
  /** The new run. */
  run: number;
  retried: number;
  series: number;
  state: 'queued';
}

export interface RunAdminService {
  board(): Promise<RunBoard>;
  /** One run as the board shows it (the run page's buttons); 404 when there is none. */
  run(runId: number): Promise<BoardRun>;
  /**
   * 404 for no such run, 409 when it has already ended. `by` is the username, written in the reason with its role
   * (an admin's from the queue page; an admin's or a maintainer's from the series page, through the API).
   */
  cancel(runId: number, by: string, role?: 'admin' | 'maintainer'): Promise<CancelResult>;
  /** 404 for no such run, 409 when it is not retried (live, a verdict, already retried, superseded). */
  retry(runId: number, by: string): Promise<RetryResult>;
  /** A new run of an ended run's series revision, whatever its outcome: 409 when live, not the latest, or superseded. */
  rerun(runId: number, by: string): Promise<RetryResult>;
}

export interface RunAdminDeps {
  db: Db;
  control: RunControl;
  /** The configured projects; those with a tree have a pipeline (a retry needs one). */
  projects: readonly { id: number; slug: string; name: string; tree?: unknown }[];
  /** The worker name of steps run in this process (the server's --hostname); null with --queue (workers name themselves). */
  localWorker: string | null;
  log: Logger;
}

export function createRunAdminService(deps: RunAdminDeps): RunAdminService {
  const { db, control } = deps;
  const projects = new Map(deps.projects.map((p) => [p.id, { id: p.id, slug: p.slug, name: p.name }]));
  const piped = new Set(deps.projects.filter((p) => p.tree).map((p) => p.id));

  const view = (r: BoardRunRow, steps: BoardStepRow[]): BoardRun => {
    const live = r.state === 'queued' || r.state === 'running';
    const current = steps.filter((s) => s.run_id === r.id && s.status === 'running').map((s) => ({ step: s.step, job: s.job, worker: s.worker ?? deps.localWorker }));
    const retryable = (r.state === 'cancelled' || (r.state === 'done' && r.outcome === 'error')) && r.newer_run === null && !r.superseded;
    return {
      id: r.id,
      project: projects.get(r.project_id) ?? null,
      series: { id: r.series_id, name: r.series_name, version: r.version, submitter: r.submitter_name ? `${r.submitter_name} <${r.submitter_email}>` : r.submitter_email },
      state: r.state,
      outcome: r.outcome,
      reason: r.reason,
      createdAt: r.created_at,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      queue: live ? control.position(r.id) : null,
      current,
      workers: [...new Set(current.flatMap((c) => (c.worker ? [c.worker] : [])))],
      newerRun: r.newer_run,
      superseded: r.superseded === 1,
      canCancel: live,
      canRetry: retryable && piped.has(r.project_id),
    };
  };

  return {
    async board() {
      const [live, ended] = await Promise.all([liveRuns(db, BOARD_LIVE), retryableRuns(db, BOARD_ENDED)]);
      const steps = await openSteps(db, live.rows.map((r) => r.id));
      return { live: live.rows.map((r) => view(r, steps)), liveTotal: live.total, ended: ended.map((r) => view(r, [])) };
    },

    async run(runId) {
      const r = await boardRun(db, runId);
      if (!r) throw notFound('no_such_run', `no run ${runId}`);
      return view(r, await openSteps(db, [runId]));
    },

    async cancel(runId, by, role = 'admin') {
      const reason = `cancelled by ${role} ${by}`;
      // The engine's cancel writes only a live run: one that has ended keeps its end and its reply.
      if (!(await control.cancel(runId, reason))) {
        const run = await getRun(db, runId);
        if (!run) throw notFound('no_such_run', `no run ${runId}`);
        throw conflict('run_ended', `run ${runId} has already ended (${endText(run.state, run.outcome)}): nothing to cancel`);
      }
      deps.log.info({ run: runId, by, role }, `run cancelled by ${role === 'admin' ? 'an admin' : 'a maintainer'}`);
      return { run: runId, state: 'cancelled', reason };
    },

    async retry(runId, by) {
      const created = await control.retry(runId, by);
      const run = (await getRun(db, created))!;
      return { run: created, retried: runId, series: run.series_id, state: 'queued' };
    },

    async rerun(runId, by) {
      const created = await control.retry(runId, by, 'rerun');
      const run = (await getRun(db, created))!;
      deps.log.info({ run: created, rerun: runId, by }, 'run queued: a re-run');
      return { run: created, retried: runId, series: run.series_id, state: 'queued' };
    },
  };
}

function endText(state: RunState, outcome: RunOutcome | null): string {
  return state === 'done' ? `done: ${outcome ?? 'no outcome'}` : state;
}

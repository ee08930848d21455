// SQL for the admin's runs board (/admin/queue/, /runs/R/): the live runs and the recent ones an admin may retry, each
// with its series, its submitter, the run of the same series made after it and whether a newer revision exists.
import { sql } from 'kysely';
import type { DbOrTx } from './database.js';
import type { RunOutcome, RunState, RunStepStatus } from './pipeline-schema.js';

export interface BoardRunRow {
  id: number;
  project_id: number;
  series_id: number;
  series_name: string | null;
  version: number;
  submitter_name: string | null;
  submitter_email: string;
  state: RunState;
  outcome: RunOutcome | null;
  reason: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** The first run of the same series made after this one (a retry, a new event), or null. */
  newer_run: number | null;
  /** 1 when a completed newer revision of the series exists (its run is the one that counts). */
  superseded: 0 | 1;
}

export interface BoardStepRow {
  run_id: number;
  step: string;
  job: string;
  status: RunStepStatus;
  worker: string | null;
  started_at: string | null;
}

function boardQuery(db: DbOrTx) {
  return db
    .selectFrom('runs as r')
    .innerJoin('series', 'series.id', 'r.series_id')
    .innerJoin('people', 'people.id', 'series.submitter_id')
    .select([
      'r.id',
      'r.project_id',
      'r.series_id',
      'series.name as series_name',
      'series.version',
      'people.name as submitter_name',
      'people.email as submitter_email',
      'r.state',
      'r.outcome',
      'r.reason',
      'r.created_at',
      'r.started_at',
      'r.finished_at',
    ])
    .select(sql<number | null>`(select min(n.id) from runs n where n.series_id = r.series_id and n.id > r.id)`.as('newer_run'))
    .select(
      sql<0 | 1>`exists (select 1 from revisions v join series s on s.id = v.series_id where v.previous_id = r.series_id and s.completed = 1)`.as('superseded'),
    );
}

/** Queued and running runs, oldest first (at most `limit`), and how many there are in all. */
export async function liveRuns(db: DbOrTx, limit: number): Promise<{ rows: BoardRunRow[]; total: number }> {
  const rows: BoardRunRow[] = await boardQuery(db).where('r.state', 'in', ['queued', 'running']).orderBy('r.id').limit(limit).execute();
  const total = await db
    .selectFrom('runs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', 'in', ['queued', 'running'])
    .executeTakeFirstOrThrow();
  return { rows, total: Number(total.n) };
}

/** The latest runs that ended in `error` (our side failed) or were cancelled, newest first. */
export async function retryableRuns(db: DbOrTx, limit: number): Promise<BoardRunRow[]> {
  return boardQuery(db)
    .where((eb) => eb.or([eb('r.state', '=', 'cancelled'), eb.and([eb('r.state', '=', 'done'), eb('r.outcome', '=', 'error')])]))
    .orderBy('r.id', 'desc')
    .limit(limit)
    .execute();
}

/** One run as the board shows it (its page's buttons), or undefined. */
export async function boardRun(db: DbOrTx, runId: number): Promise<BoardRunRow | undefined> {
  return boardQuery(db).where('r.id', '=', runId).executeTakeFirst();
}

/** The unfinished steps of these runs (running first, then in run order): what each run is on. */
export async function openSteps(db: DbOrTx, runIds: number[]): Promise<BoardStepRow[]> {
  if (!runIds.length) return [];
  return db
    .selectFrom('run_steps')
    .select(['run_id', 'step', 'job', 'status', 'worker', 'started_at'])
    .where('run_id', 'in', runIds)
    .where('status', 'in', ['pending', 'running'])
    .orderBy('run_id')
    .orderBy('seq')
    .orderBy('job')
    .execute();
}

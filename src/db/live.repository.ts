// SQL of the series page's live updates: whether a series exists, and a cheap fingerprint of its pipeline progress.
import { sql } from 'kysely';
import type { DbOrTx } from './database.js';

export interface PipelineFingerprint {
  runs: number;
  lastRun: number | null;
  state: string | null;
  outcome: string | null;
  steps: number;
  running: number;
  finished: number;
  /** The last run's steps as "step/job=status", in key order: any status change changes it. */
  statuses: string;
}

export async function seriesExists(db: DbOrTx, id: number): Promise<boolean> {
  return (await db.selectFrom('series').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}

/** One statement over the runs_series index and the run_steps primary key: runs of the series and its last run's steps. */
export async function pipelineFingerprint(db: DbOrTx, seriesId: number): Promise<PipelineFingerprint> {
  const r = await sql<{ runs: number; last: number | null; state: string | null; outcome: string | null; steps: number; running: number | null; finished: number; statuses: string | null }>`
    with last as (select id, state, outcome from runs where series_id = ${seriesId} order by id desc limit 1)
    select (select count(*) from runs where series_id = ${seriesId}) as runs,
           (select id from last) as last,
           (select state from last) as state,
           (select outcome from last) as outcome,
           count(s.run_id) as steps,
           sum(s.status = 'running') as running,
           count(s.finished_at) as finished,
           group_concat(s.step || '/' || s.job || '=' || s.status || '@' || coalesce(s.worker, ''), ',') as statuses
    from (select * from run_steps where run_id = (select id from last) order by step, job) as s`.execute(db);
  const row = r.rows[0]!;
  return {
    runs: Number(row.runs),
    lastRun: row.last,
    state: row.state,
    outcome: row.outcome,
    steps: Number(row.steps),
    running: Number(row.running ?? 0),
    finished: Number(row.finished),
    statuses: row.statuses ?? '',
  };
}

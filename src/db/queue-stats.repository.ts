// SQL for the queue's in-process view and the step-duration metrics: step rows counted by step, build key, status
// and whether their run is still live; runs by state and outcome; finished steps' durations.
import { sql } from 'kysely';
import type { DbOrTx } from './database.js';
import type { RunOutcome, RunState, RunStepStatus } from './pipeline-schema.js';

export interface StepCount {
  step: string;
  job: string;
  status: RunStepStatus;
  /** 1 when the step's run is queued or running. */
  live: 0 | 1;
  n: number;
}

export async function stepCounts(db: DbOrTx): Promise<StepCount[]> {
  const rows = await db
    .selectFrom('run_steps as s')
    .innerJoin('runs as r', 'r.id', 's.run_id')
    .select(['s.step', 's.job', 's.status'])
    .select(sql<0 | 1>`r.state in ('queued', 'running')`.as('live'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .groupBy(['s.step', 's.job', 's.status', 'live'])
    .execute();
  return rows.map((r) => ({ ...r, live: r.live ? 1 : 0, n: Number(r.n) }));
}

export async function runCounts(db: DbOrTx): Promise<{ state: RunState; outcome: RunOutcome | null; n: number }[]> {
  const rows = await db
    .selectFrom('runs')
    .select(['state', 'outcome'])
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .groupBy(['state', 'outcome'])
    .execute();
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/** The running steps: which run and step each is (the in-process worker's current job). */
export async function runningSteps(db: DbOrTx): Promise<{ run_id: number; step: string; job: string; started_at: string | null }[]> {
  return db
    .selectFrom('run_steps as s')
    .innerJoin('runs as r', 'r.id', 's.run_id')
    .select(['s.run_id', 's.step', 's.job', 's.started_at'])
    .where('s.status', '=', 'running')
    .where('r.state', '=', 'running')
    .orderBy('s.started_at')
    .execute();
}

/** Seconds each finished step took (from its start to its end), by step and build key. */
export async function stepDurations(db: DbOrTx): Promise<{ step: string; job: string; seconds: number }[]> {
  const rows = await db
    .selectFrom('run_steps')
    .select(['step', 'job'])
    .select(sql<number>`(julianday(finished_at) - julianday(started_at)) * 86400.0`.as('seconds'))
    .where('finished_at', 'is not', null)
    .where('started_at', 'is not', null)
    .where('status', 'not in', ['pending', 'running', 'cancelled', 'skip'])
    .execute();
  return rows.map((r) => ({ step: r.step, job: r.job, seconds: Math.max(0, Number(r.seconds)) }));
}

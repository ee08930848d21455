// SQL for the CI pipeline: runs and their steps, the cursor over series-completed events, and what a run reads of
// its series (patches, people, the mail it answers).
import { sql } from 'kysely';
import type { DbOrTx } from './database.js';
import { nowIso } from './database.js';
import type { RunOutcome, RunRow, RunState, RunStepRow, RunStepStatus } from './pipeline-schema.js';

const CURSOR = 'series-completed';

/** Whether the pipeline has followed events on this database before (no cursor yet: it starts after its history). */
export async function hasCursor(db: DbOrTx): Promise<boolean> {
  return (await db.selectFrom('pipeline_cursor').select('name').where('name', '=', CURSOR).executeTakeFirst()) !== undefined;
}

export async function readCursor(db: DbOrTx): Promise<number> {
  const row = await db.selectFrom('pipeline_cursor').select('event_id').where('name', '=', CURSOR).executeTakeFirst();
  return row?.event_id ?? 0;
}

export async function writeCursor(db: DbOrTx, eventId: number): Promise<void> {
  await db
    .insertInto('pipeline_cursor')
    .values({ name: CURSOR, event_id: eventId })
    .onConflict((oc) => oc.column('name').doUpdateSet({ event_id: eventId }))
    .execute();
}

/**
 * series-completed events after the cursor, with whether the series came by SMTP (an imported archive's series are
 * history: no run, no mail to its authors).
 */
export async function completedSince(db: DbOrTx, afterId: number, limit: number): Promise<{ eventId: number; seriesId: number; projectId: number; live: boolean }[]> {
  const rows = await db
    .selectFrom('events')
    .select(['events.id', 'events.series_id', 'events.project_id'])
    .select(
      sql<number>`exists (select 1 from patches p join mails m on m.id = p.mail_id where p.series_id = events.series_id and m.source = 'smtp')`.as('live'),
    )
    .where('events.id', '>', afterId)
    .where('events.category', '=', 'series-completed')
    .orderBy('events.id')
    .limit(limit)
    .execute();
  return rows.filter((r) => r.series_id !== null).map((r) => ({ eventId: r.id, seriesId: r.series_id!, projectId: r.project_id, live: r.live === 1 }));
}

/** The last series-completed event id (the cursor starts there on a database that had series before the pipeline). */
export async function lastCompletedEvent(db: DbOrTx): Promise<number> {
  const row = await db.selectFrom('events').select((eb) => eb.fn.max('id').as('id')).where('category', '=', 'series-completed').executeTakeFirst();
  return Number(row?.id ?? 0);
}

/** Older revisions of a series (what it revises, transitively), nearest first. */
export async function olderRevisions(db: DbOrTx, seriesId: number): Promise<number[]> {
  const r = await sql<{ id: number }>`
    with recursive older(id, depth) as (
      select previous_id, 1 from revisions where series_id = ${seriesId}
      union select r.previous_id, o.depth + 1 from revisions r join older o on r.series_id = o.id where o.depth < 50
    ) select id from older order by depth`.execute(db);
  return r.rows.map((x) => x.id);
}

export async function seriesVersion(db: DbOrTx, seriesId: number): Promise<number> {
  return (await db.selectFrom('series').select('version').where('id', '=', seriesId).executeTakeFirstOrThrow()).version;
}

/** The newest revision that revises this series, if any (a run of an already-revised series is pointless). */
export async function newerRevision(db: DbOrTx, seriesId: number): Promise<{ id: number; version: number } | undefined> {
  return db
    .selectFrom('revisions')
    .innerJoin('series', 'series.id', 'revisions.series_id')
    .select(['series.id', 'series.version'])
    .where('revisions.previous_id', '=', seriesId)
    .where('series.completed', '=', 1)
    .orderBy('series.id', 'desc')
    .executeTakeFirst();
}

export interface NewRun {
  projectId: number;
  seriesId: number;
  eventId: number | null;
  state: RunState;
  reason?: string | null;
  /** In run order; `job` names the build of a per-build step ('' for a whole-series step). */
  steps: { step: string; job: string }[];
}

export async function createRun(db: DbOrTx, r: NewRun): Promise<number> {
  const now = nowIso();
  const run = await db
    .insertInto('runs')
    .values({ project_id: r.projectId, series_id: r.seriesId, event_id: r.eventId, state: r.state, reason: r.reason ?? null, created_at: now, finished_at: r.state === 'cancelled' ? now : null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const status: RunStepStatus = r.state === 'cancelled' ? 'cancelled' : 'pending';
  if (r.steps.length) {
    await db
      .insertInto('run_steps')
      .values(r.steps.map(({ step, job }, seq) => ({ run_id: run.id, step, job, seq, status, summary: null, findings: null, outputs: null, log_path: null, child_ms: null, started_at: null, finished_at: null, worker: null })))
      .execute();
  }
  return run.id;
}

export async function activeRuns(db: DbOrTx, seriesIds?: number[]): Promise<RunRow[]> {
  let q = db.selectFrom('runs').selectAll().where('state', 'in', ['queued', 'running']);
  if (seriesIds) {
    if (!seriesIds.length) return [];
    q = q.where('series_id', 'in', seriesIds);
  }
  return q.orderBy('id').execute();
}

export async function getRun(db: DbOrTx, id: number): Promise<RunRow | undefined> {
  return db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function runsOfSeries(db: DbOrTx, seriesId: number): Promise<RunRow[]> {
  return db.selectFrom('runs').selectAll().where('series_id', '=', seriesId).orderBy('id').execute();
}

export async function runSteps(db: DbOrTx, runId: number): Promise<RunStepRow[]> {
  return db.selectFrom('run_steps').selectAll().where('run_id', '=', runId).orderBy('seq').orderBy('job').execute();
}

/** Cancels a queued or running run and its unfinished steps; false when the run was not live (ended, or no such run). */
export async function cancelRun(db: DbOrTx, runId: number, reason: string): Promise<boolean> {
  const now = nowIso();
  const r = await db.updateTable('runs').set({ state: 'cancelled', reason, finished_at: now }).where('id', '=', runId).where('state', 'in', ['queued', 'running']).executeTakeFirst();
  await db.updateTable('run_steps').set({ status: 'cancelled', finished_at: now }).where('run_id', '=', runId).where('status', 'in', ['pending', 'running']).execute();
  return Number(r.numUpdatedRows) > 0;
}

/** The first run of the series made after this one (a retry, or a run of a new event), if any. */
export async function newerRunOfSeries(db: DbOrTx, seriesId: number, afterRunId: number): Promise<{ id: number; state: RunState } | undefined> {
  return db.selectFrom('runs').select(['id', 'state']).where('series_id', '=', seriesId).where('id', '>', afterRunId).orderBy('id').executeTakeFirst();
}

export async function startRun(db: DbOrTx, runId: number): Promise<void> {
  await db.updateTable('runs').set({ state: 'running', started_at: nowIso() }).where('id', '=', runId).execute();
}

/**
 * A running run resumed after a restart: the time from when the run last moved (its start, a step's start or end, or
 * the server's last sign of life `aliveAt` if later) to `now` is added to its paused_ms, so its duration does not count
 * the downtime. Returns the milliseconds added.
 */
export async function markResumed(db: DbOrTx, runId: number, now: string, aliveAt: string | null): Promise<number> {
  const run = await db.selectFrom('runs').select(['started_at', 'paused_ms']).where('id', '=', runId).executeTakeFirst();
  if (!run?.started_at) return 0;
  const steps = await db.selectFrom('run_steps').select(['started_at', 'finished_at']).where('run_id', '=', runId).execute();
  const times = [run.started_at, aliveAt, ...steps.flatMap((s) => [s.started_at, s.finished_at])].filter((t): t is string => t !== null).map((t) => Date.parse(t));
  const paused = Math.max(0, Date.parse(now) - Math.max(...times));
  await db.updateTable('runs').set({ paused_ms: (run.paused_ms ?? 0) + paused, resumed_at: now }).where('id', '=', runId).execute();
  return paused;
}

/** After a restart: the steps cut short start again; the finished ones keep their results. */
export async function resetRunningSteps(db: DbOrTx, runId: number): Promise<void> {
  await db
    .updateTable('run_steps')
    .set({ status: 'pending', summary: null, findings: null, outputs: null, child_ms: null, started_at: null, finished_at: null })
    .where('run_id', '=', runId)
    .where('status', '=', 'running')
    .execute();
}

export async function markStepRunning(db: DbOrTx, runId: number, step: string, job: string, logPath: string): Promise<void> {
  await db.updateTable('run_steps').set({ status: 'running', log_path: logPath, started_at: nowIso() }).where('run_id', '=', runId).where('step', '=', step).where('job', '=', job).execute();
}

/**
 * A step a remote worker reports started: `first` when it was pending (the caller writes its pending check), `again`
 * when it was already running (another worker took the job over: only the worker's name changes, no second check),
 * `none` when it has finished or was cancelled (a job BullMQ runs again after its result was written changes nothing).
 */
export async function startStepOn(db: DbOrTx, runId: number, step: string, job: string, logPath: string, worker: string): Promise<'first' | 'again' | 'none'> {
  const row = (q: ReturnType<typeof db.updateTable<'run_steps'>>) => q.where('run_id', '=', runId).where('step', '=', step).where('job', '=', job);
  const first = await row(db.updateTable('run_steps').set({ status: 'running', log_path: logPath, started_at: nowIso(), worker })).where('status', '=', 'pending').executeTakeFirst();
  if (Number(first.numUpdatedRows) > 0) return 'first';
  const again = await row(db.updateTable('run_steps').set({ worker })).where('status', '=', 'running').executeTakeFirst();
  return Number(again.numUpdatedRows) > 0 ? 'again' : 'none';
}

export interface StepOutcome {
  status: RunStepStatus;
  summary: string;
  findings: unknown[];
  outputs: Record<string, unknown> | null;
  childMs: number | null;
  /** The worker that ran it (remote steps); absent: the column is left as it is. */
  worker?: string | null;
  /** The step's log, for a step whose start was never recorded (a remote report missed); a log path set before stays. */
  logPath?: string;
}

/**
 * Writes a step's outcome once: a step already finished (or cancelled) is left as it is, so a result reported twice
 * (a job run again) changes nothing twice. True when it wrote.
 */
export async function finishStep(db: DbOrTx, runId: number, step: string, job: string, o: StepOutcome): Promise<boolean> {
  const r = await db
    .updateTable('run_steps')
    .set({
      status: o.status,
      summary: o.summary,
      findings: JSON.stringify(o.findings),
      outputs: o.outputs ? JSON.stringify(o.outputs) : null,
      child_ms: o.childMs,
      finished_at: nowIso(),
      ...(o.worker === undefined ? {} : { worker: o.worker }),
      ...(o.logPath ? { log_path: sql<string>`coalesce(log_path, ${o.logPath})` } : {}),
    })
    .where('run_id', '=', runId)
    .where('step', '=', step)
    .where('job', '=', job)
    .where('status', 'in', ['pending', 'running'])
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function finishRun(db: DbOrTx, runId: number, r: { outcome: RunOutcome; base: string | null; reportMsgid: string | null; reason: string | null }): Promise<void> {
  await db
    .updateTable('runs')
    .set({ state: 'done', outcome: r.outcome, base: r.base, report_msgid: r.reportMsgid, reason: r.reason, finished_at: nowIso() })
    .where('id', '=', runId)
    .execute();
  // Steps never reached (after a failed gate) are skipped.
  await db.updateTable('run_steps').set({ status: 'skip', summary: 'not run: an earlier step failed', finished_at: nowIso() }).where('run_id', '=', runId).where('status', '=', 'pending').execute();
}

/** What a run reads of its series: the series, its submitter, its patches (with author) and the mail to answer. */
export async function seriesForRun(db: DbOrTx, seriesId: number) {
  const series = await db
    .selectFrom('series')
    .innerJoin('people', 'people.id', 'series.submitter_id')
    .select(['series.id', 'series.project_id', 'series.name', 'series.version', 'series.total', 'series.cover_id', 'people.name as submitter_name', 'people.email as submitter_email'])
    .where('series.id', '=', seriesId)
    .executeTakeFirst();
  if (!series) return undefined;
  const patches = await db
    .selectFrom('patches')
    .innerJoin('people', 'people.id', 'patches.submitter_id')
    .innerJoin('mails', 'mails.id', 'patches.mail_id')
    .select([
      'patches.id',
      'patches.number',
      'patches.name',
      'patches.msgid',
      'patches.content',
      'patches.diff',
      'patches.signoff_ok',
      'patches.base_commit',
      'patches.mail_id',
      'mails.subject',
      'people.name as author_name',
      'people.email as author_email',
    ])
    .where('patches.series_id', '=', seriesId)
    .where('patches.replaced_by', 'is', null)
    .orderBy('patches.number')
    .orderBy('patches.id')
    .execute();
  const cover =
    series.cover_id === null
      ? undefined
      : await db
          .selectFrom('covers')
          .innerJoin('mails', 'mails.id', 'covers.mail_id')
          .select(['covers.id', 'covers.msgid', 'covers.content', 'covers.mail_id', 'mails.subject'])
          .where('covers.id', '=', series.cover_id)
          .executeTakeFirst();
  return { series, patches, cover };
}

/** The References header of a stored mail (for threading a reply under it), or null. */
export async function mailHeaderBlock(db: DbOrTx, mailId: number): Promise<Buffer | undefined> {
  const row = await db.selectFrom('mails').select(sql<Buffer>`substr(raw, 1, 65536)`.as('head')).where('id', '=', mailId).executeTakeFirst();
  return row?.head;
}

/** The user the pipeline's checks are written as (Patchwork shows a check's user): created on first use. */
export async function ciUserId(db: DbOrTx): Promise<number> {
  const found = await db.selectFrom('users').select('id').where('username', '=', 'patchbay-ci').executeTakeFirst();
  if (found) return found.id;
  const row = await db
    .insertInto('users')
    .values({ username: 'patchbay-ci', email: 'patchbay-ci@localhost', first_name: 'patchbay', last_name: 'CI', role: 'student', password_hash: null, created_at: nowIso() })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

// SQL for assignments (migration 0015): each series' assignment and received time, the rules a project was matched
// with, what a series' mails show for matching again, and the gradebook's attempts by assignment.
import { sql } from 'kysely';
import { byIds } from './api-list.repository.js';
import type { DbOrTx } from './database.js';
import { nowIso } from './database.js';
import { deferWrite } from './deferred-writes.js';
import { prepared } from './prepared.js';

export interface SeriesAssignmentRow {
  series_id: number;
  project_id: number;
  assignment: string | null;
  received_at: string;
}

const assignmentRow = prepared((db, p: { seriesId: number }) =>
  db.selectFrom('series_assignments').select(['series_id', 'project_id', 'assignment', 'received_at']).where('series_id', '=', p.seriesId),
);

export async function seriesAssignment(db: DbOrTx, seriesId: number): Promise<SeriesAssignmentRow | undefined> {
  return pending.get(db)?.get(seriesId) ?? (await assignmentRow(db, { seriesId }))[0];
}

/**
 * Rows noted in a transaction and not yet written (noteSeriesAssignment): seriesAssignment reads them first. Each
 * transaction is its own object, so a rolled-back one takes its rows with it.
 */
const pending = new WeakMap<DbOrTx, Map<number, SeriesAssignmentRow>>();

/**
 * A series' assignment row as filing leaves it, written at the end of the caller's batch (deferred-writes.ts): every
 * patch and cover of a series moves its row (the latest received time), and a batch files a series' mails together,
 * so one upsert per series and batch, in one statement, replaces a read and an upsert per mail.
 */
export async function noteSeriesAssignment(db: DbOrTx, row: SeriesAssignmentRow): Promise<void> {
  let rows = pending.get(db);
  if (!rows) pending.set(db, (rows = new Map()));
  const first = !rows.has(row.series_id);
  rows.set(row.series_id, row);
  if (first) await deferWrite(db, writeNoted, row.series_id);
}

async function writeNoted(db: DbOrTx, seriesIds: number[]): Promise<void> {
  const rows = pending.get(db);
  pending.delete(db);
  if (!rows) return;
  const values = seriesIds.flatMap((id) => {
    const r = rows.get(id);
    return r ? [[r.series_id, r.project_id, r.assignment, r.received_at]] : [];
  });
  if (values.length) await upsertRows(db, { rows: JSON.stringify(values) });
}

const upsertRows = prepared((db, p: { rows: string }) => {
  const at = <T>(n: number) => sql<T>`${sql.raw(`j.value ->> ${n}`)}`;
  return (
    db
      .insertInto('series_assignments')
      .columns(['series_id', 'project_id', 'assignment', 'received_at'])
      .expression(
        db
          .selectFrom(sql<{ key: number; value: unknown }>`json_each(${p.rows})`.as('j'))
          .select([at<number>(0).as('series_id'), at<number>(1).as('project_id'), at<string | null>(2).as('assignment'), at<string>(3).as('received_at')])
          // SQLite reads `SELECT … ON CONFLICT` as a join's ON unless the SELECT has a WHERE (lang_upsert.html, parsing ambiguity).
          .where(sql<boolean>`true`)
          .orderBy('j.key'),
      )
      .onConflict((oc) => oc.column('series_id').doUpdateSet({ assignment: sql`excluded.assignment`, received_at: sql`excluded.received_at` }))
  );
});

export async function saveSeriesAssignment(db: DbOrTx, row: SeriesAssignmentRow): Promise<void> {
  await upsertRows(db, { rows: JSON.stringify([[row.series_id, row.project_id, row.assignment, row.received_at]]) });
}

export async function rulesFingerprintOf(db: DbOrTx, projectId: number): Promise<string | undefined> {
  return (await db.selectFrom('assignment_rules').select('fingerprint').where('project_id', '=', projectId).executeTakeFirst())?.fingerprint;
}

export async function saveRulesFingerprint(db: DbOrTx, projectId: number, fingerprint: string): Promise<void> {
  await db
    .insertInto('assignment_rules')
    .values({ project_id: projectId, fingerprint, matched_at: nowIso() })
    .onConflict((oc) => oc.column('project_id').doUpdateSet({ fingerprint, matched_at: nowIso() }))
    .execute();
}


export async function deleteSeriesAssignments(db: DbOrTx, ids: readonly number[]): Promise<void> {
  if (ids.length) await db.deleteFrom('series_assignments').where('series_id', 'in', [...ids]).execute();
}

/** One window of the project's series ids, in id order (series_project_date's project column, then the key). */
export async function projectSeriesIds(db: DbOrTx, projectId: number, after: number, limit: number): Promise<number[]> {
  const rows = await db.selectFrom('series').select('id').where('project_id', '=', projectId).where('id', '>', after).orderBy('id').limit(limit).execute();
  return rows.map((r) => r.id);
}

/** Each patch and cover of these series: its stored subject, its diff (covers: null) and when the server received it. */
export interface SeriesMailMarks {
  series_id: number;
  subject: string | null;
  diff: string | null;
  received_at: string;
}

const patchMarks = byIds((db, ids) =>
  db
    .selectFrom('patches')
    .innerJoin('mails', 'mails.id', 'patches.mail_id')
    .select(['patches.series_id', 'mails.subject', 'patches.diff', 'mails.received_at'])
    .where('patches.series_id', 'in', ids),
);

const coverMarks = byIds((db, ids) =>
  db
    .selectFrom('covers')
    .innerJoin('mails', 'mails.id', 'covers.mail_id')
    .select([sql<number>`covers.series_id`.as('series_id'), 'mails.subject', sql<string | null>`null`.as('diff'), 'mails.received_at'])
    .where('covers.series_id', 'in', ids),
);

export async function mailMarksOfSeries(db: DbOrTx, ids: readonly number[]): Promise<SeriesMailMarks[]> {
  return [...(await patchMarks(db, ids)), ...(await coverMarks(db, ids))];
}

/** The assignment rows of these series (absent: the project has no assignments, or the series predates them). */
export const assignmentsOfSeries: (db: DbOrTx, ids: readonly number[]) => Promise<SeriesAssignmentRow[]> = byIds((db, ids) =>
  db.selectFrom('series_assignments').select(['series_id', 'project_id', 'assignment', 'received_at']).where('series_id', 'in', ids),
);

export interface AttemptRow {
  series_id: number;
  assignment: string | null;
  received_at: string;
  /** The roster student of the series' patches (patches.student_id), null when none was matched. */
  student_id: number | null;
}

/** Every series of the project with its assignment and student, oldest received first (series_assignments_project). */
export async function projectAttempts(db: DbOrTx, projectId: number): Promise<AttemptRow[]> {
  return db
    .selectFrom('series_assignments')
    .select(['series_assignments.series_id', 'series_assignments.assignment', 'series_assignments.received_at'])
    .select((eb) =>
      eb
        .selectFrom('patches')
        .select('patches.student_id')
        .whereRef('patches.series_id', '=', 'series_assignments.series_id')
        .where('patches.student_id', 'is not', null)
        .orderBy('patches.number')
        .limit(1)
        .as('student_id'),
    )
    .where('series_assignments.project_id', '=', projectId)
    .orderBy('series_assignments.received_at')
    .orderBy('series_assignments.series_id')
    .execute();
}

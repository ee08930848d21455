// Indexes for the web view's lists (issue 7): a project's series page by page in date or name order with its filters
// (submitter, title words, patch states, students) and what its rows show, read from indexes alone at a million patches.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // The series list in date order (then id, the tie-break), covering the submitter and title filters: no table read.
  await db.schema.createIndex('series_project_date').on('series').columns(['project_id', 'date', 'id', 'submitter_id', 'name']).execute();
  await db.schema.createIndex('series_project_name').on('series').columns(['project_id', 'name']).execute();
  // "Series with a patch in state S" (and "action required": not archived) as the ids of an index range.
  await db.schema.createIndex('patches_project_state_series').on('patches').columns(['project_id', 'state', 'archived', 'series_id']).execute();
  // What a list row shows of a series' patches (numbers received, states, student) without reading the patch rows,
  // whose state lies past their content and diff.
  await db.schema.createIndex('patches_series_summary').on('patches').columns(['series_id', 'number', 'state', 'archived', 'student_id']).execute();
  // A student's series, newest first (the gradebook, the student filter); most patches have no student.
  await db.schema
    .createIndex('patches_student')
    .on('patches')
    .columns(['student_id', 'date', 'series_id'])
    .where(sql.ref('student_id'), 'is not', null)
    .execute();
}

// Assignments (issue 14): each series' assignment from the project file, and when the server received its newest
// patch or cover (what "late" is read against: a mail's Date: is the sender's word). The deadline is not stored:
// lateness is read against the project file's current deadline. assignment_rules keeps what each project's matching
// was made with, so a start with changed rules matches the project's series again.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('series_assignments')
    .addColumn('series_id', 'integer', (c) => c.primaryKey().references('series.id').onDelete('cascade'))
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    // The assignment's name in the project file; null: the series matched none.
    .addColumn('assignment', 'text')
    .addColumn('received_at', 'text', (c) => c.notNull())
    .execute();
  // The gradebook reads one project's series by assignment.
  await db.schema.createIndex('series_assignments_project').on('series_assignments').columns(['project_id', 'assignment', 'series_id']).execute();
  await db.schema
    .createTable('assignment_rules')
    .addColumn('project_id', 'integer', (c) => c.primaryKey().references('projects.id'))
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('matched_at', 'text', (c) => c.notNull())
    .execute();
}

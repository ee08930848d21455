// The CI pipeline: one run per complete series revision, its steps (one row per step, or per build of a step), and
// the cursor over the events that start runs.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('runs')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('series_id', 'integer', (c) => c.notNull().references('series.id'))
    // The series-completed event that started it (null for a run a maintainer asked for).
    .addColumn('event_id', 'integer', (c) => c.unique())
    .addColumn('state', 'text', (c) => c.notNull()) // queued | running | done | cancelled
    .addColumn('outcome', 'text') // pass | warn | fail | error, once done
    .addColumn('reason', 'text') // why it was cancelled, or what failed in our infrastructure
    .addColumn('base', 'text') // the commit the series was applied on
    .addColumn('report_msgid', 'text') // the reply mail, once queued (in the transaction that ends the run)
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text')
    .addColumn('finished_at', 'text')
    .execute();
  await db.schema.createIndex('runs_series').on('runs').columns(['series_id', 'id']).execute();
  await db.schema.createIndex('runs_state').on('runs').columns(['state', 'id']).execute();

  await db.schema
    .createTable('run_steps')
    .addColumn('run_id', 'integer', (c) => c.notNull().references('runs.id'))
    .addColumn('step', 'text', (c) => c.notNull())
    .addColumn('job', 'text', (c) => c.notNull().defaultTo('')) // '' for a whole-run step; the build (arch) otherwise
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull()) // pending | running | pass | warn | fail | skip | error | cancelled
    .addColumn('summary', 'text')
    .addColumn('findings', 'text') // JSON
    .addColumn('outputs', 'text') // JSON
    .addColumn('log_path', 'text')
    .addColumn('child_ms', 'real')
    .addColumn('started_at', 'text')
    .addColumn('finished_at', 'text')
    .addPrimaryKeyConstraint('run_steps_pk', ['run_id', 'step', 'job'])
    .execute();

  await db.schema
    .createTable('pipeline_cursor')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('event_id', 'integer', (c) => c.notNull())
    .execute();
}

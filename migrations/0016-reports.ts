// A run resumed after a restart (issue 14): how long it stood still, so its duration counts the work and not the
// downtime. runs.paused_ms adds up, at each resume, the time from the run's last recorded activity (a step's start or
// end) to the restart; runs.resumed_at is the last resume. Null: never resumed.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('runs').addColumn('paused_ms', 'integer').execute();
  await db.schema.alterTable('runs').addColumn('resumed_at', 'text').execute();
}

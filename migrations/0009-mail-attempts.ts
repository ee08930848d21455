// Processing attempts per stored mail (issue 11): counted before each attempt, so that a mail which kills the process
// is known at the next start and quarantined after a bounded number of tries instead of resumed forever. A table of
// its own, not a column of `mails`: bumping a counter in a row that holds the raw mail would rewrite its blob.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mail_attempts')
    .addColumn('mail_id', 'integer', (c) => c.primaryKey().references('mails.id'))
    .addColumn('attempts', 'integer', (c) => c.notNull()) // attempts started (the worker's reading and the filing)
    .addColumn('last_error', 'text') // why the last one failed; null while none has
    .addColumn('last_attempt_at', 'text', (c) => c.notNull())
    .execute();
}

// Worker tokens (issue 12): each `patchbay worker` machine authenticates its uploads of logs and artefacts to the
// server with a token of its own, made by `patchbay worker token create NAME` and revocable. Only the sha256 of the
// token is kept; a revoked row stays (who had access, until when), and its name can be given to a new token.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('worker_tokens')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'text', (c) => c.notNull()) // the worker's name (its --name)
    .addColumn('secret_hash', 'text', (c) => c.notNull().unique()) // sha256 hex of the token
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text') // null while valid
    .addColumn('last_used_at', 'text') // the last accepted upload; null until one
    .execute();
  // One valid token per name; revoked ones keep theirs.
  await db.schema.createIndex('worker_tokens_live_name').on('worker_tokens').column('name').unique().where(sql.ref('revoked_at'), 'is', null).execute();
}

// Password tokens (issue 14): the first-login and password-reset links mailed to students. Only the sha256 of the
// token is kept; a token is used once (used_at) and expires (expires_at).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('password_tokens')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique()) // sha256 hex of the token
    .addColumn('purpose', 'text', (c) => c.notNull()) // 'first-login' | 'reset'
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text') // null until the password is set with it
    .execute();
  await db.schema.createIndex('password_tokens_user').on('password_tokens').column('user_id').execute();
}

// The web view's sessions (issue 7): one row per signed-in browser. Only the sha256 of the cookie's value is kept,
// so a copied database holds no session; each row carries its own CSRF token for the forms of that session.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('web_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey()) // sha256 hex of the cookie value
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('csrf', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_seen', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull()) // idle expiry, moved on as the session is used
    .execute();
  await db.schema.createIndex('web_sessions_user').on('web_sessions').columns(['user_id']).execute();
  await db.schema.createIndex('web_sessions_expires').on('web_sessions').columns(['expires_at']).execute();
}

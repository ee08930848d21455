// SQL for the web view's sessions (only the sha256 of the cookie value is stored) and the login's password upgrade.
import { sql } from 'kysely';
import type { UserRow } from './api-schema.js';
import type { DbOrTx } from './database.js';
import type { UserSummary } from './user.repository.js';

export interface SessionUser {
  sessionId: string;
  csrf: string;
  lastSeen: string;
  expiresAt: string;
  createdAt: string;
  user: UserSummary;
}

export async function insertSession(
  db: DbOrTx,
  s: { id: string; userId: number; csrf: string; now: string; expiresAt: string },
): Promise<void> {
  await db
    .insertInto('web_sessions')
    .values({ id: s.id, user_id: s.userId, csrf: s.csrf, created_at: s.now, last_seen: s.now, expires_at: s.expiresAt })
    .execute();
}

/** The session with this id hash and its user, expired or not (the caller decides). */
export async function sessionWithUser(db: DbOrTx, id: string): Promise<SessionUser | undefined> {
  const row = await db
    .selectFrom('web_sessions')
    .innerJoin('users', 'users.id', 'web_sessions.user_id')
    .select([
      'web_sessions.id as sessionId',
      'web_sessions.csrf',
      'web_sessions.last_seen',
      'web_sessions.expires_at',
      'web_sessions.created_at',
      'users.id as userId',
      'users.username',
      'users.email',
      'users.first_name',
      'users.last_name',
      'users.role',
    ])
    .where('web_sessions.id', '=', id)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    sessionId: row.sessionId,
    csrf: row.csrf,
    lastSeen: row.last_seen,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    user: { id: row.userId, username: row.username, email: row.email, first_name: row.first_name, last_name: row.last_name, role: row.role },
  };
}

export async function touchSession(db: DbOrTx, id: string, now: string, expiresAt: string): Promise<void> {
  await db.updateTable('web_sessions').set({ last_seen: now, expires_at: expiresAt }).where('id', '=', id).execute();
}

export async function deleteSession(db: DbOrTx, id: string): Promise<void> {
  await db.deleteFrom('web_sessions').where('id', '=', id).execute();
}

export async function deleteExpiredSessions(db: DbOrTx, now: string): Promise<number> {
  const r = await db.deleteFrom('web_sessions').where('expires_at', '<=', now).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Ends every session of a user (their password or role changed). */
export async function deleteUserSessions(db: DbOrTx, userId: number): Promise<void> {
  await db.deleteFrom('web_sessions').where('user_id', '=', userId).execute();
}

/**
 * The user a login names: by username (case-insensitively) before email, as findUserByLogin, but in one statement
 * whose cost does not depend on whether, or how, it matches (a login's timing must not tell which names exist).
 */
export async function userForLogin(db: DbOrTx, login: string): Promise<UserRow | undefined> {
  return db
    .selectFrom('users')
    .selectAll()
    .where((eb) => eb.or([eb(sql<string>`username collate nocase`, '=', login), eb('email', '=', login.toLowerCase())]))
    .orderBy(sql`username = ${login} collate nocase`, 'desc')
    .limit(1)
    .executeTakeFirst();
}

// SQL for the students' accounts (issue 14): roster students without an account, and the single-use password links.
import { sql } from 'kysely';
import type { DbOrTx } from './database.js';

export interface AccountlessStudent {
  login: string;
  name: string;
  /** The roster's first address: the account's email, which links the account to the roster (visibility). */
  email: string;
  emails: string[];
}

/** Roster students of the project none of whose addresses has an account yet. */
export async function studentsWithoutAccount(db: DbOrTx, projectId: number): Promise<AccountlessStudent[]> {
  const students = await db.selectFrom('students').select(['id', 'login', 'name']).where('project_id', '=', projectId).orderBy('id').execute();
  const out: AccountlessStudent[] = [];
  for (const s of students) {
    const emails = (await db.selectFrom('student_emails').select('email').where('student_id', '=', s.id).orderBy(sql`rowid`).execute()).map((e) => e.email);
    if (!emails.length) continue;
    const user = await db.selectFrom('users').select('id').where('email', 'in', emails).executeTakeFirst();
    if (!user) out.push({ login: s.login, name: s.name, email: emails[0]!, emails });
  }
  return out;
}

export async function usernameTaken(db: DbOrTx, username: string): Promise<boolean> {
  return (await db.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst()) !== undefined;
}

export async function insertPasswordToken(
  db: DbOrTx,
  t: { userId: number; tokenHash: string; purpose: 'first-login' | 'reset'; now: string; expiresAt: string },
): Promise<void> {
  await db
    .insertInto('password_tokens')
    .values({ user_id: t.userId, token_hash: t.tokenHash, purpose: t.purpose, created_at: t.now, expires_at: t.expiresAt, used_at: null })
    .execute();
}

/** A token that is unused and not expired at `now`, with its user. */
export async function livePasswordToken(db: DbOrTx, tokenHash: string, now: string): Promise<{ id: number; user_id: number; purpose: string } | undefined> {
  return db
    .selectFrom('password_tokens')
    .select(['id', 'user_id', 'purpose'])
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
}

/** Marks the token used; false when another request used it first (single use even under a race). */
export async function usePasswordToken(db: DbOrTx, id: number, now: string): Promise<boolean> {
  const r = await db.updateTable('password_tokens').set({ used_at: now }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** A new link makes the user's older unused links void. */
export async function voidPasswordTokens(db: DbOrTx, userId: number, now: string): Promise<void> {
  await db.updateTable('password_tokens').set({ used_at: now }).where('user_id', '=', userId).where('used_at', 'is', null).execute();
}

/** The projects whose roster lists this address (for the link mail's sender). */
export async function rosterProjectsOf(db: DbOrTx, email: string): Promise<number[]> {
  const rows = await db
    .selectFrom('student_emails')
    .innerJoin('students', 'students.id', 'student_emails.student_id')
    .select('students.project_id')
    .where('student_emails.email', '=', email.toLowerCase())
    .execute();
  return rows.map((r) => r.project_id);
}

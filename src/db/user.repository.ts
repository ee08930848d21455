// SQL for users and their API tokens (only the token's sha256 is stored).
import { sql } from 'kysely';
import type { UserRole, UserRow } from './api-schema.js';
import type { DbOrTx } from './database.js';
import { nowIso } from './database.js';
import { likePattern, type Page, type SortKey } from './api-list.repository.js';

export type UserSummary = Pick<UserRow, 'id' | 'username' | 'email' | 'first_name' | 'last_name' | 'role'>;

const SUMMARY = ['id', 'username', 'email', 'first_name', 'last_name', 'role'] as const;

export async function insertUser(
  db: DbOrTx,
  u: { username: string; email: string; firstName: string; lastName: string; role: UserRole; passwordHash: string | null },
): Promise<number> {
  const row = await db
    .insertInto('users')
    .values({
      username: u.username,
      email: u.email.toLowerCase(),
      first_name: u.firstName,
      last_name: u.lastName,
      role: u.role,
      password_hash: u.passwordHash,
      created_at: nowIso(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function updateUser(
  db: DbOrTx,
  id: number,
  set: Partial<{ first_name: string; last_name: string; role: UserRole; password_hash: string | null }>,
): Promise<void> {
  if (!Object.keys(set).length) return;
  await db.updateTable('users').set(set).where('id', '=', id).execute();
}

export async function findUserByEmail(db: DbOrTx, email: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', email.toLowerCase()).executeTakeFirst();
}

export async function findUserByUsername(db: DbOrTx, username: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
}

/** The user with this username (case-insensitively, as Patchwork's filters) or, failing that, this email. */
export async function findUserByLogin(db: DbOrTx, login: string): Promise<UserRow | undefined> {
  return (
    (await db.selectFrom('users').selectAll().where(sql<boolean>`username = ${login} collate nocase`).executeTakeFirst()) ??
    (await findUserByEmail(db, login))
  );
}

export async function getUser(db: DbOrTx, id: number): Promise<UserSummary | undefined> {
  return db.selectFrom('users').select(SUMMARY).where('id', '=', id).executeTakeFirst();
}

export async function getUsers(db: DbOrTx, ids: number[]): Promise<UserSummary[]> {
  if (!ids.length) return [];
  return db.selectFrom('users').select(SUMMARY).where('id', 'in', [...new Set(ids)]).execute();
}

export async function usersByEmails(db: DbOrTx, emails: string[]): Promise<UserSummary[]> {
  if (!emails.length) return [];
  return db.selectFrom('users').select(SUMMARY).where('email', 'in', [...new Set(emails.map((e) => e.toLowerCase()))]).execute();
}

/** Ids of users matching each value: an integer is an id, anything else a username (case-insensitive). */
export async function resolveUsers(db: DbOrTx, values: string[]): Promise<number[]> {
  const ids = values.filter((v) => /^\d+$/.test(v)).map(Number);
  const names = values.filter((v) => !/^\d+$/.test(v)).map((v) => v.toLowerCase());
  const rows = await db
    .selectFrom('users')
    .select('id')
    .where((eb) => eb.or([eb('id', 'in', ids.length ? ids : [-1]), eb(sql<string>`lower(username)`, 'in', names.length ? names : [''])]))
    .execute();
  return rows.map((r) => r.id);
}

const USER_SORT: Record<string, string> = { id: 'id', username: 'username', email: 'email' };

/**
 * Patchwork's user list: `q` over username, first and last name and email; ordering by id, username or email.
 * `byEmail` false (a reader who may not see others' emails): neither `q` nor the order reads the email, which would
 * otherwise reveal it a letter at a time.
 */
export async function listUsers(db: DbOrTx, q: { terms: string[]; sort: SortKey[]; page: Page; byEmail?: boolean }): Promise<{ total: number; rows: UserSummary[] }> {
  const byEmail = q.byEmail ?? true;
  let query = db.selectFrom('users');
  for (const t of q.terms) {
    const like = likePattern(t);
    query = query.where((eb) =>
      eb.or([
        eb(sql`username`, 'like', sql`${like} escape '\\'`),
        eb(sql`first_name`, 'like', sql`${like} escape '\\'`),
        eb(sql`last_name`, 'like', sql`${like} escape '\\'`),
        ...(byEmail ? [eb(sql`email`, 'like', sql`${like} escape '\\'`)] : []),
      ]),
    );
  }
  const total = Number((await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  let rows = query.select(SUMMARY);
  for (const s of q.sort) rows = rows.orderBy(sql.ref(s.field === 'email' && !byEmail ? 'id' : (USER_SORT[s.field] ?? 'id')), s.desc ? 'desc' : 'asc');
  return { total, rows: await rows.orderBy('id').limit(q.page.limit).offset(q.page.offset).execute() };
}

/** Replaces the user's token (one per user, as Patchwork's regenerate). */
export async function setToken(db: DbOrTx, userId: number, keyHash: string): Promise<void> {
  await db
    .insertInto('api_tokens')
    .values({ user_id: userId, key_hash: keyHash, created_at: nowIso() })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ key_hash: keyHash, created_at: nowIso() }))
    .execute();
}

export async function userByTokenHash(db: DbOrTx, keyHash: string): Promise<UserRow | undefined> {
  return db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .selectAll('users')
    .where('api_tokens.key_hash', '=', keyHash)
    .executeTakeFirst();
}

export interface UserListRow extends UserSummary {
  has_password: 0 | 1;
  tokens: number;
}

/** Every user for the operator's list: no password hash or token, only whether there is one and how many. */
export async function listAllUsers(db: DbOrTx): Promise<UserListRow[]> {
  const rows = await db
    .selectFrom('users')
    .select(SUMMARY)
    .select((eb) => [
      eb.case().when('password_hash', 'is not', null).then(1).else(0).end().as('has_password'),
      eb.selectFrom('api_tokens').select((x) => x.fn.countAll<number>().as('n')).whereRef('api_tokens.user_id', '=', 'users.id').as('tokens'),
    ])
    .orderBy('email')
    .execute();
  return rows.map((r) => ({ ...r, has_password: r.has_password ? 1 : 0, tokens: Number(r.tokens ?? 0) }));
}

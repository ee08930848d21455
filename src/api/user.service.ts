// Operator commands on users: add one (with a role and, optionally, a password) and issue an API token.
import type { UserRole } from '../db/api-schema.js';
import type { Db } from '../db/database.js';
import { findUserByEmail, findUserByUsername, insertUser, listAllUsers, setToken, updateUser } from '../db/user.repository.js';
import { conflict, invalid, notFound } from '../errors.js';
import { hashPassword, newToken, tokenHash } from './credentials.js';

export const ROLES: readonly UserRole[] = ['admin', 'maintainer', 'student'];

export interface NewUser {
  email: string;
  name: string;
  role: string;
  /** Defaults to the email's local part. */
  username?: string;
  password?: string;
}

/**
 * Adds a user; the name is split as Patchwork's first_name/last_name (first word, then the rest). An existing email
 * is refused (conflict `user_exists`) unless `update` is set: then its name, role and (if given) password change.
 */
export async function addUser(db: Db, u: NewUser, opts: { update?: boolean } = {}): Promise<{ id: number; username: string; action: 'added' | 'updated' | 'unchanged' }> {
  const email = u.email.trim().toLowerCase();
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(email)) throw invalid('user_email', `not an email address: ${u.email}`);
  if (!ROLES.includes(u.role as UserRole)) throw invalid('user_role', `role must be one of ${ROLES.join(', ')}, not "${u.role}"`);
  const username = (u.username ?? email.slice(0, email.indexOf('@'))).trim();
  if (!/^[A-Za-z0-9@.+_-]{1,150}$/.test(username)) throw invalid('user_username', `username may hold letters, digits and @.+-_ only: "${username}"`);
  if (u.password !== undefined && u.password.length < 8) throw invalid('user_password', 'a password needs at least 8 characters');
  const [first, ...rest] = u.name.trim().split(/\s+/);
  const existing = await findUserByEmail(db, email);
  if (existing && !opts.update) {
    throw conflict(
      'user_exists',
      `a user with the email ${email} exists already (username ${existing.username}, role ${existing.role}); nothing changed`,
    );
  }
  if (existing) {
    if (u.username !== undefined && u.username.trim() !== existing.username) {
      throw invalid('user_username', `--update keeps the username: ${email} is "${existing.username}", not "${u.username.trim()}"`);
    }
    const set: Parameters<typeof updateUser>[2] = {};
    if ((first ?? '') !== existing.first_name) set.first_name = first ?? '';
    if (rest.join(' ') !== existing.last_name) set.last_name = rest.join(' ');
    if (u.role !== existing.role) set.role = u.role as UserRole;
    if (u.password !== undefined) set.password_hash = await hashPassword(u.password);
    await updateUser(db, existing.id, set);
    return { id: existing.id, username: existing.username, action: Object.keys(set).length ? 'updated' : 'unchanged' };
  }
  if (await findUserByUsername(db, username)) throw conflict('username_taken', `the username "${username}" is taken; choose one with --username`);
  const id = await insertUser(db, {
    username,
    email,
    firstName: first ?? '',
    lastName: rest.join(' '),
    role: u.role as UserRole,
    passwordHash: u.password === undefined ? null : await hashPassword(u.password),
  });
  return { id, username, action: 'added' };
}

export async function setPassword(db: Db, email: string, password: string): Promise<void> {
  const user = await findUserByEmail(db, email);
  if (!user) throw notFound('user_unknown', `no user with the email ${email}`);
  if (password.length < 8) throw invalid('user_password', 'a password needs at least 8 characters');
  await updateUser(db, user.id, { password_hash: await hashPassword(password) });
}

/** A new token for the user, replacing any earlier one; only its sha256 is stored, so it is shown once. */
export async function createToken(db: Db, email: string): Promise<string> {
  const user = await findUserByEmail(db, email);
  if (!user) throw notFound('user_unknown', `no user with the email ${email}`);
  const token = newToken();
  await setToken(db, user.id, tokenHash(token));
  return token;
}

export interface UserListing {
  email: string;
  username: string;
  name: string;
  /** The account's role, then "maintainer of SLUG" for each project file listing the email under `maintainers:`. */
  roles: string[];
  password: boolean;
  tokens: number;
}

/** Every user for `patchbay user list`: never a password hash or a token, only whether there is one. */
export async function listUsersForOperator(db: Db, projects: readonly { slug: string; maintainers: readonly string[] }[]): Promise<UserListing[]> {
  return (await listAllUsers(db)).map((r) => ({
    email: r.email,
    username: r.username,
    name: [r.first_name, r.last_name].filter(Boolean).join(' '),
    roles: [r.role, ...projects.filter((p) => p.maintainers.some((m) => m.toLowerCase() === r.email)).map((p) => `maintainer of ${p.slug}`)],
    password: r.has_password === 1,
    tokens: r.tokens,
  }));
}

// Operator commands on users: add one (with a role and, optionally, a password) and issue an API token.
import type { UserRole } from '../db/api-schema.js';
import type { Db } from '../db/database.js';
import { findUserByEmail, findUserByUsername, insertUser, setToken, updateUser } from '../db/user.repository.js';
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

/** Adds a user; the name is split as Patchwork's first_name/last_name (first word, then the rest). */
export async function addUser(db: Db, u: NewUser): Promise<{ id: number; username: string }> {
  const email = u.email.trim().toLowerCase();
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(email)) throw invalid('user_email', `not an email address: ${u.email}`);
  if (!ROLES.includes(u.role as UserRole)) throw invalid('user_role', `role must be one of ${ROLES.join(', ')}, not "${u.role}"`);
  const username = (u.username ?? email.slice(0, email.indexOf('@'))).trim();
  if (!/^[A-Za-z0-9@.+_-]{1,150}$/.test(username)) throw invalid('user_username', `username may hold letters, digits and @.+-_ only: "${username}"`);
  if (u.password !== undefined && u.password.length < 8) throw invalid('user_password', 'a password needs at least 8 characters');
  if (await findUserByEmail(db, email)) throw conflict('user_exists', `a user with the email ${email} exists already`);
  if (await findUserByUsername(db, username)) throw conflict('username_taken', `the username "${username}" is taken; choose one with --username`);
  const [first, ...rest] = u.name.trim().split(/\s+/);
  const id = await insertUser(db, {
    username,
    email,
    firstName: first ?? '',
    lastName: rest.join(' '),
    role: u.role as UserRole,
    passwordHash: u.password === undefined ? null : await hashPassword(u.password),
  });
  return { id, username };
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

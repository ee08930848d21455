// The web view's sessions: login (argon2id, older scrypt hashes upgraded), the session cookie's value ↔ the viewer,
// CSRF tokens, and the login rate limits (failures per client address and per username).
import crypto from 'node:crypto';
import { needsRehash, hashPassword, verifyNothing, verifyPassword } from '../api/credentials.js';
import type { Db } from '../db/database.js';
import { deleteExpiredSessions, deleteSession, insertSession, sessionWithUser, touchSession, userForLogin } from '../db/session.repository.js';
import { updateUser } from '../db/user.repository.js';
import { RateLimiter } from '../smtp/rate-limit.js';
import { ANONYMOUS, type Viewer } from './viewer.js';

export const SESSION_COOKIE = 'patchbay_session';
/** The login form's CSRF token before there is a session (double submit: this cookie and the form's field). */
export const LOGIN_CSRF_COOKIE = 'patchbay_csrf';

export interface SessionPolicy {
  /** A session unused this long ends. */
  idleMs: number;
  /** A session ends this long after login, used or not. */
  absoluteMs: number;
  /** last_seen (and the idle expiry) is written at most this often, not on every request. */
  touchMs: number;
  /** Failed logins within failureWindowMs before 429: per username, and per client address (a class behind one NAT). */
  maxFailuresPerLogin: number;
  maxFailuresPerAddress: number;
  failureWindowMs: number;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export const DEFAULT_SESSION_POLICY: SessionPolicy = {
  idleMs: 14 * DAY,
  absoluteMs: 30 * DAY,
  touchMs: 5 * MINUTE,
  maxFailuresPerLogin: 5,
  maxFailuresPerAddress: 20,
  failureWindowMs: 15 * MINUTE,
};

export type LoginResult =
  | { kind: 'ok'; /** the cookie's value */ token: string; /** cookie Max-Age, seconds */ maxAge: number }
  | { kind: 'invalid' }
  | { kind: 'rate_limited' };

/** 32 random bytes, base64url: session cookies and CSRF tokens. */
export function randomToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

const sha256 = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest();

/** Constant-time comparison of two tokens of any length (both hashed first). */
export function sameToken(given: string, expected: string): boolean {
  if (!given || !expected) return false;
  return crypto.timingSafeEqual(sha256(given), sha256(expected));
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{20,100}$/;
export const isTokenShaped = (s: string | undefined): s is string => typeof s === 'string' && TOKEN_SHAPE.test(s);

const sessionId = (token: string) => sha256(token).toString('hex');

export class SessionService {
  readonly policy: SessionPolicy;
  private readonly byLogin: RateLimiter;
  private readonly byAddress: RateLimiter;

  constructor(
    private readonly db: Db,
    policy: Partial<SessionPolicy> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.policy = { ...DEFAULT_SESSION_POLICY, ...policy };
    this.byLogin = new RateLimiter(this.policy.maxFailuresPerLogin, this.policy.failureWindowMs);
    this.byAddress = new RateLimiter(this.policy.maxFailuresPerAddress, this.policy.failureWindowMs);
  }

  /**
   * The viewer of a session cookie's value; `clear` when the cookie names no live session (ended, expired or made
   * up), so the browser drops it.
   */
  async resolve(token: string | undefined): Promise<{ viewer: Viewer; clear: boolean }> {
    if (!token) return { viewer: ANONYMOUS, clear: false };
    if (!isTokenShaped(token)) return { viewer: ANONYMOUS, clear: true };
    const id = sessionId(token);
    const s = await sessionWithUser(this.db, id);
    const now = this.now();
    if (!s) return { viewer: ANONYMOUS, clear: true };
    if (Date.parse(s.expiresAt) <= now || Date.parse(s.createdAt) + this.policy.absoluteMs <= now) {
      await deleteSession(this.db, id);
      return { viewer: ANONYMOUS, clear: true };
    }
    if (now - Date.parse(s.lastSeen) >= this.policy.touchMs) {
      await touchSession(this.db, id, new Date(now).toISOString(), new Date(now + this.policy.idleMs).toISOString());
    }
    const u = s.user;
    const name = `${u.first_name} ${u.last_name}`.trim() || u.username;
    return { viewer: { user: { id: u.id, username: u.username, name, email: u.email, role: u.role }, csrf: s.csrf }, clear: false };
  }

  /**
   * Checks a username (or email) and password. A missing user, or one without a password, costs one password check
   * as a wrong password does. Only failures count towards the limits; a limited login is refused before checking.
   */
  async login(login: string, password: string, address: string): Promise<LoginResult> {
    const loginKey = login.trim().toLowerCase();
    const now = this.now();
    if (this.byAddress.blocked(address, now) || this.byLogin.blocked(loginKey, now)) return { kind: 'rate_limited' };
    const user = loginKey && password ? await userForLogin(this.db, login.trim()) : undefined;
    const ok = user?.password_hash ? await verifyPassword(password, user.password_hash) : await verifyNothing(password);
    if (!ok || !user) {
      this.byAddress.hit(address, now);
      this.byLogin.hit(loginKey, now);
      return { kind: 'invalid' };
    }
    if (user.password_hash && needsRehash(user.password_hash)) {
      await updateUser(this.db, user.id, { password_hash: await hashPassword(password) });
    }
    const token = randomToken();
    const iso = new Date(now).toISOString();
    await deleteExpiredSessions(this.db, iso);
    await insertSession(this.db, {
      id: sessionId(token),
      userId: user.id,
      csrf: randomToken(),
      now: iso,
      expiresAt: new Date(now + this.policy.idleMs).toISOString(),
    });
    return { kind: 'ok', token, maxAge: Math.floor(this.policy.absoluteMs / 1000) };
  }

  async logout(token: string | undefined): Promise<void> {
    if (isTokenShaped(token)) await deleteSession(this.db, sessionId(token));
  }
}

// The web view's sessions: login (argon2id, older scrypt hashes upgraded), the session cookie's value ↔ the viewer,
// CSRF tokens, and the login limits (src/api/login-guard.ts, shared with the API) with device cookies.
import crypto from 'node:crypto';
import { needsRehash, hashPassword, verifyNothing, verifyPassword } from '../api/credentials.js';
import type { Db } from '../db/database.js';
import { deleteExpiredSessions, deleteSession, insertSession, sessionWithUser, touchSession, userForLogin } from '../db/session.repository.js';
import { updateUser } from '../db/user.repository.js';
import { accountKey, LoginGuard } from '../api/login-guard.js';
import { DeviceCookies, DEVICE_MAX_AGE_S } from './device-cookie.js';
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
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export const DEFAULT_SESSION_POLICY: SessionPolicy = {
  idleMs: 14 * DAY,
  absoluteMs: 30 * DAY,
  touchMs: 5 * MINUTE,
};

export type LoginResult =
  | {
      kind: 'ok';
      /** the session cookie's value */
      token: string;
      /** session cookie Max-Age, seconds */
      maxAge: number;
      /** a fresh device cookie for this browser, and its Max-Age */
      device: { value: string; maxAge: number };
    }
  | { kind: 'invalid' }
  | { kind: 'rate_limited'; retryAfterS: number };

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

/** `Authorization: Token …`: the API's token scheme (scripts), which a browser never sends on its own. */
export const isTokenAuthorization = (authorization: string | undefined): boolean => /^token\s+\S/i.test(authorization ?? '');

const sessionId = (token: string) => sha256(token).toString('hex');

export class SessionService {
  readonly policy: SessionPolicy;

  /**
   * @param guard the failed-login limits, the same instance as the API's Basic auth (one budget for both doors)
   * @param devices signs and checks the device cookies that exempt a known browser from the account's limit
   */
  constructor(
    private readonly db: Db,
    private readonly guard: LoginGuard,
    private readonly devices: DeviceCookies,
    policy: Partial<SessionPolicy> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.policy = { ...DEFAULT_SESSION_POLICY, ...policy };
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
   * Checks a username (or email) and password from a client address, with the browser's device cookie if any. A
   * missing user, or one without a password, costs one password check as a wrong password does. Only failures
   * count towards the limits, and a limited attempt is refused before any password is checked.
   */
  async login(login: string, password: string, address: string, deviceCookie?: string): Promise<LoginResult> {
    const name = login.trim();
    const user = name && password ? await userForLogin(this.db, name) : undefined;
    const device = user?.password_hash ? (this.devices.verify(deviceCookie, user.id, user.password_hash)?.id ?? null) : null;
    const attempt = { address, account: accountKey(user?.id, name), device };
    const verdict = this.guard.check(attempt);
    if (!verdict.ok) return { kind: 'rate_limited', retryAfterS: verdict.retryAfterS };
    const ok = user?.password_hash ? await verifyPassword(password, user.password_hash) : await verifyNothing(password);
    if (!ok || !user?.password_hash) {
      this.guard.failed(attempt);
      return { kind: 'invalid' };
    }
    this.guard.succeeded(attempt);
    let passwordHash = user.password_hash;
    if (needsRehash(passwordHash)) {
      passwordHash = await hashPassword(password);
      await updateUser(this.db, user.id, { password_hash: passwordHash });
    }
    const token = randomToken();
    const now = this.now();
    const iso = new Date(now).toISOString();
    await deleteExpiredSessions(this.db, iso);
    await insertSession(this.db, {
      id: sessionId(token),
      userId: user.id,
      csrf: randomToken(),
      now: iso,
      expiresAt: new Date(now + this.policy.idleMs).toISOString(),
    });
    return {
      kind: 'ok',
      token,
      maxAge: Math.floor(this.policy.absoluteMs / 1000),
      device: { value: this.devices.issue(user.id, passwordHash), maxAge: DEVICE_MAX_AGE_S },
    };
  }

  async logout(token: string | undefined): Promise<void> {
    if (isTokenShaped(token)) await deleteSession(this.db, sessionId(token));
  }
}

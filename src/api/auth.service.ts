// Who is asking: `Authorization: Token …` or HTTP Basic (RFC 7617) to a user, or anonymous; and who maintains what.
// Failed attempts count in the LoginGuard the web login shares: a limited client gets 429 before any password check.
import crypto from 'node:crypto';
import type { UserRole } from '../db/api-schema.js';
import type { Db } from '../db/database.js';
import { findUserByLogin, userByTokenHash } from '../db/user.repository.js';
import { forbidden, rateLimited } from '../errors.js';
import { tokenHash, verifyNothing, verifyPassword } from './credentials.js';
import { accountKey, type Attempt, LoginGuard } from './login-guard.js';
import type { ProjectInfo } from './represent.js';

export interface Principal {
  id: number;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  role: UserRole;
}

/** Verified Basic credentials, so that git-pw's one-login-per-request does not pay scrypt each time. */
const BASIC_CACHE_SIZE = 256;

export class AuthService {
  private readonly basicOk = new Map<string, string>();

  /** @param guard failed-login limits, shared with the web login form (one budget for both doors) */
  constructor(
    private readonly db: Db,
    readonly guard: LoginGuard = new LoginGuard(),
  ) {}

  /**
   * null for a request without credentials (anonymous, read-only). Wrong credentials are refused outright, as DRF
   * does; with Session authentication first in Patchwork's list, that refusal is a 403, not a 401. `address` is the
   * client's (request.ip): failures are limited per address and per account, then refused with 429 (rate_limited)
   * and a Retry-After before any check.
   */
  async authenticate(authorization: string | undefined, address: string): Promise<Principal | null> {
    if (!authorization) return null;
    const m = /^(\S+)\s+(\S.*)$/.exec(authorization.trim());
    if (!m) return null;
    const scheme = m[1]!.toLowerCase();
    const value = m[2]!.trim();
    if (scheme === 'token') {
      // A valid token always passes, also from a limited address (a neighbour behind the same NAT): 160 random bits
      // cannot be guessed, and checking one is a hash and an index lookup. Only the failures are limited.
      const user = await userByTokenHash(this.db, tokenHash(value));
      if (user) return principal(user);
      this.refuseIfLimited({ address, account: null });
      this.guard.failed({ address, account: null });
      throw forbidden('invalid_token', 'Invalid token.');
    }
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw forbidden('invalid_credentials', 'Invalid basic header. No credentials provided.');
      const login = decoded.slice(0, colon);
      const password = decoded.slice(colon + 1);
      const user = await findUserByLogin(this.db, login);
      // The exact header that was verified before (git-pw logs in on every request) proves its client: no check, no limit.
      const key = crypto.createHash('sha256').update(authorization).digest('hex');
      if (user?.password_hash && this.basicOk.get(key) === user.password_hash) return principal(user);
      const attempt: Attempt = { address, account: accountKey(user?.id, login) };
      this.refuseIfLimited(attempt);
      // A missing user costs a password check too: the answer's timing does not tell which usernames exist.
      const ok = user?.password_hash ? await verifyPassword(password, user.password_hash) : await verifyNothing(password);
      if (!ok || !user?.password_hash) {
        this.guard.failed(attempt);
        throw forbidden('invalid_credentials', 'Invalid username/password.');
      }
      this.guard.succeeded(attempt);
      if (this.basicOk.size >= BASIC_CACHE_SIZE) this.basicOk.delete(this.basicOk.keys().next().value!);
      this.basicOk.set(key, user.password_hash);
      return principal(user);
    }
    // DRF ignores schemes it does not know (Bearer, Digest …): the request stays anonymous.
    return null;
  }

  private refuseIfLimited(attempt: Attempt): void {
    const v = this.guard.check(attempt);
    if (!v.ok) throw rateLimited('auth_rate_limited', `Too many failed authentications. Try again in ${v.retryAfterS} seconds.`, v.retryAfterS);
  }
}

function principal(u: Principal): Principal {
  return { id: u.id, username: u.username, email: u.email, first_name: u.first_name, last_name: u.last_name, role: u.role };
}

/** Patchwork's maintainer_projects: listed in the project file's `maintainers:`, or an admin (maintains every project). */
export function maintains(who: Principal | null, project: ProjectInfo): boolean {
  if (!who) return false;
  return who.role === 'admin' || project.maintainers.some((m) => m.toLowerCase() === who.email.toLowerCase());
}

export function requireUser(who: Principal | null): Principal {
  if (!who) throw forbidden('not_authenticated', 'Authentication credentials were not provided.');
  return who;
}

export const NO_PERMISSION = 'You do not have permission to perform this action.';

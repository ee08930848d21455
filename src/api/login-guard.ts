// Failed-login limits shared by the web login form and the API's Basic and Token auth: counted per client address,
// per (address, account), per account from unproven clients, and per device cookie, so that an attacker is slowed
// without locking the real user out (docs/architecture.md, "Login limits").
import net from 'node:net';

export interface LoginLimits {
  /** The sliding window every count below is over. */
  windowMs: number;
  /** Failures from one client address (an IPv6 /64), whatever the accounts: then 429 for that address. */
  perAddress: number;
  /** Failures on one account from one address: then 429 for that pair only. */
  perAddressAccount: number;
  /**
   * Failures on one account from every client that holds no device cookie of that account: then 429 for such
   * clients only. Reaching it takes perAccount / perAddressAccount addresses (a distributed attack); a browser that
   * logged in before (its device cookie) still gets in.
   */
  perAccount: number;
  /** Failures by one device cookie: then it no longer exempts its holder, who is counted as unproven. */
  perDevice: number;
  /** Keys each counter keeps at most (memory bound under an attack from many addresses). */
  maxKeys: number;
}

const MINUTE = 60_000;

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  windowMs: 15 * MINUTE,
  perAddress: 20,
  perAddressAccount: 5,
  perAccount: 30,
  perDevice: 5,
  maxKeys: 50_000,
};

/** One attempt: who asks (client address), for which account, and the device id its cookie proved (or null). */
export interface Attempt {
  address: string;
  /** `id:N` for an existing user, else the login as typed (normalized); null when no account is named (a token). */
  account: string | null;
  /** The id of a verified device cookie of this very account; null: none or not valid. */
  device?: string | null;
}

export type Verdict = { ok: true } | { ok: false; retryAfterS: number };

/** The key an account is counted under: by user id when it exists (username and email are one account). */
export function accountKey(userId: number | undefined, login: string): string {
  return userId !== undefined ? `id:${userId}` : `login:${login.trim().toLowerCase().slice(0, 256)}`;
}

/**
 * The client address as counted: IPv4 as is (also when IPv4-mapped, ::ffff:a.b.c.d), IPv6 by its /64 — one host
 * commonly holds a whole /64 (RFC 4291 §2.5.1 interface ids, SLAAC privacy addresses), so counting single IPv6
 * addresses would give it 2^64 budgets.
 */
export function addressKey(ip: string | undefined): string {
  // fastify's request.ip is undefined once the socket is gone: such requests share one key.
  if (!ip) return 'unknown';
  const mapped = ip.toLowerCase().startsWith('::ffff:') ? ip.slice(7) : ip;
  if (net.isIPv4(mapped)) return mapped;
  if (!net.isIPv6(ip)) return ip.slice(0, 64);
  const groups = expandIpv6(ip);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : ip;
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail converted); null if malformed. */
function expandIpv6(ip: string): string[] | null {
  const zone = ip.indexOf('%');
  let s = zone === -1 ? ip : ip.slice(0, zone);
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (net.isIPv4(tail)) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  return [...head, ...Array<string>(missing).fill('0'), ...rest].map((g) => (parseInt(g, 16) || 0).toString(16));
}

/**
 * Failure times per key over a sliding window, at most `limit` kept per key (older ones no longer matter): exact,
 * and at most limit × maxKeys numbers in memory.
 */
export class FailureLog {
  private readonly times = new Map<string, number[]>();
  private sweptAt = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys: number,
  ) {}

  /** Milliseconds until the key is under its limit again; 0 when it is now. */
  retryAfterMs(key: string, now: number): number {
    if (this.limit <= 0) return 0;
    const list = this.live(key, now);
    return list.length >= this.limit ? list[list.length - this.limit]! + this.windowMs - now : 0;
  }

  hit(key: string, now: number): void {
    if (this.limit <= 0) return;
    const list = this.live(key, now);
    list.push(now);
    if (list.length > this.limit) list.shift();
    // Most recently failed last, so that eviction drops the keys quiet the longest.
    this.times.delete(key);
    this.times.set(key, list);
    if (this.times.size > this.maxKeys) this.evict(now);
  }

  clear(key: string): void {
    this.times.delete(key);
  }

  get size(): number {
    return this.times.size;
  }

  private live(key: string, now: number): number[] {
    const list = this.times.get(key) ?? [];
    let drop = 0;
    while (drop < list.length && list[drop]! <= now - this.windowMs) drop++;
    if (drop) list.splice(0, drop);
    return list;
  }

  private evict(now: number): void {
    // Expired keys first (at most once a window, so a full map costs one pass per window, not per failure) …
    if (now - this.sweptAt >= this.windowMs) {
      this.sweptAt = now;
      for (const [key, list] of this.times) if (list[list.length - 1]! <= now - this.windowMs) this.times.delete(key);
    }
    // … then the least recently failed.
    for (const key of this.times.keys()) {
      if (this.times.size <= this.maxKeys) break;
      this.times.delete(key);
    }
  }
}

/** The four counters and the rules that combine them (see LoginLimits). One instance serves the web and the API. */
export class LoginGuard {
  readonly limits: LoginLimits;
  private readonly byAddress: FailureLog;
  private readonly byPair: FailureLog;
  private readonly byAccount: FailureLog;
  private readonly byDevice: FailureLog;

  constructor(
    limits: Partial<LoginLimits> = {},
    private readonly now: () => number = Date.now,
  ) {
    const l = (this.limits = { ...DEFAULT_LOGIN_LIMITS, ...limits });
    this.byAddress = new FailureLog(l.perAddress, l.windowMs, l.maxKeys);
    this.byPair = new FailureLog(l.perAddressAccount, l.windowMs, l.maxKeys);
    this.byAccount = new FailureLog(l.perAccount, l.windowMs, l.maxKeys);
    this.byDevice = new FailureLog(l.perDevice, l.windowMs, l.maxKeys);
  }

  /** Whether a password may be checked now: ask before checking, so a limited attempt costs no hashing. */
  check(a: Attempt): Verdict {
    const now = this.now();
    if (this.proven(a, now)) return { ok: true };
    const addr = addressKey(a.address);
    const wait = Math.max(
      this.byAddress.retryAfterMs(addr, now),
      a.account === null ? 0 : this.byPair.retryAfterMs(pair(addr, a.account), now),
      a.account === null ? 0 : this.byAccount.retryAfterMs(a.account, now),
    );
    return wait > 0 ? { ok: false, retryAfterS: Math.ceil(wait / 1000) } : { ok: true };
  }

  /** Counts a failed attempt: against its device cookie when that still exempts it, else address, pair and account. */
  failed(a: Attempt): void {
    const now = this.now();
    if (this.proven(a, now)) {
      this.byDevice.hit(a.device!, now);
      return;
    }
    const addr = addressKey(a.address);
    this.byAddress.hit(addr, now);
    if (a.account === null) return;
    this.byPair.hit(pair(addr, a.account), now);
    this.byAccount.hit(a.account, now);
  }

  /** A success forgets the pair's failures (the user's own typos), never the address's or the account's. */
  succeeded(a: Attempt): void {
    if (a.account !== null) this.byPair.clear(pair(addressKey(a.address), a.account));
  }

  private proven(a: Attempt, now: number): boolean {
    return !!a.device && this.byDevice.retryAfterMs(a.device, now) === 0;
  }
}

const pair = (address: string, account: string) => `${address} ${account}`;

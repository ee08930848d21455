// Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser that logged in as a user
// gets a signed cookie naming that user, and is exempt from the account's limit against unproven clients.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const DEVICE_COOKIE = 'patchbay_device';
/** Sent only to the login form: it proves nothing anywhere else. */
export const DEVICE_COOKIE_PATH = '/login/';
/** How long a browser stays proven after its last successful login (the cookie is renewed at each). */
export const DEVICE_MAX_AGE_S = 90 * 24 * 3600;

export interface DeviceClaim {
  userId: number;
  /** The cookie's random id: failures by a device are counted under it. */
  id: string;
}

const b64 = (b: Buffer) => b.toString('base64url');

/**
 * Signs and checks device cookies with a server key kept in DATA/device-cookie.key (created once, mode 0600), so
 * that they survive restarts. The signature also covers a digest of the user's password hash: a new password
 * (after a suspected compromise, or an admin's reset) retires every device cookie of that user.
 */
export class DeviceCookies {
  constructor(
    private readonly key: Buffer,
    private readonly now: () => number = Date.now,
  ) {}

  /** The key file of a data directory, created with 32 random bytes when missing. */
  static keyFrom(dataDir: string): Buffer {
    const file = path.join(dataDir, 'device-cookie.key');
    try {
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(file, crypto.randomBytes(32).toString('hex') + '\n', { flag: 'wx', mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'hex');
    if (key.length < 16) throw new Error(`${file}: expected at least 32 hex digits`);
    return key;
  }

  /** A new cookie value for a user who just logged in: `uid.issued.id.mac`. */
  issue(userId: number, passwordHash: string): string {
    const body = `${userId}.${Math.floor(this.now() / 1000)}.${b64(crypto.randomBytes(16))}`;
    return `${body}.${this.mac(body, passwordHash)}`;
  }

  /**
   * The claim of a cookie value when it is well formed, signed by us, not older than its lifetime, and names this
   * user with this password hash; else null.
   */
  verify(value: string | undefined, userId: number, passwordHash: string): DeviceClaim | null {
    if (!value || value.length > 200) return null;
    const parts = value.split('.');
    if (parts.length !== 4) return null;
    const [uid, issued, id, mac] = parts as [string, string, string, string];
    if (uid !== String(userId) || !/^\d{1,12}$/.test(issued)) return null;
    const age = this.now() / 1000 - Number(issued);
    if (age < -60 || age > DEVICE_MAX_AGE_S) return null;
    const expected = Buffer.from(this.mac(`${uid}.${issued}.${id}`, passwordHash));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
    return { userId, id };
  }

  private mac(body: string, passwordHash: string): string {
    const pw = crypto.createHash('sha256').update(passwordHash).digest('hex');
    return b64(crypto.createHmac('sha256', this.key).update(`${body}.${pw}`).digest());
  }
}

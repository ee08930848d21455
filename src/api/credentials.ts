// Credentials: API tokens (random, stored as sha256) and passwords (argon2id; older scrypt hashes still verify and are
// replaced at the next login), compared in constant time.
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { hash as argon2Hash, verify as argon2Verify, type Algorithm, type Options as Argon2Options } from '@node-rs/argon2';

const scrypt = promisify(crypto.scrypt) as (password: string, salt: Buffer, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;

/**
 * OWASP's argon2id floor (19 MiB, 2 passes, 1 lane): ~45 ms a hash on one core here. The parameters travel in the
 * PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so they can be raised later: older hashes are then rehashed.
 */
const ARGON2: Argon2Options = { algorithm: 2 as Algorithm /* Argon2id */, memoryCost: 19_456, timeCost: 2, parallelism: 1 };
const CURRENT_PREFIX = `$argon2id$v=19$m=${ARGON2.memoryCost},t=${ARGON2.timeCost},p=${ARGON2.parallelism}$`;
const SCRYPT_MAXMEM = 64 * 1024 * 1024;

/** 20 random bytes in hex: the shape of Patchwork's (DRF authtoken) keys. */
export function newToken(): string {
  return crypto.randomBytes(20).toString('hex');
}

export function tokenHash(token: string): string {
  return crypto.createHash('sha256').update(token.trim(), 'utf8').digest('hex');
}

/** An argon2id PHC string with a fresh 16-byte salt. */
export async function hashPassword(password: string): Promise<string> {
  return argon2Hash(password.normalize('NFC'), ARGON2);
}

/**
 * Whether the password matches the stored hash: argon2id (`$argon2id$…`), or the `scrypt$N$r$p$salt$hash` of
 * earlier versions (salt and hash base64). Anything else never matches.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const pw = password.normalize('NFC');
  if (stored.startsWith('$argon2')) {
    try {
      return await argon2Verify(stored, pw);
    } catch {
      return false; // a damaged hash string
    }
  }
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(pw, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT_MAXMEM });
  return key.length === expected.length && crypto.timingSafeEqual(key, expected);
}

/** True for a hash that is not argon2id with today's parameters: replace it once the password is known to be right. */
export function needsRehash(stored: string): boolean {
  return !stored.startsWith(CURRENT_PREFIX);
}

let dummy: Promise<string> | null = null;

/**
 * Spends what checking a password costs, and fails: for a login whose user does not exist or has no password, so
 * that the answer's timing does not tell which usernames exist.
 */
export async function verifyNothing(password: string): Promise<false> {
  dummy ??= hashPassword(crypto.randomBytes(16).toString('hex'));
  await verifyPassword(password, await dummy);
  return false;
}

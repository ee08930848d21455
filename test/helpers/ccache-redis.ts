// The ccache ACL user of docs/scale.md on a test Redis (test/helpers/redis.ts): made with the docs' own ACL SETUSER
// line through the admin user, and an admin client to count and read keys.
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { parseCcacheRemoteUrl, type QueueSettings } from '../../src/config/queue.js';
import type { RedisServer } from './redis.js';

/** docs/scale.md's line, after `ACL SETUSER ccache on >PASSWORD`. */
export const CCACHE_ACL = ['resetkeys', '~ccache:*', 'resetchannels', '-@all', '+get', '+set', '+exists', '+del'];

export function adminClient(r: RedisServer): Redis {
  return new Redis({ host: r.host, port: r.port, username: r.user, password: r.password, ...(r.ca ? { tls: { ca: r.ca } } : {}), maxRetriesPerRequest: 1 });
}

/** Adds the ccache user (ACL as in the docs, or `acl`) and returns its settings as --ccache-remote parses them. */
export async function addCcacheUser(r: RedisServer, opts: { user?: string; acl?: string[]; caFile?: string } = {}): Promise<QueueSettings> {
  const user = opts.user ?? 'ccache';
  const password = crypto.randomBytes(12).toString('base64url');
  const admin = adminClient(r);
  try {
    await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, ...(opts.acl ?? CCACHE_ACL));
  } finally {
    admin.disconnect();
  }
  return parseCcacheRemoteUrl(r.urlWith(user, password), opts.caFile ?? null);
}

/** Every key of the Redis, sorted (as the admin user). */
export async function allKeys(r: RedisServer): Promise<string[]> {
  const admin = adminClient(r);
  try {
    return (await admin.keys('*')).sort();
  } finally {
    admin.disconnect();
  }
}

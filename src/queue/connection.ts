// Connections to the queue's Redis: ioredis options from the parsed --queue URL (ACL user and password, TLS for
// rediss://, the CA of --queue-ca), the settings BullMQ needs, and a check at start that tells a refused password
// (a configuration error: stop) from a Redis that is not reachable yet (wait for it).
import { Redis, type RedisOptions } from 'ioredis';
import { redisTlsOptions, type QueueSettings } from '../config/queue.js';
import { invalid, unavailable } from '../errors.js';

/** What a connection is for: its CLIENT SETNAME, so `CLIENT LIST` on the Redis shows who holds what. */
export type ConnectionRole = 'queue' | 'worker' | 'events' | 'registry' | 'check' | 'bench';

export function redisOptions(q: QueueSettings, role: ConnectionRole): RedisOptions {
  return {
    host: q.host,
    port: q.port,
    username: q.username,
    password: q.password,
    db: q.db,
    connectionName: `patchbay-${role}`,
    // BullMQ's workers block on Redis (BZPOPMIN): a command must wait for a reconnection rather than fail after a few
    // retries, or a worker gives up during a Redis restart. BullMQ refuses a worker connection without it.
    maxRetriesPerRequest: null,
    // Reconnect for ever, backing off to 5 s: Redis restarted or unreachable is waited for (issue 12 §5).
    retryStrategy: (times) => Math.min(200 * times, 5_000),
    ...(q.tls ? { tls: redisTlsOptions(q) } : {}),
  };
}

/**
 * A new ioredis client, connecting in the background and reconnecting for ever. `onError` hears each failure (a
 * refused connection while Redis restarts …): ioredis prints an "Unhandled error event" for a client without one.
 */
export function connect(q: QueueSettings, role: ConnectionRole, onError: (err: Error) => void): Redis {
  const client = new Redis(redisOptions(q, role));
  client.on('error', onError);
  return client;
}

/** What checkQueue found. */
export type QueueReachability = { ok: true; version: string } | { ok: false; reason: string };

/**
 * Connects once, without retrying, and asks for the server's version. A refused user or password (WRONGPASS,
 * NOAUTH), or a TLS certificate that does not verify, throws an `invalid` AppError (start must stop: waiting will
 * not fix it); a Redis that does not answer in time, or refuses the connection, is `{ ok: false }` (the caller may
 * start and let the connections retry).
 */
export async function checkQueue(q: QueueSettings, timeoutMs = 5_000): Promise<QueueReachability> {
  const client = new Redis({ ...redisOptions(q, 'check'), lazyConnect: true, retryStrategy: () => null, connectTimeout: timeoutMs, maxRetriesPerRequest: 0 });
  let firstError: Error | null = null;
  client.on('error', (e: Error) => (firstError ??= e));
  try {
    await client.connect();
    const info = await client.info('server');
    return { ok: true, version: /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown' };
  } catch (e) {
    const err: Error = firstError ?? (e as Error);
    const text = err.message;
    if (/WRONGPASS|NOAUTH|NOPERM|invalid username-password/i.test(text)) {
      throw invalid('queue_auth_refused', `Redis at ${q.display} refused user "${q.username}": ${firstLine(text)} (check --queue's user and password, and the user's ACL)`);
    }
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code) || /certificate/i.test(text)) {
      throw invalid('queue_tls_refused', `TLS to ${q.display} failed: ${firstLine(text)} (the server's certificate must verify; --queue-ca names a private CA)`);
    }
    return { ok: false, reason: firstLine(text) || code || 'no answer' };
  } finally {
    client.disconnect();
  }
}

/** checkQueue for a start that cannot go on without Redis (the bench, tools): not reachable is an error too. */
export async function requireQueue(q: QueueSettings, timeoutMs?: number): Promise<string> {
  const r = await checkQueue(q, timeoutMs);
  if (!r.ok) throw unavailable('queue_unreachable', `Redis at ${q.display} is not reachable: ${r.reason}`);
  return r.version;
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0]!.slice(0, 300);
}

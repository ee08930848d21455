// The shared ccache's door to Redis (issue 12 §3): ccache's own Redis remote storage, used by the trusted base builds
// only. Builds run with no network (./sandbox.ts), and the Redis password must never enter a sandbox, so this process
// listens on a unix socket in a folder only root can walk (`redis+unix:` to ccache): on each connection it connects
// to the real Redis itself (TCP, or TLS for rediss://), logs in as the ccache ACL user, swallows the replies, then
// copies bytes both ways. Only the base build's sandbox gets the socket bound in (./steps/build.step.ts); a student's
// series build has neither the socket nor the variable. A Redis that does not answer is never a build's failure:
// the connection is closed, ccache counts a remote error and compiles; for a few seconds after a failure every
// connection is closed at once, so a build does not wait on a dead Redis file after file.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { CCACHE_REMOTE_CA_FLAG, redisTlsOptions, type QueueSettings } from '../config/queue.js';
import { invalid } from '../errors.js';
import { deadOwnersIn } from './dead-owners.js';
import type { Logger } from '../log.js';

/** Connecting and logging in to Redis: ccache waits up to its operation-timeout (10 s) for its first reply. */
const LOGIN_TIMEOUT_MS = 3_000;
/** After a failed connection, connections are closed at once for this long (ccache then compiles without a pause). */
const RETRY_AFTER_MS = 10_000;
/** Longest reply line read while logging in (Redis' errors are one short line). */
const MAX_REPLY_BYTES = 4_096;
/** A unix socket's path is at most 107 bytes (sun_path). */
const MAX_SOCKET_PATH = 100;

/** The socket's folder: `<prefix><pid>-<random>` in the parent folder. */
const DIR_PREFIX = 'patchbay-ccache-';

/** ccache's keys in Redis all start with this (seen with MONITOR: `GET ccache:<hash>`). */
export const CCACHE_KEY_PREFIX = 'ccache:';

/** A Redis command in RESP (https://redis.io/docs/reference/protocol-spec/): an array of bulk strings. */
export function respCommand(...args: string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
  return Buffer.from(parts.join(''));
}

/**
 * Reads `count` one-line replies (`+OK`, `:1`, `-ERR …`) from the front of `buf`: the lines, and the bytes after them;
 * null while incomplete. Throws on a reply longer than MAX_REPLY_BYTES or of another type (a bulk string).
 */
export function takeReplies(buf: Buffer, count: number): { lines: string[]; rest: Buffer } | null {
  const lines: string[] = [];
  let at = 0;
  while (lines.length < count) {
    const end = buf.indexOf('\r\n', at);
    if (end < 0) {
      if (buf.length - at > MAX_REPLY_BYTES) throw new Error('Redis answered with an overlong line');
      return null;
    }
    const line = buf.subarray(at, end).toString('utf8');
    if (!/^[+\-:]/.test(line)) throw new Error(`Redis answered ${JSON.stringify(line.slice(0, 40))} where one line was expected`);
    lines.push(line);
    at = end + 2;
  }
  return { lines, rest: buf.subarray(at) };
}

export interface CcacheRemoteOptions {
  redis: QueueSettings;
  log: Logger;
  /** Where the socket's private folder is made (default the system's temporary folder, private in every sandbox). */
  parentDir?: string;
  /** After a failure, Redis is tried again after this long (default 10 s); meanwhile connections are closed at once. */
  retryAfterMs?: number;
}

/** What the service did since its start, for the logs and tests. */
export interface CcacheRemoteCounts {
  /** Connections of ccache's. */
  accepted: number;
  /** …logged in and joined to Redis. */
  joined: number;
  /** …closed at once: Redis refused or did not answer (now, or in the retry pause after a failure). */
  closed: number;
}

/** What checkAccess found at start. */
export type CcacheRemoteAccess = { ok: true; wide: boolean } | { ok: false; reason: string };

export class CcacheRemote {
  /** The unix socket the trusted base builds' ccache connects to. */
  readonly socketPath: string;
  private readonly parent: string;
  private readonly dir: string;
  private readonly redis: QueueSettings;
  private readonly log: Logger;
  private readonly tlsOptions: tls.ConnectionOptions | null;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly retryAfterMs: number;
  private downUntil = 0;
  private down = false;
  private readonly counts: CcacheRemoteCounts = { accepted: 0, joined: 0, closed: 0 };

  constructor(o: CcacheRemoteOptions) {
    this.redis = o.redis;
    this.log = o.log;
    this.retryAfterMs = o.retryAfterMs ?? RETRY_AFTER_MS;
    this.parent = o.parentDir ?? os.tmpdir();
    this.dir = path.join(this.parent, `${DIR_PREFIX}${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
    this.socketPath = path.join(this.dir, 'redis.sock');
    if (Buffer.byteLength(this.socketPath) > MAX_SOCKET_PATH) {
      throw invalid('config_invalid', `the ccache remote's socket path ${this.socketPath} is longer than ${MAX_SOCKET_PATH} bytes: set TMPDIR to a shorter folder`);
    }
    this.tlsOptions = o.redis.tls ? redisTlsOptions(o.redis, CCACHE_REMOTE_CA_FLAG) : null;
  }

  /** ccache's `remote_storage` for the trusted base builds: the socket, no password. */
  get storageUrl(): string {
    return `redis+unix:${this.socketPath}`;
  }

  stats(): CcacheRemoteCounts {
    return { ...this.counts };
  }

  /**
   * Checks the user once: a refused password or an ACL without ccache's commands stops the start (waiting will not
   * fix it); an unreachable Redis is only a warning (builds compile without it until it answers). `wide`: the user
   * can also read keys outside ccache's (the queue's): the ACL should be narrowed (docs/scale.md).
   */
  async checkAccess(): Promise<CcacheRemoteAccess> {
    let up: net.Socket;
    try {
      up = await this.connectUpstream();
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
    try {
      const own = `${CCACHE_KEY_PREFIX}patchbay-access-check`;
      const lines = await this.login(up, [respCommand('EXISTS', own), respCommand('EXISTS', 'patchbay:ccache-access-check')]);
      const auth = lines[0]!;
      if (auth.startsWith('-')) {
        throw invalid('ccache_remote_refused', `Redis at ${this.redis.display} refused user "${this.redis.username}": ${auth.slice(1)} (check --ccache-remote's user and password)`);
      }
      if (this.redis.db !== 0 && lines[1]!.startsWith('-')) {
        throw invalid('ccache_remote_refused', `Redis at ${this.redis.display} refused SELECT ${this.redis.db} to user "${this.redis.username}": ${lines[1]!.slice(1)} (its ACL needs +select)`);
      }
      if (!lines[lines.length - 2]!.startsWith(':')) {
        throw invalid(
          'ccache_remote_refused',
          `Redis at ${this.redis.display} does not let user "${this.redis.username}" read ccache's keys: ${lines[lines.length - 2]!.slice(1)} (its ACL needs ~${CCACHE_KEY_PREFIX}* +get +set +exists +del, docs/scale.md)`,
        );
      }
      return { ok: true, wide: lines[lines.length - 1]!.startsWith(':') };
    } catch (e) {
      if ((e as { kind?: string }).kind === 'invalid') throw e;
      return { ok: false, reason: (e as Error).message };
    } finally {
      up.destroy();
    }
  }

  /**
   * Checks the user (checkAccess: a refused password or a user without ccache's commands throws; an unreachable Redis
   * and a user that reaches other keys too are warnings), then listens.
   */
  async start(): Promise<void> {
    const features = await ccacheFeatures();
    if (features !== null && !features.includes('redis+unix-storage')) {
      this.log.warn({ features }, 'this ccache cannot use a Redis unix socket (no redis+unix-storage): base builds compile without the remote (Debian 12\'s ccache 4.7 has it)');
    }
    removeStale(this.parent);
    const access = await this.checkAccess();
    if (!access.ok) this.log.warn({ redis: this.redis.display, reason: access.reason }, 'the ccache remote storage is not reachable yet: base builds compile without it until it is');
    else if (access.wide) this.log.warn({ redis: this.redis.display, user: this.redis.username }, `the ccache remote storage's user can read keys outside ${CCACHE_KEY_PREFIX}*: limit its ACL to ~${CCACHE_KEY_PREFIX}* (docs/scale.md)`);
    fs.mkdirSync(this.dir, { mode: 0o700 });
    const server = net.createServer({ pauseOnConnect: true }, (c) => this.accept(c));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.warn({ err: err.message }, 'ccache remote socket'));
    // The build user connects from inside its sandbox, where only this file is bound; on the host the folder
    // (root's, 0700) keeps everyone else out.
    fs.chmodSync(this.socketPath, 0o666);
    this.server = server;
    this.log.info({ socket: this.socketPath, redis: this.redis.display, user: this.redis.username }, 'ccache remote storage for base builds');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    // Errors end the pair (below); without a listener Node would throw them.
    s.on('error', () => {});
  }

  private accept(client: net.Socket): void {
    this.counts.accepted++;
    this.track(client);
    if (Date.now() < this.downUntil) {
      this.counts.closed++;
      client.destroy();
      return;
    }
    void this.join(client);
  }

  private async join(client: net.Socket): Promise<void> {
    let up: net.Socket | null = null;
    try {
      up = await this.connectUpstream();
      this.track(up);
      if (client.destroyed) throw new Error('ccache went away');
      const lines = await this.login(up, []);
      if (lines[0]!.startsWith('-')) throw new Error(`Redis refused user "${this.redis.username}": ${lines[0]!.slice(1)}`);
      if (lines.length > 1 && lines[1]!.startsWith('-')) throw new Error(`Redis refused SELECT ${this.redis.db}: ${lines[1]!.slice(1)}`);
    } catch (e) {
      up?.destroy();
      client.destroy();
      if (!(e instanceof Error && e.message === 'ccache went away')) this.failed(e as Error);
      return;
    }
    if (this.down) {
      this.down = false;
      this.log.info({ redis: this.redis.display }, 'ccache remote storage answers again');
    }
    this.counts.joined++;
    const u = up;
    const end = () => {
      client.destroy();
      u.destroy();
    };
    client.once('close', end);
    u.once('close', end);
    client.pipe(u);
    u.pipe(client);
    client.resume();
  }

  private failed(err: Error): void {
    this.counts.closed++;
    this.downUntil = Date.now() + this.retryAfterMs;
    if (!this.down) {
      this.down = true;
      this.log.warn({ redis: this.redis.display, err: err.message }, `ccache remote storage unavailable: base builds compile without it (tried again after ${this.retryAfterMs / 1000} s)`);
    }
  }

  private connectUpstream(): Promise<net.Socket> {
    const r = this.redis;
    return new Promise((resolve, reject) => {
      const s = this.tlsOptions ? tls.connect({ host: r.host, port: r.port, ...this.tlsOptions }) : net.connect({ host: r.host, port: r.port });
      const timer = setTimeout(() => fail(new Error(`no connection to ${r.display} within ${LOGIN_TIMEOUT_MS / 1000} s`)), LOGIN_TIMEOUT_MS);
      const fail = (err: Error) => {
        clearTimeout(timer);
        s.destroy();
        reject(err);
      };
      s.once('error', fail);
      s.once(this.tlsOptions ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.off('error', fail);
        s.on('error', () => {});
        resolve(s);
      });
    });
  }

  /**
   * Sends AUTH (and SELECT for a database other than 0) then `extra`, and reads their one-line replies, all of them
   * consumed here so the client's first byte is the answer to its own first command. Resolves with the reply lines.
   */
  private login(up: net.Socket, extra: Buffer[]): Promise<string[]> {
    const r = this.redis;
    const commands = [respCommand('AUTH', r.username, r.password), ...(r.db !== 0 ? [respCommand('SELECT', String(r.db))] : []), ...extra];
    return new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const done = (err: Error | null, lines?: string[], rest?: Buffer) => {
        clearTimeout(timer);
        up.off('data', onData);
        up.off('close', onClose);
        if (err) reject(err);
        else {
          // Nothing should follow the replies; paused, so the client reads what does when it is joined.
          up.pause();
          if (rest?.length) up.unshift(rest);
          resolve(lines!);
        }
      };
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        try {
          const got = takeReplies(buf, commands.length);
          if (got) done(null, got.lines, got.rest);
        } catch (e) {
          done(e as Error);
        }
      };
      const onClose = () => done(new Error(`${r.display} closed the connection while logging in`));
      const timer = setTimeout(() => done(new Error(`${r.display} did not answer the login within ${LOGIN_TIMEOUT_MS / 1000} s`)), LOGIN_TIMEOUT_MS);
      up.on('data', onData);
      up.once('close', onClose);
      up.write(Buffer.concat(commands));
    });
  }
}

/** The features line of `ccache --version` (`file-storage http-storage redis+unix-storage redis-storage`), or null. */
function ccacheFeatures(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('ccache', ['--version'], { timeout: 5_000 }, (err, stdout) => resolve(err ? null : (/^Features: (.*)$/m.exec(stdout)?.[1] ?? null)));
  });
}

/** Socket folders of processes that died without stopping (a kill -9): nothing listens there any more. */
function removeStale(parent: string): void {
  const folder = new RegExp(`^${DIR_PREFIX}(\\d+)-[0-9a-f]{12}$`);
  for (const name of deadOwnersIn(parent, (n) => Number(folder.exec(n)?.[1] ?? NaN) || null)) {
    const dir = path.join(parent, name);
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    // Only our own folders (root's, not a symlink someone else planted).
    if (st?.isDirectory() && st.uid === process.getuid?.()) fs.rmSync(dir, { recursive: true, force: true });
  }
}

// The ccache's door to Redis (src/pipeline/ccache-remote.service.ts) against a real redis-server with the ccache ACL
// user of docs/scale.md: whoever connects to the socket is logged in without a password and reads only its own
// replies; the user reaches ccache's keys and nothing else; ccache itself stores and finds results through it; a
// refused password stops the start; a Redis that is down costs ccache nothing but a remote error; TLS.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { parseCcacheRemoteUrl } from '../../src/config/queue.js';
import { isAppError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { CcacheRemote, respCommand } from '../../src/pipeline/ccache-remote.service.js';
import { parseStatsLog } from '../../src/pipeline/ccache-stats.js';
import { addCcacheUser, adminClient, allKeys, CCACHE_ACL } from '../helpers/ccache-redis.js';
import { tempDir } from '../helpers/dirs.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

/** A logger whose lines are kept. */
function memoryLog(): { log: Logger; lines: () => { level: number; msg: string }[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  return { log: pino<never>({ level: 'info' }, stream), lines: () => out.map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

/** Length of the first complete RESP reply in `buf` (simple, error, integer, bulk), or -1. */
function replyLength(buf: Buffer): number {
  const eol = buf.indexOf('\r\n');
  if (eol < 0) return -1;
  if (buf[0] !== 0x24) return eol + 2;
  const n = Number(buf.subarray(1, eol).toString());
  if (n < 0) return eol + 2;
  return buf.length >= eol + 2 + n + 2 ? eol + 2 + n + 2 : -1;
}

/** Connects to the socket, sends each command and returns its reply, as raw text; `first`: every byte read before the first reply ended. */
async function ask(socket: string, commands: string[][]): Promise<{ replies: string[]; closed: boolean }> {
  const c = net.connect(socket);
  let buf = Buffer.alloc(0);
  let closed = false;
  const replies: string[] = [];
  const waiters: (() => void)[] = [];
  c.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (let n = replyLength(buf); n > 0; n = replyLength(buf)) {
      replies.push(buf.subarray(0, n).toString());
      buf = buf.subarray(n);
    }
    waiters.splice(0).forEach((w) => w());
  });
  c.on('close', () => {
    closed = true;
    waiters.splice(0).forEach((w) => w());
  });
  c.on('error', () => {});
  for (const [i, cmd] of commands.entries()) {
    c.write(respCommand(...cmd));
    while (replies.length <= i && !closed) await new Promise<void>((r) => waiters.push(r));
    if (closed) break;
  }
  c.destroy();
  return { replies, closed };
}

/** `ccache gcc -c` of `source` on the host with this cache folder and remote; its stats log's counts. Not spawnSync: the door answers from this process. */
async function compile(dir: string, cacheDir: string, remote: string, source: string) {
  // The same source at the same (relative) name hits: ccache hashes the name.
  const src = path.join(dir, `${crypto.createHash('sha256').update(source).digest('hex').slice(0, 12)}.c`);
  fs.writeFileSync(src, source);
  const log = path.join(dir, `${path.basename(cacheDir)}-${Math.random().toString(36).slice(2)}.stats`);
  const env = { PATH: process.env.PATH, HOME: dir, CCACHE_DIR: cacheDir, CCACHE_REMOTE_STORAGE: remote, CCACHE_STATSLOG: log, CCACHE_NOHASHDIR: '1', CCACHE_BASEDIR: dir };
  await new Promise<void>((resolve, reject) => execFile('ccache', ['gcc', '-c', src, '-o', `${src}.o`], { cwd: dir, env }, (err, _out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve())));
  return parseStatsLog(fs.readFileSync(log, 'utf8'));
}

describe('ccache remote storage door', () => {
  let redis: RedisServer;
  const remotes: CcacheRemote[] = [];
  const dirs: string[] = [];
  /** A temporary folder removed after the suite, passed or failed. */
  const scratch = (prefix: string) => {
    const d = tempDir(prefix);
    dirs.push(d);
    return d;
  };
  const open = async (o: ConstructorParameters<typeof CcacheRemote>[0]) => {
    const r = new CcacheRemote(o);
    remotes.push(r);
    await r.start();
    return r;
  };

  before(async () => {
    redis = await startRedis({ persistence: false });
  });
  after(async () => {
    for (const r of remotes) await r.stop();
    await redis?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('logs in as the ccache user itself: a client sends no password, reads only its own replies, and reaches ccache keys alone', async () => {
    const settings = await addCcacheUser(redis);
    const { log } = memoryLog();
    const remote = await open({ redis: settings, log });
    assert.equal(remote.storageUrl, `redis+unix:${remote.socketPath}`);
    // The folder is root's alone; the socket itself is open to the build user that finds it bound in its sandbox.
    assert.equal(fs.statSync(path.dirname(remote.socketPath)).mode & 0o777, 0o700);
    assert.ok(fs.statSync(remote.socketPath).isSocket());

    const { replies } = await ask(remote.socketPath, [
      ['GET', 'ccache:k'],
      ['SET', 'ccache:k', 'v'],
      ['GET', 'ccache:k'],
      ['EXISTS', 'ccache:k'],
      ['DEL', 'ccache:k'],
      ['SET', 'patchbay:evil', 'x'],
      ['GET', 'bull:patchbay:gates:1'],
      ['KEYS', '*'],
      ['FLUSHALL'],
      ['CONFIG', 'GET', 'requirepass'],
    ]);
    // The first bytes are the answer to GET (the login's +OK was the door's), then each in turn.
    assert.deepEqual(replies.slice(0, 5), ['$-1\r\n', '+OK\r\n', '$1\r\nv\r\n', ':1\r\n', ':1\r\n']);
    for (const r of replies.slice(5)) assert.match(r, /^-NOPERM/, r);
    assert.equal(replies.length, 10);
    assert.deepEqual(await allKeys(redis), []);
    assert.deepEqual(remote.stats(), { accepted: 1, joined: 1, closed: 0 });
  });

  it('lets ccache store a result and another cache folder find it there, under ccache: keys', async () => {
    const settings = await addCcacheUser(redis);
    const remote = await open({ redis: settings, log: memoryLog().log });
    const dir = scratch('patchbay-ccache-door-');
    const source = 'int door(void) { return 42; }\n';
    const first = await compile(dir, path.join(dir, 'cache-a'), remote.storageUrl, source);
    assert.deepEqual([first.misses, first.remoteWrites > 0, first.remoteErrors], [1, true, 0]);
    const keys = await allKeys(redis);
    assert.ok(keys.length >= 2 && keys.every((k) => k.startsWith('ccache:')), keys.join(' '));
    const second = await compile(dir, path.join(dir, 'cache-b'), remote.storageUrl, source);
    assert.deepEqual([second.hits, second.remoteHits, second.misses, second.remoteErrors], [1, 1, 0, 0]);
    assert.deepEqual(await allKeys(redis), keys, 'a hit writes nothing');
  });

  it('stops the start on a refused password or a user without ccache commands, and says when the user reaches other keys', async () => {
    const good = await addCcacheUser(redis, { user: 'ccache-check' });
    const wrong = parseCcacheRemoteUrl(redis.urlWith('ccache-check', 'not-the-password'));
    const refused = (what: RegExp) => (e: unknown) => isAppError(e) && e.code === 'ccache_remote_refused' && what.test(e.message) && !e.message.includes('not-the-password');
    await assert.rejects(new CcacheRemote({ redis: wrong, log: memoryLog().log }).start(), refused(/refused user "ccache-check"/));
    const narrow = await addCcacheUser(redis, { user: 'ccache-narrow', acl: ['resetkeys', '~ccache:*', '-@all', '+get'] });
    await assert.rejects(new CcacheRemote({ redis: narrow, log: memoryLog().log }).start(), refused(/does not let user "ccache-narrow" read ccache's keys/));

    assert.deepEqual(await new CcacheRemote({ redis: good, log: memoryLog().log }).checkAccess(), { ok: true, wide: false });
    // The queue's own user (every key, every command): works, and the start says to narrow it.
    const wide = parseCcacheRemoteUrl(redis.url);
    const m = memoryLog();
    await open({ redis: wide, log: m.log });
    assert.ok(m.lines().some((l) => l.level === 40 && /can read keys outside ccache:\*/.test(l.msg)));
  });

  it('closes ccache\'s connections at once while Redis is down (ccache compiles, one remote error), and joins again once it is back', async () => {
    const own = await startRedis({ persistence: false });
    try {
      const settings = await addCcacheUser(own);
      const m = memoryLog();
      const remote = await open({ redis: settings, log: m.log, retryAfterMs: 300 });
      const dir = scratch('patchbay-ccache-down-');
      await own.stop();
      const t0 = performance.now();
      const down = await compile(dir, path.join(dir, 'cache'), remote.storageUrl, 'int down(void) { return 1; }\n');
      assert.deepEqual([down.misses, down.remoteErrors], [1, 1]);
      // Refused at once now: no connection attempt for each compilation.
      const again = await ask(remote.socketPath, [['GET', 'ccache:x']]);
      assert.deepEqual(again, { replies: [], closed: true });
      assert.ok(performance.now() - t0 < 5_000, `${Math.round(performance.now() - t0)} ms`);
      assert.ok(m.lines().some((l) => l.level === 40 && /unavailable: base builds compile without it/.test(l.msg)));
      const closedBefore = remote.stats().closed;
      assert.ok(closedBefore >= 2);

      await own.start();
      // A user made with ACL SETUSER lives until a restart (docs/scale.md puts it in redis.conf): made again.
      const admin = adminClient(own);
      await admin.call('ACL', 'SETUSER', settings.username, 'on', `>${settings.password}`, ...CCACHE_ACL);
      admin.disconnect();
      await new Promise((r) => setTimeout(r, 400));
      const back = await ask(remote.socketPath, [['GET', 'ccache:x']]);
      assert.deepEqual(back.replies, ['$-1\r\n'], JSON.stringify(m.lines()));
      assert.ok(m.lines().some((l) => /answers again/.test(l.msg)));
    } finally {
      await own.close();
    }
  });

  it('removes the socket folders of processes that died without stopping, and no other', async () => {
    const parent = scratch('patchbay-ccache-parent-');
    const dead = await new Promise<number>((resolve) => {
      const c = execFile('true');
      c.once('exit', () => resolve(c.pid!));
    });
    const stale = path.join(parent, `patchbay-ccache-${dead}-0123456789ab`);
    const live = path.join(parent, `patchbay-ccache-${process.pid}-0123456789ab`);
    const other = path.join(parent, `patchbay-ccache-${dead}-not-ours`);
    for (const d of [stale, live, other]) fs.mkdirSync(d);
    const remote = await open({ redis: await addCcacheUser(redis, { user: 'ccache-stale' }), log: memoryLog().log, parentDir: parent });
    assert.deepEqual(fs.readdirSync(parent).sort(), [path.basename(live), path.basename(other), path.basename(path.dirname(remote.socketPath))].sort());
    await remote.stop();
    assert.equal(fs.existsSync(path.dirname(remote.socketPath)), false, 'its own folder goes at stop');
  });

  it('reaches a rediss:// Redis with its CA', async () => {
    const secure = await startRedis({ persistence: false, tls: true });
    try {
      const settings = await addCcacheUser(secure, { caFile: path.join(secure.dir, 'ca.crt') });
      assert.equal(settings.tls, true);
      const remote = await open({ redis: settings, log: memoryLog().log });
      const { replies } = await ask(remote.socketPath, [
        ['SET', 'ccache:t', 'tls'],
        ['GET', 'ccache:t'],
      ]);
      assert.deepEqual(replies, ['+OK\r\n', '$3\r\ntls\r\n']);
    } finally {
      await secure.close();
    }
  });
});

// The shared ccache between workers (issue 12 §3) through the build step on trees that build like Linux in
// milliseconds (test/helpers/mini-kbuild.ts), each in a data folder of its own as two worker machines have, with a
// real redis-server and the ccache ACL user of docs/scale.md behind the door of src/pipeline/ccache-remote.service.ts:
// worker A's base build fills Redis; worker B's first base build of the same tree, with an empty local ccache, finds
// every compilation there (ccache's own stats); a student's series build on B never reaches the socket or Redis, and
// writes nothing there; a Redis that is down costs the base build nothing but remote errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCcacheRemoteUrl, type QueueSettings } from '../../src/config/queue.js';
import { createLogger } from '../../src/log.js';
import { CcacheRemote } from '../../src/pipeline/ccache-remote.service.js';
import { studentLayer } from '../../src/pipeline/object-tree.js';
import { sandboxHost } from '../../src/pipeline/sandbox-runner.js';
import { buildStep } from '../../src/pipeline/steps/build.step.js';
import type { StepResult } from '../../src/pipeline/types.js';
import { addCcacheUser, allKeys } from '../helpers/ccache-redis.js';
import { applySeries, miniBuild, miniKbuild, type MiniTree, type SeriesFile } from '../helpers/mini-kbuild.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const host = sandboxHost();
const ready = host.root && !host.problems.length && host.user !== null;
/** kernel/fork.c, exit.c and these: the base build's compilations. */
const EXTRA_SOURCES = 30;
const COMPILATIONS = EXTRA_SOURCES + 2;
const CLEAN: Record<string, SeriesFile> = { 'kernel/fork.c': 'int mini_fork(void) { return 3; }\n' };

const silent = () => createLogger('silent');

describe('ccache shared between workers through Redis', { skip: !ready && `needs root and the sandbox tools (${host.problems.join('; ') || 'not root'})` }, () => {
  let redis: RedisServer;
  let settings: QueueSettings;
  let remote: CcacheRemote;
  const trees: MiniTree[] = [];
  const others: CcacheRemote[] = [];

  /** A worker machine's data folder: its own mirror, worktree, warm tree and (empty) ccache. */
  const worker = () => {
    const t = miniKbuild({ sources: EXTRA_SOURCES });
    trees.push(t);
    return t;
  };
  const build = async (t: MiniTree, files: Record<string, SeriesFile>, email: string, socket: string | null): Promise<{ r: StepResult; log: string }> => {
    applySeries(t, files);
    const { job, ctx } = miniBuild(t, email);
    const r = await buildStep(job, socket ? { ...ctx, ccacheRemote: socket } : ctx);
    return { r, log: fs.readFileSync(ctx.logPath, 'utf8') };
  };

  before(async () => {
    redis = await startRedis({ persistence: false });
    settings = await addCcacheUser(redis);
    remote = new CcacheRemote({ redis: settings, log: silent() });
    await remote.start();
  });

  after(async () => {
    await remote?.stop();
    for (const r of others) await r.stop();
    await redis?.close();
    if (!process.env.PATCHBAY_KEEP_SANDBOX_TEST) for (const t of trees) fs.rmSync(t.data, { recursive: true, force: true });
  });

  let a: MiniTree;
  let b: MiniTree;

  it("fills Redis from worker A's base build (every compilation a miss, written there under ccache: keys)", async () => {
    a = worker();
    assert.deepEqual(await allKeys(redis), []);
    const { r, log } = await build(a, CLEAN, 'teacher@example.org', remote.socketPath);
    assert.equal(r.status, 'pass', `${r.summary}\n${log}`);
    const o = r.outputs!;
    assert.equal(o.incremental, false);
    assert.deepEqual([o.baseCcacheMisses, o.baseCcacheHits, o.baseCcacheRemoteHits, o.baseCcacheRemoteErrors], [COMPILATIONS, 0, 0, 0], log);
    assert.ok(Number(o.baseCcacheRemoteWrites) >= COMPILATIONS, String(o.baseCcacheRemoteWrites));
    const keys = await allKeys(redis);
    assert.ok(keys.length >= COMPILATIONS && keys.every((k) => k.startsWith('ccache:')), keys.join(' '));
    assert.match(log, new RegExp(`ccache: ${COMPILATIONS} compilations, 0 hits \\(0 from the local cache, 0 from the remote\\), ${COMPILATIONS} compiled`));
    assert.match(log, /ccache remote storage for the base build/);
  });

  it("gives worker B's first base build of the same tree, with an empty local ccache, every compilation from Redis", async () => {
    b = worker();
    assert.equal(fs.existsSync(b.ccache), false, 'no local ccache yet');
    const before = await allKeys(redis);
    const { r, log } = await build(b, CLEAN, 'teacher@example.org', remote.socketPath);
    assert.equal(r.status, 'pass', `${r.summary}\n${log}`);
    const o = r.outputs!;
    assert.deepEqual([o.baseCcacheHits, o.baseCcacheRemoteHits, o.baseCcacheLocalHits, o.baseCcacheMisses, o.baseCcacheRemoteErrors], [COMPILATIONS, COMPILATIONS, 0, 0, 0], log);
    assert.match(log, new RegExp(`ccache: ${COMPILATIONS} compilations, ${COMPILATIONS} hits \\(0 from the local cache, ${COMPILATIONS} from the remote\\), 0 compiled`));
    assert.deepEqual(await allKeys(redis), before, 'hits write nothing to Redis');
    // …and the same image as worker A's.
    const imageOf = (t: MiniTree) => fs.readFileSync(path.join(t.objDir, 'arch/x86/boot/bzImage'));
    assert.deepEqual(imageOf(b), imageOf(a));
  });

  it("keeps a student's series build away from the socket and Redis: not there, no variable, no connection, nothing written", async () => {
    const sock = remote.socketPath;
    const probe = [
      `test -e ${sock}; echo $$? > $(obj)/pb-sock-rc`,
      `test -e ${path.dirname(sock)}; echo $$? > $(obj)/pb-sockdir-rc`,
      'env > $(obj)/pb-env',
      `perl kernel/pb-connect.pl ${sock}; echo $$? > $(obj)/pb-connect-rc`,
      `CCACHE_REMOTE_STORAGE=redis+unix:${sock} CCACHE_READONLY= CCACHE_DIR=/tmp/pb-cc ccache gcc -c kernel/pb-new.c -o /tmp/pb-new.o; echo $$? > $(obj)/pb-ccache-rc`,
      `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${redis.port}' 2>/dev/null; echo $$? > $(obj)/pb-net-rc`,
    ];
    const attack: Record<string, SeriesFile> = {
      ...CLEAN,
      'kernel/pb-new.c': 'int pb_new(void) { return 7; }\n',
      // Writes a SET to whatever answers at the socket: exit 3 when nothing does.
      'kernel/pb-connect.pl': 'use IO::Socket::UNIX; my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 3; print $s "*3\\r\\n\\$3\\r\\nSET\\r\\n\\$10\\r\\nccache:pwn\\r\\n\\$1\\r\\nx\\r\\n"; exit 0;\n',
      'kernel/Makefile.series': `all: pb-attack\npb-attack: $(IMAGE)\n${probe.map((l) => `\t${l}`).join('\n')}\n.PHONY: pb-attack\n`,
    };
    const keys = await allKeys(redis);
    const accepted = remote.stats().accepted;
    const email = 'mallory@students.example.org';
    const { r, log } = await build(b, attack, email, remote.socketPath);
    assert.equal(r.status, 'pass', `${r.summary}\n${log}`);
    assert.equal(r.outputs!.incremental, true, 'the warm tree: no base build');
    const seen = (name: string) => fs.readFileSync(path.join(studentLayer(b.objDir, email).upper, name), 'utf8').trim();
    assert.notEqual(seen('pb-sock-rc'), '0', 'no socket in the sandbox');
    assert.notEqual(seen('pb-sockdir-rc'), '0', 'not even its folder');
    assert.doesNotMatch(seen('pb-env'), /CCACHE_REMOTE|patchbay-ccache|ccache@|REDIS/);
    // Its one stats log is its own, in its view of the object tree; its cache is its own layer over the local one.
    assert.deepEqual(seen('pb-env').split('\n').filter((l) => l.startsWith('CCACHE_STATSLOG=')), [`CCACHE_STATSLOG=${b.objDir}/.series-ccache-stats.log`]);
    assert.doesNotMatch(seen('pb-env'), /^CCACHE_READONLY=/m);
    assert.equal(seen('pb-connect-rc'), '3', 'nothing answers at the socket path');
    assert.equal(seen('pb-ccache-rc'), '0', 'ccache compiles without its remote');
    assert.notEqual(seen('pb-net-rc'), '0', 'no network to Redis');
    assert.equal(remote.stats().accepted, accepted, 'not one connection to the socket');
    assert.deepEqual(await allKeys(redis), keys, 'nothing written to Redis');
    assert.ok(!(await allKeys(redis)).includes('ccache:pwn'));
  });

  it('builds the base all the same when Redis is down: remote errors counted, every file compiled', async () => {
    const gone = await startRedis({ persistence: false });
    const down: QueueSettings = parseCcacheRemoteUrl(gone.urlWith('ccache', 'whatever'));
    await gone.close();
    const door = new CcacheRemote({ redis: down, log: silent() });
    others.push(door);
    await door.start();
    const c = worker();
    const { r, log } = await build(c, CLEAN, 'teacher@example.org', door.socketPath);
    assert.equal(r.status, 'pass', `${r.summary}\n${log}`);
    const o = r.outputs!;
    assert.deepEqual([o.baseCcacheMisses, o.baseCcacheRemoteHits], [COMPILATIONS, 0]);
    assert.ok(Number(o.baseCcacheRemoteErrors) >= 1, log);
    assert.match(log, /remote storage errors \(compiled or read locally instead\)/);
  });
});

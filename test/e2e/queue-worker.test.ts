// `patchbay serve --queue` and `patchbay worker` as real processes against a real redis-server (an ACL user with a
// password): the server refuses a wrong Redis password at start; a worker with its token registers and shows on
// /admin/queue.json; a revoked token or a wrong Redis password stops a worker's start; SIGTERM unregisters it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { runCommand } from '../helpers/run-command.js';
import { BIN, ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';
import { seedAdminToken } from '../helpers/worker-process.js';

const env = { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' };
const cli = (args: string[]) => runCommand(process.execPath, [BIN, ...args], { cwd: ROOT, env, timeoutMs: 60_000 });

interface WorkerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
}

function startWorkerProcess(args: string[]): WorkerProcess {
  const child = spawn(process.execPath, [BIN, 'worker', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stdout: () => out, stderr: () => err };
}

describe('patchbay serve --queue and patchbay worker', () => {
  let redis: RedisServer;
  let data: string;
  let projects: string;
  let workerData: string;
  let server: ServerProcess | null = null;
  let adminToken: string;
  let workerToken: string;

  before(async () => {
    redis = await startRedis();
    data = tempDir('patchbay-server-');
    workerData = tempDir('patchbay-worker-');
    projects = projectsDir([DEMO]);
    adminToken = await seedAdminToken(data, projects);
  });
  after(async () => {
    await server?.stop();
    await redis?.close();
    for (const d of [data, workerData, projects]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  const queueJson = async () => {
    const r = await fetch(`${server!.baseUrl}/admin/queue.json`, { headers: { authorization: `Token ${adminToken}` } });
    assert.equal(r.status, 200);
    return (await r.json()) as { mode: string; reachable: boolean; workers: { name: string; lanes: string[]; host: string }[] };
  };

  it('makes, lists and revokes worker tokens from the command line', async () => {
    const made = await cli(['worker', 'token', 'create', 'lab-1', '--data', data, '--projects', projects]);
    assert.equal(made.code, 0, made.output);
    workerToken = made.stdout.trim();
    assert.match(workerToken, /^pbw-[0-9a-f]{40}$/);
    const again = await cli(['worker', 'token', 'create', 'lab-1', '--data', data, '--projects', projects]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /worker "lab-1" already has a valid token; revoke it first/);
    const other = await cli(['worker', 'token', 'create', 'lab-2', '--data', data, '--projects', projects]);
    assert.equal(other.code, 0);
    const list = await cli(['worker', 'token', 'list', '--data', data, '--projects', projects]);
    assert.deepEqual(list.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 2)), [['lab-1', 'valid'], ['lab-2', 'valid']]);
    assert.ok(!list.stdout.includes(workerToken));
  });

  it('refuses to start the server when Redis refuses the password of --queue', async () => {
    const r = await cli(['serve', '--data', data, '--projects', projects, '--smtp-port', '0', '--http-port', '0', '--queue', redis.urlWith(redis.user, 'wrong-password')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^patchbay: Redis at redis:\/\/patchbay@127\.0\.0\.1:\d+ refused user "patchbay": WRONGPASS/m);
    assert.ok(!r.output.includes('wrong-password'));
    const none = await cli(['serve', '--data', data, '--projects', projects, '--queue', `redis://127.0.0.1:${redis.port}`]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /names no user; Redis must be reached as an ACL user with a password/);
  });

  it('registers a worker started with its token, shows it on /admin/queue.json, and forgets it after SIGTERM', async () => {
    server = await startServer(['--data', data, '--projects', projects, '--queue', redis.url]);
    assert.equal((await queueJson()).mode, 'bullmq');
    const w = startWorkerProcess(['--queue', redis.url, '--server', server.baseUrl, '--token', workerToken, '--name', 'lab-1', '--lanes', 'gates', '--data', workerData]);
    try {
      await waitFor('the worker to register', () => w.stdout().includes('worker lab-1 registered') || w.child.exitCode !== null, 60_000);
      assert.match(w.stdout(), /worker lab-1 registered: lanes gates, arches [a-z0-9_,]*, queues gates\n/, w.stderr());
      const body = await queueJson();
      assert.deepEqual(body.workers.map((x) => [x.name, x.lanes]), [['lab-1', ['gates']]]);
    } finally {
      w.child.kill('SIGTERM');
    }
    assert.equal(await w.exited, 0, w.stderr());
    assert.deepEqual((await queueJson()).workers, []);
  });

  it('stops a worker whose token is revoked, or whose Redis password is wrong, with the reason', async () => {
    const revoked = await cli(['worker', 'token', 'revoke', 'lab-2', '--data', data, '--projects', projects]);
    assert.equal(revoked.code, 0, revoked.output);
    const list = await cli(['worker', 'token', 'list', '--data', data, '--projects', projects]);
    assert.match(list.stdout, /^lab-2\trevoked\t/m);
    const made = await cli(['worker', 'token', 'create', 'lab-3', '--data', data, '--projects', projects]);
    await cli(['worker', 'token', 'revoke', 'lab-3', '--data', data, '--projects', projects]);
    const w = startWorkerProcess(['--queue', redis.url, '--server', server!.baseUrl, '--token', made.stdout.trim(), '--name', 'lab-3', '--lanes', 'gates', '--data', workerData]);
    assert.equal(await w.exited, 1);
    assert.match(w.stderr(), /refused this worker's token: Invalid or revoked worker token/);
    const bad = startWorkerProcess(['--queue', redis.urlWith(redis.user, 'nope'), '--server', server!.baseUrl, '--token', workerToken, '--name', 'lab-1', '--lanes', 'gates', '--data', workerData]);
    assert.equal(await bad.exited, 1);
    assert.match(bad.stderr(), /refused user "patchbay": WRONGPASS/);
    assert.deepEqual((await queueJson()).workers, []);
  });
});

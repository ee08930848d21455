// The queue's Redis, for real (test/helpers/redis.ts: a redis-server on a free port, an ACL user, the default user
// off): connections from the --queue URL, refusals of wrong credentials, TLS, BullMQ through our options, and the
// worker registry's heartbeats.
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { parseQueueUrl, type QueueSettings } from '../../src/config/queue.js';
import { isAppError } from '../../src/errors.js';
import { checkQueue, connect, redisOptions } from '../../src/queue/connection.js';
import { PREFIX, queueName } from '../../src/queue/names.js';
import { jobId, validateJobData } from '../../src/queue/payloads.js';
import { listWorkers, WorkerHeartbeat, workerKey } from '../../src/queue/registry.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const settings = (r: RedisServer, user = r.user, password = r.password): QueueSettings =>
  parseQueueUrl(r.urlWith(user, password), r.ca ? path.join(r.dir, 'ca.crt') : null);

describe('the queue Redis', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.close();
  });

  it('lets the ACL user in and tells the server version', async () => {
    const r = await checkQueue(settings(redis));
    assert.equal(r.ok, true);
    assert.match(r.ok ? r.version : '', /^\d+\.\d+/);
  });

  it('refuses a client without the right password, and one without any user', async () => {
    await assert.rejects(checkQueue(settings(redis, redis.user, 'not-the-password')), (e) => isAppError(e) && e.code === 'queue_auth_refused' && /refused user "patchbay": WRONGPASS/.test(e.message));
    await assert.rejects(checkQueue(settings(redis, 'default', 'anything')), (e) => isAppError(e) && e.code === 'queue_auth_refused');
    // No AUTH at all: the default user is off, so not even PING is answered.
    const anonymous = new Redis({ host: redis.host, port: redis.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    anonymous.on('error', () => {});
    await assert.rejects(anonymous.connect().then(() => anonymous.ping()), /NOAUTH|Connection is closed/);
    anonymous.disconnect();
  });

  it('refuses to enqueue a job with the wrong password, and nothing reaches the queue', async () => {
    const q = new Queue(queueName('gates'), { prefix: PREFIX, connection: { ...redisOptions(settings(redis, redis.user, 'wrong'), 'queue'), retryStrategy: () => null } });
    q.on('error', () => {});
    await assert.rejects(q.add('gate', { v: 1, kind: 'gate', runId: 1, project: 'p', unit: {} }), /WRONGPASS/);
    await q.close().catch(() => {});
    const good = new Queue(queueName('gates'), { prefix: PREFIX, connection: redisOptions(settings(redis), 'queue') });
    assert.equal(await good.count(), 0);
    await good.close();
  });

  it('reports a Redis that does not answer as not reachable, without throwing', async () => {
    const closed = { ...settings(redis), port: redis.port === 1 ? 2 : 1 };
    const r = await checkQueue(closed, 2_000);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /ECONNREFUSED|connect/);
  });

  it('runs a BullMQ job through our connection options, the payload checked on both sides, and keeps it across a Redis restart', async () => {
    const q = settings(redis);
    const queue = new Queue(queueName('builds', 'x86_64'), { prefix: PREFIX, connection: redisOptions(q, 'queue') });
    const data = validateJobData({ v: 1, kind: 'build', runId: 3, project: 'proctree', key: 'x86_64', arch: 'x86_64', unit: { base: 'abc' } }, 'build');
    await queue.add('build', data, { jobId: jobId('build', 3, 'x86_64') });
    // The same id again (a re-enqueue after a crash) adds nothing.
    await queue.add('build', data, { jobId: jobId('build', 3, 'x86_64') });
    assert.equal(await queue.count(), 1);
    // The append-only file keeps the waiting job while Redis is down.
    await redis.restart();
    const seen: unknown[] = [];
    const worker = new Worker(queueName('builds', 'x86_64'), async (job) => {
      seen.push(validateJobData(job.data, 'build'));
      return { status: 'pass' };
    }, { prefix: PREFIX, connection: redisOptions(q, 'worker'), concurrency: 1 });
    await waitFor('the build job to complete', async () => (await queue.getJobCounts('completed')).completed === 1, 20_000);
    assert.deepEqual(seen, [data]);
    assert.equal((await queue.getJob(jobId('build', 3, 'x86_64')))?.returnvalue?.status, 'pass');
    await worker.close();
    await queue.close();
  });
});

describe('a BullMQ worker while Redis is away', () => {
  let redis: RedisServer;
  after(async () => {
    await redis?.close();
  });

  it('waits through a Redis stop, and takes the job enqueued meanwhile once Redis is back', async () => {
    redis = await startRedis();
    const q = settings(redis);
    const done: number[] = [];
    const worker = new Worker(queueName('gates'), async (job) => void done.push(validateJobData(job.data, 'gate').runId), {
      prefix: PREFIX,
      connection: redisOptions(q, 'worker'),
      concurrency: 1,
    });
    const errors: string[] = [];
    worker.on('error', (e) => errors.push(e.message));
    const queue = new Queue(queueName('gates'), { prefix: PREFIX, connection: redisOptions(q, 'queue') });
    queue.on('error', () => {});
    await queue.add('gate', { v: 1, kind: 'gate', runId: 1, project: 'p', unit: {} }, { jobId: jobId('gate', 1) });
    await waitFor('the first gate', () => done.includes(1), 20_000);
    await redis.stop();
    // Enqueued while Redis is down: the command waits in ioredis' offline queue (maxRetriesPerRequest null).
    const later = queue.add('gate', { v: 1, kind: 'gate', runId: 2, project: 'p', unit: {} }, { jobId: jobId('gate', 2) });
    await new Promise((r) => setTimeout(r, 3_000));
    assert.deepEqual(done, [1]);
    await redis.start();
    await later;
    await waitFor('the gate enqueued during the stop', () => done.includes(2), 30_000);
    assert.deepEqual(done, [1, 2]);
    assert.ok(errors.some((e) => /ECONNREFUSED|Connection is closed/.test(e)), errors.join('\n'));
    await worker.close();
    await queue.close();
  });
});

describe('the queue Redis over TLS', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis({ tls: true, persistence: false });
  });
  after(async () => {
    await redis?.close();
  });

  it('connects with rediss:// and the CA of --queue-ca', async () => {
    const q = settings(redis);
    assert.equal(q.tls, true);
    assert.equal((await checkQueue(q)).ok, true);
    const c = connect(q, 'check', () => {});
    assert.equal(await c.ping(), 'PONG');
    c.disconnect();
  });

  it("refuses a server whose certificate does not verify (a CA it does not know)", async () => {
    await assert.rejects(checkQueue({ ...settings(redis), caFile: null }), (e) => isAppError(e) && e.code === 'queue_tls_refused');
  });

  it('refuses plain redis:// on the TLS port', async () => {
    const r = await checkQueue({ ...settings(redis), tls: false, caFile: null }, 2_000);
    assert.equal(r.ok, false);
  });
});

describe('the worker registry', () => {
  let redis: RedisServer;
  let client: Redis;
  before(async () => {
    redis = await startRedis();
    client = connect(settings(redis), 'registry', () => {});
  });
  after(async () => {
    client?.disconnect();
    await redis?.close();
  });

  it('lists a registered worker with its host, lanes, arches, warm trees, current job and heartbeat', async () => {
    const hb = new WorkerHeartbeat(client, { name: 'w1', host: os.hostname(), lanes: ['builds', 'tests'], arches: ['x86_64', 'arm64'], warmTrees: ['proctree/x86_64@abc'] }, { everyMs: 100, ttlMs: 1_000 });
    await hb.start();
    let [w] = await listWorkers(client);
    assert.deepEqual([w?.name, w?.host, w?.lanes, w?.arches, w?.warmTrees, w?.current, w?.pid], ['w1', os.hostname(), ['builds', 'tests'], ['x86_64', 'arm64'], ['proctree/x86_64@abc'], null, process.pid]);
    const ttl = await client.pttl(workerKey('w1'));
    assert.ok(ttl > 0 && ttl <= 1_000, `TTL ${ttl}`);
    const first = w!.lastHeartbeat;
    await hb.update({ current: { queue: 'builds-x86_64', jobId: 'build-3-x86_64', since: new Date().toISOString() }, warmTrees: [] });
    [w] = await listWorkers(client);
    assert.equal(w?.current?.jobId, 'build-3-x86_64');
    assert.deepEqual(w?.warmTrees, []);
    await waitFor('a later heartbeat', async () => (await listWorkers(client))[0]!.lastHeartbeat > first, 5_000);
    await hb.stop();
    assert.deepEqual(await listWorkers(client), []);
  });

  it('drops a worker that stops beating (killed) once its TTL passes', async () => {
    const hb = new WorkerHeartbeat(client, { name: 'w2', host: 'h', lanes: ['gates'], arches: [] }, { everyMs: 100, ttlMs: 600 });
    await hb.start();
    assert.deepEqual((await listWorkers(client)).map((w) => w.name), ['w2']);
    // As a kill -9 would: the refreshes stop, nobody deletes the key.
    (hb as unknown as { timer: NodeJS.Timeout }).timer.close();
    await waitFor('the silent worker to drop out', async () => (await listWorkers(client)).length === 0, 5_000);
    assert.equal(await client.sismember('patchbay:workers', 'w2'), 0);
  });

  it('refuses a second worker of the same name from another host, and lets the same host take its name back', async () => {
    const a = new WorkerHeartbeat(client, { name: 'w3', host: 'host-a', lanes: ['gates'], arches: [] }, { everyMs: 100, ttlMs: 1_000 });
    await a.start();
    const b = new WorkerHeartbeat(client, { name: 'w3', host: 'host-b', lanes: ['gates'], arches: [] }, { everyMs: 100, ttlMs: 1_000 });
    await assert.rejects(b.start(), (e) => isAppError(e) && e.code === 'worker_name_taken' && /from host host-a/.test(e.message));
    const again = new WorkerHeartbeat(client, { name: 'w3', host: 'host-a', lanes: ['builds'], arches: ['x86_64'] }, { everyMs: 100, ttlMs: 1_000 });
    await again.start();
    await a.stop();
    await again.update({});
    assert.deepEqual((await listWorkers(client)).map((w) => [w.name, w.lanes]), [['w3', ['builds']]]);
    await again.stop();
  });

  it('comes back in the list after Redis restarts', async () => {
    const errors: Error[] = [];
    const hb = new WorkerHeartbeat(client, { name: 'w4', host: 'h', lanes: ['gates'], arches: [] }, { everyMs: 100, ttlMs: 1_000, onError: (e) => errors.push(e) });
    await hb.start();
    await redis.kill();
    await new Promise((r) => setTimeout(r, 300));
    await redis.start();
    await waitFor('the heartbeat after the restart', async () => (await listWorkers(client)).some((w) => w.name === 'w4'), 15_000);
    await hb.stop();
  });

  it('ignores values in the index that are not a worker', async () => {
    await client.sadd('patchbay:workers', 'junk');
    await client.set(workerKey('junk'), '{"name":"junk"}');
    assert.deepEqual(await listWorkers(client), []);
  });
});

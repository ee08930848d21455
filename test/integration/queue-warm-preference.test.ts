// Handing a job back for the worker that holds its warm tree, on real BullMQ and redis-server: the job goes back to
// the head of its queue (ahead of jobs queued after it), no attempt is used, its run's parent still runs once with its
// result; the total wait is timed in Redis from the first hand-back, whichever worker made it, and a holder that let a
// wait pass is not waited for again; a processor that hands a job back for a holder that never takes it runs it
// itself once the wait is over.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FlowProducer, Queue, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { parseQueueUrl, type QueueSettings } from '../../src/config/queue.js';
import { connect, redisOptions } from '../../src/queue/connection.js';
import { runFlow } from '../../src/queue/flows.js';
import { PREFIX, queueName } from '../../src/queue/names.js';
import { validateJobData } from '../../src/queue/payloads.js';
import { WorkerHeartbeat } from '../../src/queue/registry.js';
import { deferKey, WarmPreference, warmTreeOf } from '../../src/queue/warm-preference.service.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const BASE = 'c0ffee0123456789c0ffee0123456789c0ffee01';
const TREE = warmTreeOf('proctree', 'x86_64', BASE);
const BUILDS = queueName('builds', 'x86_64');
const silent = pino({ level: 'silent' });

describe('handing a job back for the holder of its warm tree', () => {
  let redis: RedisServer;
  let q: QueueSettings;
  let client: Redis;
  let flows: FlowProducer;
  let holder: WorkerHeartbeat;
  const closing: { close(): Promise<unknown> }[] = [];
  /** The runs' parents, by run: how often each ran and what its children returned. */
  const parents = new Map<number, { ran: number; children: Record<string, unknown> }>();

  const prefer = (self: string, waitMs: number) => new WarmPreference({ redis: client, self, waitMs, maxStepAsideMs: 100, log: silent });
  const addRun = (runId: number) =>
    flows.add(runFlow({ runId, project: 'proctree', builds: [{ key: 'x86_64', arch: 'x86_64', test: false }], unit: () => ({ runId, base: BASE }), retry: { attempts: 3, delayMs: 50 } }));

  before(async () => {
    redis = await startRedis({ persistence: false });
    q = parseQueueUrl(redis.url);
    client = connect(q, 'registry', () => {});
    flows = new FlowProducer({ prefix: PREFIX, connection: redisOptions(q, 'queue') });
    // The holder: live, its one build slot free, holding the tree; it runs no BullMQ worker unless a test starts one.
    holder = new WorkerHeartbeat(client, { name: 'holder', host: 'h1', lanes: ['builds'], arches: ['x86_64'], warmTrees: [TREE], freeBuilds: 1 });
    await holder.start();
    const runs = new Worker(
      queueName('runs'),
      async (job: Job) => {
        const d = validateJobData(job.data, 'run');
        const p = parents.get(d.runId) ?? { ran: 0, children: {} };
        parents.set(d.runId, { ran: p.ran + 1, children: await job.getChildrenValues() });
      },
      { prefix: PREFIX, connection: redisOptions(q, 'worker') },
    );
    runs.on('error', () => {});
    closing.push(runs, flows);
  });

  after(async () => {
    for (const c of closing.reverse()) await c.close().catch(() => {});
    await holder?.stop();
    client?.disconnect();
    await redis?.close();
  });

  it("puts the job back at the head of its queue without using an attempt; the run's parent runs once with its result", async () => {
    await addRun(1);
    await addRun(2);
    // Jobs fetched by hand (BullMQ's manual processing), so each move is seen as it happens.
    const other = new Worker(BUILDS, null, { prefix: PREFIX, connection: redisOptions(q, 'worker') });
    closing.push(other);
    const pref = prefer('other', 60_000);
    const first = (await other.getNextJob('t1')) as Job;
    assert.equal(first.id, 'build-1-x86_64');
    const to = await pref.holderFor(first.id!, TREE, 'builds', 'x86_64');
    assert.equal(to?.name, 'holder');
    assert.equal(await pref.handBack(first, 't1', to!, TREE), true);
    const queue = new Queue(BUILDS, { prefix: PREFIX, connection: redisOptions(q, 'queue') });
    closing.push(queue);
    assert.equal(await queue.getJobState('build-1-x86_64'), 'waiting');
    // Taken again (by whoever asks next): the same job, ahead of run 2's queued after it, no attempt made.
    const again = (await other.getNextJob('t2')) as Job;
    assert.equal(again.id, 'build-1-x86_64');
    assert.equal(again.attemptsMade, 0);
    await again.moveToCompleted({ built: 1 }, 't2', false);
    const second = (await other.getNextJob('t3')) as Job;
    assert.equal(second.id, 'build-2-x86_64');
    await second.moveToCompleted({ built: 2 }, 't3', false);
    await waitFor('both runs to end', () => parents.has(1) && parents.has(2), 30_000);
    assert.deepEqual(Object.values(parents.get(1)!.children), [{ built: 1 }]);
    // Handed back or not, the job ends with the attempts of a job run once.
    const [handed, plain] = await Promise.all([queue.getJob('build-1-x86_64'), queue.getJob('build-2-x86_64')]);
    assert.equal(handed!.attemptsMade, plain!.attemptsMade);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(parents.get(1)!.ran, 1);
  });

  it('times the total wait from the first hand-back in Redis, whichever worker made it; 0 never hands back', async () => {
    const a = prefer('lab-a', 1_500);
    assert.equal((await a.holderFor('build-3-x86_64', TREE, 'builds', 'x86_64'))?.name, 'holder');
    const ttl = await client.pttl(deferKey('build-3-x86_64'));
    assert.ok(ttl > 1_500, `the key outlives the wait (${ttl} ms)`);
    await new Promise((r) => setTimeout(r, 1_700));
    // The wait is the job's: another worker with the same wait finds it over too; one with a longer wait does not.
    assert.equal(await a.holderFor('build-3-x86_64', TREE, 'builds', 'x86_64'), null);
    assert.equal(await prefer('lab-b', 1_500).holderFor('build-3-x86_64', TREE, 'builds', 'x86_64'), null);
    assert.equal((await prefer('lab-c', 60_000).holderFor('build-3-x86_64', TREE, 'builds', 'x86_64'))?.name, 'holder');
    // A holder that let a whole wait pass is not waited for again by that worker (it is listed free but takes nothing).
    assert.equal(await a.holderFor('build-7-x86_64', TREE, 'builds', 'x86_64'), null);
    assert.equal(await client.exists(deferKey('build-7-x86_64')), 0);
    assert.equal(await prefer('lab-d', 0).holderFor('build-4-x86_64', TREE, 'builds', 'x86_64'), null);
    assert.equal(await client.exists(deferKey('build-4-x86_64')), 0);
    // The holder busy: nobody to wait for, and no wait started.
    await holder.update({ freeBuilds: 0 });
    assert.equal(await prefer('lab-e', 60_000).holderFor('build-5-x86_64', TREE, 'builds', 'x86_64'), null);
    assert.equal(await client.exists(deferKey('build-5-x86_64')), 0);
    await holder.update({ freeBuilds: 1 });
  });

  it('runs the job itself once the wait is over when the holder never takes it; its run ends once', async () => {
    const pref = prefer('other', 1_000);
    const seen: string[] = [];
    const other = new Worker(
      BUILDS,
      async (job: Job, token?: string) => {
        const to = await pref.holderFor(job.id!, TREE, 'builds', 'x86_64');
        if (to && token && (await pref.handBack(job, token, to, TREE))) {
          seen.push('handed back');
          throw new WaitingError();
        }
        pref.runs(job.id!);
        seen.push('ran');
        return { built: 6 };
      },
      { prefix: PREFIX, connection: redisOptions(q, 'worker') },
    );
    other.on('error', () => {});
    closing.push(other);
    const added = Date.now();
    await addRun(6);
    await waitFor('run 6 to end', () => parents.has(6), 30_000);
    const took = Date.now() - added;
    assert.ok(seen.filter((s) => s === 'handed back').length >= 2, seen.join(', '));
    assert.deepEqual(seen.slice(-1), ['ran']);
    assert.equal(seen.filter((s) => s === 'ran').length, 1);
    assert.ok(took >= 1_000, `ran after ${took} ms, before the wait was over`);
    assert.deepEqual(Object.values(parents.get(6)!.children), [{ built: 6 }]);
    const job = await new Queue(BUILDS, { prefix: PREFIX, connection: client }).getJob('build-6-x86_64');
    assert.equal(job!.attemptsMade, 1, 'one attempt: the run, not the hand-backs');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(parents.get(6)!.ran, 1);
  });
});

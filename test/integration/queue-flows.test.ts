// A run's flow on real BullMQ and redis-server: builds first, each boot after its build (reading its result), the
// run's parent last with every result; the same run added twice is one run; a build that throws on every try does
// not hold the run back: the parent runs and sees the failure. A run's gate part: its verdict parent after its gate
// job; a boot whose build finished before a restart is queued alone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FlowProducer, Queue, Worker, type Job } from 'bullmq';
import { parseQueueUrl, type QueueSettings } from '../../src/config/queue.js';
import { redisOptions } from '../../src/queue/connection.js';
import { gateFlow, runFlow } from '../../src/queue/flows.js';
import { PREFIX, queueName } from '../../src/queue/names.js';
import { validateJobData } from '../../src/queue/payloads.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const BUILDS = [
  { key: 'x86_64', arch: 'x86_64', test: true },
  { key: 'arm64-2', arch: 'arm64', test: false },
];

describe('a run as a BullMQ flow', () => {
  let redis: RedisServer;
  let q: QueueSettings;
  let flows: FlowProducer;
  const workers: Worker[] = [];
  const events: string[] = [];
  const parents = new Map<number, { children: Record<string, unknown>; failed: Record<string, string> }>();

  before(async () => {
    redis = await startRedis({ persistence: false });
    q = parseQueueUrl(redis.url);
    flows = new FlowProducer({ prefix: PREFIX, connection: redisOptions(q, 'queue') });
    const opts = { prefix: PREFIX, connection: redisOptions(q, 'worker'), concurrency: 1 };
    for (const arch of ['x86_64', 'arm64']) {
      workers.push(
        new Worker(queueName('builds', arch), async (job: Job) => {
          const d = validateJobData(job.data, 'build');
          events.push(`build ${d.runId} ${d.key}`);
          if (d.unit.explode) throw new Error('the worker lost its disk');
          return { status: 'pass', key: d.key, image: `run-${d.runId}/${d.key}/bzImage` };
        }, opts),
        new Worker(queueName('tests', arch), async (job: Job) => {
          const d = validateJobData(job.data, 'test');
          const built = Object.values(await job.getChildrenValues()) as { image?: string }[];
          const lost = Object.values(await job.getIgnoredChildrenFailures());
          events.push(`test ${d.runId} ${d.key} after ${built.map((b) => b.image).join(',') || 'no build'}`);
          return built.length ? { status: 'pass', key: d.key } : { status: 'skip', key: d.key, reason: lost[0] ?? 'no build' };
        }, opts),
      );
    }
    workers.push(
      new Worker(queueName('gates'), async (job: Job) => {
        const d = validateJobData(job.data, 'gate');
        events.push(`gate ${d.runId}`);
        return { gates: d.unit.gates };
      }, opts),
      new Worker(queueName('runs'), async (job: Job) => {
        const d = validateJobData(job.data);
        events.push(`${d.kind} ${d.runId}`);
        parents.set(d.runId, { children: await job.getChildrenValues(), failed: await job.getIgnoredChildrenFailures() });
      }, opts),
    );
    for (const w of workers) w.on('error', () => {});
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await flows?.close();
    await redis?.close();
  });

  it('runs the builds, each boot after its build, then the parent with every result; added twice, it runs once', async () => {
    const flow = runFlow({ runId: 7, project: 'proctree', builds: BUILDS, unit: (kind, key) => ({ kind, key }) });
    await flows.add(flow);
    await flows.add(runFlow({ runId: 7, project: 'proctree', builds: BUILDS, unit: (kind, key) => ({ kind, key }) }));
    await waitFor('the run parent', () => parents.has(7), 30_000);
    const mine = events.filter((e) => / 7 |run 7/.test(e));
    assert.equal(mine.filter((e) => e.startsWith('build')).length, 2, mine.join('\n'));
    assert.ok(mine.indexOf('build 7 x86_64') < mine.indexOf('test 7 x86_64 after run-7/x86_64/bzImage'), mine.join('\n'));
    assert.equal(mine.at(-1), 'run 7');
    const values = Object.entries(parents.get(7)!.children).map(([k, v]) => [k.split(':').slice(-2).join(':'), (v as { status: string }).status]).sort();
    assert.deepEqual(values, [['builds-arm64:build-7-arm64-2', 'pass'], ['tests-x86_64:test-7-x86_64', 'pass']]);
    assert.equal(mine.length, 4);
  });

  it('goes on without a build that throws on every try: its boot sees the failure and is skipped, the run ends', async () => {
    await flows.add(runFlow({ runId: 8, project: 'proctree', builds: BUILDS, unit: (kind, key) => ({ kind, key, explode: key === 'x86_64' }), retry: { attempts: 2, delayMs: 50 } }));
    await waitFor('the run parent', () => parents.has(8), 30_000);
    const mine = events.filter((e) => / 8 |run 8/.test(e));
    assert.equal(mine.filter((e) => e === 'build 8 x86_64').length, 2, 'tried twice');
    assert.ok(mine.includes('test 8 x86_64 after no build'), mine.join('\n'));
    // The build's parent is its boot: the failure is the boot's to see, and the run gets the boot's verdict.
    assert.deepEqual(parents.get(8)!.failed, {});
    const test = Object.entries(parents.get(8)!.children).find(([k]) => k.endsWith('test-8-x86_64'))?.[1];
    assert.deepEqual(test, { status: 'skip', key: 'x86_64', reason: 'the worker lost its disk' });
    const builds = new Queue(queueName('builds', 'x86_64'), { prefix: PREFIX, connection: redisOptions(q, 'queue') });
    assert.equal((await builds.getJob('build-8-x86_64'))?.failedReason, 'the worker lost its disk');
    await builds.close();
  });

  it("runs a run's gate job, then its verdict parent with the gate job's result", async () => {
    await flows.add(gateFlow({ runId: 9, project: 'proctree', unit: { gates: ['signoff', 'apply'] } }));
    await flows.add(gateFlow({ runId: 9, project: 'proctree', unit: { gates: ['signoff', 'apply'] } }));
    await waitFor('the verdict parent', () => parents.has(9), 30_000);
    assert.deepEqual(events.filter((e) => / 9$/.test(e)), ['gate 9', 'verdict 9']);
    assert.deepEqual(Object.values(parents.get(9)!.children), [{ gates: ['signoff', 'apply'] }]);
  });

  it('queues only the boot of a build that finished before (its unit holds the result), and the run after it', async () => {
    await flows.add(runFlow({ runId: 10, project: 'proctree', builds: [{ key: 'x86_64', arch: 'x86_64', test: true, built: true }], unit: (kind, key) => ({ kind, key }) }));
    await waitFor('the run parent', () => parents.has(10), 30_000);
    assert.deepEqual(events.filter((e) => / 10( |$)/.test(e)), ['test 10 x86_64 after no build', 'run 10']);
  });
});

// bench/warm-preference: what the warm-tree preference (src/queue/warm-preference.service.ts) wins and costs, on
// BullMQ and a redis-server this bench starts. Two worker child processes on `builds-x86_64`, concurrency 1, each
// registered with a heartbeat as `patchbay worker` is (free build slots updated at each job's start and end): `holder`
// lists the jobs' warm tree, `other` does not and hands the jobs back as WorkerJobs does. Each build is a fixed sleep.
// For the preference off (wait 0) and on: (1) "idle": runs one after another, each sent when both workers are idle
// (a later series of the project): how many the holder ran, the enqueue→start latency, hand-backs; (2) "burst": every
// run at once: makespan and the share each worker ran (the preference must not cost throughput when the holder is
// busy). Usage: npm run bench:warm [-- --runs 40 --burst 40 --sleep 200 --wait 60]
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FlowProducer, Queue, WaitingError, Worker, type Job } from 'bullmq';
import { pino } from 'pino';
import { parseQueueUrl } from '../src/config/queue.js';
import { connect, redisOptions } from '../src/queue/connection.js';
import { runFlow } from '../src/queue/flows.js';
import { PREFIX, queueName } from '../src/queue/names.js';
import { WorkerHeartbeat } from '../src/queue/registry.js';
import { WarmPreference, warmTreeOf } from '../src/queue/warm-preference.service.js';
import { startRedis } from '../test/helpers/redis.js';
import { startBench } from './lib/run-info.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    runs: { type: 'string', default: '40' },
    burst: { type: 'string', default: '40' },
    sleep: { type: 'string', default: '200' },
    wait: { type: 'string', default: '60' },
  },
});
const SLEEP_MS = Number(values.sleep);
const BUILDS = queueName('builds', 'x86_64');
const BASE = 'feedc0de'.repeat(5);
const TREE = warmTreeOf('proctree', 'x86_64', BASE);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Stamp {
  who: string;
  start: number;
}

/** A child: one worker named by its role, with its heartbeat, handing jobs back (as WorkerJobs does) when asked to. */
async function child(name: 'holder' | 'other', waitMs: number): Promise<void> {
  const settings = parseQueueUrl(process.env.BENCH_QUEUE!);
  const redis = connect(settings, 'registry', () => {});
  const hb = new WorkerHeartbeat(redis, { name, host: os.hostname(), lanes: ['builds'], arches: ['x86_64'], warmTrees: name === 'holder' ? [TREE] : [], freeBuilds: 1 });
  await hb.start();
  const prefer = new WarmPreference({ redis, self: name, waitMs, maxStepAsideMs: 2_000, log: pino({ level: 'silent' }) });
  const worker = new Worker(
    BUILDS,
    async (job: Job, token?: string): Promise<Stamp> => {
      if (name === 'other' && token) {
        const to = await prefer.holderFor(job.id!, TREE, 'builds', 'x86_64');
        if (to && (await prefer.handBack(job, token, to, TREE))) {
          process.stdout.write(`handback ${job.id}\n`);
          throw new WaitingError();
        }
        prefer.runs(job.id!);
      }
      const start = Date.now();
      await hb.update({ freeBuilds: 0 });
      await sleep(SLEEP_MS);
      await hb.update({ freeBuilds: 1 });
      return { who: name, start };
    },
    { prefix: PREFIX, connection: redisOptions(settings, 'worker'), concurrency: 1 },
  );
  worker.on('error', (e) => process.stderr.write(`${name}: ${e.message}\n`));
  await worker.waitUntilReady();
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await worker.close();
  await hb.stop();
  redis.disconnect();
}

function spawnChild(name: string, url: string, waitS: number, onLine: (l: string) => void): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--role', name, '--wait', String(waitS), '--sleep', String(SLEEP_MS)], {
    env: { ...process.env, BENCH_QUEUE: url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    c.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) (l === 'ready' ? resolve(c) : onLine(l));
    });
    c.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready`)));
  });
}

const quantile = (xs: number[], q: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]! : NaN);

async function mode(url: string, waitS: number, runs: number, burst: number, firstRun: number): Promise<string[]> {
  const settings = parseQueueUrl(url);
  const handBacks: string[] = [];
  const kids = [await spawnChild('holder', url, waitS, (l) => handBacks.push(l)), await spawnChild('other', url, waitS, (l) => handBacks.push(l))];
  const ended = new Set<number>();
  const runs_ = new Worker(queueName('runs'), async (job: Job<{ runId: number }>) => void ended.add(job.data.runId), { prefix: PREFIX, connection: redisOptions(settings, 'bench'), concurrency: 8 });
  const flows = new FlowProducer({ prefix: PREFIX, connection: redisOptions(settings, 'bench') });
  const builds = new Queue(BUILDS, { prefix: PREFIX, connection: redisOptions(settings, 'bench') });
  const add = (runId: number) => flows.add(runFlow({ runId, project: 'proctree', builds: [{ key: 'x86_64', arch: 'x86_64', test: false }], unit: () => ({ runId, base: BASE }) }));
  const stamps = async (ids: number[]) => Promise.all(ids.map(async (r) => (await builds.getJob(`build-${r}-x86_64`)) as Job<unknown, Stamp>));
  const out: string[] = [];

  // Idle: one at a time, each sent once the last is over and both workers wait for a job.
  const idle = Array.from({ length: runs }, (_, i) => firstRun + i);
  for (const r of idle) {
    await sleep(300);
    await add(r);
    while (!ended.has(r)) await sleep(10);
  }
  const idleJobs = await stamps(idle);
  const lat = idleJobs.map((j) => j.returnvalue.start - j.timestamp);
  const held = idleJobs.filter((j) => j.returnvalue.who === 'holder').length;
  const backs = handBacks.length;
  out.push(`| ${waitS} s | idle, ${runs} runs | holder ran ${held}/${runs} | enqueue→start p50 ${quantile(lat, 0.5)} ms, p95 ${quantile(lat, 0.95)} ms, max ${Math.max(...lat)} ms | ${backs} hand-backs |`);

  // Burst: every run at once.
  const many = Array.from({ length: burst }, (_, i) => firstRun + runs + i);
  const t0 = Date.now();
  for (const r of many) await add(r);
  while (!many.every((r) => ended.has(r))) await sleep(10);
  const wall = Date.now() - t0;
  const burstJobs = await stamps(many);
  const heldB = burstJobs.filter((j) => j.returnvalue.who === 'holder').length;
  const ideal = Math.ceil(burst / 2) * SLEEP_MS;
  out.push(`| ${waitS} s | burst, ${burst} runs | holder ran ${heldB}/${burst} | makespan ${wall} ms (two workers' floor ${ideal} ms) | ${handBacks.length - backs} hand-backs |`);

  await runs_.close();
  await Promise.all([flows.close(), builds.close()]);
  for (const k of kids) {
    await new Promise<void>((resolve) => {
      k.once('exit', () => resolve());
      k.kill('SIGTERM');
    });
  }
  return out;
}

async function main(): Promise<void> {
  if (values.role === 'holder' || values.role === 'other') return child(values.role, Number(values.wait) * 1000);
  startBench('warm-preference');
  const runs = Number(values.runs);
  const burst = Number(values.burst);
  const redis = await startRedis({ persistence: false });
  try {
    const rows = [...(await mode(redis.url, 0, runs, burst, 1)), ...(await mode(redis.url, Number(values.wait), runs, burst, 10_001))];
    process.stdout.write(`warm-tree preference: ${SLEEP_MS} ms builds, 2 workers\n`);
    process.stdout.write(`| --prefer-warm-wait | case | who ran | time | hand-backs |\n|--|--|--|--|--|\n${rows.join('\n')}\n`);
  } finally {
    await redis.close();
  }
}

await main();

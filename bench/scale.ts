// bench/scale: the queue's own cost and how throughput grows with workers. BullMQ on a redis-server this bench starts
// (test/helpers/redis.ts: free port, ACL user, temp folder), one flow per run as the server will enqueue it (parent
// `run-R` in the `runs` queue, two builds `build-R-x86_64` and `build-R-x86_64-2` in `builds-x86_64` as children),
// each build a fixed sleep standing in for a build, so 2 cores can host many workers. For 1, 2, 4, 8 worker
// processes (child processes, concurrency 1 each, as `patchbay worker` runs builds): runs/min, enqueue→start latency
// p50/p95 per job, the queue's own overhead per job (a worker's start-to-next-start minus the sleep, while the queue
// is full), and the gate verdict p95 while the build queue is full (gate jobs in their own queue with their own
// worker process, one every GATE_EVERY ms). Prints the load average before and after each round (and, through startBench, the commit).
// Usage: npm run bench:scale [-- --runs 500 --sleep 200 --workers 1,2,4,8 --gate-sleep 50 --gate-every 500]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FlowProducer, Queue, Worker, type Job } from 'bullmq';
import { parseQueueUrl } from '../src/config/queue.js';
import { connect, redisOptions } from '../src/queue/connection.js';
import { PREFIX, queueName } from '../src/queue/names.js';
import { jobId } from '../src/queue/payloads.js';
import { startRedis } from '../test/helpers/redis.js';
import { startBench } from './lib/run-info.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    runs: { type: 'string', default: '500' },
    sleep: { type: 'string', default: '200' },
    workers: { type: 'string', default: '1,2,4,8' },
    'gate-sleep': { type: 'string', default: '50' },
    'gate-every': { type: 'string', default: '500' },
  },
});
const positive = (name: string, raw: string | undefined): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got ${raw}`);
  return n;
};
const SLEEP_MS = positive('sleep', values.sleep);
const GATE_SLEEP_MS = positive('gate-sleep', values['gate-sleep']);
const BUILDS = queueName('builds', 'x86_64');
const GATES = queueName('gates');
const RUNS = queueName('runs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a build or gate job's processor returns: when it started and ended, in this machine's clock, and who ran it. */
interface Stamp {
  start: number;
  end: number;
  pid: number;
}

/** A child process: one BullMQ worker of concurrency 1 on the builds or the gates queue, until SIGTERM. */
async function child(role: 'build' | 'gate'): Promise<void> {
  const settings = parseQueueUrl(process.env.BENCH_QUEUE!);
  const ms = role === 'build' ? SLEEP_MS : GATE_SLEEP_MS;
  const worker = new Worker(
    role === 'build' ? BUILDS : GATES,
    async (): Promise<Stamp> => {
      const start = Date.now();
      await sleep(ms);
      return { start, end: Date.now(), pid: process.pid };
    },
    { prefix: PREFIX, connection: redisOptions(settings, 'worker'), concurrency: 1 },
  );
  worker.on('error', (e) => process.stderr.write(`worker ${process.pid}: ${e.message}\n`));
  await worker.waitUntilReady();
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await worker.close();
}

function spawnChild(role: 'build' | 'gate', url: string): Promise<ChildProcess> {
  const self = fileURLToPath(import.meta.url);
  const c = spawn(process.execPath, ['--import', 'tsx', self, '--role', role, '--sleep', String(SLEEP_MS), '--gate-sleep', String(GATE_SLEEP_MS)], {
    env: { ...process.env, BENCH_QUEUE: url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve(c);
    });
    c.once('exit', (code) => reject(new Error(`a ${role} worker exited with ${code} before it was ready`)));
  });
}

async function stopChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
}

function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

interface Round {
  workers: number;
  runsPerMin: number;
  wallS: number;
  enqueueMsPerRun: number;
  latencyP50: number;
  latencyP95: number;
  overheadP50: number;
  overheadP95: number;
  gateP95: number;
  gates: number;
  loadBefore: string;
  loadAfter: string;
}

async function round(url: string, n: number, runs: number, gateEveryMs: number): Promise<Round> {
  const settings = parseQueueUrl(url);
  const conn = () => redisOptions(settings, 'bench');
  const loadBefore = load();
  const workers = await Promise.all(Array.from({ length: n }, () => spawnChild('build', url)));
  const gateWorker = await spawnChild('gate', url);

  // The server's part: the runs' parents, done when both builds are.
  const runEnds = new Map<number, number>();
  const runWorker = new Worker(
    RUNS,
    async (job: Job<{ runId: number }>) => {
      runEnds.set(job.data.runId, Date.now());
    },
    { prefix: PREFIX, connection: conn(), concurrency: 16 },
  );
  await runWorker.waitUntilReady();
  const flows = new FlowProducer({ prefix: PREFIX, connection: conn() });
  const builds = new Queue(BUILDS, { prefix: PREFIX, connection: conn() });
  const gates = new Queue(GATES, { prefix: PREFIX, connection: conn() });

  const t0 = Date.now();
  // The deadline burst: every run enqueued at once, as mail arrives faster than builds end.
  for (let r = 1; r <= runs; r++) {
    await flows.add({
      name: 'run',
      queueName: RUNS,
      data: { runId: r },
      opts: { jobId: jobId('run', r) },
      children: ['x86_64', 'x86_64-2'].map((key) => ({ name: 'build', queueName: BUILDS, data: { runId: r, key }, opts: { jobId: jobId('build', r, key) } })),
    });
  }
  const enqueueMs = Date.now() - t0;

  // Gate jobs while the build queue is full: their verdict must not wait behind builds.
  let g = 0;
  const gateTimer = setInterval(() => {
    g++;
    void gates.add('gate', { runId: 100_000 + g }, { jobId: jobId('gate', 100_000 + g) });
  }, gateEveryMs);
  while (runEnds.size < runs) {
    await sleep(50);
    if ((await builds.getWaitingCount()) === 0) clearInterval(gateTimer);
  }
  clearInterval(gateTimer);
  const t1 = Math.max(...runEnds.values());
  await sleep(GATE_SLEEP_MS + 200);

  const done = (await builds.getJobs(['completed'], 0, -1)) as Job<unknown, Stamp>[];
  if (done.length !== 2 * runs) throw new Error(`expected ${2 * runs} completed builds, found ${done.length}`);
  const latency = done.map((j) => j.returnvalue.start - j.timestamp);
  // Per worker, consecutive jobs: start to next start, minus the sleep, is what the queue costs between two builds.
  const byPid = new Map<number, number[]>();
  for (const j of done) byPid.set(j.returnvalue.pid, [...(byPid.get(j.returnvalue.pid) ?? []), j.returnvalue.start]);
  const overhead: number[] = [];
  for (const starts of byPid.values()) {
    starts.sort((a, b) => a - b);
    for (let i = 1; i < starts.length; i++) overhead.push(starts[i]! - starts[i - 1]! - SLEEP_MS);
  }
  const gateDone = (await gates.getJobs(['completed'], 0, -1)) as Job<unknown, Stamp>[];
  const verdict = gateDone.map((j) => j.returnvalue.end - j.timestamp);

  await runWorker.close();
  await stopChildren([...workers, gateWorker]);
  await Promise.all([flows.close(), builds.close(), gates.close()]);
  const wallS = (t1 - t0) / 1000;
  return {
    workers: n,
    runsPerMin: (runs / wallS) * 60,
    wallS,
    enqueueMsPerRun: enqueueMs / runs,
    latencyP50: quantile(latency, 0.5),
    latencyP95: quantile(latency, 0.95),
    overheadP50: quantile(overhead, 0.5),
    overheadP95: quantile(overhead, 0.95),
    gateP95: quantile(verdict, 0.95),
    gates: verdict.length,
    loadBefore,
    loadAfter: load(),
  };
}

async function main(): Promise<void> {
  const runs = positive('runs', values.runs);
  const gateEvery = positive('gate-every', values['gate-every']);
  const counts = values.workers!.split(',').map((w) => positive('workers', w));
  // No append-only file: what is measured is the queue, not the disk.
  const redis = await startRedis({ persistence: false });
  const version = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? '?';
  console.log(`${runs} runs × 2 builds of ${SLEEP_MS} ms; gate jobs of ${GATE_SLEEP_MS} ms every ${gateEvery} ms in their own queue`);
  console.log(`redis-server ${version}`);
  const results: Round[] = [];
  try {
    for (const n of counts) {
      const r = await round(redis.url, n, runs, gateEvery);
      results.push(r);
      console.log(
        `${n} worker${n === 1 ? ' ' : 's'}: ${fmt(r.runsPerMin, 1)} runs/min (${fmt(r.wallS, 1)} s), enqueue ${fmt(r.enqueueMsPerRun, 2)} ms/run, ` +
          `enqueue→start p50 ${fmt(r.latencyP50)} ms p95 ${fmt(r.latencyP95)} ms, overhead/job p50 ${fmt(r.overheadP50, 1)} ms p95 ${fmt(r.overheadP95, 1)} ms, ` +
          `gate verdict p95 ${fmt(r.gateP95)} ms (${r.gates} gates); load ${r.loadBefore} -> ${r.loadAfter}`,
      );
      // A fresh database for the next round: no completed job of this one is counted there.
      const client = connect(parseQueueUrl(redis.url), 'bench', () => {});
      await client.flushdb();
      await client.quit();
    }
  } finally {
    await redis.close();
  }
  const one = results.find((r) => r.workers === 1);
  if (one) {
    console.log('scaling against 1 worker (target ≥ 0.9 × N):');
    for (const r of results) console.log(`  ${r.workers}: ${fmt(r.runsPerMin / one.runsPerMin, 2)} × (${fmt(r.runsPerMin / one.runsPerMin / r.workers, 2)} of N)`);
  }
}

if (values.role === 'build' || values.role === 'gate') await child(values.role);
else {
  startBench('scale');
  await main();
}

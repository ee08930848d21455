// The server's side of the distributed pipeline (serve --queue): the engine's PipelineRemote on BullMQ. It queues a
// run's gate unit as a flow (`verdict-R` in `runs` over `gate-R` in `gates`) and its heavy unit as another
// (`run-R` in `runs` over one job per build and boot, src/queue/flows.ts), with deterministic ids so queueing again
// after a restart adds nothing. It processes the `runs` queue itself (the parents: a lane's jobs are over, the engine
// records what they returned and ends the run or queues its builds), and listens to the workers' queues for their
// progress (a step started, with the worker's name; a step's result as soon as it is uploaded). A cancel sets a key
// the workers watch and takes the run's waiting jobs out. Workers never reach the database: what they return is
// checked (./wire.ts) and the engine writes it once.
import path from 'node:path';
import { FlowProducer, Queue, QueueEvents, Worker, type FlowJob, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueSettings } from '../config/queue.js';
import { isAppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { GateUnit } from '../pipeline/gate-runner.js';
import type { HeavyUnit } from '../pipeline/heavy-unit.js';
import type { PipelineRemote, RemoteEnd, RemoteEvents, RemoteStepResult } from '../pipeline/remote.js';
import type { StepName, StepResult } from '../pipeline/types.js';
import { connect, redisOptions } from './connection.js';
import { gateFlow, runFlow, type FlowBuild } from './flows.js';
import { cancelKey, knownArches, PREFIX, queueName } from './names.js';
import { parseJobId, validateJobData, type PlainObject } from './payloads.js';
import { checkJobReturn, checkProgress, fromWire, toWire } from './wire.js';

/** How long a cancel mark stays: longer than any job of the run can wait in a queue. */
const CANCEL_TTL_S = 7 * 86_400;

export interface QueueTransportOptions {
  settings: QueueSettings;
  /** The server's data folder: results' relative paths are read below it (the workers upload there). */
  dataDir: string;
  /** The arches the projects build: the build and test queues whose progress the server hears. Default: every arch. */
  arches?: string[];
  log: Logger;
}

export class QueueTransport implements PipelineRemote {
  private readonly log: Logger;
  private readonly arches: string[];
  private flows: FlowProducer | null = null;
  private runs: Worker | null = null;
  private readonly listeners: QueueEvents[] = [];
  private readonly queues = new Map<string, Queue>();
  private redis: Redis | null = null;
  private events: RemoteEvents | null = null;
  /** Progress reports are handled one after another, so a step's start is written before its result. */
  private chain: Promise<void> = Promise.resolve();
  private lastError = '';

  constructor(private readonly o: QueueTransportOptions) {
    this.log = o.log;
    this.arches = [...new Set(o.arches ?? knownArches())];
  }

  async start(events: RemoteEvents): Promise<void> {
    this.events = events;
    const onError = (err: Error) => this.warn(err);
    this.redis = connect(this.o.settings, 'queue', onError);
    this.flows = new FlowProducer({ prefix: PREFIX, connection: this.redis });
    this.flows.on('error', onError);
    // The runs' parents are the server's own jobs: a lane's jobs are over when one comes.
    this.runs = new Worker(queueName('runs'), (job) => this.processParent(job), { prefix: PREFIX, connection: redisOptions(this.o.settings, 'worker'), concurrency: 4 });
    this.runs.on('error', onError);
    this.runs.on('failed', (job, err) => this.log.error({ err, job: job?.id }, "a run's parent job failed"));
    const watched = [queueName('gates'), ...this.arches.flatMap((a) => [queueName('builds', a), queueName('tests', a)])];
    for (const name of watched) {
      const qe = new QueueEvents(name, { prefix: PREFIX, connection: redisOptions(this.o.settings, 'events') });
      qe.on('error', onError);
      qe.on('active', ({ jobId }) => this.onActive(jobId));
      qe.on('progress', ({ jobId, data }) => this.enqueueEvent(() => this.onProgress(jobId, data)));
      this.listeners.push(qe);
    }
  }

  async enqueueGates(unit: GateUnit, signal: AbortSignal): Promise<void> {
    // The gates done before go as results without this server's paths (a worker has no use for them).
    const done = Object.fromEntries(Object.entries(unit.done).map(([k, r]) => [k, { ...r, logPath: '' }]));
    const flow = gateFlow({ runId: unit.runId, project: unit.tree.slug, unit: plain({ ...unit, done }) });
    await this.add(flow, signal);
  }

  async enqueueHeavy(unit: HeavyUnit, signal: AbortSignal): Promise<void> {
    const builds: FlowBuild[] = [];
    for (const b of unit.builds) {
      if (!b.built) builds.push({ key: b.key, arch: b.arch, test: b.test === 'pending' });
      else if (b.test === 'pending') builds.push({ key: b.key, arch: b.arch, test: true, built: true });
    }
    if (!builds.length) return;
    const narrow = (kind: 'build' | 'test', key: string): PlainObject => {
      const b = unit.builds.find((x) => x.key === key)!;
      // A build job builds only; a boot job boots the build its child returned, or (resumed) the one the unit holds,
      // its paths made relative to this server's data folder as every result on the wire is.
      const one = kind === 'build' ? { ...b, built: null, test: 'none' as const } : { ...b, built: b.built ? toWire(b.built, this.o.dataDir) : null, test: 'pending' as const };
      return plain({ ...unit, builds: [one] });
    };
    const flow = runFlow({ runId: unit.runId, project: unit.tree.slug, builds, unit: narrow });
    await this.add(flow, signal);
  }

  /**
   * Adds a run's flow. While Redis is away the add waits (ioredis' offline queue); one cut short by a connection lost
   * on the way is tried again (backing off to 30 s) until it lands or the run is cancelled: the ids are the run's, so
   * an add that did land is not doubled. A flow Redis refuses for what it is (never the case for a checked payload)
   * is not tried again.
   */
  private async add(flow: FlowJob, signal: AbortSignal): Promise<void> {
    for (let delay = 500; ; delay = Math.min(delay * 2, 30_000)) {
      try {
        await untilAborted(this.producer().add(flow), signal);
        return;
      } catch (e) {
        if (signal.aborted || isAppError(e) || /^(ERR|WRONGTYPE|NOPERM|NOSCRIPT)\b/.test((e as Error).message)) throw e;
        this.log.warn({ err: (e as Error).message, job: flow.opts?.jobId }, 'queueing a run failed; trying again');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    }
  }

  async cancel(runId: number): Promise<void> {
    const redis = this.redis;
    if (!redis) return;
    // First the mark the workers watch (a job taken meanwhile stops at its first look), then the waiting jobs.
    await redis.set(cancelKey(runId), '1', 'EX', CANCEL_TTL_S);
    const runJob = await this.queue(queueName('runs')).getJob(`run-${runId}`);
    const keys = runJob ? (runJob.data as { keys?: string[] }).keys ?? [] : [];
    const arches = this.arches;
    const leaves: { queue: string; id: string }[] = [{ queue: queueName('gates'), id: `gate-${runId}` }];
    for (const key of keys) {
      for (const arch of arches.filter((a) => key === a || key.startsWith(`${a}-`))) {
        leaves.push({ queue: queueName('tests', arch), id: `test-${runId}-${key}` }, { queue: queueName('builds', arch), id: `build-${runId}-${key}` });
      }
    }
    let removed = 0;
    for (const l of leaves) removed += await this.queue(l.queue).remove(l.id).catch(() => 0);
    // The parents: removed when nothing below them runs any more; else they come to the server, which finds the run cancelled.
    for (const id of [`verdict-${runId}`, `run-${runId}`]) removed += await this.queue(queueName('runs')).remove(id, { removeChildren: true }).catch(() => 0);
    this.log.info({ run: runId, removed }, "cancelled: the run's waiting jobs were taken out, its running ones are stopped by their workers");
  }

  async stop(): Promise<void> {
    await this.runs?.close();
    await Promise.all(this.listeners.map((l) => l.close().catch(() => {})));
    await this.chain;
    await this.flows?.close().catch(() => {});
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => {})));
    this.redis?.disconnect();
  }

  // --- the workers' reports ---

  private onActive(jobId: string): void {
    const id = parseJobId(jobId);
    if (!id || !this.events) return;
    if (id.kind === 'gate') this.events.active(id.runId, 'gates');
    else if (id.kind === 'build' || id.kind === 'test') this.events.active(id.runId, 'builds');
  }

  private async onProgress(jobId: string, data: unknown): Promise<void> {
    const id = parseJobId(jobId);
    if (!id || id.kind === 'run' || id.kind === 'verdict' || !this.events) return;
    let p;
    try {
      p = checkProgress(data, id.runId);
    } catch (e) {
      this.log.warn({ err: (e as Error).message, job: jobId }, 'a progress report of a worker was refused');
      return;
    }
    if (!p) return;
    if (p.t === 'started') await this.events.started(id.runId, p.step, p.key, p.worker);
    else await this.events.finished(id.runId, this.remoteResult(id.runId, p.step, p.key, p.result, p.worker));
  }

  private enqueueEvent(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((e: unknown) => this.log.error({ err: e }, "a worker's report could not be recorded"));
  }

  /** A run's parent job: every child is over; the engine records what they returned (the ones reported already are written once). */
  private async processParent(job: Job): Promise<void> {
    const data = validateJobData(job.data);
    if (data.kind !== 'run' && data.kind !== 'verdict') throw new Error(`a ${data.kind} job in the runs queue`);
    const end: RemoteEnd = { results: [], lost: [] };
    const values = await job.getChildrenValues();
    for (const [childKey, value] of Object.entries(values)) {
      try {
        const ret = checkJobReturn(value, data.runId);
        if (ret.cancelled) continue;
        for (const r of ret.results) end.results.push(this.remoteResult(data.runId, r.step, r.key, r.result, ret.worker));
        end.lost.push(...ret.lost);
      } catch (e) {
        end.lost.push(...lostOf(childKey, `its result was refused: ${(e as Error).message}`));
      }
    }
    for (const [childKey, reason] of Object.entries(await job.getIgnoredChildrenFailures())) end.lost.push(...lostOf(childKey, reason));
    if (data.kind === 'verdict') await this.events!.gatesEnded(data.runId, end);
    else await this.events!.heavyEnded(data.runId, end);
  }

  private remoteResult(runId: number, step: StepName, key: string, w: Parameters<typeof fromWire>[0], worker: string | null): RemoteStepResult {
    // The log is where the worker uploaded it; the engine sets the path it serves (never one a worker names).
    const result: StepResult = fromWire(w, this.o.dataDir, path.join(this.o.dataDir, 'logs', 'runs', String(runId), key ? `${step}-${key}.log` : `${step}.log`));
    return { step, key, result, worker };
  }

  private producer(): FlowProducer {
    if (!this.flows) throw new Error('the queue transport is not started');
    return this.flows;
  }

  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { prefix: PREFIX, connection: this.redis! });
      q.on('error', (err) => this.warn(err));
      this.queues.set(name, q);
    }
    return q;
  }

  private warn(err: Error): void {
    // One line per change of error, not one per reconnection attempt.
    if (err.message !== this.lastError) this.log.warn({ err: err.message }, 'queue: Redis connection');
    this.lastError = err.message;
  }
}

/** The steps a failed child job leaves without a result: a gate job its gates, a build its build, a boot its build and boot. */
function lostOf(childKey: string, reason: string): RemoteEnd['lost'] {
  const id = parseJobId(childKey.split(':').at(-1));
  if (!id) return [];
  if (id.kind === 'gate') return [{ step: 'signoff' as StepName, key: '', reason }];
  if (id.kind === 'build') return [{ step: 'build', key: id.key, reason }];
  if (id.kind === 'test') return [{ step: 'test', key: id.key, reason }, { step: 'build', key: id.key, reason }];
  return [];
}

/** A unit as plain JSON data (undefined fields dropped), as the payload check wants it. */
function plain(v: unknown): PlainObject {
  return JSON.parse(JSON.stringify(v)) as PlainObject;
}

/** The promise, or the abort's reason as soon as `signal` aborts (the add itself may still land: a cancel mark covers it). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

// A `patchbay worker`'s job processors: the same step code the server runs without --queue, on this machine's own
// data folder (its mirror per project, learnt from the jobs; its gate and build slots with their warm object trees;
// its ccache; its step pools). Gate jobs run a gate unit (gate-runner.ts), build jobs a heavy unit narrowed to one
// build, boot jobs the same unit with the build's result (its kernel and modules images downloaded from the server
// when another worker built them). Each step's start and result are reported as the job's progress, its log and
// artefacts uploaded with the worker's token first; the job returns every result (./wire.ts), paths relative. A
// cancelled run (a key the server sets) stops its job here and kills its children; a job of a run cancelled before
// it started returns at once. A build or boot job whose warm tree a free live worker holds and this one does not is
// handed back to its queue for that worker, within a bounded wait (./warm-preference.service.ts).
import fs from 'node:fs';
import path from 'node:path';
import { WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkerConfig } from '../config/queue.js';
import { invalid } from '../errors.js';
import type { Logger } from '../log.js';
import { runGateUnit, type GateHost, type GateReporter, type GateUnit } from '../pipeline/gate-runner.js';
import { clearUnits, runHeavyUnit, type HeavyHost, type HeavyReporter } from '../pipeline/heavy-runner.js';
import type { HeavyUnit } from '../pipeline/heavy-unit.js';
import { createStepPool, type StepPool } from '../pipeline/step-pool.js';
import { TreeService } from '../pipeline/tree.service.js';
import type { StepName, StepResult } from '../pipeline/types.js';
import { redisOptions } from './connection.js';
import { cancelKey, PREFIX, queueName } from './names.js';
import { validateJobData } from './payloads.js';
import type { WorkerHeartbeat } from './registry.js';
import { warmTreeOf, WarmPreference } from './warm-preference.service.js';
import { ServerClient, ServerRefused } from './server-client.js';
import { checkJobReturn, checkWireResult, fromWire, toWire, WIRE_VERSION, type JobReturn, type Progress, type WireResult, type WireStepResult } from './wire.js';

export interface WorkerJobsOptions {
  config: Readonly<WorkerConfig>;
  arches: string[];
  /** For the cancel marks (the registry's connection). */
  redis: Redis;
  heartbeat: WorkerHeartbeat;
  /** The socket of the ccache's remote storage for trusted base builds (../pipeline/ccache-remote.service.ts). */
  ccacheRemote?: string | null;
  log: Logger;
}

/** How often a running job looks for its run's cancel mark. */
const CANCEL_POLL_MS = 1_500;
/** Per git call of tree maintenance (clone, fetch, worktree add of a big tree). */
const TREE_GIT_TIMEOUT_MS = 15 * 60_000;
/** Warm trees the registry lists (the newest first). */
const WARM_LISTED = 32;

type Kind = 'gate' | 'build' | 'test';

interface Active {
  ac: AbortController;
  queue: string;
  since: string;
  cancelled: boolean;
}

export class WorkerJobs {
  private readonly cfg: Readonly<WorkerConfig>;
  private readonly log: Logger;
  private readonly client: ServerClient;
  private readonly trees: TreeService;
  private readonly pool: StepPool;
  private readonly gatePool: StepPool;
  private readonly workers: Worker[] = [];
  private readonly heavyWorkers: Worker[] = [];
  private readonly active = new Map<string, Active>();
  private readonly prefer: WarmPreference;
  private heavyRunning = 0;
  private warm: string[] = [];
  private lastError = '';
  /** The server refused this worker's token: it takes no more jobs. */
  private refused = false;

  constructor(private readonly o: WorkerJobsOptions) {
    this.cfg = o.config;
    this.log = o.log;
    this.client = new ServerClient({ server: o.config.server, token: o.config.token });
    this.trees = new TreeService({
      dataDir: o.config.dataDir,
      projects: [],
      fetchEveryMs: 0,
      maxAgeMs: 5 * 60_000,
      slots: o.config.builds,
      gateSlots: o.config.gates,
      timeoutMs: TREE_GIT_TIMEOUT_MS,
      log: o.log.child({ subsystem: 'trees' }),
    });
    // A build and the boot beside it per build job, one thread per gate job.
    this.pool = createStepPool(2 * o.config.builds);
    this.gatePool = createStepPool(o.config.gates);
    this.prefer = new WarmPreference({
      redis: o.redis,
      self: o.config.name,
      waitMs: o.config.preferWarmWaitMs,
      // Well short of the lock renewal of the job handed back (a quarter of the lock), which BullMQ still tracks meanwhile.
      maxStepAsideMs: Math.min(2_000, o.config.jobLockMs / 5),
      log: o.log.child({ subsystem: 'warm-preference' }),
    });
  }

  /** Starts taking jobs from this worker's queues (its lanes; builds and boots of its arches). */
  start(): void {
    clearUnits(this.cfg.dataDir);
    const lanes = this.cfg.lanes;
    const take = (queue: string, kind: Kind, concurrency: number): Worker => {
      const w = new Worker(queue, (job, token, signal) => this.process(kind, queue, job, token, signal), {
        prefix: PREFIX,
        connection: redisOptions(this.cfg.queue, 'worker'),
        concurrency,
        name: this.cfg.name,
        lockDuration: this.cfg.jobLockMs,
        stalledInterval: this.cfg.jobLockMs,
        // A job whose worker died is given to another; a job that stalls again and again is a failure (our error).
        maxStalledCount: 2,
      });
      w.on('error', (err) => this.warn(err));
      this.workers.push(w);
      return w;
    };
    if (lanes.includes('gates')) take(queueName('gates'), 'gate', this.cfg.gates);
    for (const arch of this.o.arches) {
      if (lanes.includes('builds')) this.heavyWorkers.push(take(queueName('builds', arch), 'build', this.cfg.builds));
      if (lanes.includes('tests')) this.heavyWorkers.push(take(queueName('tests', arch), 'test', this.cfg.builds));
    }
    void this.o.heartbeat.update({ freeBuilds: this.freeBuilds() }).catch(() => {});
  }

  /** Stops the jobs under way (they go back to the queue for another try), then the queues, pools and trees. */
  async stop(): Promise<void> {
    for (const a of this.active.values()) a.ac.abort(new Error('the worker is stopping'));
    await Promise.all(this.workers.map((w) => w.close().catch(() => {})));
    await Promise.all([this.pool.destroy(), this.gatePool.destroy()]);
    await this.trees.close();
  }

  // --- one job ---

  private async process(kind: Kind, queue: string, job: Job, token: string | undefined, bullSignal?: AbortSignal): Promise<JobReturn> {
    const data = validateJobData(job.data, kind);
    const { runId } = data;
    const cancelled: JobReturn = { v: WIRE_VERSION, worker: this.cfg.name, results: [], lost: [], cancelled: true };
    if (await this.isCancelled(runId)) return cancelled;
    const jobId = job.id ?? `${kind}-${runId}`;
    // Not over: BullMQ takes the job back without using an attempt, and this worker asks for its next job.
    if (data.kind !== 'gate' && token && (await this.handedBackToHolder(job, token, jobId, data))) throw new WaitingError();
    const a: Active = { ac: new AbortController(), queue, since: new Date().toISOString(), cancelled: false };
    this.active.set(jobId, a);
    const heavy = kind !== 'gate';
    if (heavy) this.heavyStarted();
    bullSignal?.addEventListener('abort', () => a.ac.abort(bullSignal.reason), { once: true });
    let polling = false;
    const poll = setInterval(() => {
      if (polling) return;
      polling = true;
      this.isCancelled(runId)
        .then((yes) => {
          if (!yes) return;
          a.cancelled = true;
          a.ac.abort(new Error('run cancelled'));
        })
        .catch(() => {})
        .finally(() => (polling = false));
    }, CANCEL_POLL_MS);
    await this.o.heartbeat.update({ current: { queue, jobId, since: a.since }, freeBuilds: this.freeBuilds() }).catch(() => {});
    try {
      // The unit names the same run, project and build as the checked envelope: its slug and key become paths here.
      const unit = data.unit as unknown as { runId?: unknown; tree?: { slug?: unknown }; builds?: { key?: unknown; arch?: unknown }[] };
      if (unit.runId !== runId || unit.tree?.slug !== data.project) throw invalid('bad_job_payload', `the unit of job ${jobId} is not run ${runId} of ${data.project}`);
      if (data.kind !== 'gate' && (unit.builds?.length !== 1 || unit.builds[0]!.key !== data.key || unit.builds[0]!.arch !== data.arch)) {
        throw invalid('bad_job_payload', `the unit of job ${jobId} is not the one build ${data.key}`);
      }
      if (kind === 'gate') return await this.gate(job, data.unit as unknown as GateUnit, a.ac.signal);
      if (kind === 'build') return await this.build(job, data.unit as unknown as HeavyUnit, a.ac.signal);
      return await this.test(job, data.unit as unknown as HeavyUnit, a.ac.signal);
    } catch (e) {
      if (a.cancelled) {
        this.log.info({ run: runId, job: jobId }, 'run cancelled: its job stopped');
        return cancelled;
      }
      throw e;
    } finally {
      clearInterval(poll);
      this.active.delete(jobId);
      if (heavy) this.heavyEnded();
      const other = [...this.active.entries()].at(-1);
      await this.o.heartbeat.update({ current: other ? { queue: other[1].queue, jobId: other[0], since: other[1].since } : null, freeBuilds: this.freeBuilds() }).catch(() => {});
    }
  }

  private async gate(job: Job, unit: GateUnit, signal: AbortSignal): Promise<JobReturn> {
    this.takeTree(unit.tree);
    const host: GateHost = { dataDir: this.cfg.dataDir, trees: this.trees, pool: this.gatePool, log: this.log };
    const reporter: GateReporter = {
      started: (step) => this.report(job, { v: WIRE_VERSION, t: 'started', worker: this.cfg.name, step, key: '' }),
      finished: async (step, result) => {
        await this.uploadLog(unit.runId, step, '', result.logPath, signal);
        await this.report(job, { v: WIRE_VERSION, t: 'finished', worker: this.cfg.name, step, key: '', result: toWire(result, this.cfg.dataDir) });
      },
    };
    const cpus = Math.max(1, Math.floor(this.cfg.cpus / this.cfg.gates));
    const outcome = await runGateUnit({ ...unit, cpus }, host, reporter, signal);
    await outcome.release();
    return this.returned(outcome.results.map((r) => ({ step: r.step, key: '', result: toWire(r.result, this.cfg.dataDir) })));
  }

  private async build(job: Job, unit: HeavyUnit, signal: AbortSignal): Promise<JobReturn> {
    const b = this.oneBuild(unit);
    const results: WireResult[] = [];
    const handle = await runHeavyUnit({ ...unit, cpus: this.buildCpus() }, this.heavyHost(unit), this.heavyReporter(job, unit, results, signal), signal);
    await handle.release();
    const built = results.find((r) => r.step === 'build');
    // A build that ran (the student's failure included) left its slot's object tree built at the base: a warm tree.
    if (built && built.result.status !== 'error') await this.holdsWarm(warmTreeOf(unit.tree.slug, b.key, unit.base));
    return this.returned(results);
  }

  private async test(job: Job, unit: HeavyUnit, signal: AbortSignal): Promise<JobReturn> {
    const b = this.oneBuild(unit);
    const results: WireResult[] = [];
    const lost: JobReturn['lost'] = [];
    // The build's result: in the unit (built before a restart of the server), else what its job returned.
    let built = b.built ? checkWireResult(b.built, unit.runId) : null;
    if (!built) {
      const [value] = Object.values(await job.getChildrenValues());
      const ret = value === undefined ? null : checkJobReturn(value, unit.runId);
      if (ret?.cancelled) return { ...this.returned([]), cancelled: true };
      built = ret?.results.find((r) => r.step === 'build' && r.key === b.key)?.result ?? null;
      if (built) results.push({ step: 'build', key: b.key, result: built });
      else lost.push({ step: 'build', key: b.key, reason: Object.values(await job.getIgnoredChildrenFailures())[0] ?? ret?.lost[0]?.reason ?? 'the build job returned no result' });
    }
    if (!built || (built.status !== 'pass' && built.status !== 'warn')) {
      results.push({ step: 'test', key: b.key, result: { status: 'skip', summary: 'not run: the build did not pass', findings: [], logPath: '', childMs: 0, paths: [] } });
      return { ...this.returned(results), lost };
    }
    const local = await this.localImages(unit.runId, b.key, built, signal);
    const handle = await runHeavyUnit(
      { ...unit, cpus: this.buildCpus(), builds: [{ ...b, built: local, test: 'pending' }] },
      this.heavyHost(unit),
      this.heavyReporter(job, unit, results, signal, snapshot(this.artifactsOf(unit.runId, b.key))),
      signal,
    );
    await handle.release();
    return { ...this.returned(results), lost };
  }

  /** The build's result with this machine's paths; its kernel and modules images downloaded when another worker built them. */
  private async localImages(runId: number, key: string, built: WireStepResult, signal: AbortSignal): Promise<StepResult> {
    const local = fromWire(built, this.cfg.dataDir, '');
    for (const k of ['image', 'modulesImage']) {
      const rel = built.outputs?.[k];
      const file = local.outputs?.[k];
      if (typeof rel !== 'string' || typeof file !== 'string' || !built.paths.includes(k) || fs.existsSync(file)) continue;
      const [, , fileKey, name] = rel.split('/');
      if (fileKey !== key || !name) throw invalid('bad_job_result', `the build's ${k} ${rel} is not an artefact of build ${key}`);
      await this.client.getArtifact(runId, key, name, file, signal);
      this.log.info({ run: runId, key, file: name }, "downloaded the build's output from the server");
    }
    return local;
  }

  private heavyReporter(job: Job, unit: HeavyUnit, results: WireResult[], signal: AbortSignal, before?: Map<string, string>): HeavyReporter {
    return {
      started: (step, key) => this.report(job, { v: WIRE_VERSION, t: 'started', worker: this.cfg.name, step, key }),
      finished: async (step, key, result) => {
        await this.uploadLog(unit.runId, step, key, result.logPath, signal);
        await this.uploadArtifacts(unit.runId, key, before, signal);
        const w = toWire(result, this.cfg.dataDir);
        results.push({ step, key, result: w });
        await this.report(job, { v: WIRE_VERSION, t: 'finished', worker: this.cfg.name, step, key, result: w });
      },
      skipped: async (step, key, summary) => {
        results.push({ step, key, result: { status: 'skip', summary, findings: [], logPath: '', childMs: 0, paths: [] } });
      },
    };
  }

  private heavyHost(unit: HeavyUnit): HeavyHost {
    this.takeTree(unit.tree);
    return { dataDir: this.cfg.dataDir, ccacheDir: this.cfg.ccacheDir, ccacheRemote: this.o.ccacheRemote ?? null, trees: this.trees, pool: this.pool, log: this.log };
  }

  private oneBuild(unit: HeavyUnit): HeavyUnit['builds'][number] {
    if (unit.builds.length !== 1) throw invalid('bad_job_payload', `a build or boot job carries one build, not ${unit.builds.length}`);
    return unit.builds[0]!;
  }

  private takeTree(tree: { slug: string; url: string; branch: string }): void {
    this.trees.addProject({ slug: tree.slug, tree: { url: tree.url, branch: tree.branch } });
  }

  private buildCpus(): number {
    return Math.max(1, Math.floor(this.cfg.cpus / this.cfg.builds));
  }

  private returned(results: WireResult[]): JobReturn {
    return { v: WIRE_VERSION, worker: this.cfg.name, results, lost: [] };
  }

  private async report(job: Job, p: Progress): Promise<void> {
    await job.updateProgress(p as unknown as object);
  }

  // --- files to the server ---

  private async uploadLog(runId: number, step: StepName, key: string, file: string, signal: AbortSignal): Promise<void> {
    if (!file || !fs.existsSync(file)) return;
    await this.upload(() => this.client.putLog(runId, key ? `${step}-${key}.log` : `${step}.log`, file, signal));
  }

  /** The build's artefacts (all of them, or those new or changed since `before`: a boot's own). */
  private async uploadArtifacts(runId: number, key: string, before: Map<string, string> | undefined, signal: AbortSignal): Promise<void> {
    const dir = this.artifactsOf(runId, key);
    for (const [name, stamp] of snapshot(dir)) {
      if (before?.get(name) === stamp) continue;
      await this.upload(() => this.client.putArtifact(runId, key, path.join(dir, name), signal));
    }
  }

  private async upload(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      // The run is over (cancelled, or its result already written by another worker): nothing to add there.
      if (e instanceof ServerRefused && e.status === 409) return;
      // A revoked token: this worker can report nothing any more; it stops taking jobs (this one goes to another).
      if (e instanceof ServerRefused && e.status === 401 && !this.refused) {
        this.refused = true;
        this.log.error("the server refused this worker's token (revoked?): it takes no more jobs; give it a new token and restart it");
        for (const w of this.workers) void w.pause(true).catch(() => {});
        void this.o.heartbeat.update({ freeBuilds: 0 }).catch(() => {});
      }
      throw e;
    }
  }

  private artifactsOf(runId: number, key: string): string {
    return path.join(this.cfg.dataDir, 'artifacts', `run-${runId}`, key);
  }

  // --- state ---

  private async isCancelled(runId: number): Promise<boolean> {
    return (await this.o.redis.exists(cancelKey(runId))) === 1;
  }

  /**
   * A build or boot job whose warm tree another live worker holds, with a build slot free: handed back to its queue
   * for that worker (./warm-preference.service.ts), unless this worker holds the tree too or the job's wait is over.
   */
  private async handedBackToHolder(job: Job, token: string, jobId: string, data: { project: string; key: string; arch: string; unit: Record<string, unknown> }): Promise<boolean> {
    const base = data.unit.base;
    if (!this.prefer.enabled || typeof base !== 'string') return false;
    const tree = warmTreeOf(data.project, data.key, base);
    const lane = job.queueName.startsWith('tests-') ? 'tests' : 'builds';
    let handed = false;
    if (!this.warm.includes(tree)) {
      try {
        const holder = await this.prefer.holderFor(jobId, tree, lane, data.arch);
        handed = holder !== null && (await this.prefer.handBack(job, token, holder, tree));
      } catch (e) {
        // Redis answered the job but not the registry: the preference is an optimisation, the job runs here.
        this.log.warn({ job: jobId, err: (e as Error).message }, 'warm-tree preference not checked; running the job here');
      }
    }
    if (!handed) this.prefer.runs(jobId);
    return handed;
  }

  /** Build slots free for a job: none once the server refused this worker's token. */
  private freeBuilds(): number {
    return this.refused ? 0 : Math.max(0, this.cfg.builds - this.heavyRunning);
  }

  /** Build and boot jobs share this worker's build slots: at its --builds, the heavy queues stop taking jobs. */
  private heavyStarted(): void {
    if (++this.heavyRunning >= this.cfg.builds) for (const w of this.heavyWorkers) void w.pause(true).catch(() => {});
  }

  private heavyEnded(): void {
    if (--this.heavyRunning < this.cfg.builds && !this.refused) for (const w of this.heavyWorkers) w.resume();
  }

  private async holdsWarm(tree: string): Promise<void> {
    this.warm = [tree, ...this.warm.filter((t) => t !== tree && !t.startsWith(`${tree.split('@')[0]}@`))].slice(0, WARM_LISTED);
    await this.o.heartbeat.update({ warmTrees: this.warm }).catch(() => {});
  }

  private warn(err: Error): void {
    if (err.message !== this.lastError) this.log.warn({ err: err.message }, 'queue: Redis connection');
    this.lastError = err.message;
  }
}

/** The regular files of a folder with a size-and-mtime stamp each (absent folder: none). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
    if (!e.isFile()) continue;
    const st = fs.statSync(path.join(dir, e.name));
    out.set(e.name, `${st.size}:${st.mtimeMs}`);
  }
  return out;
}

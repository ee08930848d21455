// Warm-tree preference (issue 12 §3): a later series of a project should build where its base is already built.
// BullMQ gives a job to whichever worker asks first and cannot move a flow's child to another queue, so the choice
// is made by the worker that took the job: a build or boot job whose warm tree (`project/key@base12`) this worker
// does not hold, while another live worker holds it, takes this queue and has a free build slot, goes back to the
// head of its queue (it keeps its place and its attempts), and this worker steps aside a moment so that the holder,
// idle and waiting for a job, takes it. Handing a job back is bounded by a total wait per job (`--prefer-warm-wait`,
// timed by Redis in a key per job): after it, whoever takes the job runs it, so a dead or busy holder never stalls it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { PREFIX } from './names.js';
import { listWorkers, type WorkerInfo } from './registry.js';

/** The key that times a job's hand-backs: its value is the key's full TTL, so TTL minus PTTL is the time since the first. */
export const deferKey = (jobId: string): string => `${PREFIX}:defer:${jobId}`;

/** The key outlives the wait by this much, so a job taken back after the wait (a retry) finds it over. */
const DEFER_KEY_GRACE_MS = 3_600_000;
/** The first step aside; doubled at each hand-back of the same job by this worker (a holder slow to take it). */
const STEP_ASIDE_MS = 250;
/** A holder that let a job's whole wait pass is not waited for again by this worker for this long (alive but not taking). */
const UNRESPONSIVE_MS = 5 * 60_000;

/** The warm tree a build slot holds after building `key` of `project` at `base`: what the registry lists. */
export function warmTreeOf(project: string, key: string, base: string): string {
  return `${project}/${key}@${base.slice(0, 12)}`;
}

/**
 * Who should run a job of `lane`/`arch` for `tree` rather than `self`: a live worker other than `self` that holds the
 * tree, takes that queue and has a build slot free (the most free first, then by name). Null: nobody; run it here.
 */
export function warmHolder(tree: string, lane: 'builds' | 'tests', arch: string, self: string, workers: readonly WorkerInfo[]): WorkerInfo | null {
  const able = workers.filter((w) => w.name !== self && (w.freeBuilds ?? 0) > 0 && w.warmTrees.includes(tree) && w.lanes.includes(lane) && w.arches.includes(arch));
  able.sort((a, b) => (b.freeBuilds ?? 0) - (a.freeBuilds ?? 0) || a.name.localeCompare(b.name));
  return able[0] ?? null;
}

export interface WarmPreferenceOptions {
  /** For the registry and the per-job keys. */
  redis: Redis;
  /** This worker's name. */
  self: string;
  /** The total time a job may be handed back for a holder (0: never). */
  waitMs: number;
  /** The longest step aside (short of the job lock's renewal, so the lock BullMQ tracks is never renewed after the hand-back). */
  maxStepAsideMs: number;
  log: Logger;
}

export class WarmPreference {
  /** Hand-backs of a job by this worker, for the growing step aside; dropped when the job runs here. */
  private readonly rounds = new Map<string, number>();
  /** Holders (name and instance) that let a whole wait pass, with when: not waited for until UNRESPONSIVE_MS later. */
  private readonly unresponsive = new Map<string, number>();

  constructor(private readonly o: WarmPreferenceOptions) {}

  get enabled(): boolean {
    return this.o.waitMs > 0;
  }

  /** The worker this job should go to (see warmHolder), while its total wait lasts; null: run it here. */
  async holderFor(jobId: string, tree: string, lane: 'builds' | 'tests', arch: string): Promise<WorkerInfo | null> {
    if (!this.enabled) return null;
    const now = Date.now();
    for (const [w, at] of this.unresponsive) if (now - at > UNRESPONSIVE_MS) this.unresponsive.delete(w);
    const live = (await listWorkers(this.o.redis)).filter((w) => !this.unresponsive.has(`${w.name}/${w.instance}`));
    const holder = warmHolder(tree, lane, arch, this.o.self, live);
    if (!holder) return null;
    if (await this.waitOver(jobId)) {
      // Listed as free but not taking its jobs (stuck, or died within its registration's TTL): the next job of its
      // trees is not held back for it again.
      this.unresponsive.set(`${holder.name}/${holder.instance}`, now);
      this.o.log.info({ job: jobId, holder: holder.name, tree }, `warm tree ${tree}: the wait for ${holder.name} is over, running the job here`);
      return null;
    }
    return holder;
  }

  /**
   * Puts the job back at the head of its queue and steps aside; true once done, and the processor then throws BullMQ's
   * WaitingError: the job is not over, so BullMQ neither completes nor fails it (no attempt is used; a flow's parent
   * still waits for it). False when the job could not be handed back (its lock lost, removed by a cancel): run it.
   */
  async handBack(job: Job, token: string, holder: WorkerInfo, tree: string): Promise<boolean> {
    const jobId = job.id!;
    const round = (this.rounds.get(jobId) ?? 0) + 1;
    try {
      await job.moveToWait(token);
    } catch (e) {
      this.o.log.warn({ job: jobId, err: (e as Error).message }, 'a job could not be handed back to its queue; running it here');
      return false;
    }
    this.rounds.delete(jobId);
    this.rounds.set(jobId, round);
    // A worker only remembers its last few hand-backs (the same job comes back within seconds, or never).
    if (this.rounds.size > 256) this.rounds.delete(this.rounds.keys().next().value!);
    const aside = Math.min(STEP_ASIDE_MS * 2 ** (round - 1), this.o.maxStepAsideMs);
    this.o.log.info({ job: jobId, holder: holder.name, tree, round }, `handed ${jobId} back for ${holder.name}, which holds warm tree ${tree} and reports a free build slot`);
    // While this processor waits, this worker's slot asks for no job: the holder, blocked waiting for one, is first.
    await sleep(aside);
    return true;
  }

  /** The job runs here: forget its hand-backs. */
  runs(jobId: string): void {
    this.rounds.delete(jobId);
  }

  /** Starts the job's wait at its first hand-back; true once it has lasted `waitMs` (Redis' clock, whichever worker started it). */
  private async waitOver(jobId: string): Promise<boolean> {
    const key = deferKey(jobId);
    const ttl = this.o.waitMs + DEFER_KEY_GRACE_MS;
    if ((await this.o.redis.set(key, String(ttl), 'PX', ttl, 'NX')) === 'OK') return false;
    const r = await this.o.redis.multi().get(key).pttl(key).exec();
    const total = Number(r?.[0]?.[1]);
    const left = Number(r?.[1]?.[1]);
    // Gone or damaged meanwhile: the wait is treated as over (never a second full wait).
    if (!Number.isFinite(total) || !Number.isFinite(left) || left < 0) return true;
    return total - left >= this.o.waitMs;
  }
}

// The worker registry in Redis: each `patchbay worker` keeps a key with its name, host, lanes, arches, warm trees,
// current job and last heartbeat, refreshed every few seconds with a TTL, so a worker that dies drops out of the list
// by itself. The admin page and /metrics list the live ones.
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import { conflict } from '../errors.js';
import { PREFIX } from './names.js';

/** What a worker tells about itself; JSON in its key. */
export interface WorkerInfo {
  name: string;
  host: string;
  pid: number;
  lanes: string[];
  arches: string[];
  /** Warm object trees this worker holds, as `project/arch@base` (the jobs it prefers). */
  warmTrees: string[];
  /**
   * Build slots not running a build or boot now (absent: an older worker, counted as none). A job whose warm tree this
   * worker holds waits for it only while this is above 0 (./warm-preference.service.ts).
   */
  freeBuilds?: number;
  /** The job it is running, or null when idle. */
  current: { queue: string; jobId: string; since: string } | null;
  startedAt: string;
  lastHeartbeat: string;
  /** Random per process: a restart on the same host replaces its old key, another host's worker of that name is refused. */
  instance: string;
}

export const WORKER_INDEX = `${PREFIX}:workers`;
export const workerKey = (name: string): string => `${PREFIX}:worker:${name}`;

export interface HeartbeatOptions {
  /** How often the key is refreshed (default 5 s). */
  everyMs?: number;
  /** How long the key lives without a refresh (default 30 s): a worker silent this long is gone. */
  ttlMs?: number;
  /** A refresh that failed (Redis restarting, unreachable): the next one tries again. */
  onError?: (err: Error) => void;
  now?: () => Date;
}

export type WorkerIdentity = Pick<WorkerInfo, 'name' | 'host' | 'lanes' | 'arches'> & Partial<Pick<WorkerInfo, 'warmTrees' | 'pid' | 'freeBuilds'>>;

/** One worker's registration: start() registers it, update() changes what it reports, stop() removes it. */
export class WorkerHeartbeat {
  private readonly info: WorkerInfo;
  private readonly everyMs: number;
  private readonly ttlMs: number;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    identity: WorkerIdentity,
    private readonly options: HeartbeatOptions = {},
  ) {
    this.everyMs = options.everyMs ?? 5_000;
    this.ttlMs = options.ttlMs ?? 30_000;
    if (this.ttlMs < 2 * this.everyMs) throw new Error('the heartbeat TTL must be at least twice its interval');
    this.now = options.now ?? (() => new Date());
    const at = this.now().toISOString();
    this.info = {
      name: identity.name,
      host: identity.host,
      pid: identity.pid ?? process.pid,
      lanes: [...identity.lanes],
      arches: [...identity.arches],
      warmTrees: [...(identity.warmTrees ?? [])],
      ...(identity.freeBuilds === undefined ? {} : { freeBuilds: identity.freeBuilds }),
      current: null,
      startedAt: at,
      lastHeartbeat: at,
      instance: crypto.randomBytes(8).toString('hex'),
    };
  }

  /**
   * Registers (refused with `conflict` when a live worker of this name runs on another host) and starts the
   * refreshes. Throws when Redis refuses the first write: a worker that cannot register does not start.
   */
  async start(): Promise<void> {
    const existing = parseInfo(await this.redis.get(workerKey(this.info.name)));
    if (existing && existing.instance !== this.info.instance && existing.host !== this.info.host) {
      throw conflict(
        'worker_name_taken',
        `a worker named "${this.info.name}" is already registered from host ${existing.host} (last heartbeat ${existing.lastHeartbeat}); give this one another --name`,
      );
    }
    await this.write();
    this.timer = setInterval(() => void this.beat(), this.everyMs);
    this.timer.unref();
  }

  /** The job it now runs (null: idle), its free build slots and the warm trees it holds; written at once. */
  async update(patch: Partial<Pick<WorkerInfo, 'current' | 'warmTrees' | 'freeBuilds'>>): Promise<void> {
    if (patch.current !== undefined) this.info.current = patch.current;
    if (patch.freeBuilds !== undefined) this.info.freeBuilds = patch.freeBuilds;
    if (patch.warmTrees !== undefined) this.info.warmTrees = [...patch.warmTrees];
    await this.beat();
  }

  /** What it last reported. */
  snapshot(): WorkerInfo {
    return structuredClone(this.info);
  }

  /** Stops the refreshes and removes its key (best effort: when Redis is away, the TTL removes it). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    try {
      await this.redis.multi().del(workerKey(this.info.name)).srem(WORKER_INDEX, this.info.name).exec();
    } catch (e) {
      this.options.onError?.(e as Error);
    }
  }

  private beat(): Promise<void> {
    // One refresh at a time: a slow Redis must not pile them up.
    this.beating = this.beating.then(async () => {
      try {
        await this.write();
      } catch (e) {
        this.options.onError?.(e as Error);
      }
    });
    return this.beating;
  }

  private async write(): Promise<void> {
    this.info.lastHeartbeat = this.now().toISOString();
    const r = await this.redis.multi().set(workerKey(this.info.name), JSON.stringify(this.info), 'PX', this.ttlMs).sadd(WORKER_INDEX, this.info.name).exec();
    const failed = r?.find(([err]) => err);
    if (!r || failed) throw failed?.[0] ?? new Error('the heartbeat transaction was discarded');
  }
}

/** The live workers (their key has not expired), by name. Names whose key expired are dropped from the index. */
export async function listWorkers(redis: Redis): Promise<WorkerInfo[]> {
  const names = (await redis.smembers(WORKER_INDEX)).sort();
  if (!names.length) return [];
  const values = await redis.mget(names.map(workerKey));
  const gone: string[] = [];
  const out: WorkerInfo[] = [];
  names.forEach((name, i) => {
    const info = parseInfo(values[i] ?? null);
    if (info && info.name === name) out.push(info);
    else if (values[i] === null) gone.push(name);
  });
  if (gone.length) await redis.srem(WORKER_INDEX, ...gone);
  return out;
}

const str = (v: unknown): v is string => typeof v === 'string';
const strs = (v: unknown): v is string[] => Array.isArray(v) && v.every(str);

/** A registry value read back: anything not of the shape (another program's key, a damaged value) is null. */
function parseInfo(raw: string | null): WorkerInfo | null {
  if (raw === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  const c = o.current as Record<string, unknown> | null | undefined;
  const currentOk = c === null || (typeof c === 'object' && c !== undefined && str(c.queue) && str(c.jobId) && str(c.since));
  if (!str(o.name) || !str(o.host) || typeof o.pid !== 'number' || !strs(o.lanes) || !strs(o.arches) || !strs(o.warmTrees) || !currentOk) return null;
  if (!str(o.startedAt) || !str(o.lastHeartbeat) || !str(o.instance)) return null;
  const free = Number.isSafeInteger(o.freeBuilds) && (o.freeBuilds as number) >= 0 ? { freeBuilds: o.freeBuilds as number } : {};
  return {
    name: o.name,
    host: o.host,
    pid: o.pid,
    lanes: o.lanes,
    arches: o.arches,
    warmTrees: o.warmTrees,
    ...free,
    current: c ? { queue: c.queue as string, jobId: c.jobId as string, since: c.since as string } : null,
    startedAt: o.startedAt,
    lastHeartbeat: o.lastHeartbeat,
    instance: o.instance,
  };
}

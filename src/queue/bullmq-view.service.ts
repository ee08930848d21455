// The queue view with --queue: each lane's counts from its BullMQ queue, the workers from the registry. Its own
// Redis connection fails fast (no offline queue, one retry) and every read has a deadline, so the admin page and
// /metrics answer "unreachable" while Redis is down instead of hanging.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { QueueSettings } from '../config/queue.js';
import { redisOptions } from './connection.js';
import { allQueues, PREFIX } from './names.js';
import type { LaneCounts, QueueSnapshot, QueueView } from './queue-view.js';
import { listWorkers } from './registry.js';

/** The longest a snapshot waits for Redis. */
const DEADLINE_MS = 3_000;

export class BullmqQueueView implements QueueView {
  private readonly redis: Redis;
  private readonly queues: { q: Queue; lane: LaneCounts['lane']; arch: string | null; name: string }[];

  constructor(
    private readonly settings: QueueSettings,
    onError: (err: Error) => void = () => {},
  ) {
    this.redis = new Redis({ ...redisOptions(settings, 'queue'), maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.redis.on('error', onError);
    this.queues = allQueues().map((d) => {
      const q = new Queue(d.name, { prefix: PREFIX, connection: this.redis });
      q.on('error', onError);
      return { q, lane: d.lane, arch: d.arch, name: d.name };
    });
  }

  async snapshot(): Promise<QueueSnapshot> {
    const takenAt = new Date().toISOString();
    const base = { mode: 'bullmq' as const, backend: this.settings.display, takenAt };
    let timer: NodeJS.Timeout | undefined;
    try {
      const read = async () => {
        const lanes = await Promise.all(
          this.queues.map(async ({ q, lane, arch, name }): Promise<LaneCounts> => {
            const c = await q.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'waiting-children', 'failed', 'completed');
            return {
              lane,
              arch,
              queue: name,
              waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0),
              // A run's parent waiting for its builds is a run under way.
              active: (c.active ?? 0) + (c['waiting-children'] ?? 0),
              failed: c.failed ?? 0,
              completed: c.completed ?? 0,
            };
          }),
        );
        return { lanes, workers: await listWorkers(this.redis) };
      };
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from Redis in ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
      });
      const { lanes, workers } = await Promise.race([read(), deadline]);
      return { ...base, reachable: true, error: null, lanes, workers };
    } catch (e) {
      return { ...base, reachable: false, error: (e as Error).message.split('\n', 1)[0]!.slice(0, 300), lanes: [], workers: [] };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map(({ q }) => q.close().catch(() => {})));
    this.redis.disconnect();
  }
}

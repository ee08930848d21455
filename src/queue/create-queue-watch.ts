// Which queue view the server shows: BullMQ's with --queue (Redis checked at start: a refused password stops it, an
// unreachable Redis is only a warning, the server runs and the view says so), else the in-process one.
import os from 'node:os';
import type { Config } from '../config/config.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../log.js';
import { detectToolchains } from '../pipeline/toolchains.js';
import { BullmqQueueView } from './bullmq-view.service.js';
import { checkQueue } from './connection.js';
import { durationsFrom, LocalQueueView } from './local-view.service.js';
import type { QueueWatch } from './queue-view.js';

export async function createQueueWatch(db: Db, config: Readonly<Config>, log: Logger): Promise<QueueWatch> {
  const durations = { durations: () => durationsFrom(db) };
  if (config.queue) {
    const reach = await checkQueue(config.queue);
    if (reach.ok) log.info({ redis: reach.version }, `queue: Redis ${config.queue.display} accepts user ${config.queue.username}`);
    else log.warn(`queue: Redis ${config.queue.display} is not reachable (${reach.reason}); mail and the web go on, the pipeline waits for it`);
    let last = '';
    const view = new BullmqQueueView(config.queue, (err) => {
      // One line per change of error, not one per reconnection attempt.
      if (err.message !== last) log.warn({ err: err.message }, 'queue view: Redis connection');
      last = err.message;
    });
    return { view, durations };
  }
  let arches: Promise<string[]> | null = null;
  const view = new LocalQueueView(db, {
    name: config.hostname,
    host: os.hostname(),
    // Asked once, when the page is first opened: `gcc --version` of each cross compiler.
    arches: () => (arches ??= detectToolchains().then((t) => t.filter((x) => x.installed).map((x) => x.arch))),
    startedAt: new Date().toISOString(),
  });
  return { view, durations };
}

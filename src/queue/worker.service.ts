// `patchbay worker`'s start and stop: the arches it can build (asked for, or every installed toolchain), Redis
// checked (a refused password stops the start; an unreachable Redis is waited for), its token checked with the
// server, with --ccache-remote the socket its base builds reach the shared ccache through, then its registration in
// the worker registry with heartbeats, and its job processors on its lanes' queues (./worker-jobs.service.ts) until
// stop.
import type { Redis } from 'ioredis';
import type { WorkerConfig } from '../config/queue.js';
import { invalid, unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import { CcacheRemote } from '../pipeline/ccache-remote.service.js';
import { detectToolchains } from '../pipeline/toolchains.js';
import { checkQueue, connect } from './connection.js';
import { queuesFor } from './names.js';
import { WorkerHeartbeat } from './registry.js';
import { WorkerJobs } from './worker-jobs.service.js';

export interface RunningWorker {
  config: Readonly<WorkerConfig>;
  arches: string[];
  /** The queues it takes jobs from. */
  queues: string[];
  redis: Redis;
  heartbeat: WorkerHeartbeat;
  jobs: WorkerJobs;
  stop(): Promise<void>;
}

/** The arches this worker builds: the ones asked for, each of which must have its compiler here; else every installed one. */
export async function resolveArches(asked: readonly string[] | null, installed?: string[]): Promise<string[]> {
  const have = installed ?? (await detectToolchains()).filter((t) => t.installed).map((t) => t.arch);
  if (asked === null) return have;
  const missing = asked.filter((a) => !have.includes(a));
  if (missing.length) {
    throw invalid('toolchain_missing', `--arches: no compiler for ${missing.join(', ')} on this machine (patchbay doctor lists what is installed)`);
  }
  return [...asked];
}

/** Asks the server who this token belongs to: a refused token stops the start with the server's reason. */
export async function checkToken(server: string, token: string, fetchImpl: typeof fetch = fetch): Promise<string> {
  let res: Response;
  try {
    res = await fetchImpl(`${server}/api/worker/whoami`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    throw unavailable('server_unreachable', `the patchbay server at ${server} did not answer: ${(e as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as { worker?: unknown; detail?: unknown };
  if (res.status === 401 || res.status === 403) throw invalid('worker_token_refused', `the server at ${server} refused this worker's token: ${String(body.detail ?? res.status)}`);
  if (!res.ok || typeof body.worker !== 'string') throw unavailable('server_unreachable', `the server at ${server} answered ${res.status} to /api/worker/whoami`);
  return body.worker;
}

export async function startWorker(config: Readonly<WorkerConfig>, log: Logger): Promise<RunningWorker> {
  const arches = await resolveArches(config.arches);
  if (!arches.length && config.lanes.some((l) => l !== 'gates')) {
    throw invalid('toolchain_missing', 'no cross compiler is installed for any arch: give --lanes gates, or install toolchains (patchbay doctor)');
  }
  const reach = await checkQueue(config.queue);
  if (reach.ok) log.info({ redis: reach.version }, `Redis ${config.queue.display} accepts user ${config.queue.username}`);
  else log.warn(`Redis ${config.queue.display} is not reachable (${reach.reason}); waiting for it`);
  const tokenName = await checkToken(config.server, config.token);
  if (tokenName !== config.name) log.warn(`this worker is --name ${config.name}, its token was made for ${tokenName}`);

  // Builds only: gates and boots compile nothing with ccache.
  const ccacheRemote = config.ccacheRemote && config.lanes.includes('builds') ? new CcacheRemote({ redis: config.ccacheRemote, log: log.child({ subsystem: 'ccache-remote' }) }) : null;
  await ccacheRemote?.start();
  const redis = connect(config.queue, 'registry', (err) => log.warn({ err: err.message }, 'Redis connection'));
  const heartbeat = new WorkerHeartbeat(
    redis,
    { name: config.name, host: config.host, lanes: config.lanes, arches },
    { onError: (err) => log.warn({ err: err.message }, 'heartbeat not written') },
  );
  try {
    await heartbeat.start();
  } catch (e) {
    redis.disconnect();
    await ccacheRemote?.stop();
    throw e;
  }
  const queues = queuesFor(config.lanes, arches);
  const jobs = new WorkerJobs({ config, arches, redis, heartbeat, ccacheRemote: ccacheRemote?.socketPath ?? null, log });
  jobs.start();
  return {
    config,
    arches,
    queues,
    redis,
    heartbeat,
    jobs,
    async stop() {
      await jobs.stop();
      await ccacheRemote?.stop();
      await heartbeat.stop();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

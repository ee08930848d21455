// The queues of the distributed pipeline (docs/scale.md): one per lane, the heavy lanes one per arch, and the runs'
// parent queue the server processes. Every key patchbay puts in Redis starts with PREFIX.
import { TOOLCHAINS } from '../pipeline/toolchains.js';

/** BullMQ's key prefix for every queue and the worker registry: one Redis may serve other software too. */
export const PREFIX = 'patchbay';

/** The key a worker watches while it runs one of a run's jobs (set by the server's cancel): present, the run is cancelled. */
export const cancelKey = (runId: number): string => `${PREFIX}:cancel:${runId}`;

/** The lanes a `patchbay worker` may take jobs from: the gate steps, and the heavy lane's builds and tests. */
export const LANES = ['gates', 'builds', 'tests'] as const;
export type Lane = (typeof LANES)[number];

/** Every queue there is, for the admin page and the metrics: the lanes, and the runs' parent jobs (the server's). */
export type QueueLane = Lane | 'runs';

/** The architectures a heavy queue may be named for: the toolchain table's. */
export function knownArches(): string[] {
  return Object.keys(TOOLCHAINS);
}

export function isLane(s: string): s is Lane {
  return (LANES as readonly string[]).includes(s);
}

/**
 * `gates`, `runs`, or `builds-<arch>` / `tests-<arch>` (BullMQ refuses a `:` in a queue name: it separates the parts
 * of its keys, `patchbay:builds-x86_64:wait`). An arch outside the toolchain table is a programming error.
 */
export function queueName(lane: 'gates' | 'runs'): string;
export function queueName(lane: 'builds' | 'tests', arch: string): string;
export function queueName(lane: QueueLane, arch?: string): string {
  if (lane === 'gates' || lane === 'runs') return lane;
  if (arch === undefined || !(arch in TOOLCHAINS)) throw new Error(`no ${lane} queue for arch ${JSON.stringify(arch)}`);
  return `${lane}-${arch}`;
}

/** The queues a worker of these lanes and arches takes jobs from. */
export function queuesFor(lanes: readonly Lane[], arches: readonly string[]): string[] {
  const out: string[] = [];
  for (const lane of lanes) {
    if (lane === 'gates') out.push(queueName('gates'));
    else for (const arch of arches) out.push(queueName(lane, arch));
  }
  return out;
}

/** Every queue the server knows of: gates, runs, and builds and tests per arch of the table. */
export function allQueues(): { name: string; lane: QueueLane; arch: string | null }[] {
  return [
    { name: queueName('gates'), lane: 'gates', arch: null },
    ...knownArches().flatMap((arch) => [
      { name: queueName('builds', arch), lane: 'builds' as const, arch },
      { name: queueName('tests', arch), lane: 'tests' as const, arch },
    ]),
    { name: queueName('runs'), lane: 'runs', arch: null },
  ];
}

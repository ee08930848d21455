// The queue view without --queue: the pipeline runs in this process, so the lanes' counts are its steps in the
// database (waiting: pending steps of live runs; active: running; completed: finished; failed: ended in `error`,
// our infrastructure's failure), the runs lane is the runs table, and the one worker is this server.
import type { Db } from '../db/database.js';
import { runCounts, runningSteps, stepCounts, stepDurations } from '../db/queue-stats.repository.js';
import { allQueues, LANES } from './names.js';
import { archOfKey, laneOfStep, type LaneCounts, type QueueSnapshot, type QueueView, type StepDurations } from './queue-view.js';
import type { WorkerInfo } from './registry.js';

export interface LocalIdentity {
  /** This server's name (--hostname) and host. */
  name: string;
  host: string;
  /** Arches whose toolchain is installed here (null: not known yet). */
  arches: () => Promise<string[]>;
  /** Warm object trees the engine holds, as project/arch@base (the engine fills it in). */
  warmTrees?: () => string[];
  startedAt: string;
}

export class LocalQueueView implements QueueView, StepDurations {
  constructor(
    private readonly db: Db,
    private readonly me: LocalIdentity,
  ) {}

  async snapshot(): Promise<QueueSnapshot> {
    const lanes = new Map<string, LaneCounts>(allQueues().map((q) => [q.name, { lane: q.lane, arch: q.arch, queue: q.name, waiting: 0, active: 0, failed: 0, completed: 0 }]));
    const add = (lane: string, arch: string | null, counts: Partial<Record<'waiting' | 'active' | 'failed' | 'completed', number>>) => {
      const name = arch ? `${lane}-${arch}` : lane;
      // A step of an arch the table no longer has (a project file changed) still counts, under its own name.
      let l = lanes.get(name);
      if (!l) lanes.set(name, (l = { lane: lane as LaneCounts['lane'], arch, queue: name, waiting: 0, active: 0, failed: 0, completed: 0 }));
      for (const [k, v] of Object.entries(counts) as [keyof typeof counts, number][]) l[k] += v;
    };
    for (const c of await stepCounts(this.db)) {
      const lane = laneOfStep(c.step);
      if (!lane) continue;
      const arch = lane === 'gates' ? null : archOfKey(c.job);
      if (c.status === 'pending' && c.live) add(lane, arch, { waiting: c.n });
      else if (c.status === 'running' && c.live) add(lane, arch, { active: c.n });
      else if (c.status === 'error') add(lane, arch, { failed: c.n });
      else if (c.status === 'pass' || c.status === 'warn' || c.status === 'fail' || c.status === 'skip') add(lane, arch, { completed: c.n });
    }
    for (const r of await runCounts(this.db)) {
      if (r.state === 'queued') add('runs', null, { waiting: r.n });
      else if (r.state === 'running') add('runs', null, { active: r.n });
      else if (r.state === 'done') add('runs', null, r.outcome === 'error' ? { failed: r.n } : { completed: r.n });
    }
    const running = await runningSteps(this.db);
    const now = new Date().toISOString();
    const first = running[0];
    const worker: WorkerInfo = {
      name: this.me.name,
      host: this.me.host,
      pid: process.pid,
      lanes: [...LANES],
      arches: await this.me.arches(),
      warmTrees: this.me.warmTrees?.() ?? [],
      current: first ? { queue: laneOfStep(first.step) ?? first.step, jobId: `run ${first.run_id} ${first.step}${first.job ? ` ${first.job}` : ''}`, since: first.started_at ?? now } : null,
      startedAt: this.me.startedAt,
      lastHeartbeat: now,
      instance: 'local',
    };
    return { mode: 'in-process', backend: 'this server', reachable: true, error: null, lanes: [...lanes.values()], workers: [worker], takenAt: now };
  }

  async durations() {
    return durationsFrom(this.db);
  }

  async close(): Promise<void> {}
}

/** Finished steps' durations from the database: what ran them does not matter, the server wrote every result. */
export async function durationsFrom(db: Db) {
  return (await stepDurations(db)).map((d) => ({ step: d.step, arch: laneOfStep(d.step) === 'gates' ? null : archOfKey(d.job), seconds: d.seconds }));
}

// The engine's seam to a distributed queue (issue 12): with `serve --queue`, the lanes hand each run's gate unit and
// heavy unit to a PipelineRemote (src/queue/queue-transport.service.ts, BullMQ) instead of running them in this
// process, and the remote tells the engine what the workers did through RemoteEvents. The engine stays the one writer
// of runs, steps, checks and the reply; a remote only carries units out and results back.
import type { GateUnit } from './gate-runner.js';
import type { HeavyUnit } from './heavy-unit.js';
import type { StepName, StepResult } from './types.js';

export type RemoteLane = 'gates' | 'builds';

/** A step's result as a worker returned it, its paths already this server's (logs and artefacts uploaded). */
export interface RemoteStepResult {
  step: StepName;
  key: string;
  result: StepResult;
  /** The worker that ran it. */
  worker: string | null;
}

/** What a lane's jobs came to: the results they returned, and the steps whose job gave up without one. */
export interface RemoteEnd {
  results: RemoteStepResult[];
  /** A job that failed on every try (our infrastructure: a worker's disk, the server unreachable …), with why. */
  lost: { step: StepName; key: string; reason: string }[];
}

/** What the remote tells the engine; each may come more than once (BullMQ is at-least-once): the engine writes once. */
export interface RemoteEvents {
  /** A worker took one of the run's jobs in this lane. */
  active(runId: number, lane: RemoteLane): void;
  started(runId: number, step: StepName, key: string, worker: string): Promise<void>;
  finished(runId: number, r: RemoteStepResult): Promise<void>;
  /** The gate job is over: record what it returned, then end the run or queue its heavy part. */
  gatesEnded(runId: number, end: RemoteEnd): Promise<void>;
  /** Every build and boot job is over: record what they returned, then end the run (its one reply). */
  heavyEnded(runId: number, end: RemoteEnd): Promise<void>;
}

export interface PipelineRemote {
  /** Starts listening to the workers' reports and the runs' parent jobs; does not wait for the queue to answer. */
  start(events: RemoteEvents): Promise<void>;
  /** Queues the run's gates as one job; resolves once queued (while the queue is unreachable it waits). */
  enqueueGates(unit: GateUnit, signal: AbortSignal): Promise<void>;
  /** Queues the run's builds and boots (one job each, under the run's parent); resolves once queued. */
  enqueueHeavy(unit: HeavyUnit, signal: AbortSignal): Promise<void>;
  /** Takes the run's waiting jobs out and tells the workers running its jobs to stop them. */
  cancel(runId: number): Promise<void>;
  stop(): Promise<void>;
}

// What the admin's queue page, its JSON and /metrics read: the lanes with their job counts and the workers. One
// interface, two sources: BullMQ's queues and the worker registry with --queue (bullmq-view.service.ts), or the
// server's own runs table without it (local-view.service.ts). The engine may implement it itself.
import type { QueueLane } from './names.js';
import type { WorkerInfo } from './registry.js';

/** One queue's jobs by state. */
export interface LaneCounts {
  lane: QueueLane;
  /** Builds and tests are queued per arch; null for gates and runs. */
  arch: string | null;
  /** The queue's name (`builds-x86_64`). */
  queue: string;
  waiting: number;
  active: number;
  failed: number;
  completed: number;
}

export interface QueueSnapshot {
  /** Where the counts come from. */
  mode: 'in-process' | 'bullmq';
  /** The Redis URL without its password, or "this server". */
  backend: string;
  /** False when the backend did not answer (Redis down): lanes and workers are then empty. */
  reachable: boolean;
  /** Why it did not answer. */
  error: string | null;
  lanes: LaneCounts[];
  /** Live workers; in-process, this server as the one local worker. */
  workers: WorkerInfo[];
  takenAt: string;
}

export interface QueueView {
  snapshot(): Promise<QueueSnapshot>;
  /** Stops what the view holds open (its Redis connection). */
  close(): Promise<void>;
}

/** Steps' run times, as the database holds them whatever ran them: a step and arch (null for the gate steps). */
export interface StepDuration {
  step: string;
  arch: string | null;
  seconds: number;
}

/** Source of the step durations /metrics turns into histograms. */
export interface StepDurations {
  durations(): Promise<StepDuration[]>;
}

/** What the queue pages and /metrics read: the lanes and workers, and the steps' durations for the histograms. */
export interface QueueWatch {
  view: QueueView;
  durations: StepDurations;
}

/** The lane a pipeline step runs in. */
export function laneOfStep(step: string): QueueLane | null {
  if (step === 'signoff' || step === 'testdesc' || step === 'checkpatch' || step === 'apply') return 'gates';
  if (step === 'build') return 'builds';
  if (step === 'test') return 'tests';
  return null;
}

/** A build key's arch: `arm64-2` -> `arm64`; '' (a gate step) -> null. */
export function archOfKey(key: string): string | null {
  if (!key) return null;
  const dash = key.lastIndexOf('-');
  return dash > 0 && /^[1-9][0-9]*$/.test(key.slice(dash + 1)) ? key.slice(0, dash) : key;
}

// Where a build's LAVA job stands, told by the test step (in a worker thread) to the engine: written beside the
// build's artefacts (lava-state.json, read by the run's pages) and posted on a BroadcastChannel, so that the engine
// knows the job ids of a run it cancels (a stopped step thread cannot cancel its own job) and the queue pages show
// each job's state.
import fs from 'node:fs';
import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import type { LavaQueueState } from './lava-answers.js';

export type LavaPhase = LavaQueueState | 'waiting for a slot';

export interface LavaStateNote {
  jobId: number | null;
  jobUrl: string | null;
  state: LavaPhase;
  attempt: number;
  device: string | null;
}

export const LAVA_CHANNEL = 'patchbay-lava-jobs';
/** LAVA's notify callback reached the server: the followers of that run poll at once instead of at their next tick. */
export const LAVA_WAKE_CHANNEL = 'patchbay-lava-wake';
export const LAVA_STATE_FILE = 'lava-state.json';

export interface LavaStateMessage extends LavaStateNote {
  runId: number;
  key: string;
  at: string;
}

let channel: BroadcastChannel | null = null;

export function tellLavaState(runId: number, key: string, artifactsDir: string, note: LavaStateNote): void {
  const msg: LavaStateMessage = { ...note, runId, key, at: new Date().toISOString() };
  try {
    fs.writeFileSync(path.join(artifactsDir, LAVA_STATE_FILE), `${JSON.stringify(msg)}\n`);
  } catch {
    // The page's copy only: the engine still gets the message.
  }
  if (!channel) {
    channel = new BroadcastChannel(LAVA_CHANNEL);
    channel.unref();
  }
  channel.postMessage(msg);
}

/** The state a build's step last wrote, or null. */
export function readLavaState(artifactsDir: string): LavaStateMessage | null {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(artifactsDir, LAVA_STATE_FILE), 'utf8')) as LavaStateMessage;
    return typeof m.state === 'string' ? m : null;
  } catch {
    return null;
  }
}

/** A test step's LAVA job as the pages show it: from its outputs once it ended, else from what its step last wrote. */
export interface StepLava {
  /** The job id (the last one when the lab's failures made it submit again). */
  job: string;
  url: string | null;
  state: string;
  device: string | null;
}

export function lavaOfStep(artifactsRoot: string, step: { step: string; job: string; status: string; outputs: Record<string, unknown> | null }): StepLava | null {
  if (step.step !== 'test') return null;
  const o = step.outputs ?? {};
  if (o.runner === 'lava') {
    const ids = String(o.lavaJobIds ?? '').split(',').filter(Boolean);
    if (!ids.length) return null;
    return { job: ids[ids.length - 1]!, url: typeof o.lavaJobUrl === 'string' ? o.lavaJobUrl : null, state: 'finished', device: null };
  }
  if (step.status !== 'running') return null;
  const live = readLavaState(path.join(artifactsRoot, step.job));
  if (!live) return null;
  return { job: live.jobId === null ? '' : String(live.jobId), url: live.jobUrl, state: live.state, device: live.device };
}

let wakeChannel: BroadcastChannel | null = null;

/** Wakes the step threads following run `runId`'s LAVA jobs (the engine, when LAVA's callback arrives). */
export function wakeFollowers(runId: number): void {
  if (!wakeChannel) {
    wakeChannel = new BroadcastChannel(LAVA_WAKE_CHANNEL);
    wakeChannel.unref();
  }
  wakeChannel.postMessage({ runId });
}

/** Sleeps `ms`, or less when the run's followers are woken; rejects when `signal` aborts. */
export function sleepOrWake(runId: number, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const ch = new BroadcastChannel(LAVA_WAKE_CHANNEL);
    const done = () => {
      clearTimeout(timer);
      ch.close();
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    ch.onmessage = (ev: unknown) => {
      if ((ev as { data?: { runId?: number } }).data?.runId !== runId) return;
      done();
      resolve();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

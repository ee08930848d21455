// Where a build's LAVA job stands, told by the test step (in a worker thread) to the engine: written beside the
// build's artefacts (lava-state.json, read by the run's pages) and posted on a BroadcastChannel, so that the engine
// knows the job ids of a run it cancels (a stopped step thread cannot cancel its own job) and the queue pages show
// each job's state.
import fs from 'node:fs';
import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import type { LavaStateNote } from './lava-run.js';

export const LAVA_CHANNEL = 'patchbay-lava-jobs';
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

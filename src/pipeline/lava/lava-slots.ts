// At most `lava.max_jobs` LAVA jobs of a project submitted at once, across the step threads of this server: one
// file per slot, created exclusively (O_EXCL), holding the process, run and build that hold it. A slot whose process
// is gone (a restart) is free again; the engine frees a cancelled run's slots (its step thread was stopped).
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../dead-owners.js';

export interface SlotHolder {
  runId: number;
  key: string;
}

interface SlotFile extends SlotHolder {
  pid: number;
}

/** Waits for a free slot of `dir` (max `max`); calls `waiting` once if it must wait. Returns the slot's release. */
export async function acquireSlot(dir: string, max: number, holder: SlotHolder, o: { pollMs?: number; waiting?: () => void; signal?: AbortSignal } = {}): Promise<() => void> {
  fs.mkdirSync(dir, { recursive: true });
  let told = false;
  for (;;) {
    o.signal?.throwIfAborted();
    for (let i = 0; i < max; i++) {
      const file = path.join(dir, `slot-${i}`);
      freeIfStale(file);
      try {
        fs.writeFileSync(file, JSON.stringify({ pid: process.pid, ...holder } satisfies SlotFile), { flag: 'wx' });
        return () => fs.rmSync(file, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    if (!told) {
      told = true;
      o.waiting?.();
    }
    await sleep(o.pollMs ?? 1000, undefined, o.signal ? { signal: o.signal } : {});
  }
}

/** The slots held now (for the queue pages). */
export function heldSlots(dir: string): SlotHolder[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('slot-'))
    .map((f) => readSlot(path.join(dir, f)))
    .filter((s): s is SlotFile => s !== null && processAlive(s.pid))
    .map(({ runId, key }) => ({ runId, key }));
}

/** Frees the slots a run holds in `dir` (its step was stopped before it could). */
export function freeSlotsOf(dir: string, runId: number): void {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    const file = path.join(dir, f);
    if (readSlot(file)?.runId === runId) fs.rmSync(file, { force: true });
  }
}

function freeIfStale(file: string): void {
  const s = readSlot(file);
  if (s && !processAlive(s.pid)) fs.rmSync(file, { force: true });
}

function readSlot(file: string): SlotFile | null {
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8')) as SlotFile;
    return Number.isInteger(s.pid) && Number.isInteger(s.runId) ? s : null;
  } catch {
    return null;
  }
}

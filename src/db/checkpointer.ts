// Checkpoints the WAL from a thread of its own. SQLite's automatic checkpoint runs inside whichever commit crosses
// 1,000 pages, on the committing thread: during an SMTP burst, intake's commits copied 4 MB into the database file and
// fsynced it twice every couple of hundred mails while every session waited on the main thread.
import { Worker } from 'node:worker_threads';
import type { CheckpointerData } from './checkpoint.worker.js';

/**
 * The main connection's own automatic checkpoint while a checkpointer runs: a safety net only (64 MB of WAL), for a
 * checkpointer thread that died or fell behind.
 */
export const AUTOCHECKPOINT_BESIDE_CHECKPOINTER = 16_384;

export interface Checkpointer {
  stop(): Promise<void>;
}

export function startCheckpointer(file: string, o: { everyMs?: number; onError?: (message: string) => void } = {}): Checkpointer {
  const data: CheckpointerData = { file, everyMs: o.everyMs ?? 500 };
  // The thread registers tsx's loader itself (as bin/patchbay.js does), then reads the .ts file.
  const entry = new URL('./checkpoint.worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const worker = new Worker(`import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`, {
    eval: true,
    workerData: data,
    execArgv: process.execArgv.filter((a) => !a.startsWith('--test')),
  });
  // Never keeps the process alive on its own.
  worker.unref();
  worker.on('message', (m: { error?: string }) => {
    if (m.error) o.onError?.(m.error);
  });
  worker.on('error', (e) => o.onError?.(e.message));
  let exited = false;
  worker.once('exit', () => (exited = true));
  let stopped: Promise<void> | null = null;
  return {
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        if (exited) return resolve();
        worker.once('exit', () => resolve());
        worker.ref(); // waited for: the process stays until the thread has closed its connection
        worker.postMessage('stop');
        // A thread stuck in a checkpoint (a busy wait of 5 s at most) is ended.
        setTimeout(() => void worker.terminate(), 6000).unref();
      })),
  };
}

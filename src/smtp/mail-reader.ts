// Reads stored mail in worker threads (piscina) with a time budget per mail: a mail whose reading throws, runs past
// the budget (its worker is terminated) or kills its worker (heap limit) fails alone, never the mails beside it.
import { Piscina } from 'piscina';
import type { ReaderTask } from './mail-reader.worker.js';
import { errorText, type MailJob, type ReadMails, type ReadOutcome } from './mail-reading.js';

export interface MailReader {
  read: ReadMails;
  destroy(): Promise<void>;
}

/**
 * Heap per reader thread. Reading a 25 MB mail (the SMTP size limit) peaks near 200 MB; a worker past this dies
 * alone with ERR_WORKER_OUT_OF_MEMORY, and only the mail it was reading fails.
 */
export const READER_HEAP_MIB = 512;

/**
 * The reader's young generation: what it allocates per mail dies young, and V8 would size this space from the heap
 * limit above (about 24 MB); 8 MB keeps the importer's peak RSS some 20 MB lower for a few more scavenges.
 */
export const READER_YOUNG_MIB = 8;

interface Watched {
  progress: Int32Array;
  seen: number;
  since: number;
  timedOut: boolean;
  abort: AbortController;
}

/**
 * `threads` workers. A task is a batch of mails (one task per mail would cost more in the pool than reading plain
 * mail does); the worker marks which mail it is on in shared memory, and a watchdog on this thread aborts the task
 * when one mail has held it for `budgetMs`: piscina terminates the worker thread, which stops even a regular
 * expression that would backtrack for minutes. The mail it was on fails; the others of its batch are read again in
 * a new task.
 */
export function createMailReader(o: { threads: number; budgetMs: number; heapMiB?: number; onWorkerError?: (e: unknown) => void }): MailReader {
  const pool = new Piscina<ReaderTask, ReadOutcome[]>({
    filename: new URL('./mail-reader.worker.ts', import.meta.url).href,
    minThreads: o.threads,
    maxThreads: o.threads,
    resourceLimits: { maxOldGenerationSizeMb: o.heapMiB ?? READER_HEAP_MIB, maxYoungGenerationSizeMb: READER_YOUNG_MIB },
    // The sources are TypeScript: each worker loads them through tsx as the main thread does.
    execArgv: [...process.execArgv.filter((a) => !a.startsWith('--test')), '--import', 'tsx'],
  });
  // A worker that dies between tasks is replaced by piscina, which reports it as an 'error' event: unheard, that
  // event would end the process. A mail that was being read when its worker died is told through its task.
  pool.on('error', (e: unknown) => o.onWorkerError?.(e));
  const watched = new Set<Watched>();
  let timer: NodeJS.Timeout | null = null;
  const tick = Math.max(10, Math.min(250, Math.floor(o.budgetMs / 4)));
  const check = () => {
    const now = performance.now();
    for (const w of watched) {
      const at = Atomics.load(w.progress, 0);
      if (at !== w.seen) [w.seen, w.since] = [at, now];
      // 0: still queued behind other tasks, which is no mail's doing.
      else if (at > 0 && now - w.since > o.budgetMs && !w.timedOut) {
        w.timedOut = true;
        w.abort.abort();
      }
    }
  };

  const runBatch = async (jobs: MailJob[]): Promise<ReadOutcome[]> => {
    const progress = new Int32Array(new SharedArrayBuffer(4));
    const w: Watched = { progress, seen: 0, since: performance.now(), timedOut: false, abort: new AbortController() };
    watched.add(w);
    timer ??= setInterval(check, tick).unref();
    try {
      return await pool.run({ jobs, progress: progress.buffer as SharedArrayBuffer }, { signal: w.abort.signal });
    } catch (e) {
      const at = Atomics.load(progress, 0) - 1;
      if (at < 0 || at >= jobs.length) return jobs.map(() => ({ ok: false, failure: 'unavailable', error: errorText(e) }));
      const failed: ReadOutcome = w.timedOut
        ? { ok: false, failure: 'timeout', error: `reading the mail took longer than the time budget (${o.budgetMs / 1000} s); its worker was stopped` }
        : { ok: false, failure: 'crashed', error: `the worker reading the mail died: ${errorText(e)}` };
      const rest = jobs.length > 1 ? await runBatch([...jobs.slice(0, at), ...jobs.slice(at + 1)]) : [];
      return [...rest.slice(0, at), failed, ...rest.slice(at)];
    } finally {
      watched.delete(w);
      if (!watched.size && timer) {
        clearInterval(timer);
        timer = null;
      }
    }
  };

  return {
    read: (jobs) => (jobs.length ? runBatch(jobs) : Promise.resolve([])),
    destroy: async () => {
      if (timer) clearInterval(timer);
      await pool.destroy();
    },
  };
}

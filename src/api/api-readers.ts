// The REST API's list pages computed in worker threads (piscina), each thread with its own connection to the database
// file: an uncached 100-item page costs a few ms of CPU, and on the main thread alone concurrent clients queue behind
// each other while the other cores idle (issue 16). The worker runs the same ApiService methods (api-reader.worker.ts).
import { Piscina } from 'piscina';
import { AppError, type ErrorKind } from '../errors.js';
import type { Parent } from './api.service.js';
import type { Principal } from './auth.service.js';
import type { RawQuery } from './query.js';
import type { ProjectInfo } from './represent.js';
import type { ApiVersion } from './versions.js';
import type { VisibilityProject } from './visibility.service.js';

/** What a worker builds its services from (workerData): plain data, as the main thread's createApi has it. */
export interface ReaderSetup {
  /** The database file (never ':memory:', which another connection could not open). */
  file: string;
  projects: ProjectInfo[];
  visibility: VisibilityProject[];
}

/** The lists a worker computes: every list whose page reads the database. */
export type ReaderList = 'patches' | 'covers' | 'series' | 'events' | 'users' | 'people' | 'bundles';

/** One page to compute: the list, what the request's context is built from (Ctx holds memos: rebuilt there), who asks. */
export type ReaderTask = { base: string; version: ApiVersion | null; query: RawQuery; who: Principal | null } & (
  | { list: ReaderList }
  | { list: 'comments'; parent: Parent }
  | { list: 'checks'; patch: number }
);

/** An AppError's fields, to be thrown again on the main thread as the in-process path would have thrown it. */
export interface ReaderRefusal {
  kind: ErrorKind;
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** A task as sent: with the memory (moved to the worker) the body is to be written into, when the caller has some. */
export type SentTask = ReaderTask & { slab?: ArrayBuffer };

/**
 * The body: its length in the slab (moved back), or bytes of their own (no slab sent, or the body does not fit; a
 * slab sent comes back unused then).
 */
export type ReaderAnswer =
  | ({ ok: true; etag: string; page: number; lastPage: number; contents: string | undefined; slab?: ArrayBuffer } & ({ inSlab: number } | { bytes: Uint8Array }))
  | { ok: false; error: ReaderRefusal };

/** A page as computed by a worker: its JSON bytes and strong ETag, its paging (for Link) and contents (for the cache). */
export interface ReadPage {
  body: Buffer;
  /** The slab sent with the task, back (the body may be a view of it: reuse it only once the body is written out). */
  slab: ArrayBuffer | undefined;
  etag: string;
  page: number;
  lastPage: number;
  contents: string | undefined;
}

export interface ApiReaders {
  /**
   * The page, or the AppError the same request would have thrown in process; any other failure rejects. A `slab`
   * moves to the worker (it is detached here) and comes back as ReadPage.slab, the body a view of it when it fits:
   * memory reused for a body sent once, which must not be kept past its response.
   */
  read(task: ReaderTask, slab?: ArrayBuffer): Promise<ReadPage>;
  /** Pages answered by the workers so far. */
  answered(): number;
  destroy(): Promise<void>;
}

export function createApiReaders(o: ReaderSetup & { threads: number; onWorkerError?: (e: unknown) => void }): ApiReaders {
  const setup: ReaderSetup = { file: o.file, projects: o.projects, visibility: o.visibility };
  // Started on the first page asked for: a server that is never asked for one (most of the test suite's, a CLI's)
  // never pays for loading the API's sources in N threads.
  let started: Piscina<SentTask, ReaderAnswer> | null = null;
  const poolOf = () => (started ??= startPool(setup, o));
  let answered = 0;
  return {
    async read(task, slab) {
      const pool = poolOf();
      const a = await (slab ? pool.run({ ...task, slab }, { transferList: [slab] }) : pool.run(task));
      if (!a.ok) throw new AppError(a.error.kind, a.error.code, a.error.message, a.error.details);
      answered++;
      const body = 'inSlab' in a ? Buffer.from(a.slab!, 0, a.inSlab) : Buffer.from(a.bytes.buffer, a.bytes.byteOffset, a.bytes.byteLength);
      return { body, slab: a.slab, etag: a.etag, page: a.page, lastPage: a.lastPage, contents: a.contents };
    },
    answered: () => answered,
    destroy: async () => {
      await started?.destroy();
    },
  };
}

function startPool(setup: ReaderSetup, o: { threads: number; onWorkerError?: (e: unknown) => void }): Piscina<SentTask, ReaderAnswer> {
  const pool = new Piscina<SentTask, ReaderAnswer>({
    filename: new URL('./api-reader.worker.ts', import.meta.url).href,
    minThreads: o.threads,
    maxThreads: o.threads,
    workerData: setup,
    // The sources are TypeScript: each worker loads them through tsx as the main thread does.
    execArgv: [...process.execArgv.filter((a) => !a.startsWith('--test')), '--import', 'tsx'],
  });
  // A worker that dies between tasks is replaced by piscina, which reports it as an 'error' event: unheard, that
  // event would end the process. A page being computed when its worker died fails through its task (a 500).
  pool.on('error', (e: unknown) => o.onWorkerError?.(e));
  return pool;
}

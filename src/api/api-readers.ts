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

export type ReaderAnswer =
  | { ok: true; bytes: Uint8Array; etag: string; page: number; lastPage: number; contents: string | undefined }
  | { ok: false; error: ReaderRefusal };

/** A page as computed by a worker: its JSON bytes and strong ETag, its paging (for Link) and contents (for the cache). */
export interface ReadPage {
  body: Buffer;
  etag: string;
  page: number;
  lastPage: number;
  contents: string | undefined;
}

export interface ApiReaders {
  /** The page, or the AppError the same request would have thrown in process; any other failure rejects. */
  read(task: ReaderTask): Promise<ReadPage>;
  /** Pages answered by the workers so far. */
  answered(): number;
  destroy(): Promise<void>;
}

export function createApiReaders(o: ReaderSetup & { threads: number; onWorkerError?: (e: unknown) => void }): ApiReaders {
  const setup: ReaderSetup = { file: o.file, projects: o.projects, visibility: o.visibility };
  const pool = new Piscina<ReaderTask, ReaderAnswer>({
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
  let answered = 0;
  return {
    async read(task) {
      const a = await pool.run(task);
      if (!a.ok) throw new AppError(a.error.kind, a.error.code, a.error.message, a.error.details);
      answered++;
      return { body: Buffer.from(a.bytes.buffer, a.bytes.byteOffset, a.bytes.byteLength), etag: a.etag, page: a.page, lastPage: a.lastPage, contents: a.contents };
    },
    answered: () => answered,
    destroy: () => pool.destroy(),
  };
}

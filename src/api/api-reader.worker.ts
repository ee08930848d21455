// Worker-thread entry of the API readers (api-readers.ts): computes one list page on a database connection of its own
// (WAL: the threads read at once) with the same services as the main thread, and hands back the JSON bytes.
import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { openDatabase } from '../db/database.js';
import { isAppError } from '../errors.js';
import { ApiService, type ListResult } from './api.service.js';
import type { ReaderAnswer, ReaderSetup, SentTask } from './api-readers.js';
import { writeJson } from './json-bytes.js';
import { etagOf } from './response-cache.js';
import { VisibilityService } from './visibility.service.js';

const setup = workerData as ReaderSetup;
// No checkpointAside: the server's connection owns the WAL's checkpoints; this one only reads.
const { db } = openDatabase(setup.file);
const api = new ApiService(db, setup.projects, new VisibilityService(db, setup.visibility));
/** The global marker (`*`: project settings move it) under which the project settings were last read. */
let settingsAt: string | null = null;

function run(task: SentTask): Promise<ListResult> {
  const ctx = api.ctx(task.base, task.version);
  switch (task.list) {
    case 'patches':
      return api.listPatches(ctx, task.query, task.who);
    case 'covers':
      return api.listCovers(ctx, task.query, task.who);
    case 'series':
      return api.listSeries(ctx, task.query, task.who);
    case 'events':
      return api.listEvents(ctx, task.query, task.who);
    case 'users':
      return api.listUsers(ctx, task.query, task.who);
    case 'people':
      return api.listPeople(ctx, task.query, task.who);
    case 'bundles':
      return api.listBundles(ctx, task.query, task.who);
    case 'comments':
      return api.listComments(ctx, task.parent, task.query);
    case 'checks':
      return api.listChecks(ctx, task.patch, task.query);
  }
}

/** The body's bytes in a buffer of their own (Buffer.from may hand out a slice of a shared pool, which cannot move). */
function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export default async function read(task: SentTask): Promise<ReaderAnswer | ReturnType<typeof move>> {
  try {
    // What maintainers set through PATCH /api/projects/N/ (the main thread reads it again after its write): read
    // again here whenever the global marker moved, so a context never shows settings older than the main thread's.
    const global = await api.marker({ project: null, kinds: [] });
    if (global !== settingsAt) {
      await api.loadProjectSettings();
      settingsAt = global;
    }
    const r = await run(task);
    const items = await r.items();
    const paging = { page: r.page, lastPage: r.lastPage, contents: r.contents };
    const slab = task.slab;
    let answer: ReaderAnswer;
    // Into the slab sent for the response (reused memory, as body-slabs.ts gives the main thread's answers) when the
    // answer surely fits.
    const into = slab ? Buffer.from(slab) : undefined;
    const n = into ? writeJson(items, into) : -1;
    if (into && n >= 0) {
      answer = { ok: true, etag: etagOf(into.subarray(0, n)), ...paging, slab, inSlab: n };
    } else {
      const bytes = encode(JSON.stringify(items));
      answer = { ok: true, etag: etagOf(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)), ...paging, ...(slab ? { slab } : {}), bytes };
    }
    const moved: ArrayBufferLike[] = [...(slab ? [slab] : []), ...('bytes' in answer ? [answer.bytes.buffer] : [])];
    // The body (and the slab) move to the main thread instead of being copied.
    return move({
      get [transferableSymbol]() {
        return moved;
      },
      get [valueSymbol]() {
        return answer;
      },
    });
  } catch (e) {
    // A refusal (400 bad filter, 404 unknown project …) goes back as data: an Error loses its fields on the way.
    if (isAppError(e)) return { ok: false, error: { kind: e.kind, code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } };
    throw e;
  }
}

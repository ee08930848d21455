// The data a queued job carries, checked on both sides of Redis: when the server enqueues (a bug must not put a
// job no worker can run) and when a worker takes it (Redis is shared state; anything could be there). Plain JSON
// data only, within bounds, and never a credential: a job carries nothing a worker could use to act as the server.
import { invalid } from '../errors.js';
import { knownArches } from './names.js';

export const JOB_PAYLOAD_VERSION = 1;

export const JOB_KINDS = ['gate', 'build', 'test', 'run', 'verdict'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** Plain JSON data: what survives JSON.stringify and JSON.parse unchanged. */
export type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain };
export type PlainObject = { [key: string]: Plain };

interface Common {
  v: typeof JOB_PAYLOAD_VERSION;
  runId: number;
  /** The project's slug. */
  project: string;
}
/** A run's gate steps (signoff, testdesc, checkpatch, apply); `unit` is what the engine hands its gate lane. */
export interface GateJobData extends Common {
  kind: 'gate';
  unit: PlainObject;
}
/** One build of a run (queue `builds-<arch>`); `unit` is the portable heavy unit (src/pipeline). */
export interface BuildJobData extends Common {
  kind: 'build';
  key: string;
  arch: string;
  unit: PlainObject;
}
/** The boot of one build (queue `tests-<arch>`), parent of its build in the run's flow. */
export interface TestJobData extends Common {
  kind: 'test';
  key: string;
  arch: string;
  unit: PlainObject;
}
/** The run's parent job (queue `runs`, processed by the server): done when all its children are. */
export interface RunJobData extends Common {
  kind: 'run';
  keys: string[];
}
/** The parent of a run's gate job (queue `runs`, processed by the server): the server records the verdict when it runs. */
export interface VerdictJobData extends Common {
  kind: 'verdict';
}
export type JobData = GateJobData | BuildJobData | TestJobData | RunJobData | VerdictJobData;
export type JobDataOf<K extends JobKind> = Extract<JobData, { kind: K }>;

/** Bounds: a unit carries the project's config files and test programs by content (at most 32 MiB, base64). */
export const PAYLOAD_LIMITS = { maxBytes: 48 * 1024 * 1024, maxDepth: 32, maxKeys: 200_000 } as const;

/** Object keys no job may have: credentials (the worker has its own token), and prototype-polluting names. */
const CREDENTIAL_KEY = /token|password|passwd|secret|credential|cookie|private.?key|api.?key|db.?path|database/i;
const POLLUTING_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A build key: the arch, or arch-N for an arch built more than once (src/pipeline/steps.ts buildSpecs). */
const BUILD_KEY = /^[a-z0-9_]{1,32}(-[1-9][0-9]{0,2})?$/;

function bad(path: string, why: string): never {
  throw invalid('bad_job_payload', `job payload ${path || '(root)'}: ${why}`, { path });
}

/** Checks that `value` is plain JSON data within the bounds; returns its JSON size in bytes. */
export function assertPlain(value: unknown, where = ''): number {
  let keys = 0;
  const seen = new Set<object>();
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > PAYLOAD_LIMITS.maxDepth) bad(path, `nested deeper than ${PAYLOAD_LIMITS.maxDepth} levels`);
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) bad(path, `${v} is not a finite number`);
      return;
    }
    if (typeof v !== 'object') bad(path, `a ${typeof v} is not plain data`);
    if (seen.has(v)) bad(path, 'refers to itself (a cycle)');
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (!(i in v)) bad(`${path}[${i}]`, 'is a hole in an array');
        walk(v[i], `${path}[${i}]`, depth + 1);
      }
    } else {
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) bad(path, `a ${(v as object).constructor?.name ?? 'class instance'} is not plain data`);
      if (Object.getOwnPropertySymbols(v).length) bad(path, 'has symbol keys');
      for (const [k, child] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        if (++keys > PAYLOAD_LIMITS.maxKeys) bad(where, `more than ${PAYLOAD_LIMITS.maxKeys} keys`);
        if (POLLUTING_KEYS.has(k)) bad(p, `the key "${k}" is not allowed`);
        if (CREDENTIAL_KEY.test(k)) bad(p, 'looks like a credential; a job carries none (a worker authenticates with its own token)');
        walk(child, p, depth + 1);
      }
    }
    seen.delete(v);
  };
  walk(value, where, 0);
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > PAYLOAD_LIMITS.maxBytes) bad(where, `${bytes} bytes, more than the ${PAYLOAD_LIMITS.maxBytes} allowed`);
  return bytes;
}

function field<T>(o: Record<string, unknown>, name: string, ok: (v: unknown) => v is T, what: string): T {
  const v = o[name];
  if (!ok(v)) bad(name, v === undefined ? `missing (expected ${what})` : `expected ${what}, got ${JSON.stringify(v)?.slice(0, 80) ?? typeof v}`);
  return v;
}

const isRunId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const isSlug = (v: unknown): v is string => typeof v === 'string' && SLUG.test(v);
const isKey = (v: unknown): v is string => typeof v === 'string' && BUILD_KEY.test(v);
const isArch = (v: unknown): v is string => typeof v === 'string' && knownArches().includes(v);
const isObject = (v: unknown): v is PlainObject => v !== null && typeof v === 'object' && !Array.isArray(v);
const isKeys = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.length <= 64 && v.every(isKey) && new Set(v).size === v.length;

/**
 * The job's data, checked: plain data within bounds, the version this code speaks, its kind (the one expected when
 * given), a run id, a project slug, and for builds and tests a build key and a known arch. Unknown fields are
 * refused too: a newer server's job on an older worker fails clearly instead of half running.
 */
export function validateJobData<K extends JobKind>(data: unknown, expected?: K): JobDataOf<K> {
  if (!isObject(data as Plain)) bad('', 'expected an object');
  assertPlain(data);
  const o = data as Record<string, unknown>;
  if (o.v !== JOB_PAYLOAD_VERSION) bad('v', `version ${JSON.stringify(o.v)} is not ${JOB_PAYLOAD_VERSION}, the one this patchbay speaks (update the worker and the server together)`);
  const kind = field(o, 'kind', (v): v is JobKind => (JOB_KINDS as readonly unknown[]).includes(v), JOB_KINDS.join(' | '));
  if (expected && kind !== expected) bad('kind', `a ${kind} job in a queue of ${expected} jobs`);
  const runId = field(o, 'runId', isRunId, 'a positive integer');
  const project = field(o, 'project', isSlug, 'a project slug');
  const allowed = new Set(['v', 'kind', 'runId', 'project']);
  let out: JobData;
  if (kind === 'run') {
    out = { v: JOB_PAYLOAD_VERSION, kind, runId, project, keys: field(o, 'keys', isKeys, '1 to 64 distinct build keys') };
    allowed.add('keys');
  } else if (kind === 'verdict') {
    out = { v: JOB_PAYLOAD_VERSION, kind, runId, project };
  } else if (kind === 'gate') {
    out = { v: JOB_PAYLOAD_VERSION, kind, runId, project, unit: field(o, 'unit', isObject, 'an object') };
    allowed.add('unit');
  } else {
    const key = field(o, 'key', isKey, 'a build key (arch or arch-N)');
    const arch = field(o, 'arch', isArch, `one of ${knownArches().join(', ')}`);
    if (key !== arch && !key.startsWith(`${arch}-`)) bad('key', `build key "${key}" is not of arch ${arch}`);
    out = { v: JOB_PAYLOAD_VERSION, kind, runId, project, key, arch, unit: field(o, 'unit', isObject, 'an object') };
    for (const k of ['key', 'arch', 'unit']) allowed.add(k);
  }
  const extra = Object.keys(o).find((k) => !allowed.has(k));
  if (extra !== undefined) bad(extra, 'is not a field of this job');
  return out as JobDataOf<K>;
}

/**
 * Deterministic job ids, so enqueueing a run again after a crash adds nothing (BullMQ keeps one job per id):
 * `gate-R`, `verdict-R`, `build-R-KEY`, `test-R-KEY`, `run-R`. BullMQ refuses `:` in ids; keys never have one.
 */
export function jobId(kind: 'gate' | 'run' | 'verdict', runId: number): string;
export function jobId(kind: 'build' | 'test', runId: number, key: string): string;
export function jobId(kind: JobKind, runId: number, key?: string): string {
  if (!isRunId(runId)) throw new Error(`bad run id ${runId}`);
  if (kind === 'gate' || kind === 'run' || kind === 'verdict') return `${kind}-${runId}`;
  if (!isKey(key)) throw new Error(`bad build key ${JSON.stringify(key)}`);
  return `${kind}-${runId}-${key}`;
}

/** What a job id names (the inverse of jobId), or null for an id patchbay does not make. */
export function parseJobId(id: string | undefined): { kind: JobKind; runId: number; key: string } | null {
  const m = /^(gate|verdict|run|build|test)-([1-9][0-9]{0,15})(?:-([a-z0-9_]{1,32}(?:-[1-9][0-9]{0,2})?))?$/.exec(id ?? '');
  if (!m) return null;
  const kind = m[1] as JobKind;
  const key = m[3] ?? '';
  if ((kind === 'build' || kind === 'test') !== (key !== '')) return null;
  const runId = Number(m[2]);
  return Number.isSafeInteger(runId) ? { kind, runId, key } : null;
}

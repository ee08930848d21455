// What a worker's job hands back to the server, on both sides of Redis: the step results it ran (a job's return
// value, and its progress reports), with every path of the worker's data folder made relative (`artifacts/run-R/…`),
// so the server reads them as its own files once uploaded. The server checks the shape and the paths of anything a
// worker returns: a result is data to record, never a path to follow outside the run's artefacts.
import path from 'node:path';
import { invalid } from '../errors.js';
import type { Finding, StepName, StepResult, StepStatus } from '../pipeline/types.js';

export const WIRE_VERSION = 1;

/** A StepResult on the wire: `logPath` is empty (the server knows where its log is); `paths` names the outputs that are data-relative paths. */
export interface WireStepResult extends StepResult {
  paths: string[];
}

export interface WireResult {
  step: StepName;
  key: string;
  result: WireStepResult;
}

/** A job's return value. */
export interface JobReturn {
  v: typeof WIRE_VERSION;
  worker: string;
  results: WireResult[];
  /** Steps whose own job failed before (a boot's build job that gave up): the reason, for the server to record. */
  lost: { step: StepName; key: string; reason: string }[];
  /** The run was cancelled while the job waited or ran: nothing to record. */
  cancelled?: boolean;
}

/** A job's progress report (BullMQ job.updateProgress; the server hears it through QueueEvents). */
export type Progress =
  | { v: typeof WIRE_VERSION; t: 'started'; worker: string; step: StepName; key: string }
  | { v: typeof WIRE_VERSION; t: 'finished'; worker: string; step: StepName; key: string; result: WireStepResult };

const STATUSES: readonly StepStatus[] = ['pass', 'warn', 'fail', 'skip', 'error'];
const STEPS: readonly StepName[] = ['signoff', 'testdesc', 'checkpatch', 'apply', 'build', 'test'];
const KEY = /^([a-z0-9_]{1,32}(-[1-9][0-9]{0,2})?)?$/;
const WORKER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const MAX_TEXT = 64 * 1024;
const MAX_FINDINGS = 2_000;

/** A result of this host as it goes on the wire: paths below `dataDir` made relative, the log path dropped. */
export function toWire(r: StepResult, dataDir: string): WireStepResult {
  const prefix = dataDir.endsWith(path.sep) ? dataDir : dataDir + path.sep;
  const paths: string[] = [];
  let outputs: StepResult['outputs'];
  if (r.outputs) {
    outputs = {};
    for (const [k, v] of Object.entries(r.outputs)) {
      if (typeof v === 'string' && v.startsWith(prefix)) {
        outputs[k] = v.slice(prefix.length).split(path.sep).join('/');
        paths.push(k);
      } else outputs[k] = v;
    }
  }
  return { status: r.status, summary: r.summary, findings: r.findings, logPath: '', ...(outputs ? { outputs } : {}), childMs: r.childMs, paths };
}

/** A wire result made this host's: its relative paths resolved below `dataDir` (`logPath` given by the caller). */
export function fromWire(w: WireStepResult, dataDir: string, logPath: string): StepResult {
  let outputs: StepResult['outputs'];
  if (w.outputs) {
    outputs = { ...w.outputs };
    for (const k of w.paths) {
      const v = outputs[k];
      if (typeof v === 'string') outputs[k] = path.join(dataDir, ...v.split('/'));
    }
  }
  return { status: w.status, summary: w.summary, findings: w.findings, logPath, ...(outputs ? { outputs } : {}), childMs: w.childMs };
}

function bad(where: string, why: string): never {
  throw invalid('bad_job_result', `a worker's result ${where}: ${why}`);
}

const text = (v: unknown, where: string, max = MAX_TEXT): string => {
  if (typeof v !== 'string') bad(where, 'is not a string');
  return v.length > max ? `${v.slice(0, max)}…` : v;
};

/**
 * Checks a wire result a worker returned for run `runId`: its status, texts (cut when long), findings, outputs of
 * plain values, and its relative paths, which must name a file of this run's artefacts (`artifacts/run-R/…`, no `..`);
 * a path that does not is dropped (set to null), never resolved.
 */
export function checkWireResult(raw: unknown, runId: number, where = 'result'): WireStepResult {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) bad(where, 'is not an object');
  const o = raw as Record<string, unknown>;
  if (!STATUSES.includes(o.status as StepStatus)) bad(`${where}.status`, `is not one of ${STATUSES.join(', ')}`);
  const childMs = typeof o.childMs === 'number' && Number.isFinite(o.childMs) && o.childMs >= 0 ? o.childMs : 0;
  if (!Array.isArray(o.findings)) bad(`${where}.findings`, 'is not a list');
  const findings: Finding[] = o.findings.slice(0, MAX_FINDINGS).map((f: unknown, i) => checkFinding(f, `${where}.findings[${i}]`));
  let outputs: StepResult['outputs'];
  if (o.outputs !== undefined && o.outputs !== null) {
    if (typeof o.outputs !== 'object' || Array.isArray(o.outputs)) bad(`${where}.outputs`, 'is not an object');
    outputs = {};
    for (const [k, v] of Object.entries(o.outputs as Record<string, unknown>)) {
      if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(k)) bad(`${where}.outputs`, `has a bad key ${JSON.stringify(k.slice(0, 70))}`);
      if (v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) outputs[k] = v;
      else if (typeof v === 'string') outputs[k] = text(v, `${where}.outputs.${k}`);
      else bad(`${where}.outputs.${k}`, 'is not a plain value');
    }
  }
  const paths = Array.isArray(o.paths) ? o.paths.filter((k): k is string => typeof k === 'string' && outputs !== undefined && k in outputs) : [];
  const inRun = `artifacts/run-${runId}/`;
  for (const k of paths) {
    const v = outputs![k];
    const ok = typeof v === 'string' && v.startsWith(inRun) && !v.split('/').some((s) => s === '' || s === '.' || s === '..') && !v.includes('\\');
    if (!ok) outputs![k] = null;
  }
  return { status: o.status as StepStatus, summary: text(o.summary, `${where}.summary`, 2_000), findings, logPath: '', ...(outputs ? { outputs } : {}), childMs, paths };
}

function checkFinding(raw: unknown, where: string): Finding {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) bad(where, 'is not an object');
  const o = raw as Record<string, unknown>;
  const f: Finding = { message: text(o.message, `${where}.message`, 8_000) };
  for (const k of ['level', 'type', 'file'] as const) if (o[k] !== undefined) f[k] = text(o[k], `${where}.${k}`, 1_000);
  if (o.quote !== undefined) f.quote = text(o.quote, `${where}.quote`);
  for (const k of ['patch', 'line', 'patchLine'] as const) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== 'number' || !Number.isSafeInteger(o[k])) bad(`${where}.${k}`, 'is not a whole number');
    f[k] = o[k] as number;
  }
  return f;
}

function checkStep(v: unknown, where: string): StepName {
  if (!STEPS.includes(v as StepName)) bad(where, `is not a step (${STEPS.join(', ')})`);
  return v as StepName;
}

function checkKey(v: unknown, where: string): string {
  if (typeof v !== 'string' || !KEY.test(v)) bad(where, 'is not a build key');
  return v;
}

function checkWorker(v: unknown): string {
  if (typeof v !== 'string' || !WORKER.test(v)) bad('worker', 'is not a worker name');
  return v;
}

/** A job's return value, checked (see checkWireResult). */
export function checkJobReturn(raw: unknown, runId: number): JobReturn {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) bad('(return value)', 'is not an object');
  const o = raw as Record<string, unknown>;
  if (o.v !== WIRE_VERSION) bad('v', `version ${JSON.stringify(o.v)} is not ${WIRE_VERSION} (update the worker and the server together)`);
  const worker = checkWorker(o.worker);
  if (!Array.isArray(o.results) || !Array.isArray(o.lost)) bad('(return value)', 'has no results and lost lists');
  const results = o.results.map((r: unknown, i) => {
    const x = (r ?? {}) as Record<string, unknown>;
    return { step: checkStep(x.step, `results[${i}].step`), key: checkKey(x.key, `results[${i}].key`), result: checkWireResult(x.result, runId, `results[${i}].result`) };
  });
  const lost = o.lost.map((l: unknown, i) => {
    const x = (l ?? {}) as Record<string, unknown>;
    return { step: checkStep(x.step, `lost[${i}].step`), key: checkKey(x.key, `lost[${i}].key`), reason: text(x.reason, `lost[${i}].reason`, 2_000) };
  });
  return { v: WIRE_VERSION, worker, results, lost, ...(o.cancelled === true ? { cancelled: true } : {}) };
}

/** A progress report, checked; null for anything else (BullMQ's own numeric progress, another program's data). */
export function checkProgress(raw: unknown, runId: number): Progress | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const o = raw as Record<string, unknown>;
  if (o.v !== WIRE_VERSION || (o.t !== 'started' && o.t !== 'finished')) return null;
  const base = { v: WIRE_VERSION, worker: checkWorker(o.worker), step: checkStep(o.step, 'step'), key: checkKey(o.key, 'key') } as const;
  if (o.t === 'started') return { ...base, t: 'started' };
  return { ...base, t: 'finished', result: checkWireResult(o.result, runId) };
}

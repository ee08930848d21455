// What a LAVA 2023.01 server answers, read into plain data (lava_rest_app/base/serializers.py, lava_common/log.py):
// a job's state and health, its test cases with their suites, its log's serial console and job-level error, and
// whose fault an ended job is. Pure: JSON or text in, data out; the HTTP client is ./lava-client.ts.
import { parse as parseYaml } from 'yaml';
import type { CaseResult } from '../test-results.js';

/** TestJob.STATE_CHOICES' display names [lava_scheduler_app/models.py]. */
export type LavaState = 'Submitted' | 'Scheduling' | 'Scheduled' | 'Running' | 'Canceling' | 'Finished';
/** TestJob.HEALTH_CHOICES' display names. */
export type LavaHealth = 'Unknown' | 'Complete' | 'Incomplete' | 'Canceled';
const STATES: readonly LavaState[] = ['Submitted', 'Scheduling', 'Scheduled', 'Running', 'Canceling', 'Finished'];
const HEALTHS: readonly LavaHealth[] = ['Unknown', 'Complete', 'Incomplete', 'Canceled'];

export class LavaAnswerError extends Error {
  constructor(what: string, why: string) {
    super(`LAVA's answer to ${what} is not what LAVA 2023.01 sends: ${why}`);
    this.name = 'LavaAnswerError';
  }
}

export interface LavaJob {
  id: number;
  state: LavaState;
  health: LavaHealth;
  /** The device the job runs or ran on, once scheduled. */
  device: string | null;
  submitTime: string | null;
  startTime: string | null;
  endTime: string | null;
  /** The scheduler's or dispatcher's reason for an Incomplete job (TestJob.failure_comment). */
  failureComment: string | null;
}

/** Where the job stands, as the series page says it. */
export type LavaQueueState = 'submitted' | 'waiting for a device' | 'running' | 'canceling' | 'finished';

export function queueState(job: Pick<LavaJob, 'state'>): LavaQueueState {
  switch (job.state) {
    case 'Submitted':
      return 'waiting for a device';
    case 'Scheduling':
    case 'Scheduled':
      return 'submitted';
    case 'Running':
      return 'running';
    case 'Canceling':
      return 'canceling';
    default:
      return 'finished';
  }
}

const obj = (v: unknown, what: string): Record<string, unknown> => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new LavaAnswerError(what, 'not a JSON object');
  return v as Record<string, unknown>;
};
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** `POST /api/v0.2/jobs/` → 201 `{"message": "job(s) successfully submitted", "job_ids": [12]}`. */
export function parseSubmitted(body: unknown): number {
  const ids = obj(body, 'the submit').job_ids;
  if (!Array.isArray(ids) || ids.length !== 1 || !Number.isInteger(ids[0])) throw new LavaAnswerError('the submit', 'job_ids is not one job id');
  return ids[0] as number;
}

/** `GET /api/v0.2/jobs/ID/` → the TestJobSerializer's fields. */
export function parseJob(body: unknown): LavaJob {
  const o = obj(body, 'a job');
  if (!Number.isInteger(o.id)) throw new LavaAnswerError('a job', 'no integer id');
  if (!STATES.includes(o.state as LavaState)) throw new LavaAnswerError('a job', `unknown state ${JSON.stringify(o.state)}`);
  if (!HEALTHS.includes(o.health as LavaHealth)) throw new LavaAnswerError('a job', `unknown health ${JSON.stringify(o.health)}`);
  return {
    id: o.id as number,
    state: o.state as LavaState,
    health: o.health as LavaHealth,
    device: str(o.actual_device),
    submitTime: str(o.submit_time),
    startTime: str(o.start_time),
    endTime: str(o.end_time),
    failureComment: str(o.failure_comment),
  };
}

/** A page of `…/suites/` or `…/tests/` (PageNumberPagination): its rows and the next page's URL. */
export function parsePage(body: unknown, what: string): { results: Record<string, unknown>[]; next: string | null } {
  const o = obj(body, what);
  if (!Array.isArray(o.results)) throw new LavaAnswerError(what, 'no results list');
  return { results: o.results.map((r) => obj(r, what)), next: str(o.next) };
}

export interface LavaCase {
  /** The suite's name: `0_proctree-ref` for a definition, `lava` for the dispatcher's own cases. */
  suite: string;
  name: string;
  result: CaseResult;
  measurement: string | null;
  units: string | null;
  set: string | null;
  /** The case's metadata (a YAML mapping LAVA keeps as text): error_type and error_msg for `lava/job`. */
  metadata: Record<string, unknown>;
}

/** The test cases of `…/tests/` pages with the suite names of `…/suites/` pages (a case names its suite by id). */
export function parseCases(suites: Record<string, unknown>[], tests: Record<string, unknown>[]): LavaCase[] {
  const names = new Map<number, string>();
  for (const s of suites) if (Number.isInteger(s.id) && typeof s.name === 'string') names.set(s.id as number, s.name);
  return tests.map((t) => {
    const suite = names.get(t.suite as number);
    if (suite === undefined) throw new LavaAnswerError('the tests', `case ${String(t.id)} names suite ${String(t.suite)}, not among the job's suites`);
    const result = String(t.result) as CaseResult;
    if (!['pass', 'fail', 'skip', 'unknown'].includes(result)) throw new LavaAnswerError('the tests', `case ${String(t.name)} has result ${String(t.result)}`);
    let metadata: Record<string, unknown> = {};
    if (typeof t.metadata === 'string' && t.metadata.trim()) {
      try {
        const m: unknown = parseYaml(t.metadata);
        if (m && typeof m === 'object' && !Array.isArray(m)) metadata = m as Record<string, unknown>;
      } catch {
        // Metadata that is not YAML is not ours to judge: the case stands without it.
      }
    }
    const measurement = t.measurement === null || t.measurement === undefined || t.measurement === '' ? null : String(t.measurement);
    return {
      suite,
      name: String(t.name),
      result,
      measurement,
      // v0.2 renames `units` to `unit` (TestCaseSerializer).
      units: str(t.unit) ?? str(t.units),
      set: typeof t.test_set === 'string' ? t.test_set : null,
      metadata,
    };
  });
}

/** The dispatcher's job-level outcome: the `lava` suite's `job` case, with LAVA's error class when it failed. */
export function jobError(cases: LavaCase[]): { type: string; message: string } | null {
  const c = cases.find((x) => x.suite === 'lava' && x.name === 'job');
  if (!c || c.result === 'pass') return null;
  return { type: String(c.metadata.error_type ?? ''), message: String(c.metadata.error_msg ?? '') };
}

export interface LavaLog {
  /** The serial console as the dispatcher read it (`target` lines and the `feedback` of other namespaces). */
  console: string;
  /** The dispatcher's error lines (`lvl: error` and `exception`), in order. */
  errors: string[];
  /** Lines that were not one YAML record each (a log cut short): counted, not fatal. */
  unreadable: number;
}

/**
 * `GET …/logs/`: one flow-style YAML mapping per line, `- {"dt": "…", "lvl": "target", "msg": "…"}` (lava_common/log.py
 * dump: width 10**6, so one line each). `target` messages are console lines; QEMU's output before the kernel and the
 * input LAVA types are `target` too.
 */
export function parseLog(text: string): LavaLog {
  const out: string[] = [];
  const errors: string[] = [];
  let unreadable = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('- ')) {
      if (line.trim()) unreadable++;
      continue;
    }
    let rec: unknown;
    try {
      rec = parseYaml(line.slice(2));
    } catch {
      unreadable++;
      continue;
    }
    if (!rec || typeof rec !== 'object') {
      unreadable++;
      continue;
    }
    const { lvl, msg } = rec as { lvl?: unknown; msg?: unknown };
    if (lvl === 'target' || lvl === 'feedback') out.push(typeof msg === 'string' ? msg : JSON.stringify(msg));
    else if (lvl === 'error' || lvl === 'exception') errors.push(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }
  return { console: out.length ? `${out.join('\n')}\n` : '', errors, unreadable };
}

/** LAVA's error classes (lava_common/exceptions.py error_type) that are the lab's, never the guest's. */
const LAB_ERRORS = new Set(['Infrastructure', 'Bug', 'Configuration', 'ObjectNotPersisted', 'MultinodeTimeout']);

export type Fault =
  /** The lab's (ours): retried, then our `error` to the maintainers. */
  | { who: 'lab'; why: string; retry: boolean }
  /** Cancelled on the server by someone else: ends cleanly as our error, not retried, nothing to the student. */
  | { who: 'cancelled'; why: string }
  /** The guest ran: judged from the console exactly as the embedded runner judges it. */
  | { who: 'guest'; hung: boolean; ended: boolean };

/**
 * Whose fault an ended job is. The console comes first: a kernel that crashed is the student's even when LAVA calls
 * it an infrastructure error (with panic=-1 QEMU exits, and the dispatcher says "Connection closed", an
 * InfrastructureError). Without a crash, LAVA's lab errors are ours; a kernel that never printed is ours too (as in
 * the embedded runner); anything else (a test or boot timeout after the kernel spoke) is the guest's.
 */
export function whoseFault(job: LavaJob, error: { type: string; message: string } | null, console: { kernelSpoke: boolean; crashed: boolean; runnerExited: boolean }): Fault {
  const reason = (error?.message || job.failureComment || 'no reason given').trim();
  if (job.health === 'Canceled' || error?.type === 'Canceled') return { who: 'cancelled', why: `the LAVA job ${job.id} was cancelled on the server (${reason})` };
  if (console.crashed) return { who: 'guest', hung: false, ended: false };
  if (job.health === 'Complete' && console.kernelSpoke) return { who: 'guest', hung: false, ended: true };
  if (error && LAB_ERRORS.has(error.type)) return { who: 'lab', why: `LAVA job ${job.id} ended Incomplete with a ${error.type} error: ${reason}`, retry: true };
  if (!console.kernelSpoke) {
    return { who: 'lab', why: `LAVA job ${job.id} ended ${job.health} before the kernel printed anything on the console: ${reason}`, retry: job.health !== 'Complete' };
  }
  return { who: 'guest', hung: !console.runnerExited, ended: console.runnerExited };
}

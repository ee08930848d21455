// Runs a run's gate part on a host: the pending gates (signoff, testdesc, checkpatch, apply) one after another, the
// tree gates in a gate slot of the host's own mirror leased at the series' base, stopping at the first gate that fails
// or errors. The gate unit is plain JSON-safe data (the Job, the tree's URL and branch, the gates to run and the
// results of those done before), so the same unit runs in the server (no --queue) or on a `patchbay worker`. Never
// touches the database: it tells the reporter when a gate starts and what it returned, and its owner records it.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { takeStudentFile } from './guest/tests-disk.js';
import { studentTestsDir, unitTree, type UnitTree } from './heavy-unit.js';
import type { PipelineProject } from './job.js';
import { errorResult, message, runInPool } from './run-step.js';
import type { StepPool } from './step-pool.js';
import { stepSpec } from './steps.js';
import type { Lease, TreeService } from './tree.service.js';
import { STEP_NAMES, type GateName, type Job, type StepContext, type StepResult } from './types.js';

export const GATE_UNIT_VERSION = 1;

export interface GateUnit {
  version: typeof GATE_UNIT_VERSION;
  runId: number;
  job: Job;
  tree: UnitTree;
  /** The gates to run, in order (those not finished before). */
  gates: GateName[];
  /** Gates that finished before (a run resumed after a restart): later gates read them (StepContext.previous). */
  done: Partial<Record<GateName, StepResult>>;
  timeouts: Record<GateName, number>;
  /** Tools a gate may run at once (checkpatch.pl processes). */
  cpus: number;
}

/** What runs a gate unit: its own data folder (logs, the student's test definitions), trees and worker pool. */
export interface GateHost {
  dataDir: string;
  trees: Pick<TreeService, 'ensureFresh' | 'resolve' | 'lease' | 'mirrorPath'>;
  pool: StepPool;
  log: Logger;
}

export interface GateReporter {
  started(step: GateName, logPath: string): Promise<void>;
  finished(step: GateName, result: StepResult): Promise<void>;
}

export interface GateOutcome {
  /** The gates run here, in order. */
  results: { step: GateName; result: StepResult }[];
  /** A gate failed (the student's) or errored (ours): the run ends at its gates. */
  stopped: boolean;
  /** Resets the gate slot and gives it back: called once the verdict is recorded (a failed gate's reply first). */
  release(): Promise<void>;
}

export function isStop(r: StepResult | undefined): boolean {
  return r?.status === 'fail' || r?.status === 'error';
}

/** A list output (a JSON array of strings: testdesc's `files`), or nothing. */
export function outputList(v: unknown): string[] {
  if (typeof v !== 'string') return [];
  try {
    const list: unknown = JSON.parse(v);
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** The unit of a run's gates still to run; `done` holds the results of those that finished before. */
export function makeGateUnit(o: { project: PipelineProject; job: Job; gates: GateName[]; done: Partial<Record<GateName, StepResult>>; cpus: number }): GateUnit {
  const { project } = o;
  return {
    version: GATE_UNIT_VERSION,
    runId: o.job.runId,
    job: o.job,
    tree: unitTree(project),
    gates: o.gates,
    done: o.done,
    timeouts: Object.fromEntries(STEP_NAMES.map((n) => [n, project.timeouts[n]])) as Record<GateName, number>,
    cpus: o.cpus,
  };
}

/**
 * Runs the unit's gates. Resolves when they have ended (each reported), holding the gate slot (if one was leased)
 * until the outcome's release. Rejects when `signal` aborts (a cancel, a stop): the slot is then given back.
 */
export async function runGateUnit(unit: GateUnit, host: GateHost, reporter: GateReporter, signal: AbortSignal): Promise<GateOutcome> {
  if (unit.version !== GATE_UNIT_VERSION) throw new Error(`gate unit version ${String(unit.version)} is not ${GATE_UNIT_VERSION}`);
  const { runId, job } = unit;
  const done = new Map<GateName, StepResult>(Object.entries(unit.done) as [GateName, StepResult][]);
  const st: { lease: Promise<Lease> | null; leased: Lease | null; pristine: boolean } = { lease: null, leased: null, pristine: false };
  const results: GateOutcome['results'] = [];
  const runDir = path.join(host.dataDir, 'logs', 'runs', String(runId));

  const runGate = async (name: GateName): Promise<StepResult> => {
    const spec = stepSpec(name);
    fs.mkdirSync(runDir, { recursive: true });
    const logPath = path.join(runDir, `${name}.log`);
    fs.writeFileSync(logPath, '');
    await reporter.started(name, logPath);
    let result: StepResult;
    let leaseMs = 0;
    try {
      if (spec.needsTree && !st.leased) {
        st.lease ??= leaseGateSlot(unit, host, logPath, signal).then((l) => {
          st.pristine = true;
          return l;
        });
        st.leased = await st.lease;
        leaseMs = st.leased.childMs;
      }
      const ctx: StepContext = {
        logPath,
        mirror: mirrorOf(host, unit.tree.slug),
        worktree: st.leased?.path ?? '',
        previous: Object.fromEntries(STEP_NAMES.flatMap((n) => (done.has(n) ? [[n, done.get(n)!]] : []))),
        timeoutMs: unit.timeouts[name],
        cpus: unit.cpus,
        privateDirs: [host.dataDir],
        ...(st.leased && st.pristine ? { pristineAt: st.leased.commit } : {}),
      };
      if (spec.mutatesTree) st.pristine = false;
      result = await runInPool(host.pool, name, job, ctx, unit.timeouts[name], signal);
    } catch (e) {
      if (signal.aborted) throw e;
      result = errorResult(logPath, spec.needsTree && !st.leased ? `the project's tree is not available: ${message(e)}` : message(e));
    }
    // Preparing the worktree is git's time too: it counts with the step that needed it.
    if (leaseMs) result = { ...result, childMs: result.childMs + leaseMs };
    done.set(name, result);
    // The test step boots the student's definition as applied: taken out of the gate slot before it is reset.
    if (name === 'apply' && !isStop(result) && st.leased) takeStudentFiles(host, runId, st.leased.path, done.get('testdesc'));
    results.push({ step: name, result });
    await reporter.finished(name, result);
    return result;
  };

  let stopped = false;
  try {
    for (const name of unit.gates) {
      // A gate that fails stops the run: the report goes out now.
      if (isStop(await runGate(name))) {
        stopped = true;
        break;
      }
    }
  } catch (e) {
    const held = st.leased ?? (st.lease ? await st.lease.catch(() => null) : null);
    // Killed tools may still be exiting: the slot is reset, and reset again by the next lease.
    await held?.release({ childrenMayLinger: true }).catch((err: unknown) => host.log.warn({ err, run: runId }, 'could not reset the gate slot'));
    throw e;
  }
  const leased = st.leased;
  return {
    results,
    stopped,
    release: async () => {
      await leased?.release().catch((e: unknown) => host.log.warn({ err: e, run: runId }, 'could not reset the gate slot'));
    },
  };
}

/** The student's test definitions, copied out of the gate slot (the heavy unit carries them to the boots). */
function takeStudentFiles(host: GateHost, runId: number, worktree: string, testdesc: StepResult | undefined): void {
  if (!testdesc || testdesc.status === 'skip' || isStop(testdesc)) return;
  for (const f of outputList(testdesc.outputs?.files)) takeStudentFile(worktree, f, studentTestsDir(host.dataDir, runId));
}

async function leaseGateSlot(unit: GateUnit, host: GateHost, logPath: string, signal: AbortSignal): Promise<Lease> {
  const { trees } = host;
  const { slug, url, branch, maxAgeMs } = unit.tree;
  const mirror = await trees.ensureFresh(slug, maxAgeMs);
  if (mirror.warning) fs.appendFileSync(logPath, `patchbay: ${mirror.warning}\n`);
  const base = (unit.job.series.baseCommit && (await trees.resolve(slug, unit.job.series.baseCommit))) || (await trees.resolve(slug, branch));
  if (!base) throw new Error(`branch ${branch} not found in ${url}`);
  fs.appendFileSync(logPath, `worktree for run ${unit.runId} at ${base}\n`);
  const lease = await trees.lease(slug, base, unit.runId, { signal, pool: 'gate' });
  const how = { kept: 'clean since the last run, used as it is', checkout: 'clean, checked out at the base', reset: 'reset', created: 'created' }[lease.prepared];
  fs.appendFileSync(logPath, `gate slot ${lease.slot} (${lease.path}): ${how}\n`);
  return lease;
}

function mirrorOf(host: GateHost, slug: string): string {
  try {
    return host.trees.mirrorPath(slug);
  } catch {
    return '';
  }
}

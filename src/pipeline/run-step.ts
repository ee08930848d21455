// One step in the worker pool with its timeout and its run's cancel: shared by the gate lane (pipeline.service.ts)
// and the heavy unit's runner (heavy-runner.ts). A timeout or a crashed worker is our `error`; a cancel rethrows.
import fs from 'node:fs';
import type { StepPool } from './step-pool.js';
import type { Job, StepContext, StepName, StepResult } from './types.js';

/** Extra time a step gets beyond its timeout before the engine gives up on it (the step kills its own children). */
const GRACE_MS = 10_000;

export async function runInPool(pool: StepPool, step: StepName, job: Job, ctx: StepContext, timeoutMs: number, signal: AbortSignal): Promise<StepResult> {
  const guard = new AbortController();
  const onAbort = () => guard.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => guard.abort(new Error('timeout')), timeoutMs + GRACE_MS);
  try {
    signal.throwIfAborted();
    return await pool.run({ step, job, ctx }, guard.signal);
  } catch (e) {
    if (signal.aborted) throw e;
    if (guard.signal.aborted) return errorResult(ctx.logPath, `${step} did not finish within ${Math.round(timeoutMs / 1000)} s`);
    return errorResult(ctx.logPath, `${step} crashed: ${message(e)}`);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

/** Our own failure, said in the step's log too. */
export function errorResult(logPath: string, summary: string): StepResult {
  if (logPath) fs.appendFileSync(logPath, `patchbay: ${summary}\n`);
  return { status: 'error', summary, findings: [], logPath, childMs: 0 };
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function rowKey(step: string, job: string): string {
  return job ? `${step}:${job}` : step;
}

// A step's outcome as a Patchwork check on every patch of the series (state, description, link to the step's log).
import type { PublicUrls } from '../config/config.js';
import type { DbOrTx } from '../db/database.js';
import { nowIso } from '../db/database.js';
import { deletePendingChecks, insertCheck } from '../db/api-event.repository.js';
import { ciUserId } from '../db/pipeline.repository.js';
import { insertEvent } from '../db/series.repository.js';
import { checkContext } from './steps.js';
import type { Job, StepName, StepResult } from './types.js';

export type CheckState = 'pending' | 'success' | 'warning' | 'fail';

/**
 * Patchwork has four states and each is a verdict (its combined state counts them all): a step that did not run
 * (`skip`) gets no check at all — see checkFor's callers and docs/pipeline.md, "Checks"; our own failure is a warning,
 * never the student's fail.
 */
export function checkFor(r: Pick<StepResult, 'status' | 'summary'>): { state: CheckState; summary: string } | null {
  switch (r.status) {
    case 'pass':
      return { state: 'success', summary: r.summary };
    case 'warn':
      return { state: 'warning', summary: r.summary };
    case 'fail':
      return { state: 'fail', summary: r.summary };
    case 'skip':
      return null;
    case 'error':
      return { state: 'warning', summary: `patchbay could not run this step (the maintainers are told): ${r.summary}` };
  }
}

/** A step that did not run takes back the pending check it wrote when it started (and that check's event). */
export async function withdrawPendingCheck(tx: DbOrTx, urls: PublicUrls, job: Job, runId: number, step: StepName, buildKey: string): Promise<void> {
  await deletePendingChecks(tx, { userId: await ciUserId(tx), context: checkContext(step, buildKey), targetUrl: logUrl(urls, runId, step, buildKey), patchIds: job.series.patches.map((p) => p.id) });
}

export function logUrl(urls: PublicUrls, runId: number, step: string, job = ''): string {
  return `${urls.base}/runs/${runId}/logs/${step}${job ? `/${job}` : ''}`;
}

export async function writeCheck(
  tx: DbOrTx,
  urls: PublicUrls,
  projectId: number,
  job: Job,
  runId: number,
  step: StepName,
  buildKey: string,
  check: { state: CheckState; summary: string },
): Promise<void> {
  const userId = await ciUserId(tx);
  const state = check.state;
  const date = nowIso();
  // Patchwork's description is a line of text; the full story is behind target_url.
  const description = check.summary.length > 250 ? `${check.summary.slice(0, 247)}...` : check.summary;
  for (const p of job.series.patches) {
    const id = await insertCheck(tx, { patchId: p.id, userId, date, state, targetUrl: logUrl(urls, runId, step, buildKey), context: checkContext(step, buildKey), description });
    await insertEvent(tx, { projectId, category: 'check-created', patchId: p.id, actorId: userId, payload: { check: id } });
  }
}

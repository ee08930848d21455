// Sign-off gate: every patch carries its author's Signed-off-by (Developer's Certificate of Origin). The series
// engine has already compared the trailers with the author (JobPatch.signoffOk); this step only judges and explains.
import type { Finding, Job, JobPatch, PersonRef, StepContext, StepResult } from '../types.js';
import { logLine } from '../exec.js';

export async function signoffStep(job: Job, ctx: StepContext): Promise<StepResult> {
  const { patches, total } = job.series;
  const finish = (r: Omit<StepResult, 'logPath' | 'childMs'>): StepResult => {
    logLine(ctx.logPath, `=> ${r.status}: ${r.summary}`);
    return { ...r, logPath: ctx.logPath, childMs: 0 };
  };
  logLine(ctx.logPath, `sign-off: ${patches.length} patch(es) of series ${job.series.id} v${job.series.version}`);
  if (patches.length === 0) {
    // The engine only runs complete series: an empty one is our bug, not the student's.
    return finish({ status: 'error', summary: 'the series has no patches to check', findings: [] });
  }

  const findings: Finding[] = [];
  for (const patch of patches) {
    const found = patch.signoffs.length ? patch.signoffs.join(', ') : 'none';
    logLine(ctx.logPath, `patch ${patch.number}/${total} ${patch.signoffOk ? 'ok' : 'MISSING'}: author ${person(patch.author)}; Signed-off-by: ${found}`);
    if (!patch.signoffOk) {
      findings.push({
        patch: patch.number,
        level: 'ERROR',
        type: 'NO_AUTHOR_SIGNOFF',
        message: missingMessage(patch, total),
        ...(patch.signoffs.length ? { quote: patch.signoffs.map((s) => `Signed-off-by: ${s}`).join('\n') } : {}),
      });
    }
  }

  if (findings.length === 0) {
    return finish({ status: 'pass', summary: `every patch is signed off by its author (${patches.length}/${patches.length})`, findings: [] });
  }
  const summary =
    findings.length === 1
      ? findings[0]!.message
      : `${findings.length} of ${patches.length} patches lack their author's Signed-off-by: ${findings.map((f) => `${f.patch}/${total}`).join(', ')}`;
  return finish({ status: 'fail', summary, findings, outputs: { missing: findings.length } });
}

function missingMessage(patch: JobPatch, total: number): string {
  const found = patch.signoffs.length ? patch.signoffs.join(', ') : 'none';
  return `patch ${patch.number}/${total} '${patch.name}' has no Signed-off-by from ${person(patch.author)}; found: ${found}`;
}

function person(p: PersonRef): string {
  return p.name ? `${p.name} <${p.email}>` : p.email;
}

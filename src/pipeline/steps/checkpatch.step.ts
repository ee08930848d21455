// The checkpatch gate: the tree's own scripts/checkpatch.pl on each patch of the series (LF copy), its output read
// by the rules in ../rules/checkpatch-output.ts (never by the exit code: 1 even for warnings only), the project's
// policy applied: errors fail, warnings and checks warn, fail or are ignored.
import fs from 'node:fs';
import path from 'node:path';
import { logLine, runTool } from '../exec.js';
import { CHECKPATCH_BASE_OPTIONS, isFormatOption, parseCheckpatchOutput, type CheckpatchFinding } from '../rules/checkpatch-output.js';
import { normalizeNewlines } from '../rules/line-endings.js';
import type { Finding, Job, StepContext, StepResult } from '../types.js';

const SCRIPT = 'scripts/checkpatch.pl';

interface Counts {
  errors: number;
  warnings: number;
  checks: number;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function patches(n: number): string {
  return n === 1 ? '1 patch' : `${n} patches`;
}

/** "2 errors, 1 warning": the counts that matter under the policy, zeros left out. */
function describe(c: Counts, countWarnings: boolean): string {
  const parts: string[] = [];
  if (c.errors > 0) parts.push(plural(c.errors, 'error'));
  if (countWarnings && c.warnings > 0) parts.push(plural(c.warnings, 'warning'));
  if (countWarnings && c.checks > 0) parts.push(plural(c.checks, 'check'));
  return parts.join(', ');
}

function toFinding(patch: number, f: CheckpatchFinding): Finding {
  const out: Finding = { patch, level: f.level, type: f.type, message: f.message };
  if (f.file !== undefined) out.file = f.file;
  if (f.line !== undefined) out.line = f.line;
  if (f.quote !== undefined) out.quote = f.quote;
  if (f.patchLine !== undefined) out.patchLine = f.patchLine;
  return out;
}

export async function checkpatchStep(job: Job, ctx: StepContext): Promise<StepResult> {
  const policy = job.project.checkpatch;
  const base = { logPath: ctx.logPath, childMs: 0 };
  if (!policy.enabled) return { ...base, status: 'skip', summary: 'checkpatch is off for this project', findings: [] };
  const list = [...job.series.patches].sort((a, b) => a.number - b.number);
  if (list.length === 0) return { ...base, status: 'skip', summary: 'no patches to check', findings: [] };

  const script = path.join(ctx.worktree, SCRIPT);
  if (!fs.existsSync(script)) {
    logLine(ctx.logPath, `${SCRIPT} is missing from the tree at ${ctx.worktree}`);
    return { ...base, status: 'error', summary: `${SCRIPT} not found in the tree`, findings: [] };
  }

  const extra = policy.options.filter((o) => {
    if (!isFormatOption(o)) return true;
    logLine(ctx.logPath, `dropped project option ${o}: it changes the output format the step reads`);
    return false;
  });
  const args = [script, ...CHECKPATCH_BASE_OPTIONS, ...(policy.ignore.length > 0 ? [`--ignore=${policy.ignore.join(',')}`] : []), ...extra, '-'];
  // checkpatch reads .checkpatch.conf from the cwd, then $HOME: only the tree's own may count.
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', HOME: ctx.worktree };
  const deadline = Date.now() + ctx.timeoutMs;
  const total = job.series.total || list.length;
  const findings: Finding[] = [];
  const perPatch: { number: number; counts: Counts }[] = [];
  let childMs = 0;

  for (const p of list) {
    const { text, crlfLines } = normalizeNewlines(p.mbox);
    const counts: Counts = { errors: 0, warnings: 0, checks: 0 };
    if (crlfLines > 0) {
      counts.warnings++;
      if (policy.warnings !== 'ignore') {
        findings.push({
          patch: p.number,
          level: 'WARNING',
          type: 'CRLF_LINE_ENDINGS',
          message: `${plural(crlfLines, 'line')} of this patch end in CRLF (DOS line endings); checkpatch ran on a copy with LF endings. Send patches with git send-email, or make your mailer keep LF.`,
        });
      }
    }
    logLine(ctx.logPath, `--- patch ${p.number}/${total}: ${p.name}${crlfLines > 0 ? ` (${crlfLines} CRLF lines converted to LF)` : ''}`);
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { ...base, childMs, status: 'error', summary: `checkpatch timed out before patch ${p.number}/${total}`, findings };
    let run;
    try {
      run = await runTool('perl', args, { cwd: ctx.worktree, logPath: ctx.logPath, timeoutMs: remaining, runId: job.runId, env, input: text });
    } catch (e) {
      logLine(ctx.logPath, `cannot start perl: ${(e as Error).message}`);
      return { ...base, childMs, status: 'error', summary: `checkpatch could not start: ${(e as Error).message}`, findings };
    }
    childMs += run.ms;
    if (run.timedOut) return { ...base, childMs, status: 'error', summary: `checkpatch timed out on patch ${p.number}/${total}`, findings };
    const parsed = parseCheckpatchOutput(run.stdout);
    // Exit 0 (clean) or 1 (something found) with the counts printed: anything else is checkpatch or perl failing.
    if ((run.code !== 0 && run.code !== 1) || parsed.total === null) {
      const why = run.stderr.trim().split('\n').at(-1) || `exit ${run.code ?? run.signal} without its counts`;
      return { ...base, childMs, status: 'error', summary: `checkpatch failed on patch ${p.number}/${total}: ${why}`, findings };
    }
    for (const u of parsed.unknown) logLine(ctx.logPath, `note: unparsed checkpatch line: ${u}`);
    const found: Counts = { errors: 0, warnings: 0, checks: 0 };
    for (const f of parsed.findings) {
      const key = f.level === 'ERROR' ? 'errors' : f.level === 'WARNING' ? 'warnings' : 'checks';
      found[key]++;
      counts[key]++;
      if (f.level === 'ERROR' || policy.warnings !== 'ignore') findings.push(toFinding(p.number, f));
    }
    // checkpatch's own counts against the parser's: a mismatch means a finding shape the rules do not know.
    const t = parsed.total;
    if (found.errors !== t.errors || found.warnings !== t.warnings || found.checks !== t.checks) {
      logLine(ctx.logPath, `note: checkpatch counted ${t.errors}/${t.warnings}/${t.checks} errors/warnings/checks, the parser found ${found.errors}/${found.warnings}/${found.checks}`);
    }
    perPatch.push({ number: p.number, counts });
  }

  const sum: Counts = { errors: 0, warnings: 0, checks: 0 };
  for (const { counts } of perPatch) {
    sum.errors += counts.errors;
    sum.warnings += counts.warnings;
    sum.checks += counts.checks;
  }
  const countWarnings = policy.warnings !== 'ignore';
  const where = perPatch.filter(({ counts }) => counts.errors > 0 || (countWarnings && counts.warnings + counts.checks > 0)).map(({ number }) => `${number}/${total}`);
  const status = sum.errors > 0 ? 'fail' : countWarnings && sum.warnings + sum.checks > 0 ? (policy.warnings === 'fail' ? 'fail' : 'warn') : 'pass';
  let summary: string;
  if (status === 'pass') {
    const ignored = sum.warnings + sum.checks;
    summary = `no problems in ${patches(list.length)}${!countWarnings && ignored > 0 ? ` (${plural(ignored, 'warning')} not counted)` : ''}`;
  } else {
    summary = `${describe(sum, countWarnings)} in ${where.length === 1 ? 'patch' : 'patches'} ${where.join(', ')}`;
  }
  return { status, summary, findings, logPath: ctx.logPath, childMs, outputs: { errors: sum.errors, warnings: sum.warnings, checks: sum.checks } };
}

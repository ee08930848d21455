// The checkpatch gate: the tree's own scripts/checkpatch.pl on each patch of the series (LF copy; several patches at
// once within the run's CPU budget), its output read by the rules in ../rules/checkpatch-output.ts (never by the exit
// code: 1 even for warnings only), the project's policy applied: errors fail, warnings and checks warn, fail or are
// ignored.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logLine, runTool } from '../exec.js';
import { checkpatchCommand, checkpatchOptions, parseCheckpatchOutput, type CheckpatchFinding } from '../rules/checkpatch-output.js';
import { normalizeNewlines } from '../rules/line-endings.js';
import type { Finding, Job, JobPatch, StepContext, StepResult } from '../types.js';

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

  const { options, dropped } = checkpatchOptions(policy);
  for (const o of dropped) logLine(ctx.logPath, `dropped project option ${o}: it changes the output format the step reads`);
  const args = [script, ...options, '-'];
  // What the report tells the student to run: these very options, on their patch files.
  const command = checkpatchCommand(policy);
  logLine(ctx.logPath, `checkpatch options: ${options.join(' ')}`);
  // checkpatch reads .checkpatch.conf from the cwd, then $HOME: only the tree's own may count.
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', HOME: ctx.worktree };
  const deadline = Date.now() + ctx.timeoutMs;
  const total = job.series.total || list.length;
  const findings: Finding[] = [];
  const perPatch: { number: number; counts: Counts }[] = [];
  let childMs = 0;

  /** One patch: its counts and findings, or why checkpatch could not judge it. Writes to its own log (`log`). */
  const checkOne = async (p: JobPatch, log: string): Promise<{ counts: Counts; findings: Finding[]; childMs: number } | { error: string; childMs: number }> => {
    const { text, crlfLines } = normalizeNewlines(p.mbox);
    const counts: Counts = { errors: 0, warnings: 0, checks: 0 };
    const found: Finding[] = [];
    if (crlfLines > 0) {
      counts.warnings++;
      if (policy.warnings !== 'ignore') {
        found.push({
          patch: p.number,
          level: 'WARNING',
          type: 'CRLF_LINE_ENDINGS',
          message: `${plural(crlfLines, 'line')} of this patch end in CRLF (DOS line endings); checkpatch ran on a copy with LF endings. Send patches with git send-email, or make your mailer keep LF.`,
        });
      }
    }
    logLine(log, `--- patch ${p.number}/${total}: ${p.name}${crlfLines > 0 ? ` (${crlfLines} CRLF lines converted to LF)` : ''}`);
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { error: `checkpatch timed out before patch ${p.number}/${total}`, childMs: 0 };
    let run;
    try {
      run = await runTool('perl', args, { cwd: ctx.worktree, logPath: log, timeoutMs: remaining, runId: job.runId, env, input: text });
    } catch (e) {
      logLine(log, `cannot start perl: ${(e as Error).message}`);
      return { error: `checkpatch could not start: ${(e as Error).message}`, childMs: 0 };
    }
    if (run.timedOut) return { error: `checkpatch timed out on patch ${p.number}/${total}`, childMs: run.ms };
    const parsed = parseCheckpatchOutput(run.stdout);
    // Exit 0 (clean) or 1 (something found) with the counts printed: anything else is checkpatch or perl failing.
    if ((run.code !== 0 && run.code !== 1) || parsed.total === null) {
      const why = run.stderr.trim().split('\n').at(-1) || `exit ${run.code ?? run.signal} without its counts`;
      return { error: `checkpatch failed on patch ${p.number}/${total}: ${why}`, childMs: run.ms };
    }
    for (const u of parsed.unknown) logLine(log, `note: unparsed checkpatch line: ${u}`);
    const seen: Counts = { errors: 0, warnings: 0, checks: 0 };
    for (const f of parsed.findings) {
      const key = f.level === 'ERROR' ? 'errors' : f.level === 'WARNING' ? 'warnings' : 'checks';
      seen[key]++;
      counts[key]++;
      if (f.level === 'ERROR' || policy.warnings !== 'ignore') found.push(toFinding(p.number, f));
    }
    // checkpatch's own counts against the parser's: a mismatch means a finding shape the rules do not know.
    const t = parsed.total;
    if (seen.errors !== t.errors || seen.warnings !== t.warnings || seen.checks !== t.checks) {
      logLine(log, `note: checkpatch counted ${t.errors}/${t.warnings}/${t.checks} errors/warnings/checks, the parser found ${seen.errors}/${seen.warnings}/${seen.checks}`);
    }
    return { counts, findings: found, childMs: run.ms };
  };

  // checkpatch.pl is one single-threaded perl per patch (~0.1 s each on a kernel patch, mostly start-up): several at
  // once within the run's CPU budget, each into its own log, the logs joined in patch order afterwards.
  const width = Math.max(1, Math.min(ctx.cpus ?? os.availableParallelism(), list.length));
  const logs = list.map((p) => `${ctx.logPath}.patch-${p.number}`);
  const outcomes: Awaited<ReturnType<typeof checkOne>>[] = new Array(list.length);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: width }, async () => {
        for (let i = next++; i < list.length; i = next++) {
          fs.writeFileSync(logs[i]!, '');
          outcomes[i] = await checkOne(list[i]!, logs[i]!);
        }
      }),
    );
  } finally {
    for (const log of logs) {
      if (!fs.existsSync(log)) continue;
      fs.appendFileSync(ctx.logPath, fs.readFileSync(log));
      fs.rmSync(log, { force: true });
    }
  }
  for (const [i, o] of outcomes.entries()) {
    childMs += o.childMs;
    // The first patch checkpatch could not judge ends the step, with what the patches before it gave.
    if ('error' in o) return { ...base, childMs, status: 'error', summary: o.error, findings, outputs: { command } };
    findings.push(...o.findings);
    perPatch.push({ number: list[i]!.number, counts: o.counts });
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
  return { status, summary, findings, logPath: ctx.logPath, childMs, outputs: { errors: sum.errors, warnings: sum.warnings, checks: sum.checks, command } };
}

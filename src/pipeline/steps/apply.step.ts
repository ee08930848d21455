// The apply gate: `git am -3` of the whole series in the run's worktree, on the series' base-commit when the tree
// has it, else on the tip of the project's branch. On failure it names the patch that stopped git am, the file and
// the rejected hunk (from `git apply --reject` of that patch on top of the ones before it), and the patches not
// applied. git's lines are read by the rules in ../rules/git-am-output.ts.
import fs from 'node:fs';
import path from 'node:path';
import { logLine, runTool, type ToolRun } from '../exec.js';
import { GIT_AM_RULES, parseAmOutput, parseApplyRejectOutput, parseRejFile, type AmError } from '../rules/git-am-output.js';
import { normalizeNewlines } from '../rules/line-endings.js';
import { patchFiles } from '../patch-files.js';
import { lstatInTree, pathInTree, readTextInTree, UnsafeFileError } from '../safe-fs.js';
import type { Finding, Job, JobPatch, StepContext, StepResult } from '../types.js';

/** Who commits the applied patches, and when: fixed, so one base and one series always give the same head. */
export const APPLY_COMMITTER = { name: 'patchbay', email: 'patchbay@localhost', date: '2000-01-01T00:00:00+0000' };

// No background gc stealing CPU from builds (kernel-lab §2), on the command line so the log shows it.
const GIT_ARGS = ['-c', 'gc.auto=0'];
// Settings that must not come from the machine's or the mirror's config: no hooks, no signing, CRs stripped as git
// am does by default. Passed as GIT_CONFIG_* variables (git >= 2.31) to keep the logged command lines short.
const GIT_CONFIG: [string, string][] = [
  ['core.hooksPath', '/dev/null'],
  ['commit.gpgSign', 'false'],
  ['am.keepcr', 'false'],
  ['core.autocrlf', 'false'],
];

const SHA = /^[0-9a-f]{7,64}$/i;

class StepError extends Error {}

function short(sha: string): string {
  return sha.slice(0, 12);
}

function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_COMMITTER_NAME: APPLY_COMMITTER.name,
    GIT_COMMITTER_EMAIL: APPLY_COMMITTER.email,
    GIT_COMMITTER_DATE: APPLY_COMMITTER.date,
    GIT_CONFIG_COUNT: String(GIT_CONFIG.length),
  };
  GIT_CONFIG.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  // A caller's repository must not leak into ours (git hooks, test runners inside a repository).
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_COMMON_DIR']) delete env[k];
  return env;
}

/** The patch as one mbox message ending in a newline, with a "From " separator line so messages can be joined. */
function mboxMessage(p: JobPatch): string {
  let text = normalizeNewlines(p.mbox).text;
  if (!text.startsWith('From ')) text = `From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n${text}`;
  return text.endsWith('\n') ? text : `${text}\n`;
}

function firstLine(r: ToolRun): string {
  if (r.timedOut) return 'timed out';
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /^(fatal|error):/.test(l)) ?? lines.at(-1) ?? `exit ${r.code ?? r.signal}`;
}

export async function applyStep(job: Job, ctx: StepContext): Promise<StepResult> {
  const patches = [...job.series.patches].sort((a, b) => a.number - b.number);
  const total = job.series.total || patches.length;
  const env = gitEnv();
  const deadline = Date.now() + ctx.timeoutMs;
  let childMs = 0;
  const findings: Finding[] = [];
  const result = (status: StepResult['status'], summary: string, outputs?: StepResult['outputs']): StepResult => ({
    status,
    summary,
    findings,
    logPath: ctx.logPath,
    childMs,
    ...(outputs ? { outputs } : {}),
  });

  const git = async (args: string[], opts: { cwd?: string; input?: string } = {}): Promise<ToolRun> => {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new StepError(`timed out before git ${args[0]}`);
    const r = await runTool('git', [...GIT_ARGS, ...args], {
      cwd: opts.cwd ?? ctx.worktree,
      logPath: ctx.logPath,
      timeoutMs: remaining,
      runId: job.runId,
      env,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
    childMs += r.ms;
    if (r.timedOut) throw new StepError(`git ${args[0]} timed out`);
    return r;
  };
  const gitOk = async (args: string[], opts: { cwd?: string; input?: string } = {}): Promise<ToolRun> => {
    const r = await git(args, opts);
    if (r.code !== 0) throw new StepError(`git ${args.join(' ')} failed: ${firstLine(r)}`);
    return r;
  };
  /** The full sha of `rev` as a commit in `cwd`'s object store, or null. */
  const commitOf = async (rev: string, cwd?: string): Promise<string | null> => {
    const r = await git(['rev-parse', '--verify', '-q', `${rev}^{commit}`], cwd ? { cwd } : {});
    return r.code === 0 ? r.stdout.trim() : null;
  };

  if (patches.length === 0) return result('skip', 'no patches to apply');

  try {
    // The base: the series' base-commit when this tree has it, else the branch tip in the mirror.
    const branch = job.project.branch;
    const tip = await commitOf(`refs/heads/${branch}`, ctx.mirror);
    if (!tip) throw new StepError(`branch ${branch} not found in the mirror ${ctx.mirror}`);
    let base = tip;
    let baseSource: 'base-commit' | 'branch' = 'branch';
    const wanted = job.series.baseCommit;
    if (wanted) {
      const found = SHA.test(wanted) ? await commitOf(wanted) : null;
      if (found) {
        base = found;
        baseSource = 'base-commit';
      } else {
        findings.push({
          level: 'WARNING',
          type: 'BASE_COMMIT_UNKNOWN',
          message: `base-commit ${wanted} not found; applied on ${branch} at ${short(tip)}`,
        });
      }
    }
    if (baseSource === 'branch' && !(await commitOf(tip))) throw new StepError(`the worktree does not have ${branch} at ${tip}`);
    const where = baseSource === 'base-commit' ? `based on ${short(base)} (base-commit of the series)` : `on ${branch} at ${short(base)}`;
    logLine(ctx.logPath, `--- applying ${patches.length} patch(es) ${where}`);

    if (ctx.pristineAt === base) {
      // The engine leased the tree clean at this very commit and nothing has changed it since: a reset would only
      // stat the tree's files again (~0.35 s on the kernel).
      logLine(ctx.logPath, `--- the worktree is a clean checkout of ${short(base)}`);
    } else {
      // A clean worktree at the base, whatever a previous run left (a stopped git am, build files, .rej files).
      const amDir = (await gitOk(['rev-parse', '--git-path', 'rebase-apply'])).stdout.trim();
      if (fs.existsSync(path.resolve(ctx.worktree, amDir))) {
        const abort = await git(['am', '--abort']);
        if (abort.code !== 0) fs.rmSync(path.resolve(ctx.worktree, amDir), { recursive: true, force: true });
      }
      await gitOk(['checkout', '-q', '--detach', '-f', base]);
      await gitOk(['reset', '-q', '--hard', base]);
      await gitOk(['clean', '-q', '-ffdx']);
    }

    const mbox = patches.map(mboxMessage).join('');
    const am = await git(['am', '-3'], { input: mbox });
    const parsed = parseAmOutput(am.stdout, am.stderr);
    for (const pos of parsed.alreadyApplied) {
      const p = patches[pos - 1];
      if (!p) continue;
      findings.push({
        patch: p.number,
        level: 'WARNING',
        type: 'ALREADY_APPLIED',
        message: `patch ${p.number}/${total} "${p.name}" changes nothing: the tree already has it`,
      });
    }

    if (am.code === 0) {
      const head = (await gitOk(['rev-parse', 'HEAD'])).stdout.trim();
      const applied = Number((await gitOk(['rev-list', '--count', `${base}..${head}`])).stdout.trim());
      const status = parsed.alreadyApplied.length > 0 ? 'warn' : 'pass';
      const summary = `applied ${applied}/${total} patches ${where}${parsed.alreadyApplied.length > 0 ? ` (${parsed.alreadyApplied.length} already in the tree)` : ''}`;
      return result(status, summary, { base, baseSource, branch, head, applied });
    }

    const failedAt = parsed.failedAt;
    const failed = failedAt ? patches[failedAt.position - 1] : undefined;
    if (!failedAt || !failed) throw new StepError(`git am failed without naming a patch: ${firstLine(am)}`);

    // Patches 1..k-1 are committed; keep them, drop git am's state and any conflict, then apply patch k with
    // --reject to get its rejected hunks as git writes them.
    await gitOk(['am', '--quit']);
    await gitOk(['reset', '-q', '--hard', 'HEAD']);
    const partial = (await gitOk(['rev-parse', 'HEAD'])).stdout.trim();
    const applied = failedAt.position - 1;
    const hunkFindings = await rejectedHunks(failed, total, git, ctx.worktree);
    if (hunkFindings.length > 0) {
      findings.push(...hunkFindings);
    } else {
      // No hunk to quote (a corrupt or empty patch, a file missing or already there): quote git's own lines.
      const errs: AmError[] = parsed.errors.filter((e) => e.rule !== GIT_AM_RULES.fakeAncestor.id);
      for (const e of errs.length > 0 ? errs : [{ rule: 'git-am', text: firstLine(am) }]) {
        const f: Finding = { patch: failed.number, level: 'ERROR', type: e.rule.toUpperCase().replace(/-/g, '_'), message: e.text };
        if (e.file !== undefined) f.file = e.file;
        findings.push(f);
      }
    }
    await gitOk(['reset', '-q', '--hard', 'HEAD']);
    await gitOk(['clean', '-q', '-ffdx']);

    const later = patches.slice(failedAt.position);
    if (later.length > 0) {
      findings.push({
        level: 'ERROR',
        type: 'NOT_APPLIED',
        message: `${later.map((p) => `${p.number}/${total}`).join(', ')} not applied: git am stops at the first patch that fails`,
      });
    }
    const files = [...new Set(findings.filter((f) => f.patch === failed.number && f.file).map((f) => f.file!))];
    const summary =
      `patch ${failed.number}/${total} "${failed.name}" does not apply ${where}` +
      (files.length > 0 ? ` (${files.join(', ')})` : '') +
      (later.length > 0 ? `; ${later.map((p) => `${p.number}/${total}`).join(', ')} not applied` : '');
    return result('fail', summary, { base, baseSource, branch, head: null, partialHead: partial, applied, failedPatch: failed.number });
  } catch (e) {
    if (!(e instanceof StepError)) throw e;
    logLine(ctx.logPath, `error: ${e.message}`);
    return result('error', e.message);
  }
}

/** Removes whatever is at `rel` below the worktree (never following it); folders and unreachable names are left. */
function clearName(worktree: string, rel: string): void {
  try {
    const st = lstatInTree(worktree, rel);
    if (st && !st.isDirectory()) fs.unlinkSync(pathInTree(worktree, rel));
  } catch {
    // a name below a symlink or a file: git will not write there either
  }
}

/** The largest .rej file quoted (a hunk of a whole file rewritten is still far below). */
const REJ_MAX_BYTES = 4 * 1024 * 1024;

/** `git apply --reject` of the patch's diff on the current HEAD: one finding per rejected hunk, quoting it. */
async function rejectedHunks(
  p: JobPatch,
  total: number,
  git: (args: string[], opts?: { input?: string }) => Promise<ToolRun>,
  worktree: string,
): Promise<Finding[]> {
  const diff = normalizeNewlines(p.diff || p.mbox).text;
  // git apply --reject writes each <file>.rej with fopen("w"): through a symlink an earlier patch of the series may
  // have put at that name, it would overwrite any file of ours. Whatever is there goes first.
  for (const f of patchFiles([diff])) clearName(worktree, `${f}.rej`);
  const r = await git(['apply', '--reject', '--verbose'], { input: diff.endsWith('\n') ? diff : `${diff}\n` });
  const parsed = parseApplyRejectOutput(r.stderr);
  const findings: Finding[] = [];
  for (const { file } of parsed.rejects) {
    // The patches before it may have made that name, or a folder on its way, a symlink to a file of ours.
    let text: string | null;
    try {
      text = readTextInTree(worktree, `${file}.rej`, REJ_MAX_BYTES);
    } catch (e) {
      if (!(e instanceof UnsafeFileError)) throw e;
      findings.push({ patch: p.number, level: 'ERROR', type: 'REJECTED_HUNK', message: `patch ${p.number}/${total}: ${file} does not apply (its .rej is not quoted: ${e.message})`, file });
      continue;
    }
    if (text === null) continue;
    const hunks = parseRejFile(text);
    hunks.forEach((h, i) => {
      findings.push({
        patch: p.number,
        level: 'ERROR',
        type: 'REJECTED_HUNK',
        message: `patch ${p.number}/${total}: hunk${hunks.length > 1 ? ` ${i + 1} of ${hunks.length}` : ''} at ${file}:${h.oldLine} does not apply`,
        file,
        line: h.oldLine,
        quote: h.text,
      });
    });
  }
  for (const e of parsed.errors) {
    const f: Finding = { patch: p.number, level: 'ERROR', type: e.rule.toUpperCase().replace(/-/g, '_'), message: e.text };
    if (e.file !== undefined) f.file = e.file;
    findings.push(f);
  }
  return findings;
}

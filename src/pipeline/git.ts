// git through runTool: a fixed environment (no prompts, C locale so messages can be matched) and a failure that
// carries git's own last words as an AppError('unavailable'): a git that fails on our trees is our infrastructure.
import { AppError } from '../errors.js';
import { runTool, type ToolRun } from './exec.js';

export interface GitOptions {
  /** Where git runs: a repository, a worktree, or the folder a clone goes into. */
  cwd: string;
  logPath: string;
  timeoutMs: number;
  /** 0 for tree maintenance; a run's id when the call belongs to that run (its cancel kills the child). */
  runId: number;
}

const gitEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  LC_ALL: 'C',
  // A URL that wants a password must fail, never wait for a terminal.
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: 'true',
  SSH_ASKPASS: 'true',
});

/** Runs git; resolves whatever the exit code (check `code`). */
export function git(args: string[], opts: GitOptions): Promise<ToolRun> {
  return runTool('git', args, { cwd: opts.cwd, logPath: opts.logPath, timeoutMs: opts.timeoutMs, runId: opts.runId, env: gitEnv() });
}

/** The line a report or log can quote: git's last `fatal:`/`error:` line, else its last line. */
export function gitReason(r: ToolRun): string {
  if (r.timedOut) return 'timed out';
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const fatal = [...lines].reverse().find((l) => /^(fatal|error):/.test(l));
  return fatal ?? lines.at(-1) ?? `exit ${r.code ?? r.signal}`;
}

/** Runs git and throws AppError('unavailable', 'git_failed') unless it exits 0. */
export async function gitOk(args: string[], opts: GitOptions): Promise<ToolRun> {
  const r = await git(args, opts);
  if (r.code !== 0 || r.timedOut) {
    throw new AppError('unavailable', 'git_failed', `git ${args[0] ?? ''} failed: ${gitReason(r)}`, {
      args,
      cwd: opts.cwd,
      code: r.code,
      timedOut: r.timedOut,
      logPath: opts.logPath,
    });
  }
  return r;
}

// Runs a real client (git, git send-email, git-pw, b4) as a process and collects what it printed, with a time bound.
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
}

export function runCommand(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<CommandResult> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  const r: CommandResult = { code: null, stdout: '', stderr: '', output: '' };
  child.stdout!.on('data', (d: Buffer) => ((r.stdout += d.toString()), (r.output += d.toString())));
  child.stderr!.on('data', (d: Buffer) => ((r.stderr += d.toString()), (r.output += d.toString())));
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ...r, code });
    }),
  );
}

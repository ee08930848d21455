// Runs `patchbay worker` as a real process (as on a worker machine): its output kept, its exit awaited.
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, ROOT } from './server-process.js';

export interface WorkerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM, then resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a machine that dies. */
  kill(): Promise<void>;
}

export function startWorkerProcess(args: string[], env: NodeJS.ProcessEnv = {}): WorkerProcess {
  const child = spawn(process.execPath, [BIN, 'worker', ...args], { cwd: ROOT, env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      if (alive()) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
  };
}

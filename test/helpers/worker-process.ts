// Runs `patchbay worker` as a real process (as on a worker machine): its output kept, its exit awaited.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { addUser, createToken } from '../../src/api/user.service.js';
import { openCore } from '../../src/main.js';
import { tempDir } from './dirs.js';
import { runCommand } from './run-command.js';
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

/** An admin (root@example.org) in the server's database, and an API token of theirs (before the server starts). */
export async function seedAdminToken(data: string, projects: string): Promise<string> {
  const core = await openCore({ data, projects, logLevel: 'warn' }, {});
  try {
    await addUser(core.db, { email: 'root@example.org', name: 'Ada Admin', role: 'admin', username: 'root' });
    return await createToken(core.db, 'root@example.org');
  } finally {
    await core.close();
  }
}

/** A worker token per name (`patchbay worker token create`) and a data folder of its own for each worker. */
export async function workerSeats(names: readonly string[], data: string, projects: string, prefix: string): Promise<{ tokens: Map<string, string>; dirs: Map<string, string> }> {
  const tokens = new Map<string, string>();
  const dirs = new Map<string, string>();
  for (const name of names) {
    const made = await runCommand(process.execPath, [BIN, 'worker', 'token', 'create', name, '--data', data, '--projects', projects], { cwd: ROOT, env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' } });
    assert.equal(made.code, 0, made.output);
    tokens.set(name, made.stdout.trim());
    dirs.set(name, tempDir(`${prefix}${name}-`));
  }
  return { tokens, dirs };
}

/** PATCHBAY_TEST_LOGS=DIR keeps what the server and the workers printed, to read after a failure. */
export function keepLogs(server: { stderr(): string } | undefined, workers: ReadonlyMap<string, WorkerProcess>): void {
  const logs = process.env.PATCHBAY_TEST_LOGS;
  if (!logs) return;
  fs.mkdirSync(logs, { recursive: true });
  fs.writeFileSync(path.join(logs, 'server.log'), server?.stderr() ?? '');
  for (const [n, w] of workers) fs.writeFileSync(path.join(logs, `${n}.log`), w.stdout() + w.stderr());
}

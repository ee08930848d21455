// Runs `patchbay serve` as a real process on free ports and reads the ports from its `listening` lines.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/patchbay.js');

export interface ServerProcess {
  child: ChildProcess;
  smtpPort: number;
  httpPort: number;
  baseUrl: string;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM, then resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no draining, as in a crash. */
  kill(): Promise<void>;
}

export async function startServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--smtp-port', '0', '--http-port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ports = await new Promise<{ smtp: number; http: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s\nstdout: ${out}\nstderr: ${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const smtp = /smtp listening on [^\s]+:(\d+)/.exec(out);
      const http = /http listening on http:\/\/[^\s]+:(\d+)/.exec(out);
      if (smtp && http) {
        clearTimeout(timer);
        resolve({ smtp: Number(smtp[1]), http: Number(http[1]) });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening\nstdout: ${out}\nstderr: ${err}`));
    });
  });
  return {
    child,
    smtpPort: ports.smtp,
    httpPort: ports.http,
    baseUrl: `http://127.0.0.1:${ports.http}`,
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

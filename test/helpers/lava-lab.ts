// A real LAVA lab for a test file: Debian 12's lava-server, lava-scheduler and lava-worker with their own PostgreSQL,
// started by scripts/lava-lab.sh on free ports in a temp folder and stopped after; lavaLabSkipReason() says why not.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './dirs.js';
import { runCommand } from './run-command.js';

export const LAB_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/lava-lab.sh');

export interface LavaLab {
  /** The server's base URL, ending in '/': `${url}api/v0.2/jobs/`. */
  readonly url: string;
  /** The admin's API token: `Authorization: Token ${token}`. */
  readonly token: string;
  readonly workerName: string;
  /** The qemu devices' hostnames (device type `qemu`), all on workerName. */
  readonly devices: string[];
  /** The lab folder: log/ (gunicorn.log, lava-scheduler.log, lava-worker.log, …), worker/tmp/<job>/ (lava-run's output). */
  readonly dir: string;
  /**
   * Stops lava-worker only (a job it runs goes on: lava-run is in its own process group). lava-scheduler marks the
   * worker Offline once its last ping is 60 s old (PING_TIMEOUT, checked every 20 s) and then schedules nothing on
   * its devices; a job scheduled before that waits, Scheduled, for the worker to come back.
   */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  /** GET or POST on the REST API with the token; throws on a non-2xx answer with its body. */
  api<T = unknown>(route: string, body?: unknown): Promise<T>;
  /** The end of a log in log/ (for failure messages): 'gunicorn', 'lava-scheduler', 'lava-worker', 'django'. */
  log(name: string, lines?: number): string;
  /** `down` (every process the lab started, the jobs' lava-run and QEMU included) and removes the folder. */
  stop(): Promise<void>;
}

/** Why a lab cannot start here (null when it can): the packages, root (lava-run writes /var/lib/lava), QEMU. */
export function lavaLabSkipReason(): string | null {
  const has = (cmd: string) => {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (!has('lava-server') || !has('lava-worker')) return 'lava-server and lava-dispatcher are not installed (scripts/lava-lab.sh install)';
  if (!fs.existsSync('/usr/lib/postgresql')) return 'no PostgreSQL server (scripts/lava-lab.sh install)';
  if (!has('qemu-system-x86_64')) return 'qemu-system-x86 is not installed';
  if (process.getuid?.() !== 0) return 'the LAVA lab needs root (lava-run keeps its downloads in /var/lib/lava/dispatcher/tmp)';
  return null;
}

function readState(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

async function script(dir: string, args: string[], timeoutMs: number): Promise<string> {
  const r = await runCommand('bash', [LAB_SCRIPT, '--dir', dir, ...args], { cwd: path.dirname(LAB_SCRIPT), env: process.env, timeoutMs });
  if (r.code !== 0) throw new Error(`lava-lab.sh ${args.join(' ')} failed (${r.code}):\n${r.output.split('\n').slice(-40).join('\n')}`);
  return r.output;
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

/** Starts a lab with `devices` qemu devices (default 2). Call stop() in after(). `up` takes about a minute. */
export async function startLavaLab(opts: { devices?: number } = {}): Promise<LavaLab> {
  const reason = lavaLabSkipReason();
  if (reason) throw new Error(`no LAVA lab here: ${reason}`);
  const dir = tempDir('patchbay-lava-lab-');
  try {
    await script(dir, ['--devices', String(opts.devices ?? 2), 'up'], 600_000);
  } catch (err) {
    await script(dir, ['down'], 120_000).catch(() => undefined);
    const message = `${(err as Error).message}\n--- gunicorn.log\n${tail(path.join(dir, 'log/gunicorn.log'), 30)}`;
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(message);
  }
  const state = readState(path.join(dir, 'state.env'));
  const url = state.URL!;
  const token = state.TOKEN!;
  const api = async <T>(route: string, body?: unknown): Promise<T> => {
    const res = await fetch(new URL(route.replace(/^\//, ''), url), {
      method: body === undefined ? 'GET' : 'POST',
      headers: { Authorization: `Token ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`LAVA ${route}: HTTP ${res.status}: ${text.slice(0, 2000)}`);
    return (text ? JSON.parse(text) : null) as T;
  };
  let stopped = false;
  return {
    url,
    token,
    workerName: state.WORKER!,
    devices: (state.DEVICES ?? '').split(' ').filter(Boolean),
    dir,
    stopWorker: async () => void (await script(dir, ['worker-stop'], 60_000)),
    startWorker: async () => void (await script(dir, ['worker-start'], 60_000)),
    api,
    log: (name, lines = 60) => tail(path.join(dir, 'log', `${name}.log`), lines),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await script(dir, ['down'], 180_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

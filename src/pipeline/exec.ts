// Runs the tools a step needs (git, checkpatch, make) as child processes in their own process group, logs what
// they print, kills the group on timeout or cancel, and tells the engine each child's pid (steps run in worker
// threads; the engine's cancel must reach their children).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { BroadcastChannel } from 'node:worker_threads';

export interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export interface ToolOptions {
  cwd: string;
  /** Appended to the step's log: the command line, then everything it printed. */
  logPath: string;
  timeoutMs: number;
  /** The run the child belongs to: the engine kills a cancelled run's children. */
  runId: number;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Keep at most this many bytes of each stream in memory (the log gets everything). */
  maxBuffer?: number;
  /**
   * Run at this lower priority (`nice -n N`, 1–19): for work beside the critical path, such as a QEMU boot that
   * overlaps the next build on the same cores. Through nice(1) rather than a setpriority() after the spawn, so
   * every thread the tool starts inherits it.
   */
  nice?: number;
  /** Kills the child's process group when aborted (a sandbox that hit a cap); the run then resolves as usual. */
  signal?: AbortSignal;
}

/** Children by run, announced on this channel: {runId, pid, alive}. */
export const CHILDREN_CHANNEL = 'patchbay-pipeline-children';
let channel: BroadcastChannel | null = null;
function announce(runId: number, pid: number, alive: boolean): void {
  if (!channel) {
    channel = new BroadcastChannel(CHILDREN_CHANNEL);
    channel.unref();
  }
  channel.postMessage({ runId, pid, alive });
}

function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Runs `cmd args` (no shell), resolving when it exits; never rejects for a non-zero exit, only if it cannot start. */
export function runTool(cmd: string, args: string[], opts: ToolOptions): Promise<ToolRun> {
  if (opts.nice !== undefined) {
    if (!Number.isInteger(opts.nice) || opts.nice < 1 || opts.nice > 19) return Promise.reject(new RangeError(`nice: expected 1–19, got ${opts.nice}`));
    [cmd, args] = ['nice', ['-n', String(opts.nice), cmd, ...args]];
  }
  const started = performance.now();
  const max = opts.maxBuffer ?? 4 * 1024 * 1024;
  const log = fs.openSync(opts.logPath, 'a');
  fs.writeSync(log, `$ ${[cmd, ...args].map(shellQuote).join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    const pid = child.pid;
    if (pid !== undefined) announce(opts.runId, pid, true);
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killGroup(pid);
    }, opts.timeoutMs);
    const onAbort = () => {
      if (pid !== undefined) killGroup(pid);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    let endsLine = true;
    child.stdout.on('data', (b: Buffer) => {
      fs.writeSync(log, b);
      endsLine = b[b.length - 1] === 10;
      if (outLen < max) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      fs.writeSync(log, b);
      endsLine = b[b.length - 1] === 10;
      if (errLen < max) err.push(b);
      errLen += b.length;
    });
    child.stdin.on('error', () => {}); // a tool that exits without reading its input
    child.stdin.end(opts.input ?? '');
    child.on('error', (e) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      fs.closeSync(log);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (pid !== undefined) announce(opts.runId, pid, false);
      const ms = performance.now() - started;
      // On a line of its own, also after output without a last newline (git … -z).
      fs.writeSync(log, `${endsLine ? '' : '\n'}[exit ${code ?? signal}${timedOut ? ', timed out' : ''} after ${Math.round(ms)} ms]\n`);
      fs.closeSync(log);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms, timedOut });
    });
  });
}

/** Appends a line of the step's own to its log. */
export function logLine(logPath: string, line: string): void {
  fs.appendFileSync(logPath, line.endsWith('\n') ? line : `${line}\n`);
}

// What every benchmark prints first and last, so figures in docs/benchmarks.md can be compared: the commit (and
// whether the tree was clean), the machine, and the load average before the run and after it.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** The checked-out commit, `+dirty` when the tree has changes; `unknown` outside a git checkout. */
export function benchCommit(): string {
  const git = (...args: string[]) => spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
  const head = git('rev-parse', '--short=12', 'HEAD');
  if (head.status !== 0) return 'unknown';
  const dirty = git('status', '--porcelain', '--untracked-files=no').stdout.trim() !== '';
  return `${head.stdout.trim()}${dirty ? '+dirty' : ''}`;
}

let started = false;

/** Prints the benchmark's name, commit, machine and load average now; the load average is printed again at exit. */
export function startBench(name: string): void {
  if (started) return;
  started = true;
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  console.log(`bench/${name} at ${benchCommit()}; ${os.availableParallelism()} cores (${cpu}), Node ${process.version}`);
  console.log(`load average before: ${loadAverage()}`);
  process.once('exit', () => console.log(`load average after: ${loadAverage()}`));
}

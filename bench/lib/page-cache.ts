// How much of a file the kernel holds in its page cache, and reading it once so it all is. A million-patch database
// is 4.3 GB: a server that has run a while holds it in memory, a benchmark started after the cache was dropped (a
// reboot, memory pressure, another job's files) reads each random patch from the disk. On this project's 2-core VM
// that took a single patch's p95 from 10-11 to 15-17 ms, so each API run says where the file stood.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** Bytes of `file` in the page cache (util-linux's fincore), or null when that cannot be told. */
export function residentBytes(file: string): number | null {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) ? n : null;
}

/** One line: "X of Y GB (Z%) in the page cache". */
export function residencyLine(file: string): string {
  const size = fs.statSync(file).size;
  const res = residentBytes(file);
  const gb = (n: number) => (n / 1024 ** 3).toFixed(2);
  if (res === null) return `${gb(size)} GB, page cache unknown (no fincore)`;
  return `${gb(res)} of ${gb(size)} GB (${Math.round((res / Math.max(1, size)) * 100)}%) in the page cache`;
}

/** Reads the whole file once (the kernel keeps what it read while memory allows). Returns the seconds it took. */
export function readThrough(file: string): number {
  const started = performance.now();
  const buf = Buffer.allocUnsafe(8 * 1024 ** 2);
  const fd = fs.openSync(file, 'r');
  try {
    while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    fs.closeSync(fd);
  }
  return (performance.now() - started) / 1000;
}

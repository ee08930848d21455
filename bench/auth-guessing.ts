// bench/auth-guessing: starts the server as a process and guesses one user's password over HTTP Basic from one
// address, one request after another, for a bounded time; prints how many passwords were checked (403), how many
// guesses were refused (429) and how fast; then what the right password gets from that address.
// Usage: node --import tsx bench/auth-guessing.ts [--duration S]   (issue 11 measured 1,445 checked guesses in 20 s)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { tempDir } from '../test/helpers/dirs.js';
import { BIN, ROOT, startServer } from '../test/helpers/server-process.js';
import { startBench } from './lib/run-info.js';

startBench('auth-guessing');

const { values } = parseArgs({ options: { duration: { type: 'string', default: '20' } } });
const DURATION_MS = Number(values.duration) * 1000;
const PASSWORD = 'the-right-password-1234';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function main(): Promise<void> {
  const dataDir = tempDir('patchbay-bench-auth-');
  const projects = path.join(ROOT, 'projects');
  execFileSync(process.execPath, [BIN, 'user', 'add', '--data', dataDir, '--projects', projects, '--email', 'teacher@example.org', '--name', 'Tom Teacher', '--role', 'maintainer', '--username', 'teacher', '--password-stdin'], { input: `${PASSWORD}\n` });
  const server = await startServer(['--data', dataDir, '--projects', projects, '--pipeline-runs', '0']);
  try {
    const url = `${server.baseUrl}/api/users/`;
    const counts = new Map<number, number>();
    const times = new Map<number, number[]>();
    let guesses = 0;
    const start = Date.now();
    while (Date.now() - start < DURATION_MS) {
      const t = performance.now();
      const r = await fetch(url, { headers: { authorization: basic('teacher', `guess-${guesses++}`) } });
      await r.arrayBuffer();
      counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
      if (!times.has(r.status)) times.set(r.status, []);
      times.get(r.status)!.push(performance.now() - t);
    }
    process.stdout.write(`bench/auth-guessing: ${guesses.toLocaleString('en')} Basic guesses in ${DURATION_MS / 1000} s from one address\n`);
    for (const [status, n] of [...counts].sort()) {
      const sorted = times.get(status)!.sort((a, b) => a - b);
      process.stdout.write(`  ${status}: ${n.toLocaleString('en')} (p50 ${pct(sorted, 50).toFixed(2)} ms, p99 ${pct(sorted, 99).toFixed(2)} ms)\n`);
    }
    const right = await fetch(url, { headers: { authorization: basic('teacher', PASSWORD) } });
    process.stdout.write(`  the right password from the same address: ${right.status} (Retry-After ${right.headers.get('retry-after')})\n`);
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

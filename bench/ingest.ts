// bench/ingest: builds a list archive from a git history (bench/corpus.ts), imports it with `patchbay import` as a
// process, and prints mails/s end to end into SQLite, the importer's CPU time per mail and its peak RSS.
// BENCH_MAILS sets the size. The CPU time is the figure to compare on a busy machine: wall-clock rates move with load.
//   --profile DIR writes the importer's CPU profiles there (node --cpu-prof: one .cpuprofile per thread, for DevTools).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/db/database.js';
import { benchCounts } from '../src/db/series.repository.js';
import { buildCorpus } from './corpus.js';
import { startBench } from './lib/run-info.js';

startBench('ingest');

const { values } = parseArgs({ options: { profile: { type: 'string', default: process.env.BENCH_PROFILE ?? '' } } });
// The importer ends by itself (no SIGTERM to catch, as profileEnv does for a server): node writes the profile at exit.
const profileArgs = values.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values.profile)}`] : [];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mails = Number(process.env.BENCH_MAILS ?? 20_000);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'patchbay-bench-ingest-'));
const projects = path.join(work, 'projects');
fs.mkdirSync(projects);
fs.writeFileSync(path.join(projects, 'bench.yaml'), 'name: Bench\nslug: bench\nlist: bench@lists.example.org\n');

const t0 = Date.now();
const corpus = buildCorpus({ mails, out: work, list: 'bench@lists.example.org' });
const size = fs.statSync(corpus.file).size;
console.log(`corpus: ${corpus.messages} mails, ${(size / 1e6).toFixed(1)} MB, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

/** Peak resident set (VmHWM) and CPU time so far (user + system, all threads) of a running process. */
function sample(pid: number): { rss: number; cpu: number } | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th, in clock ticks.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rss: m ? Number(m[1]) * 1024 : 0, cpu: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS };
  } catch {
    return null;
  }
}

/** sysconf(_SC_CLK_TCK): 100 on every Linux Node runs on. */
const CLOCK_TICKS = 100;

async function runImport(): Promise<{ seconds: number; rss: number; cpu: number; out: string }> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...profileArgs, path.join(ROOT, 'bin/patchbay.js'), 'import', '--project', 'bench', '--data', path.join(work, 'data'), '--projects', projects, corpus.file], {
    env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let rss = 0;
  let cpu = 0;
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  // Sampled until the process is gone: the last sample misses at most one interval of CPU time.
  const timer = setInterval(() => {
    const s = sample(child.pid!);
    if (s) [rss, cpu] = [Math.max(rss, s.rss), Math.max(cpu, s.cpu)];
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`import exited ${code}: ${out}`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, rss, cpu, out: out.trim() };
}

const r = await runImport();
const { db } = openDatabase(path.join(work, 'data', 'patchbay.sqlite'));
const counts = await benchCounts(db);
await db.destroy();
console.log(`importer: ${r.out}`);
console.log(`filed: ${counts.series} series, ${counts.patches} patches, ${counts.covers} covers, ${counts.comments} comments, ${counts.revisions} revision links, ${counts.superseded} superseded patches`);
console.log(`ingest: ${corpus.messages} mails in ${r.seconds.toFixed(2)} s = ${(corpus.messages / r.seconds).toFixed(0)} mails/s end to end (process start included), peak RSS ${(r.rss / 2 ** 20).toFixed(0)} MB`);
console.log(`importer CPU: ${r.cpu.toFixed(2)} s user+sys = ${((r.cpu / corpus.messages) * 1e6).toFixed(0)} µs per mail (start included)`);
fs.rmSync(work, { recursive: true, force: true });

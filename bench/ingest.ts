// bench/ingest: builds a list archive from a git history (bench/corpus.ts), imports it with `patchbay import` as a
// process, and prints mails/s end to end into SQLite and the importer's peak RSS. BENCH_MAILS sets the size.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../src/db/database.js';
import { benchCounts } from '../src/db/series.repository.js';
import { buildCorpus } from './corpus.js';

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

/** Peak resident set of a running process (VmHWM), read until it exits. */
function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function runImport(): Promise<{ seconds: number; rss: number; out: string }> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/patchbay.js'), 'import', '--project', 'bench', '--data', path.join(work, 'data'), '--projects', projects, corpus.file], {
    env: { ...process.env, PATCHBAY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let rss = 0;
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setInterval(() => (rss = Math.max(rss, peakRss(child.pid!))), 100);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`import exited ${code}: ${out}`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, rss, out: out.trim() };
}

const r = await runImport();
const { db } = openDatabase(path.join(work, 'data', 'patchbay.sqlite'));
const counts = await benchCounts(db);
await db.destroy();
console.log(`importer: ${r.out}`);
console.log(`filed: ${counts.series} series, ${counts.patches} patches, ${counts.covers} covers, ${counts.comments} comments, ${counts.revisions} revision links, ${counts.superseded} superseded patches`);
console.log(`ingest: ${corpus.messages} mails in ${r.seconds.toFixed(2)} s = ${(corpus.messages / r.seconds).toFixed(0)} mails/s end to end (process start included), peak RSS ${(r.rss / 2 ** 20).toFixed(0)} MB`);
fs.rmSync(work, { recursive: true, force: true });

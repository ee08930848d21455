// bench/web: the reviewer web view's three main pages on the API benchmark's database (1,000,000 patches in 200,000
// series over 20 projects, bench/lib/patch-db.ts) with one pipeline run per series added: starts the server as a
// process and prints p50/p95/p99 latency, requests/s and the server's CPU time per request (16 concurrent clients,
// a bounded time each) for the series list, the series page and the patch page. Target on 2 cores: p95 ≤ 50 ms each.
// Usage: npm run bench:web [-- --data DIR --from DIR --patches N --clients C --duration S --only REGEX --profile DIR]
//   --data DIR reuses the database in DIR when it holds the patches; else it is copied there from --from DIR (a filled
//     bench/api folder, through SQLite's backup API: the server migrates its database at start, so never point --data
//     at a folder you want unchanged), else filled there (minutes). Without --data: a temporary folder, removed after.
//   --profile DIR writes the server's CPU profile there (a .cpuprofile for Chrome DevTools) when it stops.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { msgidSegment } from '../src/mail/archive-layout.js';
import { tempDir } from '../test/helpers/dirs.js';
import { startServer } from '../test/helpers/server-process.js';
import { BENCH_OPTIONS, load, profileEnv, request, TABLE_HEADER, tableRow, type Target } from './lib/load.js';
import { patchDb, prng } from './lib/patch-db.js';
import { startBench } from './lib/run-info.js';

startBench('web');

const { values } = parseArgs({
  options: {
    ...BENCH_OPTIONS,
    pages: { type: 'string', default: process.env.BENCH_LIST_PAGES ?? '20' },
    from: { type: 'string', default: process.env.BENCH_FROM ?? '' },
  },
});
const PATCHES = Number(values.patches);
const SERIES_SIZE = Number(values['series-size']);
const PROJECTS = Number(values.projects);
const LIST_PAGES = Number(values.pages);
const LOAD = { clients: Number(values.clients), warmupMs: Number(values.warmup) * 1000, durationMs: Number(values.duration) * 1000 };
const TARGET_P95_MS = 50;
const bench = patchDb({ patches: PATCHES, seriesSize: SERIES_SIZE, projects: PROJECTS });
const { SERIES, slugOf, projectOf, msgidOf } = bench;

async function main(): Promise<void> {
  const dataDir = values.data ? path.resolve(values.data) : tempDir('patchbay-bench-web-');
  process.stdout.write(`bench/web: ${PATCHES.toLocaleString('en')} patches in ${SERIES.toLocaleString('en')} series over ${PROJECTS} projects; ${os.cpus().length} cores, Node ${process.version}\n`);
  await bench.ensure(dataDir, { from: values.from || undefined });
  await bench.ensureRuns(dataDir);

  const server = await startServer(['--data', dataDir, '--projects', bench.projectFiles()], values.profile ? profileEnv(values.profile) : {});
  const port = server.httpPort;
  try {
    const rand = prng(11);
    const anyG = () => Math.floor(rand() * SERIES);
    const patchesOf = (g: number) => Math.min(SERIES_SIZE, PATCHES - g * SERIES_SIZE);
    const endpoints: { name: string; target: () => Target }[] = [
      {
        name: `GET /project/SLUG/list/?page=1…${LIST_PAGES}`,
        target: () => ({ method: 'GET', path: `/project/${slugOf(Math.floor(rand() * PROJECTS))}/list/?page=${1 + Math.floor(rand() * LIST_PAGES)}` }),
      },
      // Series g has id g + 1 (filled in order).
      { name: 'GET /series/N/', target: () => ({ method: 'GET', path: `/series/${anyG() + 1}/` }) },
      {
        name: 'GET /project/SLUG/patch/MSGID/',
        target: () => {
          const g = anyG();
          return { method: 'GET', path: `/project/${slugOf(projectOf(g))}/patch/${msgidSegment(msgidOf(g, 1 + Math.floor(rand() * patchesOf(g))))}/` };
        },
      },
    ];
    const only = values.only ? new RegExp(values.only) : null;
    process.stdout.write(`\n${LOAD.clients} concurrent clients, ${LOAD.warmupMs / 1000} s warm-up + ${LOAD.durationMs / 1000} s measured per page; latency of 200 answers; target p95 ≤ ${TARGET_P95_MS} ms\n\n`);
    process.stdout.write(`${TABLE_HEADER}\n`);
    const missed: string[] = [];
    for (const e of endpoints) {
      if (only && !only.test(e.name)) continue;
      // One request first: a page that does not answer 200 yet is named, not measured.
      const probe = e.target();
      const first = await request(new http.Agent(), port, probe.method, probe.path);
      if (first.status !== 200) {
        process.stdout.write(`| \`${e.name}\` | — | — | — | — | — | skipped: ${probe.path} gave ${first.status} ${Buffer.concat(first.body).toString('utf8').slice(0, 200).replace(/\s+/g, ' ')} |\n`);
        missed.push(`${e.name}: ${first.status}`);
        continue;
      }
      const s = await load(port, e.target, server.child.pid, LOAD);
      process.stdout.write(`${tableRow(e.name, s)}\n`);
      if (!(s.p95 <= TARGET_P95_MS)) missed.push(`${e.name}: p95 ${s.p95.toFixed(1)} ms`);
    }
    process.stdout.write(missed.length ? `\ntarget missed: ${missed.join('; ')}\n` : `\nevery page's p95 is within ${TARGET_P95_MS} ms\n`);
  } finally {
    const code = await server.stop();
    if (code !== 0) process.stderr.write(`server exited with ${code}\n${server.stderr()}\n`);
    if (!values.data) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

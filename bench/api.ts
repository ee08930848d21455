// bench/api: fills a database with 1,000,000 patches in 200,000 series over 20 projects, starts the server as a
// process, and prints p50/p95 latency and requests/s (16 concurrent clients, a bounded time each) per endpoint.
// Usage: npm run bench:api [-- --patches N --clients C --duration S --data DIR]   (or BENCH_PATCHES, BENCH_CLIENTS…)
//   --data DIR reuses the database in DIR when it already holds the patches (filling takes minutes), else fills it there.
//   --no-cache starts the server with its API response cache off (PATCHBAY_API_CACHE=0): every answer computed.
//   --api-threads N: the server's reader threads for list pages (--api-threads; 0: the main thread computes them);
//     default the server's (one per core).
//   --profile DIR writes the server's CPU profile there (a .cpuprofile for Chrome DevTools) when it stops.
//   --writer RATE: another client writes RATE times a second while the reads run (checks posted through the REST API
//     and patch mails sent through SMTP, alternately); the writes' latency and CPU are measured alone first.
//   --cold-file: leaves the database file as the page cache has it. By default it is read through once first, as a
//     server that has run a while holds it; either way the share in the page cache is printed before and after.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { msgidSegment } from '../src/mail/archive-layout.js';
import { tempDir } from '../test/helpers/dirs.js';
import { startServer } from '../test/helpers/server-process.js';
import { BENCH_OPTIONS, load, profileEnv, request, TABLE_HEADER, tableRow } from './lib/load.js';
import { patchDb, prng, START } from './lib/patch-db.js';
import { readThrough, residencyLine } from './lib/page-cache.js';
import { startBench } from './lib/run-info.js';
import { startWriter, writerToken, type Writer } from './lib/writer.js';

const { values } = parseArgs({
  options: {
    ...BENCH_OPTIONS,
    'no-cache': { type: 'boolean', default: process.env.BENCH_NO_CACHE === '1' },
    writer: { type: 'string', default: process.env.BENCH_WRITER ?? '0' },
    'api-threads': { type: 'string', default: process.env.BENCH_API_THREADS ?? '' },
    'cold-file': { type: 'boolean', default: process.env.BENCH_COLD_FILE === '1' },
  },
});
const PATCHES = Number(values.patches);
const PROJECTS = Number(values.projects);
const LOAD = { clients: Number(values.clients), warmupMs: Number(values.warmup) * 1000, durationMs: Number(values.duration) * 1000 };
const bench = patchDb({ patches: PATCHES, seriesSize: Number(values['series-size']), projects: PROJECTS });
const { SERIES, STEP_MS, slugOf, projectOf, msgidOf, titleOf, dateOf } = bench;
const WRITE_RATE = Number(values.writer);

/** The server's environment: the response cache switched off for --no-cache; the profiler for --profile. */
function serverEnv(): NodeJS.ProcessEnv {
  return { ...(values['no-cache'] ? { PATCHBAY_API_CACHE: '0' } : {}), ...(values.profile ? profileEnv(values.profile) : {}) };
}

async function main(): Promise<void> {
  startBench('api');
  const dataDir = values.data ? path.resolve(values.data) : tempDir('patchbay-bench-api-');
  fs.mkdirSync(dataDir, { recursive: true });
  const projects = bench.projectFiles();
  process.stdout.write(`bench/api: ${PATCHES.toLocaleString('en')} patches in ${SERIES.toLocaleString('en')} series over ${PROJECTS} projects; ${os.cpus().length} cores, Node ${process.version}\n`);
  await bench.ensure(dataDir);
  const dbFile = path.join(dataDir, 'patchbay.sqlite');
  process.stdout.write(`database file: ${residencyLine(dbFile)}\n`);
  if (!values['cold-file']) process.stdout.write(`read through in ${readThrough(dbFile).toFixed(1)} s (--cold-file skips this): ${residencyLine(dbFile)}\n`);
  process.once('exit', () => process.stdout.write(`database file after: ${residencyLine(dbFile)}\n`));
  const token = WRITE_RATE > 0 ? await writerToken(dataDir) : '';

  // With a writer, SMTP's per-client rate limits are off: the writer is one client sending RATE mails a second.
  const limits = WRITE_RATE > 0 ? ['--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0'] : [];
  const threads = values['api-threads'] ? ['--api-threads', values['api-threads']] : [];
  const server = await startServer(['--data', dataDir, '--projects', projects, ...limits, ...threads], serverEnv());
  const port = server.httpPort;
  let writer: Writer | undefined;
  try {
    const rand = prng(7);
    const anySeries = () => 1 + Math.floor(rand() * SERIES);
    const anyPatch = () => 1 + Math.floor(rand() * PATCHES);
    const lastDate = START + SERIES * STEP_MS;
    const since = () => new Date(lastDate - Math.floor(rand() * 30 * 86_400_000)).toISOString().replace(/\.\d{3}Z$/, '');
    const seriesG = () => Math.floor(rand() * SERIES);

    const api = await request(new http.Agent(), port, 'GET', '/api/patches/?per_page=1');
    const apiReady = api.status === 200;
    if (!apiReady) process.stdout.write(`\nThe REST API (issue 4, parts 1-3) does not answer yet (GET /api/patches/ gave ${api.status}): its endpoints are skipped, the mbox and archive endpoints are measured.\n`);

    const endpoints: { name: string; api: boolean; target: () => { method: string; path: string } }[] = [
      { name: 'GET /api/patches/?project=X&state=new&per_page=100', api: true, target: () => ({ method: 'GET', path: `/api/patches/?project=${slugOf(Math.floor(rand() * PROJECTS))}&state=new&per_page=100` }) },
      { name: 'GET /api/series/?per_page=100', api: true, target: () => ({ method: 'GET', path: '/api/series/?per_page=100' }) },
      { name: 'GET /api/covers/?project=X&per_page=100', api: true, target: () => ({ method: 'GET', path: `/api/covers/?project=${slugOf(Math.floor(rand() * PROJECTS))}&per_page=100` }) },
      { name: 'GET /api/patches/N/', api: true, target: () => ({ method: 'GET', path: `/api/patches/${anyPatch()}/` }) },
      { name: 'GET /series/N/mbox/', api: false, target: () => ({ method: 'GET', path: `/series/${anySeries()}/mbox/` }) },
      { name: 'GET /api/events/?since=…', api: true, target: () => ({ method: 'GET', path: `/api/events/?since=${since()}` }) },
      { name: 'GET /patch/N/mbox/?series=*', api: false, target: () => ({ method: 'GET', path: `/patch/${anyPatch()}/mbox/?series=*` }) },
      { name: 'GET /<list>/<msgid>/raw', api: false, target: () => { const g = seriesG(); return { method: 'GET', path: `/${slugOf(projectOf(g))}/${msgidSegment(msgidOf(g, 1))}/raw` }; } },
      { name: 'GET /all/<msgid>/t.mbox.gz', api: false, target: () => ({ method: 'GET', path: `/all/${msgidSegment(msgidOf(seriesG(), 1))}/t.mbox.gz` }) },
      {
        name: 'POST /all/?x=m&t=1&q=<b4 -c query>',
        api: false,
        target: () => {
          const g = seriesG();
          // b4/mbox.py get_extra_series(): subject AND sender, OR the cover's change-id, from the series' day on.
          const q = `((s:"${titleOf(g)}" AND f:"students.example.org") OR nq:"change-id: bench-${g}") AND d:${dateOf(g, 0).slice(0, 10).replace(/-/g, '')}..`;
          return { method: 'POST', path: `/all/?x=m&t=1&q=${encodeURIComponent(q)}` };
        },
      },
    ];
    let cpuPerWrite = 0;
    if (WRITE_RATE > 0) {
      const w = { rate: WRITE_RATE, httpPort: port, smtpPort: server.smtpPort, token, patches: PATCHES, projects: PROJECTS, listOf: bench.listOf, serverPid: server.child.pid };
      // The writes alone first: their latency and the server's CPU per write, without readers.
      process.stdout.write(`\nwriter alone: ${WRITE_RATE} writes/s (checks through the REST API and mails through SMTP, alternately) for ${LOAD.durationMs / 1000} s\n\n${TABLE_HEADER}\n`);
      const alone = await startWriter(w).runFor(LOAD.durationMs);
      cpuPerWrite = alone.cpuMsPerWrite ?? 0;
      for (const line of alone.rows) process.stdout.write(line + '\n');
      writer = startWriter({ ...w, cpuMsPerWrite: cpuPerWrite });
    }
    const only = values.only ? new RegExp(values.only) : null;
    const rows: string[] = [];
    const writing = WRITE_RATE > 0 ? `; a writer at ${WRITE_RATE} writes/s throughout (server CPU/request: the reads' share, the writes' CPU measured alone taken out)` : '';
    const readers = values['api-threads'] ? `; API reader threads: ${values['api-threads']}` : '';
    process.stdout.write(`\n${LOAD.clients} concurrent clients, ${LOAD.warmupMs / 1000} s warm-up + ${LOAD.durationMs / 1000} s measured per endpoint; latency of 200 answers; API response cache ${values['no-cache'] ? 'off' : 'on'}${readers}${writing}\n\n`);
    process.stdout.write(`${TABLE_HEADER}\n`);
    for (const e of endpoints) {
      if (only && !only.test(e.name)) continue;
      if (e.api && !apiReady) {
        const line = `| \`${e.name}\` | — | — | — | — | — | skipped: the API does not answer yet |`;
        rows.push(line);
        process.stdout.write(line + '\n');
        continue;
      }
      const stats = await load(port, e.target, server.child.pid, LOAD);
      // The server's CPU in the window also ran the writes (a fixed rate): their share, as measured alone, is taken out.
      if (stats.cpuMs !== undefined && WRITE_RATE > 0 && stats.requests) stats.cpuMs = Math.max(0, stats.cpuMs - (WRITE_RATE * (LOAD.durationMs / 1000) * cpuPerWrite) / stats.requests);
      const line = tableRow(e.name, stats);
      rows.push(line);
      process.stdout.write(line + '\n');
    }
    if (writer) {
      const during = await writer.stop();
      process.stdout.write(`\nthe writes during the reads (${WRITE_RATE}/s; CPU per write as measured alone)\n\n${TABLE_HEADER}\n`);
      for (const line of during.rows) process.stdout.write(line + '\n');
      writer = undefined;
    }
  } finally {
    await writer?.stop();
    const code = await server.stop();
    if (code !== 0) process.stderr.write(`server exited with ${code}\n${server.stderr()}\n`);
    if (!values.data) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

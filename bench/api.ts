// bench/api: fills a database with 1,000,000 patches in 200,000 series over 20 projects, starts the server as a
// process, and prints p50/p95 latency and requests/s (16 concurrent clients, a bounded time each) per endpoint.
// Usage: npm run bench:api [-- --patches N --clients C --duration S --data DIR]   (or BENCH_PATCHES, BENCH_CLIENTS…)
//   --data DIR reuses the database in DIR when it already holds the patches (filling takes minutes), else fills it there.
//   --no-cache starts the server with its API response cache off (PATCHBAY_API_CACHE=0): every answer computed.
//   --profile DIR writes the server's CPU profile there (a .cpuprofile for Chrome DevTools) when it stops.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { bulkWriter, type BulkWriter } from '../src/db/bulk-fill.repository.js';
import { migrate, openDatabase } from '../src/db/database.js';
import { upsertProjects } from '../src/db/project.repository.js';
import { insertUser } from '../src/db/user.repository.js';
import { msgidSegment } from '../src/mail/archive-layout.js';
import { projectsDir, tempDir } from '../test/helpers/dirs.js';
import { startServer } from '../test/helpers/server-process.js';

const { values } = parseArgs({
  options: {
    patches: { type: 'string', default: process.env.BENCH_PATCHES ?? '1000000' },
    'series-size': { type: 'string', default: process.env.BENCH_SERIES_SIZE ?? '5' },
    projects: { type: 'string', default: process.env.BENCH_PROJECTS ?? '20' },
    clients: { type: 'string', default: process.env.BENCH_CLIENTS ?? '16' },
    duration: { type: 'string', default: process.env.BENCH_DURATION ?? '15' },
    warmup: { type: 'string', default: process.env.BENCH_WARMUP ?? '2' },
    data: { type: 'string', default: process.env.BENCH_DATA ?? '' },
    only: { type: 'string', default: process.env.BENCH_ONLY ?? '' },
    'no-cache': { type: 'boolean', default: process.env.BENCH_NO_CACHE === '1' },
    profile: { type: 'string', default: process.env.BENCH_PROFILE ?? '' },
  },
});
const PATCHES = Number(values.patches);
const SERIES_SIZE = Number(values['series-size']);
const SERIES = Math.ceil(PATCHES / SERIES_SIZE);
const PROJECTS = Number(values.projects);
const CLIENTS = Number(values.clients);
const DURATION_MS = Number(values.duration) * 1000;
const WARMUP_MS = Number(values.warmup) * 1000;
const STUDENTS_PER_PROJECT = 100;
/** Two years of a course's lists, one series every few minutes across the projects. */
const START = Date.parse('2025-01-06T08:00:00Z');
const SPAN_MS = 2 * 365 * 86_400_000;
const STEP_MS = Math.floor(SPAN_MS / SERIES);

/** Deterministic pseudo-random numbers (mulberry32): every fill is the same. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const slugOf = (p: number) => `course-${String(p + 1).padStart(2, '0')}`;
const listOf = (p: number) => `${slugOf(p)}@lists.example.org`;
const projectOf = (g: number) => g % PROJECTS;
/** The Message-ID of mail i (0 = cover, 1… = patches, 99 = the review) of series g: computable, to pick targets. */
const msgidOf = (g: number, i: number) => `20250106.${g}-${i}-bench@students.example.org`;
const titleOf = (g: number) => `${SUBSYSTEMS[g % SUBSYSTEMS.length]}: ${VERBS[(g >> 3) % VERBS.length]} the ${NOUNS[(g >> 5) % NOUNS.length]} (topic ${g})`;
const dateOf = (g: number, i: number) => new Date(START + g * STEP_MS + i * 1000).toISOString();

const SUBSYSTEMS = ['proctree', 'sched', 'mm', 'fs/proc', 'kernel/fork', 'drivers/misc', 'lib', 'init'];
const VERBS = ['walk', 'count', 'print', 'lock', 'free', 'check', 'document', 'test'];
const NOUNS = ['children', 'threads', 'task list', 'tree', 'process group', 'session', 'namespace', 'pid'];
/** Patchwork's default states, weighted as a course's tracker looks after two years. */
const STATES: [string, number][] = [
  ['new', 0.35],
  ['under-review', 0.1],
  ['accepted', 0.3],
  ['changes-requested', 0.1],
  ['superseded', 0.1],
  ['rejected', 0.05],
];

function pickState(r: number): string {
  let acc = 0;
  for (const [s, w] of STATES) if (r < (acc += w)) return s;
  return 'new';
}

function mailRaw(h: { from: string; subject: string; date: string; msgid: string; to: string; inReplyTo?: string; references?: string[] }, body: string): Buffer {
  const lines = [`From: ${h.from}`, `To: ${h.to}`, `Subject: ${h.subject}`, `Date: ${new Date(h.date).toUTCString().replace('GMT', '+0000')}`, `Message-Id: <${h.msgid}>`, 'X-Mailer: git-send-email 2.39.5'];
  if (h.inReplyTo) lines.push(`In-Reply-To: <${h.inReplyTo}>`);
  if (h.references?.length) lines.push(`References: ${h.references.map((r) => `<${r}>`).join(' ')}`);
  lines.push('MIME-Version: 1.0', 'Content-Type: text/plain; charset=UTF-8', 'Content-Transfer-Encoding: 8bit');
  return Buffer.from(`${lines.join('\n')}\n\n${body}`, 'utf8');
}

interface Filled {
  seconds: number;
  counts: Record<string, number>;
  bytes: number;
}

async function fill(dir: string): Promise<Filled> {
  const t0 = performance.now();
  const file = path.join(dir, 'patchbay.sqlite');
  const { db, sqlite } = openDatabase(file);
  await migrate(db);
  const ids = await upsertProjects(
    db,
    Array.from({ length: PROJECTS }, (_, p) => ({ slug: slugOf(p), name: `Course ${p + 1}`, listAddress: listOf(p), policy: 'open' })),
  );
  const projectIds = Array.from({ length: PROJECTS }, (_, p) => ids.get(slugOf(p))!);
  const maintainers: number[] = [];
  for (let p = 0; p < PROJECTS; p++) {
    maintainers.push(await insertUser(db, { username: `teacher${p + 1}`, email: `teacher${p + 1}@example.org`, firstName: 'Teacher', lastName: String(p + 1), role: 'maintainer', passwordHash: null }));
  }
  const ci = await insertUser(db, { username: 'patchbay-ci', email: 'ci@example.org', firstName: 'Patchbay', lastName: 'CI', role: 'maintainer', passwordHash: null });

  const w: BulkWriter = bulkWriter(sqlite);
  w.relaxDurability();
  const rand = prng(42);
  const at = dateOf(0, 0);
  const students: { id: number; name: string; email: string }[][] = [];
  const teachers: number[] = [];
  w.transaction(() => {
    for (let p = 0; p < PROJECTS; p++) {
      const list: { id: number; name: string; email: string }[] = [];
      for (let s = 0; s < STUDENTS_PER_PROJECT; s++) {
        const email = `student${s + 1}.c${p + 1}@students.example.org`;
        const name = s % 3 === 0 ? `Zoé Étudiante ${s + 1}` : `Student ${s + 1} of course ${p + 1}`;
        list.push({ id: w.person(email, name, at), name, email });
      }
      students.push(list);
      teachers.push(w.person(`teacher${p + 1}@example.org`, `Teacher ${p + 1}`, at));
    }
  });

  const BATCH = 2_000;
  let lastReport = performance.now();
  let patchNo = 0;
  for (let from = 0; from < SERIES; from += BATCH) {
    w.transaction(() => {
      for (let g = from; g < Math.min(SERIES, from + BATCH); g++) {
        const p = projectOf(g);
        const projectId = projectIds[p]!;
        const list = listOf(p);
        const who = students[p]![Math.floor(rand() * STUDENTS_PER_PROJECT)]!;
        const from = `${who.name} <${who.email}>`;
        const size = Math.min(SERIES_SIZE, PATCHES - patchNo);
        const title = titleOf(g);
        const version = rand() < 0.25 ? 2 : 1;
        const prefix = version > 1 ? `PATCH v${version}` : 'PATCH';
        const seriesId = w.series({ projectId, submitterId: who.id, name: title, version, total: size, date: dateOf(g, 0), titleNorm: title.toLowerCase() });
        w.event({ projectId, category: 'series-created', date: dateOf(g, 0), seriesId });
        const coverMsgid = g % 2 === 0 ? msgidOf(g, 0) : null;
        const refs = coverMsgid ? [coverMsgid] : [];
        if (coverMsgid) {
          const subject = `[${prefix} 0/${size}] ${title}`;
          const content = `This series ${VERBS[g % VERBS.length]}s the ${NOUNS[g % NOUNS.length]} in ${size} steps.\n\n${who.name} (${size}):\n  ${title}\n`;
          const mailId = w.mail({ projectId, msgid: coverMsgid, raw: mailRaw({ from, to: list, subject, date: dateOf(g, 0), msgid: coverMsgid }, content), fromAddr: who.email, subject, date: dateOf(g, 0) }, list);
          const coverId = w.cover({ projectId, mailId, msgid: coverMsgid, seriesId, submitterId: who.id, name: version > 1 ? `[v${version}] ${title}` : title, content, date: dateOf(g, 0) });
          w.event({ projectId, category: 'cover-created', date: dateOf(g, 0), coverId });
          w.archive({ mailId, projectId, msgid: coverMsgid, date: dateOf(g, 0), subject, sender: from, refs: [], recipients: list, body: content });
        }
        let firstPatch = 0;
        for (let i = 1; i <= size; i++) {
          const msgid = msgidOf(g, i);
          const date = dateOf(g, i);
          const subject = `[${prefix} ${i}/${size}] ${title}, step ${i}`;
          const file = `${SUBSYSTEMS[g % SUBSYSTEMS.length]}/step${(g % 97) + i}.c`;
          const content = `Step ${i} of ${size}: ${VERBS[(g + i) % VERBS.length]} the ${NOUNS[(g + i) % NOUNS.length]} under the tasklist lock.\n\nSigned-off-by: ${from}\n---\n ${file} | 3 ++-\n 1 file changed, 2 insertions(+), 1 deletion(-)\n`;
          const diff = `diff --git a/${file} b/${file}\nindex 3f2a1b4c5d6e..9a8b7c6d5e4f 100644\n--- a/${file}\n+++ b/${file}\n@@ -10,4 +10,5 @@ static int walk(struct task_struct *task)\n {\n-\treturn 0;\n+\tint n = ${g};\n+\treturn n + ${i};\n }\n`;
          const mailId = w.mail({ projectId, msgid, raw: mailRaw({ from, to: list, subject, date, msgid, inReplyTo: coverMsgid ?? (i > 1 ? msgidOf(g, 1) : undefined), references: coverMsgid ? [coverMsgid] : i > 1 ? [msgidOf(g, 1)] : [] }, `${content}\n${diff}`), fromAddr: who.email, subject, date }, list);
          const state = pickState(rand());
          const reviewed = g % 3 === 0 && i === 1 ? 1 : 0;
          const patchId = w.patch({
            projectId,
            mailId,
            msgid,
            seriesId,
            number: i,
            submitterId: who.id,
            name: `${version > 1 ? `[v${version},${i}/${size}] ` : `[${i}/${size}] `}${title}, step ${i}`,
            content,
            diff,
            hash: crypto.createHash('sha1').update(diff).digest('hex'),
            date,
            state,
            delegateId: rand() < 0.2 ? maintainers[p]! : null,
            archived: rand() < 0.1,
            commitRef: state === 'accepted' ? crypto.createHash('sha1').update(msgid).digest('hex') : null,
            reviewed,
          });
          if (i === 1) firstPatch = patchId;
          w.event({ projectId, category: 'patch-created', date, patchId });
          w.archive({ mailId, projectId, msgid, date, subject, sender: from, refs: [...refs, ...(i > 1 && !coverMsgid ? [msgidOf(g, 1)] : [])], recipients: list, body: content });
          if (rand() < 0.6) {
            const r = rand();
            w.check({ patchId, userId: ci, date, state: r < 0.8 ? 'success' : r < 0.9 ? 'fail' : 'warning', targetUrl: `https://ci.example.org/job/${patchId}`, context: 'build', description: 'kernel build and LAVA boot test' });
          }
          patchNo++;
        }
        w.event({ projectId, category: 'series-completed', date: dateOf(g, size), seriesId });
        if (g % 3 === 0 && firstPatch) {
          // The teacher's review of 1/n: a reply with Reviewed-by (Patchwork adds it to the patch mbox).
          const msgid = msgidOf(g, 99);
          const date = dateOf(g, 60);
          const subject = `Re: [${prefix} 1/${size}] ${title}, step 1`;
          const content = `> Step 1 of ${size}.\n\nLooks right to me.\n\nReviewed-by: Teacher ${p + 1} <teacher${p + 1}@example.org>\n`;
          const teacher = `Teacher ${p + 1} <teacher${p + 1}@example.org>`;
          const mailId = w.mail({ projectId, msgid, raw: mailRaw({ from: teacher, to: list, subject, date, msgid, inReplyTo: msgidOf(g, 1), references: [...refs, msgidOf(g, 1)] }, content), fromAddr: `teacher${p + 1}@example.org`, subject, date }, list);
          const commentId = w.comment({ projectId, mailId, msgid, patchId: firstPatch, submitterId: teachers[p]!, content, date });
          w.event({ projectId, category: 'patch-comment-created', date, patchId: firstPatch, commentId });
          w.archive({ mailId, projectId, msgid, date, subject, sender: teacher, refs: [...refs, msgidOf(g, 1)], recipients: list, body: content });
        }
      }
    });
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      process.stdout.write(`  filled ${patchNo.toLocaleString('en')} patches (${Math.round((performance.now() - t0) / 1000)} s)\n`);
    }
  }
  const counts = w.counts();
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  await db.destroy();
  return { seconds: (performance.now() - t0) / 1000, counts, bytes: fs.statSync(file).size };
}

interface Stats {
  requests: number;
  errors: Record<string, number>;
  p50: number;
  p95: number;
  p99: number;
  rps: number;
  bytes: number;
  /** The server process's CPU time (user + system, all threads) per measured request; undefined where unknown. */
  cpuMs: number | undefined;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One request on a keep-alive connection; resolves when the whole body is read. */
function request(agent: http.Agent, port: number, method: string, urlPath: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers: method === 'POST' ? { 'content-length': '0' } : {} }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * CPU time of a process so far, in ms, from /proc/<pid>/stat (utime and stime, in USER_HZ = 100 ticks per second):
 * on a machine shared with other work, the server's CPU per request moves less than its latency. Linux only.
 */
function cpuTimeMs(pid: number | undefined): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** CLIENTS loops, each sending its next request when the last one is answered, for WARMUP + DURATION. */
async function load(port: number, target: () => { method: string; path: string }, serverPid: number | undefined): Promise<Stats> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let bytes = 0;
  const begin = performance.now();
  const measureFrom = begin + WARMUP_MS;
  const end = measureFrom + DURATION_MS;
  let cpuFrom: number | undefined;
  let cpuTo: number | undefined;
  const marks = [setTimeout(() => (cpuFrom = cpuTimeMs(serverPid)), WARMUP_MS), setTimeout(() => (cpuTo = cpuTimeMs(serverPid)), WARMUP_MS + DURATION_MS)];
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < end) {
        const t = target();
        const t0 = performance.now();
        let status: number | string;
        try {
          const r = await request(agent, port, t.method, t.path);
          status = r.status;
          if (t0 >= measureFrom) bytes += r.bytes;
        } catch (e) {
          status = (e as Error).message;
        }
        const t1 = performance.now();
        if (t0 < measureFrom || t1 > end) continue;
        if (status === 200) latencies.push(t1 - t0);
        else errors[String(status)] = (errors[String(status)] ?? 0) + 1;
      }
    }),
  );
  agent.destroy();
  for (const m of marks) clearTimeout(m);
  latencies.sort((a, b) => a - b);
  const n = latencies.length + Object.values(errors).reduce((a, b) => a + b, 0);
  const cpuMs = cpuFrom !== undefined && cpuTo !== undefined && n ? (cpuTo - cpuFrom) / n : undefined;
  return { requests: n, errors, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), rps: n / (DURATION_MS / 1000), bytes, cpuMs };
}

/**
 * The server's environment: the response cache switched off for --no-cache; for --profile, a module preloaded through
 * NODE_OPTIONS (which refuses --cpu-prof itself) that starts the inspector's profiler and writes the profile on SIGTERM.
 */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = values['no-cache'] ? { PATCHBAY_API_CACHE: '0' } : {};
  if (values.profile) {
    const dir = path.resolve(values.profile);
    fs.mkdirSync(dir, { recursive: true });
    const code = [
      "import inspector from 'node:inspector'; import fs from 'node:fs';",
      'const s = new inspector.Session(); s.connect(); s.post("Profiler.enable"); s.post("Profiler.start");',
      `process.once("SIGTERM", () => s.post("Profiler.stop", (e, r) => fs.writeFileSync(${JSON.stringify(dir)} + "/server-" + process.pid + ".cpuprofile", JSON.stringify(r.profile))));`,
    ].join(' ');
    env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=data:text/javascript,${encodeURIComponent(code)}`.trim();
  }
  return env;
}

async function main(): Promise<void> {
  const dataDir = values.data ? path.resolve(values.data) : tempDir('patchbay-bench-api-');
  fs.mkdirSync(dataDir, { recursive: true });
  const projects = projectsDir(Array.from({ length: PROJECTS }, (_, p) => ({ slug: slugOf(p), name: `Course ${p + 1}`, list: listOf(p), maintainers: [`teacher${p + 1}@example.org`] })));
  const dbFile = path.join(dataDir, 'patchbay.sqlite');
  process.stdout.write(`bench/api: ${PATCHES.toLocaleString('en')} patches in ${SERIES.toLocaleString('en')} series over ${PROJECTS} projects; ${os.cpus().length} cores, Node ${process.version}\n`);

  let reuse = false;
  if (fs.existsSync(dbFile)) {
    const { sqlite } = openDatabase(dbFile);
    const n = (sqlite.prepare('select count(*) as n from patches').get() as { n: number } | undefined)?.n ?? 0;
    sqlite.close();
    reuse = n >= PATCHES;
    if (!reuse) throw new Error(`${dbFile} holds ${n} patches, fewer than ${PATCHES}: give an empty --data folder`);
  }
  if (reuse) {
    process.stdout.write(`reusing ${dbFile} (${(fs.statSync(dbFile).size / 2 ** 30).toFixed(2)} GiB)\n`);
  } else {
    process.stdout.write(`filling ${dbFile} …\n`);
    const f = await fill(dataDir);
    process.stdout.write(`filled in ${f.seconds.toFixed(0)} s: ${Object.entries(f.counts).map(([k, v]) => `${v.toLocaleString('en')} ${k}`).join(', ')}; ${(f.bytes / 2 ** 30).toFixed(2)} GiB\n`);
  }

  const server = await startServer(['--data', dataDir, '--projects', projects], serverEnv());
  const port = server.httpPort;
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
    const only = values.only ? new RegExp(values.only) : null;
    const rows: string[] = [];
    process.stdout.write(`\n${CLIENTS} concurrent clients, ${WARMUP_MS / 1000} s warm-up + ${DURATION_MS / 1000} s measured per endpoint; latency of 200 answers; API response cache ${values['no-cache'] ? 'off' : 'on'}\n\n`);
    const header = '| endpoint | requests/s | p50 | p95 | p99 | server CPU/request | non-200 |';
    process.stdout.write(`${header}\n|---|--:|--:|--:|--:|--:|---|\n`);
    for (const e of endpoints) {
      if (only && !only.test(e.name)) continue;
      if (e.api && !apiReady) {
        const line = `| \`${e.name}\` | — | — | — | — | — | skipped: the API does not answer yet |`;
        rows.push(line);
        process.stdout.write(line + '\n');
        continue;
      }
      const s = await load(port, e.target, server.child.pid);
      const errs = Object.entries(s.errors).map(([k, v]) => `${v}× ${k}`).join(', ') || '0';
      const cpu = s.cpuMs === undefined ? '—' : `${s.cpuMs.toFixed(2)} ms`;
      const line = `| \`${e.name}\` | ${s.rps.toFixed(0)} | ${s.p50.toFixed(1)} ms | ${s.p95.toFixed(1)} ms | ${s.p99.toFixed(1)} ms | ${cpu} | ${errs} |`;
      rows.push(line);
      process.stdout.write(line + '\n');
    }
  } finally {
    const code = await server.stop();
    if (code !== 0) process.stderr.write(`server exited with ${code}\n${server.stderr()}\n`);
    if (!values.data) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

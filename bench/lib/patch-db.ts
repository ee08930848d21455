// The benchmarks' tracker database (bench/api, bench/web): a course's two years of lists — N patches in series of
// 5 over 20 projects, covers, reviews, checks, events and the archive — filled deterministically through the bulk
// writer, or reused from a folder that holds one, or copied from another benchmark's folder (SQLite's backup API).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { bulkWriter, type BulkWriter } from '../../src/db/bulk-fill.repository.js';
import { migrate, openDatabase } from '../../src/db/database.js';
import { createRun, finishRun, finishStep, getRun } from '../../src/db/pipeline.repository.js';
import { upsertProjects } from '../../src/db/project.repository.js';
import { insertUser } from '../../src/db/user.repository.js';
import { projectsDir } from '../../test/helpers/dirs.js';
import { prng } from '../../test/helpers/prng.js';

export interface Shape {
  patches: number;
  seriesSize: number;
  projects: number;
}

/** Deterministic pseudo-random numbers (mulberry32): every fill is the same. */
export { prng } from '../../test/helpers/prng.js';

const STUDENTS_PER_PROJECT = 100;
/** Two years of a course's lists, one series every few minutes across the projects. */
export const START = Date.parse('2025-01-06T08:00:00Z');
const SPAN_MS = 2 * 365 * 86_400_000;

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

export interface Filled {
  seconds: number;
  counts: Record<string, number>;
  bytes: number;
}

/** The database's shape and the names and dates of its rows, computable so that benchmarks can pick targets. */
export function patchDb(shape: Shape) {
  const SERIES = Math.ceil(shape.patches / shape.seriesSize);
  const STEP_MS = Math.floor(SPAN_MS / SERIES);
  const slugOf = (p: number) => `course-${String(p + 1).padStart(2, '0')}`;
  const listOf = (p: number) => `${slugOf(p)}@lists.example.org`;
  /** Series g (0-based, in date order) belongs to this project; its id is g + 1. */
  const projectOf = (g: number) => g % shape.projects;
  /** The Message-ID of mail i (0 = cover, 1… = patches, 99 = the review) of series g. */
  const msgidOf = (g: number, i: number) => `20250106.${g}-${i}-bench@students.example.org`;
  const titleOf = (g: number) => `${SUBSYSTEMS[g % SUBSYSTEMS.length]}: ${VERBS[(g >> 3) % VERBS.length]} the ${NOUNS[(g >> 5) % NOUNS.length]} (topic ${g})`;
  const dateOf = (g: number, i: number) => new Date(START + g * STEP_MS + i * 1000).toISOString();

  /** The projects folder the server reads: one file per course, its teacher as maintainer. */
  const projectFiles = () =>
    projectsDir(Array.from({ length: shape.projects }, (_, p) => ({ slug: slugOf(p), name: `Course ${p + 1}`, list: listOf(p), maintainers: [`teacher${p + 1}@example.org`] })));

  async function fill(dir: string): Promise<Filled> {
    const { patches: PATCHES, seriesSize: SERIES_SIZE, projects: PROJECTS } = shape;
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
    // A bigger page cache while filling (256 MiB): the FTS index and the tables' right edges stay in memory.
    sqlite.pragma('cache_size = -262144');
    // The index builds at the end sort in memory, on a helper thread too (each reads its table once).
    sqlite.pragma('temp_store = memory');
    sqlite.pragma('threads = 2');
    const rebuildIndexes = w.deferIndexes();
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
          const coverMsgid = g % 2 === 0 ? msgidOf(g, 0) : null;
          // Patchwork's names: the subject's prefixes but PATCH kept in front; a series without a cover takes 1/N's name.
          const nameOf = (i: number, text: string) => `[${version > 1 ? `v${version},` : ''}${i}/${size}] ${text}`;
          const seriesName = coverMsgid ? title : nameOf(1, `${title}, step 1`);
          const seriesId = w.series({ projectId, submitterId: who.id, name: seriesName, version, total: size, date: dateOf(g, 0), titleNorm: title.toLowerCase() });
          w.event({ projectId, category: 'series-created', date: dateOf(g, 0), seriesId });
          const refs = coverMsgid ? [coverMsgid] : [];
          if (coverMsgid) {
            const subject = `[${prefix} 0/${size}] ${title}`;
            const content = `This series ${VERBS[g % VERBS.length]}s the ${NOUNS[g % NOUNS.length]} in ${size} steps.\n\n${who.name} (${size}):\n  ${title}\n`;
            const mailId = w.mail({ projectId, msgid: coverMsgid, raw: mailRaw({ from, to: list, subject, date: dateOf(g, 0), msgid: coverMsgid }, content), fromAddr: who.email, subject, date: dateOf(g, 0) }, list);
            const coverId = w.cover({ projectId, mailId, msgid: coverMsgid, seriesId, submitterId: who.id, name: nameOf(0, title), content, date: dateOf(g, 0) });
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
              name: nameOf(i, `${title}, step ${i}`),
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
    const indexed = performance.now();
    rebuildIndexes();
    process.stdout.write(`  indexes built in ${Math.round((performance.now() - indexed) / 1000)} s\n`);
    const counts = w.counts();
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    await db.destroy();
    return { seconds: (performance.now() - t0) / 1000, counts, bytes: fs.statSync(file).size };
  }

  /**
   * Makes DIR/patchbay.sqlite hold the database: reused when it already has the patches; else copied from
   * `from`/patchbay.sqlite when given (SQLite's online backup: consistent even while another process has it open);
   * else filled. Refuses a database with fewer patches (a half-filled folder).
   */
  async function ensure(dir: string, opts: { from?: string; out?: (line: string) => void } = {}): Promise<void> {
    const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
    fs.mkdirSync(dir, { recursive: true });
    const dbFile = path.join(dir, 'patchbay.sqlite');
    const gib = (f: string) => `${(fs.statSync(f).size / 2 ** 30).toFixed(2)} GiB`;
    if (fs.existsSync(dbFile)) {
      const n = patchCount(dbFile);
      if (n < shape.patches) throw new Error(`${dbFile} holds ${n} patches, fewer than ${shape.patches}: give an empty --data folder`);
      out(`reusing ${dbFile} (${gib(dbFile)})`);
      return;
    }
    if (opts.from) {
      const source = path.join(path.resolve(opts.from), 'patchbay.sqlite');
      const n = patchCount(source);
      if (n < shape.patches) throw new Error(`${source} holds ${n} patches, fewer than ${shape.patches}`);
      out(`copying ${source} (${gib(source)}) to ${dbFile} …`);
      const t0 = performance.now();
      const src = new Database(source, { readonly: true, fileMustExist: true });
      try {
        await src.backup(dbFile);
      } finally {
        src.close();
      }
      out(`copied in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      return;
    }
    out(`filling ${dbFile} …`);
    const f = await fill(dir);
    out(`filled in ${f.seconds.toFixed(0)} s: ${Object.entries(f.counts).map(([k, v]) => `${v.toLocaleString('en')} ${k}`).join(', ')}; ${(f.bytes / 2 ** 30).toFixed(2)} GiB`);
  }

  /**
   * One finished pipeline run per series, as a course with a pipeline has them (the web view shows their stages):
   * the four gates and an x86_64 build; most pass, some fail a gate (later steps skipped) or warn in the build.
   * Added once (skipped when run 1 exists), through the pipeline's repository, in transactions of 2,000 series.
   */
  async function ensureRuns(dir: string, out: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
    const { db, sqlite } = openDatabase(path.join(dir, 'patchbay.sqlite'));
    try {
      await migrate(db);
      if (await getRun(db, 1)) return;
      const t0 = performance.now();
      out(`adding a pipeline run to each of ${SERIES.toLocaleString('en')} series …`);
      sqlite.pragma('synchronous = OFF');
      const ids = await upsertProjects(db, Array.from({ length: shape.projects }, (_, p) => ({ slug: slugOf(p), name: `Course ${p + 1}`, listAddress: listOf(p), policy: 'open' })));
      const steps = [
        { step: 'signoff', job: '' },
        { step: 'testdesc', job: '' },
        { step: 'checkpatch', job: '' },
        { step: 'apply', job: '' },
        { step: 'build', job: 'x86_64' },
      ];
      const rand = prng(99);
      for (let from = 0; from < SERIES; from += 2_000) {
        await db.transaction().execute(async (tx) => {
          for (let g = from; g < Math.min(SERIES, from + 2_000); g++) {
            const runId = await createRun(tx, { projectId: ids.get(slugOf(projectOf(g)))!, seriesId: g + 1, eventId: null, state: 'running', steps });
            const r = rand();
            // The step that fails (index), or -1; a build warning otherwise for some.
            const failing = r < 0.08 ? 2 : r < 0.12 ? 3 : r < 0.14 ? 0 : -1;
            const warn = failing < 0 && r > 0.9;
            for (const [i, s] of steps.entries()) {
              if (failing >= 0 && i > failing) break;
              const status = i === failing ? 'fail' : s.step === 'testdesc' ? 'skip' : warn && s.step === 'build' ? 'warn' : 'pass';
              await finishStep(tx, runId, s.step, s.job, { status, summary: `${s.step}: ${status}`, findings: [], outputs: null, childMs: 100 + Math.floor(r * 1000) });
            }
            await finishRun(tx, runId, { outcome: failing >= 0 ? 'fail' : warn ? 'warn' : 'pass', base: null, reportMsgid: null, reason: null });
          }
        });
      }
      sqlite.pragma('wal_checkpoint(TRUNCATE)');
      out(`added in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    } finally {
      await db.destroy();
    }
  }

  return { shape, SERIES, STEP_MS, slugOf, listOf, projectOf, msgidOf, titleOf, dateOf, projectFiles, fill, ensure, ensureRuns };
}

export type PatchDb = ReturnType<typeof patchDb>;

function patchCount(file: string): number {
  const { sqlite } = openDatabase(file);
  try {
    return (sqlite.prepare('select count(*) as n from patches').get() as { n: number } | undefined)?.n ?? 0;
  } finally {
    sqlite.close();
  }
}

// The series, patch, cover and log pages over app.inject() on a temp database: real fixture mail filed through the
// ingest harness, a pipeline run seeded as the pipeline writes it (runs, run_steps, logs, results.csv, checks), the
// viewer set by a small hook (logging in is the session plugin's business), and git range-diff run for real.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { createApi } from '../../src/api/create-api.js';
import { addUser } from '../../src/api/user.service.js';
import { parseProjectFile } from '../../src/config/projects.js';
import { insertCheck } from '../../src/db/api-event.repository.js';
import { createRun, finishRun, finishStep, markStepRunning } from '../../src/db/pipeline.repository.js';
import { createLogger } from '../../src/log.js';
import { msgidSegment } from '../../src/mail/archive-layout.js';
import { artifactsDir } from '../../src/pipeline/artifacts.js';
import { createRunViewService } from '../../src/pipeline/run-view.service.js';
import { resultsCsv, type TestCaseOutcome } from '../../src/pipeline/test-results.js';
import type { Finding } from '../../src/pipeline/types.js';
import { SeriesAdminService } from '../../src/series/series-admin.service.js';
import { buildApp } from '../../src/web/app.js';
import { createArchiveService } from '../../src/web/archive.service.js';
import { createWebParts } from '../../src/web/create-web.js';
import { computeRangeDiff } from '../../src/web/range-diff.service.js';
import type { Viewer, ViewerUser } from '../../src/web/viewer.js';
import { FIXTURES } from '../helpers/api-app.js';
import { tempDir } from '../helpers/dirs.js';
import { LIST, readMboxFile, startIngestHarness, type Harness } from '../helpers/ingest-harness.js';

const USERS = {
  teacher: { email: 'teacher@example.org', name: 'Tom Teacher', role: 'maintainer', username: 'teacher' },
  olga: { email: 'olga@students.example.org', name: 'Olga Other', role: 'student', username: 'olga' },
  admin: { email: 'root@example.org', name: 'Ada Admin', role: 'admin', username: 'root' },
} as const;
type Who = keyof typeof USERS;
const CSRF = 'csrf-token-of-the-test-session';

/** The patch of single.mbox, made hostile: markup and a javascript: link in the subject, the message and the diff. */
function hostilePatch(text: string): Buffer {
  const out = text
    .replace(/^Subject: .*$/m, 'Subject: [PATCH] <script>alert(1)</script> <img src=x onerror=alert(2)>')
    .replace(/^Message-Id: .*$/m, 'Message-Id: <hostile/1+x%y@students.example.org>')
    .replace('A caller can tell from the exit status that the process does not exist.', '<script>alert(3)</script> <a href="javascript:alert(4)">click</a>')
    .replace('+\treturn count_children(pid) < 0;', '+\treturn "<script>alert(5)</script>";');
  assert.notEqual(out, text);
  return Buffer.from(out);
}

/** The teacher's review in comments.mbox, answering the hostile patch with hostile quoted and written text. */
function hostileComment(text: string): Buffer {
  const out = text
    .replace(/^Message-Id: .*$/m, 'Message-Id: <hostile-2@example.org>')
    .replace(/^In-Reply-To: .*$/m, 'In-Reply-To: <hostile/1+x%y@students.example.org>')
    .replace(/^References: .*$/m, 'References: <hostile/1+x%y@students.example.org>')
    .replace('> This is step 1 of 2 of kids.', '> <script>alert(6)</script>')
    .replace('Why a new file per step? One function would do.', '<img src=x onerror=alert(7)> <a href="javascript:alert(8)">x</a>');
  assert.notEqual(out, text);
  return Buffer.from(out);
}

interface Seeded {
  runId: number;
  logs: Record<string, string>;
}

/** A run of the v2 series as the pipeline leaves it: gates, two builds, one test, logs, findings and results. */
async function seedRun(h: Harness, dataDir: string, seriesId: number): Promise<Seeded> {
  const steps = [
    { step: 'signoff', job: '' },
    { step: 'testdesc', job: '' },
    { step: 'checkpatch', job: '' },
    { step: 'apply', job: '' },
    { step: 'build', job: 'x86_64' },
    { step: 'build', job: 'arm64' },
    { step: 'test', job: 'arm64' },
  ];
  const runId = await createRun(h.db, { projectId: h.projectId, seriesId, eventId: null, state: 'running', steps });
  const logDir = path.join(dataDir, 'logs', `run-${runId}`);
  fs.mkdirSync(logDir, { recursive: true });
  const art = path.join(artifactsDir(dataDir, runId), 'arm64');
  fs.mkdirSync(art, { recursive: true });
  const cases: TestCaseOutcome[] = [
    { suite: '0_proctree', set: null, name: 'walk', result: 'pass', measurement: '12.5', units: 'ms', note: null, startLine: 10, endLine: 12, tail: [] },
    { suite: '0_proctree', set: null, name: 'depth', result: 'fail', measurement: null, units: null, note: null, startLine: 13, endLine: 20, tail: [] },
  ];
  fs.writeFileSync(path.join(art, 'results.csv'), resultsCsv(runId, cases, '2026-11-21T14:00:00Z'));
  // A checkpatch log of about 1.5 MB: the page shows its head and tail only.
  const long = Array.from({ length: 30_000 }, (_, i) => `checked line ${i + 1} of the series, nothing to say about it at all`);
  long[4] = 'ERROR: trailing whitespace';
  long[29_998] = '#9: FILE: tree/step2.c:4:';
  const logs: Record<string, string> = {
    signoff: 'patch 1/2: Signed-off-by: Zoé Étudiante <zoe@students.example.org>\npatch 2/2: Signed-off-by: Zoé Étudiante <zoe@students.example.org>\n',
    testdesc: 'no test description required\n',
    checkpatch: long.join('\n') + '\n',
    apply: 'Applying: proctree: walk the tree\nApplying: proctree: indent each level\n',
    'build/x86_64': [
      'make -j2 ARCH=x86_64 O=/obj',
      '  CC      tree/step1.o',
      "tree/step1.c:3:12: error: 'x' undeclared (first use in this function)",
      '  CC      tree/step2.o',
      "tree/step2.c:4:2: warning: unused variable 'y' [-Wunused-variable]",
      'echo <script>alert(9)</script>',
      'make: *** [Makefile:1234: vmlinux] Error 2',
    ].join('\n'),
    'build/arm64': 'make -j2 ARCH=arm64\n  LD      vmlinux\n',
    'test/arm64': '0_proctree/walk: pass 12.5 ms\n0_proctree/depth: fail\n',
  };
  const findings: Record<string, Finding[]> = {
    checkpatch: [
      { patch: 1, level: 'ERROR', type: 'TRAILING_WHITESPACE', message: 'trailing whitespace', file: 'tree/step1.c', line: 2 },
      { patch: 2, level: 'WARNING', type: 'LONG_LINE', message: 'line length of 120 exceeds 100 columns', file: 'tree/step2.c', line: 4 },
    ],
    'build/x86_64': [
      { level: 'error', type: 'COMPILE_ERROR', message: "tree/step1.c:3:12: error: 'x' undeclared (first use in this function)", file: 'tree/step1.c', line: 3 },
      { level: 'warning', type: 'NEW_WARNING', message: "tree/step2.c:4:2: warning: unused variable 'y' [-Wunused-variable]", file: 'tree/step2.c', line: 4 },
    ],
    'test/arm64': [{ level: 'ERROR', type: 'TEST_FAILED', message: '0_proctree/depth failed', file: 'console.log', line: 13 }],
  };
  const status: Record<string, 'pass' | 'warn' | 'fail' | 'skip'> = { signoff: 'pass', testdesc: 'skip', checkpatch: 'warn', apply: 'pass', 'build/x86_64': 'fail', 'build/arm64': 'pass', 'test/arm64': 'fail' };
  for (const { step, job } of steps) {
    const key = job ? `${step}/${job}` : step;
    const logPath = path.join(logDir, `${step}${job ? `-${job}` : ''}.log`);
    fs.writeFileSync(logPath, logs[key]!);
    await markStepRunning(h.db, runId, step, job, logPath);
    const outputs = key === 'test/arm64' ? { passed: 1, total: 2, results: path.join(art, 'results.csv') } : null;
    await finishStep(h.db, runId, step, job, { status: status[key]!, summary: `${key} <b>summary</b>`, findings: findings[key] ?? [], outputs, childMs: 10 });
  }
  await finishRun(h.db, runId, { outcome: 'fail', base: '9c0b89c91148656a0ffd0e7cd7584cb6e4d914b1', reportMsgid: null, reason: null });
  return { runId, logs };
}

/** The element with this id (or the first match of an opening tag) through its closing tag, for scoped asserts. */
function element(html: string, open: RegExp, tag: string): string {
  const m = open.exec(html);
  assert.ok(m, `no element matching ${open}`);
  const end = html.indexOf(`</${tag}>`, m.index);
  assert.ok(end > m.index, `no </${tag}> after ${open}`);
  return html.slice(m.index, end + tag.length + 3);
}

function assertInert(html: string): void {
  assert.doesNotMatch(html, /<script>alert/);
  assert.doesNotMatch(html, /<img src=x/i);
  assert.doesNotMatch(html, /href="javascript:/i);
  assert.doesNotMatch(html, /onerror=alert[^<]*>(?!<\/)/, 'an onerror attribute inside a tag');
}

describe('web: series, patch, cover and log pages', () => {
  let h: Harness;
  let app: FastifyInstance;
  let dataDir: string;
  const viewers = new Map<string, Viewer>();
  const ids = {} as Record<'single' | 'hostile' | 'grandchildren' | 'v1cover' | 'review' | 'hostileSeries', number>;
  let seeded: Seeded;
  let v1: number;
  let v2: number;
  let userIds: Record<Who, number>;

  before(async () => {
    h = await startIngestHarness();
    for (const f of ['v2-in-reply-to-cover', 'comments', 'single']) await h.deliverMbox(path.join(FIXTURES, `${f}.mbox`));
    const single = (await readMboxFile(path.join(FIXTURES, 'single.mbox')))[0]!.toString('utf8');
    await h.deliver(hostilePatch(single));
    const review = (await readMboxFile(path.join(FIXTURES, 'comments.mbox')))[3]!.toString('utf8');
    await h.deliver(hostileComment(review));

    dataDir = tempDir('patchbay-web-series-');
    const project = {
      ...parseProjectFile(path.join(dataDir, 'proctree.yaml'), JSON.stringify({ name: 'Proctree Syscall', slug: 'proctree', list: LIST, maintainers: [USERS.teacher.email] })),
      id: h.projectId,
    };
    userIds = {} as Record<Who, number>;
    for (const [who, u] of Object.entries(USERS) as [Who, (typeof USERS)[Who]][]) {
      userIds[who] = (await addUser(h.db, { ...u, password: `${u.username}-password` })).id;
      const [first, ...rest] = u.name.split(' ');
      const user: ViewerUser = { id: userIds[who], username: u.username, name: `${first} ${rest.join(' ')}`, email: u.email, role: u.role };
      viewers.set(who, { user, csrf: CSRF });
    }

    const series = await h.series();
    v1 = series.find((s) => s.version === 1 && s.name === 'proctree: print the whole tree')!.id;
    v2 = series.find((s) => s.version === 2 && s.name === 'proctree: print the whole tree')!.id;
    seeded = await seedRun(h, dataDir, v2);
    const patchesOf = (sid: number) => series.find((s) => s.id === sid)!.patches;
    // Another CI's check, with a javascript: link and markup in its description; and v1's checks (v1 has no run).
    await insertCheck(h.db, { patchId: patchesOf(v2)[0]!.id, userId: userIds.admin, date: '2026-11-21T15:00:00Z', state: 'fail', targetUrl: 'javascript:alert(10)', context: 'other-ci', description: '<img src=x onerror=alert(11)>' });
    for (const p of patchesOf(v1)) {
      await insertCheck(h.db, { patchId: p.id, userId: null, date: '2026-11-20T15:00:00Z', state: 'success', targetUrl: null, context: 'checkpatch', description: 'ok' });
      await insertCheck(h.db, { patchId: p.id, userId: null, date: '2026-11-20T15:00:00Z', state: p.number === 2 ? 'warning' : 'success', targetUrl: 'http://localhost/runs/77/logs/build/x86_64', context: 'build-x86_64', description: 'built' });
    }

    const log = createLogger('silent');
    const urls = { base: '' };
    const api = createApi(h.db, [project], null);
    const runs = createRunViewService(h.db, () => 'http://localhost', dataDir);
    const archive = createArchiveService({ db: h.db, lists: [{ id: project.id, slug: project.slug, name: project.name }] });
    const { plugins: web } = createWebParts({
      db: h.db,
      projects: [project],
      urls,
      dataDir,
      api,
      runs,
      archive,
      subscriptions: {} as never,
      moderation: {} as never,
      quarantine: {} as never,
      kickOutbound: () => {},
      log,
    });
    // After the session plugin: the test says who is looking with a header.
    const asViewer: FastifyPluginAsync = async (a) => {
      a.addHook('onRequest', async (req) => {
        const who = req.headers['x-test-viewer'];
        if (typeof who === 'string' && viewers.has(who)) req.viewer = viewers.get(who)!;
      });
    };
    Object.assign(asViewer, { [Symbol.for('skip-override')]: true });
    web.splice(1, 0, asViewer);
    app = await buildApp({
      log,
      health: { snapshot: async () => ({ mails: 0, pending: 0, outboundQueued: 0 }) },
      lists: {} as never,
      archive: { service: archive, publicBase: null },
      api,
      runs,
      web,
    });

    const rows = await h.rows();
    const bySubject = async (subject: string) => (await h.series()).flatMap((s) => s.patches).find((p) => p.subject === subject)!;
    ids.single = (await bySubject('[PATCH] proctree: return 1 when the pid is not found')).id;
    ids.hostile = (await bySubject('[PATCH] <script>alert(1)</script> <img src=x onerror=alert(2)>')).id;
    ids.grandchildren = (await bySubject('[PATCH 1/2] proctree: list grandchildren')).id;
    ids.v1cover = rows.covers.find((c) => c.series_id === v1)!.id;
    ids.review = rows.comments.find((c) => c.patch_id === ids.grandchildren && c.content.includes('Why a new file'))!.id;
    ids.hostileSeries = rows.patches.find((p) => p.id === ids.hostile)!.series_id;
  });

  after(async () => {
    await app?.close();
    await h?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const get = async (url: string, who?: Who) => {
    const r = await app.inject({ url, headers: { accept: 'text/html', ...(who ? { 'x-test-viewer': who } : {}) } });
    return r;
  };
  const page = async (url: string, who?: Who) => {
    const r = await get(url, who);
    assert.equal(r.statusCode, 200, `${url}: ${r.statusCode} ${r.body.slice(0, 300)}`);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    return r.body;
  };
  const patchUrl = async (id: number) => {
    const p = (await h.rows()).patches.find((x) => x.id === id)!;
    return `/project/proctree/patch/${msgidSegment(p.msgid)}/`;
  };

  it('shows a series: title, cover letter, its patches with their states, mbox link and the live pipeline region', async () => {
    const html = await page(`/series/${v2}/`);
    assert.match(html, /<h1 id="series-title">proctree: print the whole tree<\/h1>/);
    const cover = element(html, /<section id="cover">/, 'section');
    assert.match(cover, /<pre>Walks the children recursively\.\n\nChanges in v2:\n- stop at depth 64/);
    const patches = element(html, /<table id="patches">/, 'table');
    const rows = [...patches.matchAll(/<tr data-patch="(\d+)" data-nav>/g)].map((m) => Number(m[1]));
    const v2patches = (await h.series()).find((s) => s.id === v2)!.patches;
    assert.deepEqual(rows, v2patches.map((p) => p.id));
    assert.match(patches, /<span class="badge new" data-state="new">New<\/span>/);
    assert.match(patches, new RegExp(`<a class="patch-link" href="${(await patchUrl(v2patches[0]!.id)).replace(/[.]/g, '\\.')}">\\[v2,1\\/2\\] proctree: walk the tree</a>`));
    assert.match(html, new RegExp(`<a id="series-mbox" href="/series/${v2}/mbox/">`));
    assert.match(html, new RegExp(`<section id="pipeline" data-series="${v2}"`));
    assert.match(html, /<script src="\/static\/live\.js" defer><\/script>/);
  });

  it('draws the revision timeline oldest first, each revision with the reason of its link', async () => {
    const [link] = (await h.revisions()).filter((r) => r.series === v2);
    assert.ok(link && link.previous === v1);
    for (const id of [v1, v2]) {
      const html = await page(`/series/${id}/`);
      const timeline = element(html, /<ol class="timeline" id="revisions">/, 'ol');
      const items = [...timeline.matchAll(/<li data-series="(\d+)" data-version="(\d+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
      assert.deepEqual(items, [
        [v1, 1],
        [v2, 2],
      ]);
      const reasons = [...timeline.matchAll(/<span class="reason"[^>]*>([^<]*)<\/span>/g)].map((m) => m[1]);
      assert.deepEqual(reasons, [link.reason.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;')]);
      assert.match(timeline, new RegExp(`<li data-series="${id}" data-version="\\d" class="current">`));
    }
  });

  it('makes the default range-diff in the background, then shows git range-diff between two revisions', async () => {
    // The plain page does not wait for git: a link, the same pair preselected in the form.
    const plain = await page(`/series/${v2}/`);
    const section = element(plain, /<section id="range-diff"/, 'section');
    assert.match(section, new RegExp(`<a id="range-diff-load" href="/series/${v2}/\\?from&#x3D;${v1}&amp;to&#x3D;${v2}#range-diff">`));
    const form = element(plain, /<form id="range-diff-form" method="get"/, 'form');
    assert.match(form, new RegExp(`<select name="from">\\n<option value="${v1}" selected>`));
    assert.match(form, new RegExp(`<option value="${v2}" selected>v2`));

    const html = await page(`/series/${v2}/?from=${v1}&to=${v2}`);
    const rd = element(html, /<section id="range-diff"/, 'section');
    // Both patches changed: their function got a _v2 suffix and their message a "(v2)".
    assert.match(rd, /<span class="pair-changed">\s+1 !\s+1\s+proctree: walk the tree<\/span>/);
    assert.match(rd, /<span class="pair-changed">\s+2 !\s+2\s+proctree: indent each level<\/span>/);
    assert.match(rd, /<span class="del">    -\+int tree_step1\(void\)<\/span>/);
    assert.match(rd, /<span class="add">    \+\+int tree_step1_v2\(void\)<\/span>/);
    assert.match(rd, /<span class="del">    -    This is step 1 of 2 of tree\.<\/span>/);
    assert.match(rd, /<span class="add">    \+    This is step 1 of 2 of tree \(v2\)\.<\/span>/);
    assert.match(rd, /<span class="file">      ## tree\/step1\.c \(new\) ##<\/span>/);
    assert.match(rd, /<span class="iadd">     \+\/\* proctree: walk the tree \*\/<\/span>/);

    // Kept: the plain page now shows it at once.
    const again = element(await page(`/series/${v1}/`), /<section id="range-diff"/, 'section');
    assert.match(again, /<span class="add">    \+\+int tree_step1_v2\(void\)<\/span>/);
    // The other way round is another range-diff.
    const reverse = element(await page(`/series/${v2}/?from=${v2}&to=${v1}`), /<section id="range-diff"/, 'section');
    assert.match(reverse, /<span class="add">    \+\+int tree_step1\(void\)<\/span>/);
    assert.equal((await get(`/series/${v2}/?from=${v2}&to=${v2}`)).statusCode, 400);
    assert.equal((await get(`/series/${v2}/?from=999999&to=${v2}`)).statusCode, 404);
  });

  it('range-diffs a change inside a function with its context and function name, from the diffs alone', async () => {
    // single.mbox's real patch (its hunk header given the function name git prints with a C diff driver) against the
    // same patch with another return value.
    const mail = (await h.rows()).patches.find((p) => p.id === ids.single)!;
    const diff = mail.diff!.replace('@@ -6,7 +6,7 @@', '@@ -6,7 +6,7 @@ static int count_children(int pid)');
    assert.notEqual(diff, mail.diff);
    const patch = { name: mail.name, content: mail.content, diff, authorName: 'Zoé Étudiante', authorEmail: 'zoe@students.example.org', date: mail.date };
    const edited = { ...patch, diff: diff.replace('return count_children(pid) < 0;', 'return count_children(pid) != 0;') };
    const tmpDir = path.join(dataDir, 'tmp');
    const same = await computeRangeDiff([[patch], [patch]], { tmpDir });
    assert.equal(same.error, null);
    assert.deepEqual(same.lines.map((l) => l.cls), ['pair-same']);
    const r = await computeRangeDiff([[patch], [edited]], { tmpDir });
    assert.equal(r.error, null);
    const text = r.lines.map((l) => `${l.cls}|${l.text}`).join('\n');
    assert.match(text, /^pair-changed\|\s+1 !\s+1\s+proctree: return 1 when the pid is not found$/m);
    assert.match(text, /^hunk\|    @@ proctree\.c: static int count_children\(int pid\)$/m);
    assert.match(text, /^ctx\|      \t\(void\)pid;$/m);
    assert.match(text, /^idel\|     -\treturn 0;$/m);
    assert.match(text, /^del\|    -\+\treturn count_children\(pid\) < 0;$/m);
    assert.match(text, /^add\|    \+\+\treturn count_children\(pid\) != 0;$/m);
    // The throwaway repositories are gone.
    assert.deepEqual(fs.readdirSync(tmpDir), []);
  });

  it('shows checks as a stage × build matrix from the latest run, with links to the log pages', async () => {
    const html = await page(`/series/${v2}/`);
    const table = element(html, /<table id="checks"/, 'table');
    const builds = [...element(table, /<thead>/, 'thead').matchAll(/<th data-build="([^"]+)">/g)].map((m) => m[1]);
    assert.deepEqual(builds, ['all', 'x86_64', 'arm64']);
    const stages = [...table.matchAll(/<tr data-stage="([^"]+)">/g)].map((m) => m[1]);
    assert.deepEqual(stages, ['signoff', 'testdesc', 'checkpatch', 'apply', 'build', 'test', 'other-ci']);
    const cell = (stage: string, build: string) => {
      const m = new RegExp(`<td data-stage="${stage}" data-build="${build}"[^>]*>(.*?)</td>`).exec(table);
      assert.ok(m, `no cell ${stage} × ${build}`);
      return m[1]!;
    };
    const r = seeded.runId;
    assert.match(cell('signoff', 'all'), new RegExp(`<a href="/runs/${r}/log/signoff/"><span class="badge pass">pass</span></a>`));
    assert.match(cell('checkpatch', 'all'), /badge warn/);
    assert.match(cell('build', 'x86_64'), new RegExp(`<a href="/runs/${r}/log/build/x86_64/"><span class="badge fail">fail</span></a>`));
    assert.match(cell('build', 'arm64'), /badge pass/);
    assert.match(cell('test', 'arm64'), new RegExp(`/runs/${r}/log/test/arm64/`));
    assert.doesNotMatch(table, /data-stage="test" data-build="x86_64"/);
    // Another CI's check: its state, never its javascript: link; its description escaped.
    assert.equal(cell('other-ci', 'all'), '<span class="badge fail">fail</span>');
    assert.match(table, /title="&lt;img src&#x3D;x onerror&#x3D;alert\(11\)&gt;"/);
    assertInert(html);

    // v1 has no run: the matrix comes from its patches' checks, the worst patch per context.
    const v1table = element(await page(`/series/${v1}/`), /<table id="checks"/, 'table');
    assert.match(v1table, /<td data-stage="checkpatch" data-build="all"[^>]*><span class="badge pass">pass<\/span><\/td>/);
    assert.match(v1table, /<td data-stage="build" data-build="x86_64"[^>]*><a href="\/runs\/77\/log\/build\/x86_64\/"><span class="badge warn">warn<\/span><\/a><\/td>/);
  });

  it('serves the pipeline region alone as the fragment the series page includes', async () => {
    const fragment = await page(`/series/${v2}/pipeline/`);
    assert.doesNotMatch(fragment, /<html|<main/);
    const r = seeded.runId;
    assert.match(fragment, new RegExp(`<span class="badge fail" data-run="${r}" data-run-state="done">done: fail</span>`));
    const build = /<tr data-step="build" data-job="x86_64">([\s\S]*?)<\/tr>/.exec(fragment)?.[1] ?? '';
    assert.match(build, /<span class="badge fail" data-status="fail">fail<\/span>/);
    assert.match(build, /build\/x86_64 &lt;b&gt;summary&lt;\/b&gt;/);
    assert.match(build, new RegExp(`<a class="log-link" href="/runs/${r}/log/build/x86_64/">log</a>`));
    assert.match(fragment, /<span class="badge fail" data-stage="build">build<\/span>/, 'the stage badges: a stage shows its worst build');
    const region = element(await page(`/series/${v2}/`), /<section id="pipeline"/, 'section');
    assert.ok(region.includes(fragment.trim()), 'the series page includes the same fragment');
    assert.equal((await get('/series/999999/pipeline/')).statusCode, 404);
  });

  it('lists test results from the run’s results.csv: case, build, result, measurement', async () => {
    const table = element(await page(`/series/${v2}/`), /<table id="tests">/, 'table');
    const rows = [...table.matchAll(/<tr><td class="mono">([^<]*)<\/td><td>([^<]*)<\/td><td><span class="badge (\w+)">\w+<\/span><\/td><td class="mono">([^<]*)<\/td><\/tr>/g)].map((m) => m.slice(1));
    assert.deepEqual(rows, [
      ['0_proctree/walk', 'arm64', 'pass', '12.5 ms'],
      ['0_proctree/depth', 'arm64', 'fail', ''],
    ]);
  });

  it('shows the maintainer forms to maintainers and admins only', async () => {
    for (const who of ['teacher', 'admin'] as const) {
      const html = await page(`/series/${v2}/`, who);
      const form = element(html, /<form id="series-actions" method="post" action="\/actions\/series\/\d+\/"/, 'form');
      assert.match(form, new RegExp(`<input type="hidden" name="csrf" value="${CSRF}">`));
      assert.match(form, new RegExp(`<input type="number" name="previous" min="1" value="${v1}">`));
      for (const op of ['link', 'unlink', 'state', 'archive']) assert.match(form, new RegExp(`name="op" value="${op}"`));
      assert.match(form, /<option value="accepted">Accepted<\/option>/);
      const patchPage = await page(await patchUrl(ids.single), who);
      const pf = element(patchPage, new RegExp(`<form id="patch-actions" method="post" action="/actions/patch/${ids.single}/"`), 'form');
      assert.equal([...pf.matchAll(/<option value="[a-z-]+"( selected)?>/g)].length, 10);
      assert.match(pf, /<option value="new" selected>New<\/option>/);
      assert.match(pf, new RegExp(`<option value="${userIds.teacher}">Tom Teacher \\(teacher\\)</option>`));
      assert.match(pf, /<input type="checkbox" name="archived" value="1">/);
      assert.match(pf, new RegExp(`<input type="hidden" name="csrf" value="${CSRF}">`));
      assert.match(pf, /<button type="submit" id="patch-actions-submit">/);
    }
    for (const who of ['olga', undefined] as const) {
      assert.doesNotMatch(await page(`/series/${v2}/`, who), /series-actions/);
      assert.doesNotMatch(await page(await patchUrl(ids.single), who), /patch-actions/);
    }
  });

  it('shows a patch: commit message, file list, a diff with classed lines, tags, checks and mbox links', async () => {
    const html = await page(await patchUrl(ids.single));
    assert.match(html, /<h1 id="patch-title">proctree: return 1 when the pid is not found<\/h1>/);
    assert.match(html, /<span id="patch-state" class="badge new">new<\/span>/);
    assert.match(html, /<pre id="commit-message">A caller can tell from the exit status that the process does not exist\.\n\nSigned-off-by: Zoé Étudiante &lt;zoe@students\.example\.org&gt;<\/pre>/);
    const files = element(html, /<ul id="files">/, 'ul');
    assert.match(files, /<a href="#file-0">proctree\.c<\/a> <span class="small muted">modified<\/span> <span class="add-count">\+1<\/span> <span class="del-count">-1<\/span>/);
    const diff = element(html, /<pre class="diff" id="diff">/, 'pre');
    assert.match(diff, /<span class="file" id="file-0">diff --git a\/proctree\.c b\/proctree\.c<\/span>\n/);
    assert.match(diff, /<span class="meta">--- a\/proctree\.c<\/span>/);
    assert.match(diff, /<span class="hunk">@@ -6,7 \+6,7 @@<\/span>/);
    assert.match(diff, /<span class="ctx"> static int count_children\(int pid\)<\/span>/);
    assert.match(diff, /<span class="del">-\treturn 0;<\/span>\n<span class="add">\+\treturn count_children\(pid\) &lt; 0;<\/span>/);
    assert.match(html, /<span class="tags" id="patch-tags"[^>]*>A: 0 · R: 0 · T: 0<\/span>/);
    assert.match(html, new RegExp(`<a id="patch-mbox" href="/patch/${ids.single}/mbox/">`));
    assert.match(html, new RegExp(`<a id="patch-raw" href="/patch/${ids.single}/raw/">`));
    // The mbox route still answers under /patch/ID/.
    const mbox = await app.inject({ url: `/patch/${ids.single}/mbox/` });
    assert.equal(mbox.statusCode, 200);
    assert.match(mbox.body, /^From /);
    assert.equal((await get('/project/proctree/patch/no-such-id@example.org/')).statusCode, 404);
    assert.equal((await get(`/project/nosuch/patch/x@y/`)).statusCode, 404);
  });

  it('folds quoted text of comments and keeps the written text open; the cover page has its comments too', async () => {
    const html = await page(await patchUrl(ids.grandchildren));
    const comments = element(html, /<section id="comments">/, 'section');
    const review = element(comments, new RegExp(`<article class="comment" id="comment-${ids.review}">`), 'article');
    assert.match(review, /<details class="quote"><summary>6 quoted lines<\/summary><pre>&gt; This is step 1 of 2 of kids\.\n&gt;\n/);
    assert.match(review, /<pre class="said">Why a new file per step\? One function would do\.\n\nTom<\/pre>/);
    assert.match(review, /<pre class="said">On Sat, 21 Nov 2026 15:59:59 \+0000, Zoé Étudiante wrote:<\/pre>/);

    const cover = (await h.rows()).covers.find((c) => c.id === ids.v1cover)!;
    const coverPage = await page(`/project/proctree/cover/${msgidSegment(cover.msgid)}/`);
    assert.match(coverPage, /<h1 id="cover-title">\[0\/2\] proctree: print the whole tree<\/h1>/);
    assert.match(coverPage, /<pre id="cover-text">Walks the children recursively\./);
    assert.match(coverPage, new RegExp(`<a id="cover-series" href="/series/${v1}/">`));
    assert.match(coverPage, /<section id="comments">/);
  });

  it('records state changes and delegations in the patch history', async () => {
    await new SeriesAdminService(h.db).updatePatch(ids.grandchildren, { state: 'accepted', delegateId: userIds.teacher }, userIds.teacher);
    const html = await page(await patchUrl(ids.grandchildren));
    const history = element(html, /<ol id="history">/, 'ol');
    const items = [...history.matchAll(/<li data-category="([a-z-]+)"><time[^>]*>[^<]*<\/time> ([^<]*?)(?: <span class="muted">by ([^<]*)<\/span>)?<\/li>/g)].map((m) => [m[1], m[2], m[3]]);
    assert.deepEqual(items.slice(-2), [
      ['patch-state-changed', 'state: New → Accepted', 'Tom Teacher (teacher)'],
      ['patch-delegated', 'delegate: nobody → teacher', 'Tom Teacher (teacher)'],
    ]);
    assert.equal(items[0]![0], 'patch-created');
    assert.match(html, /<span id="patch-state" class="badge accepted">accepted<\/span>/);
    assert.match(html, /<span id="patch-delegate">Tom Teacher \(teacher\)<\/span>/);
  });

  it('sends /patch/ID/, /cover/ID/ and /comment/ID/ on to the pages', async () => {
    const moved = async (url: string) => {
      const r = await app.inject({ url });
      assert.equal(r.statusCode, 301, url);
      return String(r.headers.location);
    };
    assert.equal(await moved(`/patch/${ids.single}/`), await patchUrl(ids.single));
    const cover = (await h.rows()).covers.find((c) => c.id === ids.v1cover)!;
    assert.equal(await moved(`/cover/${ids.v1cover}/`), `/project/proctree/cover/${msgidSegment(cover.msgid)}/`);
    assert.equal(await moved(`/comment/${ids.review}/`), `${await patchUrl(ids.grandchildren)}#comment-${ids.review}`);
    for (const url of ['/patch/999999/', '/cover/999999/', '/comment/999999/']) assert.equal((await app.inject({ url })).statusCode, 404, url);
  });

  it('shows a step log with the findings’ lines marked, new warnings apart, and a link to the first', async () => {
    const r = seeded.runId;
    const html = await page(`/runs/${r}/log/build/x86_64/`);
    const log = element(html, /<pre class="log" id="log">/, 'pre');
    assert.match(log, /<span id="L3" class="bad"><a class="ln" href="#L3">3<\/a> tree\/step1\.c:3:12: error: &#x27;x&#x27; undeclared/);
    assert.match(log, /<span id="L5" class="new"><a class="ln" href="#L5">5<\/a> tree\/step2\.c:4:2: warning/);
    assert.match(log, /<span id="L2"><a class="ln" href="#L2">2<\/a>   CC      tree\/step1\.o<\/span>/);
    assert.match(log, /echo &lt;script&gt;alert\(9\)&lt;\/script&gt;/);
    assert.match(html, /<a id="first-bad" href="#L3">/);
    assert.match(html, new RegExp(`<a id="log-raw" href="/runs/${r}/logs/build/x86_64">`));
    assert.match(element(html, /<ul id="findings">/, 'ul'), /<li class="bad"><strong>error<\/strong> <code>COMPILE_ERROR<\/code>[^<]*<span class="muted">tree\/step1\.c:3<\/span> <a href="#L3">in the log<\/a><\/li>/);
    assertInert(html);

    const test = await page(`/runs/${r}/log/test/arm64/`);
    assert.match(test, /<span id="L2" class="bad"><a class="ln" href="#L2">2<\/a> 0_proctree\/depth: fail<\/span>/);
    assert.match(test, /<span id="L1"><a class="ln" href="#L1">1<\/a> 0_proctree\/walk: pass 12\.5 ms<\/span>/);
    assert.equal((await get(`/runs/${r}/log/nosuch/`)).statusCode, 404);
    assert.equal((await get(`/runs/999999/log/build/x86_64/`)).statusCode, 404);
  });

  it('shows the head and tail of a very large log with their true line numbers and a notice', async () => {
    const r = seeded.runId;
    assert.ok(seeded.logs.checkpatch!.length > 1024 * 1024);
    const html = await page(`/runs/${r}/log/checkpatch/`);
    assert.match(html, /<span id="L5" class="bad"><a class="ln" href="#L5">5<\/a> ERROR: trailing whitespace<\/span>/);
    assert.match(html, /<span id="L29999" class="bad"><a class="ln" href="#L29999">29999<\/a> #9: FILE: tree\/step2\.c:4:<\/span>/);
    assert.match(html, /<span id="L30000"><a class="ln" href="#L30000">30000<\/a> checked line 30000 /);
    assert.doesNotMatch(html, /id="L15000"/);
    assert.match(html, /<span class="omitted">… \d+ lines \(\d+ bytes\) not shown/);
    assert.match(html, new RegExp(`<p class="flash" id="log-cut">[^<]*<a href="/runs/${r}/logs/checkpatch">raw</a>`));
    assert.match(html, /<a id="first-bad" href="#L5">/);
    assert.ok(html.length < 1.5 * 1024 * 1024, `the page has ${html.length} bytes`);
  });

  it('shows hostile mail as text: subject, message, diff and comments escaped, no javascript: link', async () => {
    // Its Message-ID has a slash, a plus and a percent sign: one URL segment all the same.
    assert.equal(await patchUrl(ids.hostile), '/project/proctree/patch/hostile%2F1+x%25y@students.example.org/');
    const patchHtml = await page(await patchUrl(ids.hostile));
    assert.match(patchHtml, /<h1 id="patch-title">&lt;script&gt;alert\(1\)&lt;\/script&gt; &lt;img src&#x3D;x onerror&#x3D;alert\(2\)&gt;<\/h1>/);
    assert.match(patchHtml, /<title>&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(patchHtml, /<pre id="commit-message">&lt;script&gt;alert\(3\)&lt;\/script&gt; &lt;a href&#x3D;&quot;javascript:alert\(4\)&quot;&gt;click&lt;\/a&gt;/);
    assert.match(patchHtml, /<span class="add">\+\treturn &quot;&lt;script&gt;alert\(5\)&lt;\/script&gt;&quot;;<\/span>/);
    const comment = element(patchHtml, /<article class="comment"/, 'article');
    assert.match(comment, /<details class="quote"><summary>\d+ quoted lines<\/summary><pre>&gt; &lt;script&gt;alert\(6\)&lt;\/script&gt;/);
    assert.match(comment, /<pre class="said">&lt;img src&#x3D;x onerror&#x3D;alert\(7\)&gt; &lt;a href&#x3D;&quot;javascript:alert\(8\)&quot;&gt;x&lt;\/a&gt;\n\nTom<\/pre>/);
    assertInert(patchHtml);
    // A link to a patch that does not exist, with markup in its Message-ID: an error page, the ID as text.
    const missing = await get(`/project/proctree/patch/${encodeURIComponent('<script>alert(12)</script>@x')}/`);
    assert.equal(missing.statusCode, 404);
    assert.match(String(missing.headers['content-type']), /^text\/html/);
    assert.match(missing.body, /&lt;script&gt;alert\(12\)/);
    assertInert(missing.body);
    const seriesHtml = await page(`/series/${ids.hostileSeries}/`);
    assert.match(seriesHtml, /<h1 id="series-title">&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assertInert(seriesHtml);
  });
});

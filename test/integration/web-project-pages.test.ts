// The project pages through app.inject() on real mail filed by the real services: the projects, a project's series
// list (every filter, order and page), the gradebook and its CSV, escaping of hostile titles, and the page queries'
// plans (indexes only).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { Kysely, SqliteDialect, sql, type CompiledQuery } from 'kysely';
import { openDatabase } from '../../src/db/database.js';
import { createRun, finishStep } from '../../src/db/pipeline.repository.js';
import type { Database } from '../../src/db/schema.js';
import { createProjectPagesService, csvCell, stageBadges, toCsv } from '../../src/web/project-pages.service.js';
import { FIXTURES } from '../helpers/api-app.js';
import { readMboxFile } from '../helpers/ingest-harness.js';
import { asOlga, startWebApp, type WebApp } from '../helpers/web-app.js';

// zetu is Zoé (every fixture's author); olga's name is a spreadsheet formula with quotes and a comma; nobody sent nothing.
const ROSTER = ['login,name,email', 'zetu,Zoé Étudiante,zoe@students.example.org', 'olga,"=HYPERLINK(""http://evil.example/"",""x"")",olga@students.example.org', 'nobody,"Nobody, Yet",nobody@students.example.org'].join('\n');
const HOSTILE = '<script>alert(1)</script> proctree';


/** HTML text as a browser reads it (handlebars writes = as &#x3D;, " as &quot;): for comparing links and names. */
const decode = (html: string) =>
  html.replace(/&(#x3D|#x27|#x60|quot|lt|gt|amp);/g, (_, e: string) => ({ '#x3D': '=', '#x27': "'", '#x60': '`', quot: '"', lt: '<', gt: '>', amp: '&' })[e]!);

/** The data-series ids of the list's rows, in order. */
const rowIds = (html: string) => [...html.matchAll(/<tr data-series="(\d+)" data-nav>/g)].map((m) => Number(m[1]));
/** The HTML of one series' row. */
function rowOf(html: string, id: number): string {
  const start = html.indexOf(`<tr data-series="${id}" data-nav>`);
  assert.ok(start >= 0, `row of series ${id}`);
  return html.slice(start, html.indexOf('</tr>', start));
}
/** The links of a piece of HTML, decoded. */
const hrefs = (html: string) => [...html.matchAll(/href="([^"]*)"/g)].map((m) => decode(m[1]!));
const badges = (row: string) => [...row.matchAll(/<span class="badge ([a-z-]+)" data-stage="([a-z-]+)">\2<\/span>/g)].map((m) => `${m[2]}:${m[1]}`);

describe('project pages', () => {
  let w: WebApp;
  let A: number; // cover-letter: [PATCH 0/3] count the children, 3 patches; latest run fails a build
  let B: number; // v2-in-reply-to-cover v1: print the whole tree, superseded; an older run failed, the latest passed
  let C: number; // … v2: a patch whose latest check of ci/lint is fail
  let D: number; // Olga's single patch with a hostile subject; complete, no run yet (pending); fail then success check
  let E: number; // no-cover, 2 of its 3 patches: incomplete, archived
  const BULK = 55;

  before(async () => {
    w = await startWebApp({ roster: ROSTER, fixtures: ['cover-letter', 'v2-in-reply-to-cover'] });
    const [single] = await readMboxFile(path.join(FIXTURES, 'single.mbox'));
    await w.h.deliver(asOlga(single!, HOSTILE));
    const noCover = await readMboxFile(path.join(FIXTURES, 'no-cover.mbox'));
    for (const m of noCover.slice(0, 2)) await w.h.deliver(m);

    const series = await w.h.series();
    const find = (pred: (s: (typeof series)[number]) => boolean) => series.find(pred)!.id;
    A = find((s) => s.name === 'proctree: count the children of a process');
    B = find((s) => s.version === 1 && /whole tree/.test(s.name ?? ''));
    C = find((s) => s.version === 2 && /whole tree/.test(s.name ?? ''));
    D = find((s) => (s.name ?? '').includes('<script>'));
    E = find((s) => !s.completed);
    const db = w.h.db;
    const patchesOf = (id: number) => series.find((s) => s.id === id)!.patches.map((p) => p.id);

    // A: one patch accepted, the rest new. E: archived (not "action required", still "new").
    await db.updateTable('patches').set({ state: 'accepted' }).where('id', '=', patchesOf(A)[0]!).execute();
    await db.updateTable('patches').set({ archived: 1 }).where('series_id', '=', E).execute();

    const steps = [
      ['signoff', ''],
      ['testdesc', ''],
      ['checkpatch', ''],
      ['apply', ''],
      ['build', 'x86_64'],
      ['test', 'x86_64'],
      ['build', 'arm64'],
      ['test', 'arm64'],
    ] as const;
    const run = async (seriesId: number, status: (step: string, job: string) => string, outputs: (step: string, job: string) => Record<string, unknown> | null = () => null) => {
      const id = await createRun(db, { projectId: w.project.id, seriesId, eventId: null, state: 'running', steps: steps.map(([step, job]) => ({ step, job })) });
      for (const [step, job] of steps) await finishStep(db, id, step, job, { status: status(step, job) as never, summary: 's', findings: [], outputs: outputs(step, job), childMs: null });
      return id;
    };
    // A: an older run that passed, then the latest: a warning, arm64's build failed (its test skipped), x86_64 passed 3 of 4.
    await run(A, () => 'pass');
    await run(
      A,
      (step, job) => (step === 'checkpatch' ? 'warn' : step === 'build' && job === 'arm64' ? 'fail' : step === 'test' && job === 'arm64' ? 'skip' : 'pass'),
      (step, job) => (step === 'test' && job === 'x86_64' ? { passed: 3, total: 4, cases: '[]' } : null),
    );
    // B: the older run failed to apply, the latest passed on both builds (2/2 and 5/5).
    await run(B, (step) => (step === 'apply' ? 'fail' : 'pass'));
    await run(
      B,
      () => 'pass',
      (step, job) => (step === 'test' ? (job === 'x86_64' ? { passed: 2, total: 2 } : { passed: 5, total: 5 }) : null),
    );
    const check = (patchId: number, state: string, context: string, date: string) =>
      db.insertInto('checks').values({ patch_id: patchId, user_id: null, date, state, target_url: null, context, description: null }).execute();
    await check(patchesOf(C)[0]!, 'success', 'ci/lint', '2026-11-21T10:00:00.000Z');
    await check(patchesOf(C)[0]!, 'fail', 'ci/lint', '2026-11-21T11:00:00.000Z');
    await check(patchesOf(D)[0]!, 'fail', 'ci/lint', '2026-11-21T10:00:00.000Z');
    await check(patchesOf(D)[0]!, 'success', 'ci/lint', '2026-11-21T11:00:00.000Z');

    // Older series than the fixtures' (2026), for the pages: "bulk 0" … "bulk 54", a day apart.
    const zoe = (await db.selectFrom('people').select('id').where('email', '=', 'zoe@students.example.org').executeTakeFirstOrThrow()).id;
    await db
      .insertInto('series')
      .values(
        Array.from({ length: BULK }, (_, i) => ({
          project_id: w.project.id,
          submitter_id: zoe,
          name: `bulk ${i}`,
          version: 1,
          total: 1,
          date: new Date(Date.UTC(2020, 0, 1 + i)).toISOString(),
          completed: 0 as const,
          created_at: '2026-01-01T00:00:00.000Z',
        })),
      )
      .execute();
  });
  after(() => w.close());

  /** The gradebook is its maintainers' (issue 14): asked with the teacher's token. */
  const teacher = () => ({ authorization: `Token ${w.tokens.teacher}` });
  const get = async (url: string) => {
    const r = await w.app.inject({ url, headers: url.includes('/students') ? teacher() : {} });
    assert.equal(r.statusCode, 200, `${url}: ${r.body.slice(0, 300)}`);
    return r.body;
  };
  const list = (query = '') => get(`/project/proctree/list/${query}`);

  it('lists the projects at / and /project/, each linking to its series list, with what needs action', async () => {
    for (const url of ['/', '/project/']) {
      const html = await get(url);
      assert.match(html, /<table id="projects">/);
      const row = html.slice(html.indexOf('<tr data-project="proctree"'));
      assert.match(row, /^<tr data-project="proctree" data-nav>/);
      assert.match(row, /<a class="project-link" href="\/project\/proctree\/list\/">Proctree Syscall<\/a>/);
      assert.match(row, /proctree@lists\.example\.org/);
      // Action required (new or under review, not archived): A (2 new), C (2 new), D (1 new); B is superseded, E archived.
      assert.match(row, /<a href="\/project\/proctree\/list\/\?state=action-required">3<\/a><\/td>\s*<td>5<\/td>/);
      assert.match(row, /<time datetime="2026-11-2\d/);
    }
  });

  it('counts again after a change (the counts are kept until the database changes)', async () => {
    const actionCell = async () => /state=action-required">(\d+)<\/a><\/td>\s*<td>(\d+)<\/td>/.exec(await get('/'))!.slice(1).map(Number);
    assert.deepEqual(await actionCell(), [3, 5]);
    const d = (await w.h.series()).find((s) => s.id === D)!.patches[0]!.id;
    await w.h.db.updateTable('patches').set({ state: 'accepted' }).where('id', '=', d).execute();
    assert.deepEqual(await actionCell(), [2, 4]);
    await w.h.db.updateTable('patches').set({ state: 'new' }).where('id', '=', d).execute();
    assert.deepEqual(await actionCell(), [3, 5]);
  });

  it('shows each series with its version, N/N received, submitter, student, date, stages and patch states', async () => {
    const html = await list();
    assert.match(html, /<script src="\/static\/keys\.js" defer><\/script>/);
    assert.match(html, /<form class="filters" id="series-filters" method="get"/);
    assert.match(html, /<table id="series-list">/);
    const a = rowOf(html, A);
    assert.match(a, new RegExp(`<a class="series-link" href="/series/${A}/">proctree: count the children of a process</a>`));
    assert.match(a, /<td>v1<\/td>/);
    assert.match(a, />3\/3</);
    assert.match(a, /Zoé Étudiante/);
    assert.match(a, /<a class="student" href="[^"]*">zetu<\/a>/);
    assert.ok(hrefs(a).includes('?student=zetu'), 'the student links to their series');
    assert.ok(hrefs(a).includes('?submitter=zoe%40students.example.org'), 'the submitter links to theirs');
    assert.match(a, /<time datetime="2026-11-20T/);
    assert.deepEqual(badges(a), ['signoff:pass', 'testdesc:pass', 'checkpatch:warn', 'apply:pass', 'build:fail', 'test:pass']);
    assert.match(a, /<span class="badge accepted" data-state="accepted">1 Accepted<\/span>/);
    assert.match(a, /<span class="badge new" data-state="new">2 New<\/span>/);
    assert.match(rowOf(html, C), /<td>v2<\/td>/);
    assert.deepEqual(badges(rowOf(html, B)), ['signoff:pass', 'testdesc:pass', 'checkpatch:pass', 'apply:pass', 'build:pass', 'test:pass'], 'the latest run, not the older one');
    assert.deepEqual(badges(rowOf(html, D)), ['pipeline:pending'], 'complete, the pipeline has not reached it');
    assert.deepEqual(badges(rowOf(html, E)), [], 'incomplete: no run to wait for');
    assert.match(rowOf(html, E), />2\/3</);
    assert.match(rowOf(html, C), /data-check="fail"/, 'a failing check shows when no stage failed');
    assert.doesNotMatch(rowOf(html, D), /data-check/, 'a fail check followed by a success is not failing');
  });

  it('escapes a hostile subject everywhere it appears', async () => {
    for (const html of [await list(), await list(`?q=${encodeURIComponent('<script>')}`), await get('/project/proctree/students/')]) {
      assert.doesNotMatch(html, /<script>alert/);
    }
    const html = await list(`?q=${encodeURIComponent('<script>')}`);
    assert.deepEqual(rowIds(html), [D]);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt; proctree<\/a>/);
    assert.match(html, /<input type="search" id="q" name="q" value="&lt;script&gt;"/);
  });

  it('filters by state, action required, submitter, student, failing and title words', async () => {
    const ids = async (query: string) => rowIds(await list(query)).filter((id) => [A, B, C, D, E].includes(id));
    assert.deepEqual(await ids('?state=accepted'), [A]);
    assert.deepEqual(await ids('?state=superseded'), [B]);
    assert.deepEqual((await ids('?state=new')).sort(), [A, C, D, E].sort());
    assert.deepEqual((await ids('?state=action-required')).sort(), [A, C, D].sort(), 'archived E is left out');
    assert.deepEqual(rowIds(await list('?state=rfc')), []);
    assert.deepEqual(await ids('?submitter=olga'), [D]);
    assert.deepEqual(await ids('?submitter=OLGA%40students'), [D], 'email substring, any case');
    assert.deepEqual((await ids('?submitter=tudiante')).sort(), [A, B, C, E].sort(), 'name substring');
    assert.deepEqual(rowIds(await list('?submitter=%25')), [], 'LIKE wildcards match themselves');
    assert.deepEqual((await ids('?student=zetu')).sort(), [A, B, C, E].sort());
    assert.deepEqual(rowIds(await list('?student=olga')), [D]);
    assert.deepEqual(rowIds(await list('?student=nobody')), []);
    assert.deepEqual(rowIds(await list('?student=no-such-login')), []);
    assert.deepEqual((await ids('?failing=1')).sort(), [A, C].sort(), 'the latest run failed (A), the latest check failed (C)');
    assert.deepEqual((await ids('?q=tree+whole')).sort(), [B, C].sort(), 'every word, in any order');
    assert.deepEqual(await ids('?q=children'), [A]);
    assert.deepEqual(await ids('?failing=1&q=whole'), [C], 'filters combine');
    assert.deepEqual(await ids('?state=new&submitter=zoe&failing=1&student=zetu&q=children'), [A]);
    // The blank fields of a submitted form are no filter.
    assert.deepEqual(rowIds(await list('?state=&submitter=&student=&q=&order=')), rowIds(await list()));
  });

  it('keeps the filters in the form and in the pager links, and offers the roster', async () => {
    const html = await list('?state=new&submitter=zoe&q=bulk&failing=1&order=name');
    assert.match(html, /<option value="new" selected>New<\/option>/);
    assert.match(html, /<input type="text" name="submitter" value="zoe"/);
    assert.match(html, /<input type="checkbox" name="failing" value="1" checked>/);
    assert.match(html, /<option value="name" selected>/);
    assert.match(html, /<option value="zetu">zetu \(Zoé Étudiante\)<\/option>/);
    assert.ok(decode(html).includes('<option value="olga">olga (=HYPERLINK("http://evil.example/","x"))</option>'));
    const bulk = await list('?q=bulk&submitter=zoe');
    assert.ok(hrefs(bulk).includes('?submitter=zoe&q=bulk&page=2'), hrefs(bulk).join(' '));
  });

  it('sorts by date (newest first by default), title and submitter, both ways', async () => {
    const ids = async (query: string) => rowIds(await list(query)).filter((id) => [A, B, C, D, E].includes(id));
    const series = new Map((await w.h.series()).map((s) => [s.id, s]));
    const byDate = [A, B, C, D, E].sort((x, y) => series.get(y)!.date.localeCompare(series.get(x)!.date) || y - x);
    assert.deepEqual(await ids(''), byDate);
    assert.deepEqual(await ids('?order=-date'), byDate);
    assert.deepEqual(await ids('?order=date&q=proctree'), [...byDate].reverse());
    const byName = [A, B, C, D, E].sort((x, y) => (series.get(x)!.name! < series.get(y)!.name! ? -1 : series.get(x)!.name! > series.get(y)!.name! ? 1 : x - y));
    assert.deepEqual(await ids('?order=name&q=proctree'), byName);
    assert.deepEqual(await ids('?order=-name&q=proctree'), [...byName].reverse());
    // Olga before Zoé; Zoé's newest first.
    const zoe = byDate.filter((id) => id !== D);
    assert.deepEqual(await ids('?order=submitter&q=proctree'), [D, ...zoe]);
    assert.deepEqual(await ids('?order=-submitter&q=proctree'), [...zoe, D]);
    assert.equal((await w.app.inject({ url: '/project/proctree/list/?order=sideways' })).statusCode, 400);
    assert.equal((await w.app.inject({ url: '/project/proctree/list/?state=nonsense' })).statusCode, 400);
  });

  it('pages by 50, with previous and next links, and no series twice', async () => {
    const one = await list('?q=bulk');
    const first = rowIds(one);
    assert.equal(first.length, 50);
    assert.match(one, /<nav class="pager"/);
    assert.match(decode(one), /<a href="\?q=bulk&page=2" rel="next">/);
    assert.doesNotMatch(one, /rel="prev"/);
    const two = await list('?q=bulk&page=2');
    const second = rowIds(two);
    assert.equal(second.length, BULK - 50);
    assert.match(decode(two), /<a href="\?q=bulk&page=1" rel="prev">/);
    assert.doesNotMatch(two, /rel="next"/);
    assert.equal(new Set([...first, ...second]).size, BULK);
    assert.match(two, /series 51–55/);
    const bulkNames = (html: string) => [...html.matchAll(/>bulk (\d+)<\/a>/g)].map((m) => Number(m[1]));
    assert.deepEqual([...bulkNames(one), ...bulkNames(two)], Array.from({ length: BULK }, (_, i) => BULK - 1 - i), 'newest first across pages');
    assert.deepEqual(rowIds(await list('?q=bulk&page=3')), []);
    assert.equal((await w.app.inject({ url: '/project/proctree/list/?page=0' })).statusCode, 400);
    // Unfiltered: the fixtures' series first (2026), then the bulk (2020).
    assert.deepEqual(rowIds(await list()).slice(0, 5).sort(), [A, B, C, D, E].sort());
  });

  /** The gradebook's attempt rows as [login, series id], in order (a project without assignments: one table). */
  const attemptRows = (html: string) => [...html.matchAll(/<tr data-student="([^"]+)" data-series="(\d+)" data-nav>/g)].map((m) => [m[1], Number(m[2])] as const);
  const attemptRow = (html: string, id: number) => {
    const start = html.indexOf(`data-series="${id}" data-nav>`);
    assert.ok(start >= 0, `attempt row of series ${id}`);
    return html.slice(start, html.indexOf('</tr>', start));
  };

  it('shows the gradebook: every series of each roster student, oldest first, with stages and tests passed', async () => {
    const html = await get('/project/proctree/students/');
    assert.match(html, /<section class="assignment" data-assignment="-">\s*<h2>All series<\/h2>/);
    const rows = attemptRows(html);
    assert.deepEqual(rows.filter(([l]) => l === 'olga').map(([, id]) => id), [D]);
    // Every series of Zoé's patches, not only the latest; in the order the server received them.
    const zetu = rows.filter(([l]) => l === 'zetu').map(([, id]) => id);
    assert.deepEqual([...zetu].sort(), [A, B, C, E].sort());
    const received = await w.h.db.selectFrom('series_assignments').select(['series_id', 'received_at']).execute();
    const at = (id: number) => received.find((r) => r.series_id === id)!.received_at;
    assert.deepEqual(zetu, [...zetu].sort((x, y) => at(x).localeCompare(at(y)) || x - y));
    assert.match(attemptRow(html, D), /<a class="series-link" href="\/series\/\d+\/">&lt;script&gt;/);
    assert.deepEqual(badges(attemptRow(html, D)), ['pipeline:pending']);
    assert.match(attemptRow(html, D), /data-result="pending"/);
    assert.match(attemptRow(html, A), /data-result="fail"/, "the latest run's failed build");
    assert.match(html, /<tr data-student="nobody" data-nav>[\s\S]*?No attempt yet\./);
    assert.ok(decode(attemptRow(html, D)).includes('<td rowspan="1">=HYPERLINK("http://evil.example/","x")</td>'));
    assert.ok(hrefs(attemptRow(html, zetu[0]!)).includes('/project/proctree/list/?student=zetu'));
    assert.doesNotMatch(html, /data-late=/, 'no assignment, no late flag');
  });

  it('sums the tests passed over the builds of each attempt\'s latest run: P/T', async () => {
    const html = await get('/project/proctree/students/');
    assert.match(attemptRow(html, B), /<td class="tests">7\/7<\/td>/);
    assert.match(attemptRow(html, A), /<td class="tests">3\/4<\/td>/);
    const csv = parse((await w.app.inject({ url: '/project/proctree/students.csv', headers: teacher() })).body) as string[][];
    const b = csv.find((r) => r[csv[0]!.indexOf('series_id')] === String(B))!;
    assert.equal(b[csv[0]!.indexOf('tests_passed')], '7');
    assert.equal(b[csv[0]!.indexOf('tests_total')], '7');
    assert.equal(b[csv[0]!.indexOf('result')], 'pass');
  });

  it('exports the gradebook as CSV: a header row, a row per attempt, RFC 4180 quoting, formulas defused', async () => {
    const r = await w.app.inject({ url: '/project/proctree/students.csv', headers: teacher() });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/csv; charset=utf-8/);
    assert.match(String(r.headers['content-disposition']), /attachment; filename="proctree-students\.csv"/);
    assert.ok(r.body.endsWith('\r\n'));
    assert.equal(r.body.split('\r\n').length, 8, 'a header, nobody without an attempt, one of Olga, four of Zoé, each line ended by CRLF');
    const rows = parse(r.body) as string[][];
    assert.deepEqual(rows[0], ['assignment', 'deadline', 'login', 'name', 'attempt', 'series_id', 'series', 'version', 'received_at', 'result', 'tests_passed', 'tests_total', 'late']);
    assert.deepEqual(rows.slice(1).map((x) => x[2]), ['nobody', 'olga', 'zetu', 'zetu', 'zetu', 'zetu']);
    assert.deepEqual(rows[1], ['', '', 'nobody', 'Nobody, Yet', '', '', '', '', '', '', '', '', '']);
    const olga = rows[2]!;
    assert.equal(olga[3], `'=HYPERLINK("http://evil.example/","x")`, 'a formula starts with a quote mark');
    assert.ok(r.body.includes(`"'=HYPERLINK(""http://evil.example/"",""x"")"`), 'quotes doubled inside a quoted field');
    assert.deepEqual([olga[4], olga[5], olga[6], olga[7], olga[9], olga[12]], ['1', String(D), HOSTILE, '1', 'pending', '']);
    assert.deepEqual(rows.slice(3).map((x) => x[4]), ['1', '2', '3', '4'], "Zoé's attempts numbered in order");
  });

  it('answers 404 for an unknown project on every project page', async () => {
    for (const url of ['/project/nope/list/', '/project/nope/students/', '/project/nope/students.csv', '/project/nope/']) {
      const r = await w.app.inject({ url });
      assert.equal(r.statusCode, 404, url);
      assert.equal(r.json().code, 'no_such_project', url);
    }
    const r = await w.app.inject({ url: '/project/proctree/' });
    assert.equal(r.statusCode, 301);
    assert.equal(r.headers.location, '/project/proctree/list/');
  });

  it('reads every page query from indexes (no table scan, no sort of the project in date or name order)', async () => {
    const captured: CompiledQuery[] = [];
    // A second connection to the app's database file, recording every query the service runs.
    const file = (await sql<{ file: string }>`select file from pragma_database_list where name = 'main'`.execute(w.h.db)).rows[0]!.file;
    const opened = openDatabase(file);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: opened.sqlite }), log: (e) => void (e.level === 'query' && captured.push(e.query)) });
    try {
      const pages = createProjectPagesService({ db, projects: [w.project], pipelineOn: true });
      const plan = async (q: CompiledQuery) => (await db.executeQuery<{ detail: string }>({ ...q, sql: `explain query plan ${q.sql}` })).rows.map((r) => r.detail).join('\n');
      const cases: [string, Record<string, string>, RegExp][] = [
        ['default', {}, /COVERING INDEX series_project_date/],
        ['oldest first', { order: 'date' }, /COVERING INDEX series_project_date/],
        ['title order', { order: '-name' }, /COVERING INDEX series_project_name/],
        ['state', { state: 'new' }, /COVERING INDEX patches_project_state_series \(project_id=\? AND state=\?\)/],
        ['action required', { state: 'action-required' }, /COVERING INDEX patches_project_state_series \(project_id=\? AND state=\? AND archived=\?\)/],
        ['student', { student: 'zetu' }, /COVERING INDEX patches_student \(student_id=\?\)/],
        ['title words', { q: 'tree' }, /COVERING INDEX series_project_date/],
        ['submitter', { submitter: 'olga' }, /COVERING INDEX series_project_date/],
        ['failing', { failing: '1' }, /SEARCH fc USING COVERING INDEX checks_patch_state/],
      ];
      for (const [name, query, expected] of cases) {
        captured.length = 0;
        await pages.seriesList('proctree', query);
        const page = captured.find((q) => /^select "series"\."id" from "series"/.test(q.sql) && / limit \? offset \?$/.test(q.sql));
        assert.ok(page, `${name}: the page query ran`);
        const p = await plan(page);
        assert.match(p, expected, `${name}:\n${p}`);
        assert.doesNotMatch(p, /SCAN (series|patches)|TEMP B-TREE/, `${name}:\n${p}`);
      }
    } finally {
      await db.destroy();
    }
  });
});

describe('stage badges and CSV cells', () => {
  it('gives one badge per step in run order, the worst status over builds', () => {
    const steps = [
      { step: 'signoff', seq: 0, status: 'pass' },
      { step: 'build', seq: 4, status: 'pass' },
      { step: 'test', seq: 5, status: 'skip' },
      { step: 'build', seq: 6, status: 'running' },
      { step: 'test', seq: 7, status: 'pass' },
      { step: 'apply', seq: 3, status: 'error' },
    ];
    assert.deepEqual(stageBadges(steps), [
      { stage: 'signoff', status: 'pass' },
      { stage: 'apply', status: 'error' },
      { stage: 'build', status: 'running' },
      { stage: 'test', status: 'pass' },
    ]);
    assert.deepEqual(stageBadges([...steps, { step: 'build', seq: 8, status: 'fail' }]).find((b) => b.stage === 'build'), { stage: 'build', status: 'fail' });
  });

  it('quotes as RFC 4180 and defuses formulas', () => {
    const cases: [string, string][] = [
      ['plain', 'plain'],
      ['a,b', '"a,b"'],
      ['say "hi"', '"say ""hi"""'],
      ['two\nlines', '"two\nlines"'],
      ['=1+1', "'=1+1"],
      ['+1', "'+1"],
      ['-1', "'-1"],
      ['@SUM(A1)', "'@SUM(A1)"],
      ['=A1,"x"', `"'=A1,""x"""`],
      ['', ''],
    ];
    for (const [input, out] of cases) assert.equal(csvCell(input), out, input);
    assert.equal(toCsv([['a', 'b'], ['c', 'd,e']]), 'a,b\r\nc,"d,e"\r\n');
  });
});

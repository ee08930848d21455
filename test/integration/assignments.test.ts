// Assignments end to end in-process: real mail filed by the real services with the project file's assignments, the
// late flag (the server's received time, not the mail's Date:), the gradebook per assignment with every attempt of
// two students on two assignments (page and CSV), the series list and page, the API's patchbay field, and the
// matching done again when the rules change.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { createRun, finishStep } from '../../src/db/pipeline.repository.js';
import { createLogger } from '../../src/log.js';
import { rematchProject } from '../../src/series/assignment.service.js';
import { FIXTURES } from '../helpers/api-app.js';
import { readMboxFile } from '../helpers/ingest-harness.js';
import { startWebApp, type Browser, type WebApp } from '../helpers/web-app.js';

const ROSTER = ['login,name,email', 'zetu,Zoé Étudiante,zoe@students.example.org', 'olga,Olga Other,olga@students.example.org'].join('\n');

// hw1 is due far ahead; hw2 was due in 2020, so whatever reaches the server now is late.
const ASSIGNMENTS = [
  { name: 'hw1', title: 'Return codes', deadline: '2100-01-01T00:00:00+01:00', match: { tag: 'hw1' } },
  { name: 'hw2', title: 'Own tests', deadline: '2020-01-01T00:00:00Z', match: { path: 'tests/*.yaml' } },
];

let single: Buffer;
let sent = 0;

/**
 * single.mbox as `who` sent it with another subject, a Message-ID of its own, a Date: header and, for a series that
 * adds its test definition, the diff's file renamed.
 */
function mail(who: 'zoe' | 'olga', subject: string, o: { date?: string; file?: string } = {}): Buffer {
  let text = single.toString('latin1');
  if (who === 'olga') text = text.split('zoe@students.example.org').join('olga@students.example.org').split('=?UTF-8?q?Zo=C3=A9=20=C3=89tudiante?=').join('Olga Other');
  text = text
    .replace(/^Subject: .*$/m, `Subject: ${subject}`)
    .replace(/^Message-Id: .*$/m, `Message-Id: <assign-${++sent}@students.example.org>`)
    .replace(/^Date: .*$/m, `Date: ${o.date ?? 'Fri, 20 Nov 2026 12:00:00 +0000'}`);
  if (o.file) text = text.split('proctree.c').join(o.file);
  return Buffer.from(text, 'latin1');
}

describe('assignments', () => {
  let w: WebApp;
  let teacher: Browser;
  const ids: Record<string, number> = {};

  before(async () => {
    single = (await readMboxFile(path.join(FIXTURES, 'single.mbox')))[0]!;
    w = await startWebApp({ roster: ROSTER, project: { assignments: ASSIGNMENTS } });
    teacher = await w.login('teacher');
    const deliver = async (key: string, raw: Buffer) => {
      const d = await w.h.deliver(raw);
      assert.equal(d.result?.kind, 'patch', key);
      ids[key] = (d.result as { seriesId: number }).seriesId;
    };
    // Zoé: two attempts at hw1 (v1, then v2), one at hw2, one series that names no assignment.
    await deliver('zetu-hw1-v1', mail('zoe', '[PATCH hw1] proctree: return 1 when the pid is not found'));
    await deliver('zetu-hw1-v2', mail('zoe', '[PATCH hw1 v2] proctree: return 1 when the pid is not found'));
    await deliver('zetu-hw2', mail('zoe', '[PATCH] tests: my own', { file: 'tests/zoe.yaml' }));
    await deliver('zetu-none', mail('zoe', '[PATCH] proctree: a typo'));
    // Olga: one attempt at hw1; two at hw2, the first dated (Date:) before the 2020 deadline: late all the same.
    await deliver('olga-hw1', mail('olga', '[hw1][PATCH] proctree: exit status'));
    await deliver('olga-hw2-v1', mail('olga', '[PATCH] tests: olga', { file: 'tests/olga.yaml', date: 'Sun, 1 Dec 2019 10:00:00 +0000' }));
    await deliver('olga-hw2-v2', mail('olga', '[PATCH v2] tests: olga', { file: 'tests/olga.yaml' }));

    // Zoé's hw1 v2 ran: every step passed, 3 of 4 test cases; Olga's hw1 failed to build.
    const steps = [
      ['apply', ''],
      ['build', 'x86_64'],
      ['test', 'x86_64'],
    ] as const;
    const run = async (seriesId: number, status: (step: string) => string, outputs: (step: string) => Record<string, unknown> | null = () => null) => {
      const id = await createRun(w.h.db, { projectId: w.project.id, seriesId, eventId: null, state: 'running', steps: steps.map(([step, job]) => ({ step, job })) });
      for (const [step, job] of steps) await finishStep(w.h.db, id, step, job, { status: status(step) as never, summary: 's', findings: [], outputs: outputs(step), childMs: null });
    };
    await run(ids['zetu-hw1-v2']!, () => 'pass', (step) => (step === 'test' ? { passed: 3, total: 4 } : null));
    await run(ids['olga-hw1']!, (step) => (step === 'build' ? 'fail' : step === 'test' ? 'skip' : 'pass'));
  });
  after(() => w?.close());

  it('matches each series by subject tag or by the test definition its diff touches, and marks late by the received time', async () => {
    const expected: Record<string, [string | null, boolean]> = {
      'zetu-hw1-v1': ['hw1', false],
      'zetu-hw1-v2': ['hw1', false],
      'zetu-hw2': ['hw2', true],
      'zetu-none': [null, false],
      'olga-hw1': ['hw1', false],
      'olga-hw2-v1': ['hw2', true],
      'olga-hw2-v2': ['hw2', true],
    };
    for (const [key, [name, late]] of Object.entries(expected)) {
      const a = await w.apiGet(`/api/patchbay/series/${ids[key]}/assignment/`);
      assert.equal(a.series, ids[key], key);
      assert.equal(a.assignment?.name ?? null, name, key);
      assert.equal(a.late, late, key);
      assert.ok(Date.parse(a.received_at) > Date.parse('2026-01-01T00:00:00Z'), `${key}: the server's time, not Date:`);
    }
    const hw1 = await w.apiGet(`/api/patchbay/series/${ids['olga-hw1']}/assignment/`);
    assert.deepEqual(hw1.assignment, { name: 'hw1', title: 'Return codes', deadline: '2099-12-31T23:00:00.000Z' });
  });

  it('keeps the series in the Patchwork API as they were: no assignment field', async () => {
    const s = await w.apiGet(`/api/series/${ids['olga-hw2-v1']}/`);
    assert.equal(Object.keys(s).some((k) => /assign|late/.test(k)), false);
    assert.equal((await w.app.inject({ url: '/api/patchbay/series/999999/assignment/' })).statusCode, 404);
  });

  it('shows the assignment and the late flag on the series page and in the series list', async () => {
    const late = (await teacher.get(`/series/${ids['olga-hw2-v1']}/`)).body;
    assert.match(late, /<span class="assignment" data-assignment="hw2"[^>]*>Own tests<\/span> <span class="badge fail" data-late="yes">late<\/span>/);
    const onTime = (await teacher.get(`/series/${ids['zetu-hw1-v1']}/`)).body;
    assert.match(onTime, /data-assignment="hw1"/);
    assert.doesNotMatch(onTime, /data-late="yes"/);
    assert.match((await teacher.get(`/series/${ids['zetu-none']}/`)).body, /<span class="assignment muted" data-assignment="">no assignment<\/span>/);

    const list = (await teacher.get('/project/proctree/list/')).body;
    const row = (id: number) => {
      const start = list.indexOf(`<tr data-series="${id}"`);
      assert.ok(start >= 0, `row of ${id}`);
      return list.slice(start, list.indexOf('</tr>', start));
    };
    assert.match(row(ids['olga-hw2-v2']!), /class="late"/);
    assert.match(row(ids['olga-hw2-v2']!), /data-assignment="hw2">hw2<\/span> <span class="badge fail" data-late="yes"/);
    assert.match(row(ids['zetu-hw1-v2']!), /data-assignment="hw1">hw1<\/span><\/td>/);
    assert.match(row(ids['zetu-none']!), /data-assignment="">none</);
  });

  it('lists every attempt of every student per assignment in the gradebook, with result, tests and late flag', async () => {
    const html = (await teacher.get('/project/proctree/students/')).body;
    const section = (name: string) => {
      const start = html.indexOf(`<section class="assignment" data-assignment="${name}">`);
      assert.ok(start >= 0, `section ${name}`);
      return html.slice(start, html.indexOf('</section>', start));
    };
    const attempts = (s: string) => [...s.matchAll(/<tr data-student="([a-z]+)" data-series="(\d+)" data-nav( class="late")?>/g)].map((m) => [m[1], Number(m[2]), !!m[3]]);
    const hw1 = section('hw1');
    assert.match(hw1, /<h2>Return codes <span class="muted small">\(hw1\)<\/span><\/h2>/);
    assert.deepEqual(attempts(hw1), [
      ['olga', ids['olga-hw1'], false],
      ['zetu', ids['zetu-hw1-v1'], false],
      ['zetu', ids['zetu-hw1-v2'], false],
    ]);
    const rowOf = (s: string, id: number) => s.slice(s.indexOf(`data-series="${id}"`), s.indexOf('</tr>', s.indexOf(`data-series="${id}"`)));
    assert.match(rowOf(hw1, ids['zetu-hw1-v2']!), /data-result="pass">pass<\/span>/);
    assert.match(rowOf(hw1, ids['zetu-hw1-v2']!), /<td class="tests">3\/4<\/td>/);
    assert.match(rowOf(hw1, ids['zetu-hw1-v2']!), /v2, 1\/1/);
    assert.match(rowOf(hw1, ids['olga-hw1']!), /data-result="fail">fail<\/span>/);
    // Complete, no run yet: the pipeline will come to it.
    assert.match(rowOf(hw1, ids['zetu-hw1-v1']!), /data-result="pending">pending<\/span>/);
    const hw2 = section('hw2');
    assert.deepEqual(attempts(hw2), [
      ['olga', ids['olga-hw2-v1'], true],
      ['olga', ids['olga-hw2-v2'], true],
      ['zetu', ids['zetu-hw2'], true],
    ]);
    assert.equal((hw2.match(/data-late="yes"/g) ?? []).length, 3);
    // Zoé's series without a tag or test definition is listed apart, never dropped.
    assert.deepEqual(attempts(section('-')), [['zetu', ids['zetu-none'], false]]);
    assert.match(section('-'), /<tr data-student="olga" data-nav>[\s\S]*No attempt yet\./);
  });

  it('exports every attempt as CSV: assignment, student, time, version, result, tests and late', async () => {
    const r = await teacher.get('/project/proctree/students.csv');
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/csv; charset=utf-8/);
    const rows = parse(r.body) as string[][];
    const header = rows[0]!;
    assert.deepEqual(header, ['assignment', 'deadline', 'login', 'name', 'attempt', 'series_id', 'series', 'version', 'received_at', 'result', 'tests_passed', 'tests_total', 'late']);
    const col = (row: string[], name: string) => row[header.indexOf(name)];
    const body = rows.slice(1);
    assert.deepEqual(
      body.map((x) => [col(x, 'assignment'), col(x, 'login'), col(x, 'attempt'), col(x, 'series_id'), col(x, 'version'), col(x, 'result'), col(x, 'late')]),
      [
        ['hw1', 'olga', '1', String(ids['olga-hw1']), '1', 'fail', 'no'],
        ['hw1', 'zetu', '1', String(ids['zetu-hw1-v1']), '1', 'pending', 'no'],
        ['hw1', 'zetu', '2', String(ids['zetu-hw1-v2']), '2', 'pass', 'no'],
        ['hw2', 'olga', '1', String(ids['olga-hw2-v1']), '1', 'pending', 'yes'],
        ['hw2', 'olga', '2', String(ids['olga-hw2-v2']), '2', 'pending', 'yes'],
        ['hw2', 'zetu', '1', String(ids['zetu-hw2']), '1', 'pending', 'yes'],
        ['', 'olga', '', '', '', '', ''],
        ['', 'zetu', '1', String(ids['zetu-none']), '1', 'pending', ''],
      ],
    );
    const v2 = body.find((x) => col(x, 'series_id') === String(ids['zetu-hw1-v2']))!;
    assert.equal(col(v2, 'name'), 'Zoé Étudiante');
    assert.equal(col(v2, 'deadline'), '2099-12-31T23:00:00.000Z');
    assert.equal(col(v2, 'tests_passed'), '3');
    assert.equal(col(v2, 'tests_total'), '4');
    assert.ok(Date.parse(col(v2, 'received_at')!) > Date.parse(col(body[1]!, 'received_at')!) - 1, 'received times in order');
  });

  it('matches every series again when the rules change, and not when they stay the same', async () => {
    const log = createLogger('silent');
    // The order swapped and hw2 matched by tag only: Olga's test series now match nothing.
    const rules = [
      { ...ASSIGNMENTS[1]!, deadline: '2020-01-01T00:00:00.000Z', match: { tag: 'hw2' } },
      { ...ASSIGNMENTS[0]!, deadline: '2099-12-31T23:00:00.000Z' },
    ];
    assert.equal(await rematchProject(w.h.db, w.project.id, rules, log), 7);
    assert.equal(await rematchProject(w.h.db, w.project.id, rules, log), null, 'unchanged rules: nothing to do');
    const rows = await w.h.db.selectFrom('series_assignments').select(['series_id', 'assignment']).where('project_id', '=', w.project.id).execute();
    const of = (key: string) => rows.find((r) => r.series_id === ids[key])!.assignment;
    assert.equal(of('olga-hw2-v1'), null);
    assert.equal(of('zetu-hw2'), null);
    assert.equal(of('zetu-hw1-v2'), 'hw1');
    // Back to the project file's rules, for any test after this one.
    assert.equal(await rematchProject(w.h.db, w.project.id, w.project.assignments, log), 7);
    assert.equal((await w.h.db.selectFrom('series_assignments').select('assignment').where('series_id', '=', ids['zetu-hw2']!).executeTakeFirstOrThrow()).assignment, 'hw2');
  });

  it("matches again the series a maintainer's merge changed: the merged series' match counts, the emptied one is dropped", async () => {
    // Zoé's test definition series merged into her series of no assignment: that one now adds tests/zoe.yaml.
    const r = await teacher.post(`/api/patchbay/series/${ids['zetu-none']}/merge/`, { series: String(ids['zetu-hw2']) }, { csrf: false, headers: { authorization: `Token ${w.tokens.teacher}` } });
    assert.equal(r.statusCode, 200, r.body);
    const merged = await w.apiGet(`/api/patchbay/series/${ids['zetu-none']}/assignment/`);
    assert.equal(merged.assignment?.name, 'hw2');
    assert.equal(merged.late, true);
    const emptied = await w.apiGet(`/api/patchbay/series/${ids['zetu-hw2']}/assignment/`);
    assert.deepEqual([emptied.assignment, emptied.received_at, emptied.late], [null, null, false]);
  });
});

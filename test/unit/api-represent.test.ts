// The representation writers against the field tables of versions.ts: each writes, in every version, exactly that
// version's fields in that order (the contract test checks the same over HTTP, resource by resource).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as R from '../../src/api/represent.js';
import { fieldsOf, VERSIONS, type ApiVersion, type Shape } from '../../src/api/versions.js';

const project: R.ProjectInfo = { id: 1, slug: 'proctree', name: 'Proctree', list: 'proctree@lists.example.org', scmUrl: null, maintainers: [], showDependencies: true };
const person = { id: 2, name: 'Zoé Étudiante', email: 'zoe@students.example.org' };
const user = { id: 3, username: 'teacher', first_name: 'Tom', last_name: 'Teacher', email: 'teacher@example.org' };
const patch = { id: 4, msgid: 'a@b', date: '2026-11-20T10:00:00.000Z', name: '[1/2] proctree: walk', project_id: 1 };
const series = { id: 5, project_id: 1, name: 'proctree', date: '2026-11-20T10:00:00.000Z', version: 2, total: 2 };
const check = { id: 6, patch_id: 4, date: '2026-11-20T10:00:00.000Z', state: 'success', target_url: null, context: 'build', description: null };
const comment = { id: 7, project_id: 1, msgid: 'c@b', date: '2026-11-20T10:00:00.000Z', patch_id: 4, cover_id: null, content: 'LGTM', addressed: 0 as const };
const patchRow = { ...patch, commit_ref: null, pull_url: null, state: 'new', archived: 0 as const, hash: null };
const headers = { Subject: 'x' };

const writers: [Shape, (ctx: R.Ctx) => R.Out][] = [
  ['embeddedProject', (ctx) => R.embedProject(ctx, 1)],
  ['embeddedPerson', (ctx) => R.embedPerson(ctx, person)],
  ['embeddedUser', (ctx) => R.embedUser(ctx, user)],
  ['embeddedPatch', (ctx) => R.embedPatch(ctx, patch)],
  ['embeddedCover', (ctx) => R.embedCover(ctx, patch)],
  ['embeddedSeries', (ctx) => R.embedSeries(ctx, series)],
  ['embeddedCheck', (ctx) => R.embedCheck(ctx, check)],
  ['embeddedComment', (ctx) => R.embedComment(ctx, comment)],
  ['project', (ctx) => R.projectOut(ctx, 1, [user])],
  ['user', (ctx) => R.userOut(ctx, user, null)],
  ['userDetail', (ctx) => R.userOut(ctx, user, R.DEFAULT_SETTINGS)],
  ['person', (ctx) => R.personOut(ctx, person, user)],
  ['patch', (ctx) => R.patchOut(ctx, patchRow, { submitter: person, delegate: user, series, check: 'success' })],
  ['patchDetail', (ctx) => R.patchOut(ctx, patchRow, { submitter: person, delegate: null, series: null, check: 'pending' }, { headers, content: 'c', diff: null })],
  ['cover', (ctx) => R.coverOut(ctx, patch, { submitter: person, series })],
  ['coverDetail', (ctx) => R.coverOut(ctx, patch, { submitter: person, series: null }, { headers, content: 'c' })],
  ['series', (ctx) => R.seriesOut(ctx, series, { submitter: person, cover: patch, patches: [patch] })],
  ['comment', (ctx) => R.commentOut(ctx, comment, { submitter: person, subject: 'Re: x', headers })],
  ['check', (ctx) => R.checkOut(ctx, check, user)],
  ['event', (ctx) => R.eventOut(ctx, { id: 8, category: 'patch-created', project_id: 1, date: patch.date }, user, { patch: R.embedPatch(ctx, patch) })],
  ['bundle', (ctx) => R.bundleOut(ctx, { id: 9, project_id: 1, name: 'next', public: 1 }, user, [patch])],
];

describe('API representation writers', () => {
  for (const version of [null, ...VERSIONS] as (ApiVersion | null)[]) {
    it(`writes each shape with the fields of ${version ?? 'the latest version'}, in Patchwork’s order`, () => {
      const ctx = R.makeCtx('http://h', version, new Map([[1, project]]));
      for (const [shape, write] of writers) {
        const json = JSON.parse(JSON.stringify(write(ctx)));
        assert.deepEqual(Object.keys(json), fieldsOf(shape, ctx.v), shape);
      }
    });
  }

  it('builds an embedded project, person and user once per context and row, and one context per version', () => {
    const ctx = R.makeCtx('http://h', '1.1', new Map([[1, project]]));
    assert.equal(R.embedProject(ctx, 1), R.embedProject(ctx, 1));
    assert.equal(R.embedPerson(ctx, person), R.embedPerson(ctx, person));
    assert.notEqual(R.embedPerson(ctx, person), R.embedPerson(ctx, { ...person }), 'a row read again is built again');
    assert.equal(R.embedUser(ctx, user), R.embedUser(ctx, user));
    const other = R.makeCtx('http://h', '1.2', new Map([[1, project]]));
    assert.ok(!('list_archive_url' in JSON.parse(JSON.stringify(R.embedProject(ctx, 1)))));
    assert.equal((R.embedProject(other, 1) as { list_archive_url: string }).list_archive_url, 'http://h/proctree/');
  });
});

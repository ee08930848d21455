// Contract: every resource of the REST API, in every version, has exactly the fields of Patchwork's server, in its
// order, with its types. The tables below are written from its serializers (getpatchwork/patchwork HEAD 644cef7,
// api/embedded.py and api/<resource>.py); a [name, type, version] entry appeared in that version. What the published
// OpenAPI documents say of each field is checked by api-schemas.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../helpers/dirs.js';
import { startApiApp, type ApiApp } from '../helpers/api-app.js';

type Version = '1.0' | '1.1' | '1.2' | '1.3' | '1.4';
const VERSIONS: (Version | null)[] = [null, '1.0', '1.1', '1.2', '1.3', '1.4'];
const ORDER: Version[] = ['1.0', '1.1', '1.2', '1.3', '1.4'];
const atLeast = (v: Version | null, min: Version) => v === null || ORDER.indexOf(v) >= ORDER.indexOf(min);

/**
 * Types: int, str, str? (string or null), bool, url (absolute http URL), url? , date (naive ISO 8601 as DRF writes
 * it), msgid (<…>), dict (any object), state (a state slug), check (pending|success|warning|fail),
 * obj:E / obj?:E (embedded E, or null), list:E (list of embedded E), list:str.
 */
type Field = readonly [string, string] | readonly [string, string, Version];

const EMBEDDED: Record<string, Field[]> = {
  project: [
    ['id', 'int'], ['url', 'url'], ['name', 'str'], ['link_name', 'str'], ['list_id', 'str'], ['list_email', 'str'],
    ['web_url', 'str'], ['scm_url', 'str'], ['webscm_url', 'str'],
    ['list_archive_url', 'str', '1.2'], ['list_archive_url_format', 'str', '1.2'], ['commit_url_format', 'str', '1.2'],
  ],
  person: [['id', 'int'], ['url', 'url'], ['name', 'str?'], ['email', 'str']],
  user: [['id', 'int'], ['url', 'url'], ['username', 'str'], ['first_name', 'str'], ['last_name', 'str'], ['email', 'str']],
  patch: [['id', 'int'], ['url', 'url'], ['web_url', 'url', '1.1'], ['msgid', 'msgid'], ['list_archive_url', 'url?', '1.2'], ['date', 'date'], ['name', 'str'], ['mbox', 'url']],
  cover: [['id', 'int'], ['url', 'url'], ['web_url', 'url', '1.1'], ['msgid', 'msgid'], ['list_archive_url', 'url?', '1.2'], ['date', 'date'], ['name', 'str'], ['mbox', 'url', '1.1']],
  series: [['id', 'int'], ['url', 'url'], ['web_url', 'url', '1.1'], ['date', 'date'], ['name', 'str?'], ['version', 'int'], ['mbox', 'url']],
  check: [['id', 'int'], ['url', 'url'], ['date', 'date'], ['state', 'check'], ['target_url', 'str?'], ['context', 'str']],
  // The notes mention an mbox "through its mixin"; embedded.py's Meta.fields leaves it out, so DRF does not render it.
  comment: [['id', 'int'], ['url', 'url', '1.3'], ['web_url', 'url', '1.1'], ['msgid', 'msgid'], ['list_archive_url', 'url?', '1.2'], ['date', 'date']],
};

const PATCH_LIST: Field[] = [
  ['id', 'int'], ['url', 'url'], ['web_url', 'url', '1.1'], ['project', 'obj:project'], ['msgid', 'msgid'], ['list_archive_url', 'url?', '1.2'],
  ['date', 'date'], ['name', 'str'], ['commit_ref', 'str?'], ['pull_url', 'str?'], ['state', 'state'], ['archived', 'bool'], ['hash', 'str?'],
  ['submitter', 'obj:person'], ['delegate', 'obj?:user'], ['mbox', 'url'], ['series', 'list:series'], ['comments', 'url', '1.1'],
  ['check', 'check'], ['checks', 'url'], ['tags', 'dict'], ['related', 'list:patch', '1.2'],
];
const COVER_LIST: Field[] = [
  ['id', 'int'], ['url', 'url'], ['web_url', 'url', '1.1'], ['project', 'obj:project'], ['msgid', 'msgid'], ['list_archive_url', 'url?', '1.2'],
  ['date', 'date'], ['name', 'str'], ['submitter', 'obj:person'], ['mbox', 'url', '1.1'], ['series', 'list:series'], ['comments', 'url', '1.1'],
];

const RESOURCES: Record<string, Field[]> = {
  project: [...EMBEDDED.project!.slice(0, 9), ['maintainers', 'list:user'], ['subject_match', 'str', '1.1'], ...EMBEDDED.project!.slice(9), ['show_dependencies', 'bool', '1.4']],
  user: EMBEDDED.user!,
  userSelf: [...EMBEDDED.user!, ['settings', 'settings', '1.2']],
  person: [...EMBEDDED.person!, ['user', 'obj?:user']],
  patchList: PATCH_LIST,
  patchDetail: [...PATCH_LIST, ['headers', 'dict'], ['content', 'str'], ['diff', 'str?'], ['prefixes', 'list:str']],
  coverList: COVER_LIST,
  coverDetail: [...COVER_LIST, ['headers', 'dict'], ['content', 'str']],
  series: [
    ['id', 'int'], ['url', 'url'], ['web_url', 'url', '1.1'], ['project', 'obj:project'], ['name', 'str?'], ['date', 'date'], ['submitter', 'obj:person'],
    ['version', 'int'], ['total', 'int'], ['received_total', 'int'], ['received_all', 'bool'], ['mbox', 'url'], ['cover_letter', 'obj?:cover'], ['patches', 'list:patch'],
    // Only for a project with show_dependencies (this one has it).
    ['dependencies', 'list:url', '1.4'], ['dependents', 'list:url', '1.4'],
  ],
  comment: [
    ['id', 'int'], ['url', 'url', '1.3'], ['web_url', 'url', '1.1'], ['msgid', 'msgid'], ['list_archive_url', 'url?', '1.2'], ['date', 'date'],
    ['subject', 'str'], ['submitter', 'obj:person'], ['content', 'str'], ['headers', 'dict'], ['addressed', 'bool?', '1.3'],
  ],
  check: [['id', 'int'], ['url', 'url'], ['user', 'obj?:user'], ['date', 'date'], ['state', 'check'], ['target_url', 'str?'], ['context', 'str'], ['description', 'str?']],
  event: [['id', 'int'], ['category', 'str'], ['project', 'obj:project'], ['date', 'date'], ['actor', 'obj?:user', '1.2'], ['payload', 'dict']],
  bundle: [['id', 'int'], ['url', 'url'], ['web_url', 'url', '1.1'], ['project', 'obj:project'], ['name', 'str'], ['owner', 'obj:user'], ['patches', 'list:patch'], ['public', 'bool'], ['mbox', 'url']],
};

/** §3.3: the payload of each event category (check → `check`, comments → `comment`, as _field_name_map renames). */
const PAYLOADS: Record<string, Field[]> = {
  'cover-created': [['cover', 'obj:cover']],
  'patch-created': [['patch', 'obj:patch']],
  'patch-completed': [['patch', 'obj:patch'], ['series', 'obj:series']],
  'patch-state-changed': [['patch', 'obj:patch'], ['previous_state', 'state'], ['current_state', 'state']],
  'patch-delegated': [['patch', 'obj:patch'], ['previous_delegate', 'obj?:user'], ['current_delegate', 'obj?:user']],
  // get_previous_relation/get_current_relation always give None.
  'patch-relation-changed': [['patch', 'obj:patch'], ['previous_relation', 'null'], ['current_relation', 'null']],
  'check-created': [['patch', 'obj:patch'], ['check', 'obj:check']],
  'series-created': [['series', 'obj:series']],
  'series-completed': [['series', 'obj:series']],
  'cover-comment-created': [['cover', 'obj:cover'], ['comment', 'obj:comment']],
  'patch-comment-created': [['patch', 'obj:patch'], ['comment', 'obj:comment']],
};
const COMMENT_EVENTS = ['cover-comment-created', 'patch-comment-created'];

const STATE_SLUGS = ['new', 'under-review', 'accepted', 'rejected', 'rfc', 'not-applicable', 'changes-requested', 'awaiting-upstream', 'superseded', 'deferred'];

function fieldsFor(table: Field[], v: Version | null): Field[] {
  return table.filter((f) => f.length === 2 || atLeast(v, f[2]));
}

function assertShape(value: unknown, table: Field[], v: Version | null, where: string): void {
  assert.ok(value && typeof value === 'object' && !Array.isArray(value), `${where}: an object`);
  const fields = fieldsFor(table, v);
  assert.deepEqual(Object.keys(value as object), fields.map((f) => f[0]), `${where} (version ${v ?? 'latest'}): field names`);
  for (const [name, type] of fields) assertType((value as Record<string, unknown>)[name], type, v, `${where}.${name}`);
}

function assertType(x: unknown, type: string, v: Version | null, where: string): void {
  const nullable = type.includes('?');
  if (nullable && x === null) return;
  const t = type.replace('?', '');
  const [kind, of] = t.split(':');
  switch (kind) {
    case 'int':
      return assert.ok(Number.isInteger(x), `${where}: integer, got ${JSON.stringify(x)}`);
    case 'str':
      return assert.equal(typeof x, 'string', `${where}: string, got ${JSON.stringify(x)}`);
    case 'bool':
      return assert.equal(typeof x, 'boolean', `${where}: boolean, got ${JSON.stringify(x)}`);
    case 'url':
      assert.equal(typeof x, 'string', `${where}: URL string`);
      return assert.match(x as string, /^https?:\/\/[^/]+\//, `${where}: absolute URL`);
    case 'date':
      return assert.match(String(x), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$/, `${where}: naive ISO 8601 datetime`);
    case 'msgid':
      return assert.match(String(x), /^<[^<>]+>$/, `${where}: Message-ID in <>`);
    case 'state':
      return assert.ok(STATE_SLUGS.includes(x as string), `${where}: a state slug, got ${JSON.stringify(x)}`);
    case 'check':
      return assert.ok(['pending', 'success', 'warning', 'fail'].includes(x as string), `${where}: a check state, got ${JSON.stringify(x)}`);
    case 'null':
      return assert.equal(x, null, `${where}: null`);
    case 'dict':
      return assert.ok(x !== null && typeof x === 'object' && !Array.isArray(x), `${where}: an object`);
    case 'settings':
      return assert.deepEqual(Object.keys(x as object), ['send_email', 'items_per_page', 'show_ids'], `${where}: settings`);
    case 'obj':
      return assertShape(x, EMBEDDED[of!]!, v, where);
    case 'list':
      assert.ok(Array.isArray(x), `${where}: a list`);
      (x as unknown[]).forEach((item, i) => (of === 'str' || of === 'url' ? assertType(item, of, v, `${where}[${i}]`) : assertShape(item, EMBEDDED[of!]!, v, `${where}[${i}]`)));
      return;
    default:
      throw new Error(`unknown type ${type}`);
  }
}

describe('API contract: fields and types of every resource in every version', () => {
  let a: ApiApp;
  let patchId: number;
  let coverId: number;
  let seriesId: number;
  let bundleId: number;

  before(async () => {
    // comments: [PATCH 0/2], 1/2, 2/2, replies to 1/2 and to the cover; v2-in-reply-to-cover: v1 and v2 (a revision);
    // depends-on/base and on-cover: a series whose cover says `Depends-on:` the first patch of the other.
    a = await startApiApp(['comments', 'v2-in-reply-to-cover'], { showDependencies: true });
    await a.h.deliverMbox(path.resolve('test/fixtures/depends-on/base.mbox'));
    const base = (await a.get('/api/patches/?order=-id&per_page=2'))[1];
    const dependent = path.join(tempDir('patchbay-contract-'), 'on-cover.mbox');
    fs.writeFileSync(dependent, fs.readFileSync('test/fixtures/depends-on/on-cover.mbox.template', 'utf8').replace('{token}', base.msgid));
    await a.h.deliverMbox(dependent);
    const patches = await a.get('/api/patches/?order=id');
    patchId = patches[0].id;
    seriesId = patches[0].series[0].id;
    coverId = (await a.get('/api/covers/?order=id'))[0].id;
    const check = await a.req({ method: 'POST', url: `/api/patches/${patchId}/checks/`, as: 'teacher', payload: { state: 'warning', context: 'build-arm64', target_url: 'https://ci.example.org/1', description: 'warnings' } });
    assert.equal(check.statusCode, 201, check.body);
    const upd = await a.req({ method: 'PATCH', url: `/api/patches/${patchId}/`, as: 'teacher', payload: { state: 'under-review', delegate: a.userIds.teacher } });
    assert.equal(upd.statusCode, 200, upd.body);
    const b = await a.req({ method: 'POST', url: '/api/bundles/', as: 'teacher', payload: { name: 'review', patches: [patchId], public: true } });
    assert.equal(b.statusCode, 201, b.body);
    bundleId = b.json().id;
    const rel = await a.req({ method: 'PATCH', url: `/api/patches/${patchId}/`, as: 'teacher', payload: { related: [patches[1].id] } });
    assert.equal(rel.statusCode, 200, rel.body);
  });
  after(() => a.close());

  for (const v of VERSIONS) {
    const base = v ? `/api/${v}` : '/api';
    const label = v ?? 'latest (/api/)';

    it(`has Patchwork's index, projects, users and people in ${label}`, async () => {
      assert.deepEqual(Object.keys(await a.get(`${base}/`)), ['projects', 'users', 'people', 'patches', 'covers', 'series', 'events', 'bundles']);
      const projects = await a.get(`${base}/projects/`);
      projects.forEach((p: unknown, i: number) => assertShape(p, RESOURCES.project!, v, `projects[${i}]`));
      assert.equal(projects[0].maintainers.length, 1, 'the maintainer listed in the project file');
      assertShape(await a.get(`${base}/projects/proctree/`), RESOURCES.project!, v, 'project by link name');

      (await a.get(`${base}/users/`, 'olga')).forEach((u: unknown, i: number) => assertShape(u, RESOURCES.user!, v, `users[${i}]`));
      assertShape(await a.get(`${base}/users/${a.userIds.teacher}/`, 'olga'), RESOURCES.user!, v, 'another user');
      assertShape(await a.get(`${base}/users/${a.userIds.olga}/`, 'olga'), RESOURCES.userSelf!, v, 'yourself');

      const people = await a.get(`${base}/people/`, 'olga');
      people.forEach((p: unknown, i: number) => assertShape(p, RESOURCES.person!, v, `people[${i}]`));
      assert.ok(people.some((p: { user: unknown }) => p.user !== null), 'a person linked to a user by email');
      assertShape(await a.get(`${base}/people/${people[0].id}/`, 'olga'), RESOURCES.person!, v, 'person');
    });

    it(`has Patchwork's patches (list without the heavy fields), covers and series in ${label}`, async () => {
      const patches = await a.get(`${base}/patches/`);
      assert.ok(patches.length >= 6);
      patches.forEach((p: unknown, i: number) => assertShape(p, RESOURCES.patchList!, v, `patches[${i}]`));
      const detail = await a.get(`${base}/patches/${patchId}/`);
      assertShape(detail, RESOURCES.patchDetail!, v, 'patch detail');
      assert.equal(detail.check, 'warning');
      assert.equal(detail.delegate.id, a.userIds.teacher);
      if (atLeast(v, '1.2')) assert.equal(detail.related.length, 1, 'the related patch');

      const covers = await a.get(`${base}/covers/`);
      covers.forEach((c: unknown, i: number) => assertShape(c, RESOURCES.coverList!, v, `covers[${i}]`));
      assertShape(await a.get(`${base}/covers/${coverId}/`), RESOURCES.coverDetail!, v, 'cover detail');

      const series = await a.get(`${base}/series/`);
      series.forEach((s: unknown, i: number) => assertShape(s, RESOURCES.series!, v, `series[${i}]`));
      if (atLeast(v, '1.4')) assert.ok(series.some((s: { dependencies: string[] }) => s.dependencies.length === 1), 'a series with a dependency');
      assertShape(await a.get(`${base}/series/${seriesId}/`), RESOURCES.series!, v, 'series detail');
    });

    it(`has Patchwork's comments (from 1.1; one comment from 1.3), checks and bundles in ${label}`, async () => {
      if (atLeast(v, '1.1')) {
        const comments = await a.get(`${base}/patches/${patchId}/comments/`);
        assert.ok(comments.length >= 1);
        comments.forEach((c: unknown, i: number) => assertShape(c, RESOURCES.comment!, v, `patch comments[${i}]`));
        const coverComments = await a.get(`${base}/covers/${coverId}/comments/`);
        assert.ok(coverComments.length >= 1);
        coverComments.forEach((c: unknown, i: number) => assertShape(c, RESOURCES.comment!, v, `cover comments[${i}]`));
        const one = await a.req({ url: `${base}/patches/${patchId}/comments/${comments[0].id}/` });
        if (atLeast(v, '1.3')) assertShape(one.json(), RESOURCES.comment!, v, 'comment detail');
        else assert.equal(one.statusCode, 404, 'no comment detail before 1.3');
      } else {
        assert.equal((await a.req({ url: `${base}/patches/${patchId}/comments/` })).statusCode, 404, 'no comments in 1.0');
      }

      const checks = await a.get(`${base}/patches/${patchId}/checks/`);
      assert.equal(checks.length, 1);
      assertShape(checks[0], RESOURCES.check!, v, 'checks[0]');
      assertShape(await a.get(`${base}/patches/${patchId}/checks/${checks[0].id}/`), RESOURCES.check!, v, 'check detail');

      const bundles = await a.get(`${base}/bundles/`);
      assert.equal(bundles.length, 1);
      assertShape(bundles[0], RESOURCES.bundle!, v, 'bundles[0]');
      assertShape(await a.get(`${base}/bundles/${bundleId}/`), RESOURCES.bundle!, v, 'bundle detail');
    });

    it(`has Patchwork's events with each category's payload in ${label} (comment events from 1.3)`, async () => {
      const events = await a.get(`${base}/events/?per_page=250`);
      const seen = new Set<string>();
      for (const [i, e] of events.entries()) {
        assertShape(e, RESOURCES.event!, v, `events[${i}]`);
        const payload = PAYLOADS[e.category];
        assert.ok(payload, `a Patchwork category: ${e.category}`);
        assertShape(e.payload, payload, v, `events[${i}].payload (${e.category})`);
        seen.add(e.category);
      }
      const expected = Object.keys(PAYLOADS).filter((c) => atLeast(v, '1.3') || !COMMENT_EVENTS.includes(c));
      assert.deepEqual([...seen].sort(), expected.sort(), 'every category occurs in the fixtures, and no other');
      // patchbay's own category, in no Patchwork schema: only for a client that asks for it.
      const own = await a.get(`${base}/events/?category=series-new-revision`);
      assert.equal(own.length, 1);
      assertShape(own[0], RESOURCES.event!, v, 'series-new-revision');
    });
  }
});

// Contract: every answer of the REST API, in every version, against what Patchwork's published OpenAPI documents say
// of each field (test/contract/patchwork-schemas.ts, our own table of them), except where that table notes that the
// document is wrong and Patchwork's server does what patchbay does. Also each documented path's methods (Allow).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../helpers/dirs.js';
import { startApiApp, type ApiApp } from '../helpers/api-app.js';
import {
  atLeast,
  BASE_OF,
  EVENT_FILTER_CATEGORIES,
  EVENT_PAYLOADS,
  PATH_ERRORS,
  PATHS,
  SCHEMA,
  SCHEMA_ERRORS,
  VERSIONS,
  type Component,
  type Field,
  type T,
  type Version,
} from './patchwork-schemas.js';

const ERRORS = new Map(SCHEMA_ERRORS.map((e) => [e.at, e]));
/** Per schema error: seen at all, and whether the document's own rule failed on a real answer (the error observed). */
const seen = new Map<string, { seen: number; schemaFailed: number }>(SCHEMA_ERRORS.map((e) => [e.at, { seen: 0, schemaFailed: 0 }]));
let fieldsChecked = 0;

/**
 * What patchbay adds to a component, which the documents allow (none says additionalProperties: false): an error's
 * stable `code` beside Patchwork's `detail` (docs/api.md).
 */
const PATCHBAY_EXTRA: Partial<Record<Component, string[]>> = { Error: ['code'] };

/** Conditions of this app's data that SchemaError.onlyIf names. */
const FLAGS = { show_dependencies: true };

/** Throws an AssertionError when `x` breaks `type`. */
function check(x: unknown, type: T, v: Version, where: string): void {
  switch (type.t) {
    case 'nullable':
      if (x === null) return;
      return check(x, type.of, v, where);
    case 'integer':
      return assert.ok(Number.isInteger(x), `${where}: integer, got ${JSON.stringify(x)}`);
    case 'boolean':
      return assert.equal(typeof x, 'boolean', `${where}: boolean, got ${JSON.stringify(x)}`);
    case 'object': {
      assert.ok(x !== null && typeof x === 'object' && !Array.isArray(x), `${where}: object`);
      if (type.props) {
        assert.deepEqual(Object.keys(x as object).sort(), Object.keys(type.props).sort(), `${where}: properties`);
        for (const [k, t] of Object.entries(type.props)) check((x as Record<string, unknown>)[k], t, v, `${where}.${k}`);
      } else if (where.endsWith('.headers')) {
        // The server's headers (SCHEMA_ERRORS): each value a string, or a list of strings for a repeated header.
        for (const [k, h] of Object.entries(x as object)) assert.ok(typeof h === 'string' || (Array.isArray(h) && h.every((s) => typeof s === 'string')), `${where}.${k}`);
      }
      return;
    }
    case 'headers': {
      // The document's anyOf: every value a string, or every value a list of strings.
      assert.ok(x !== null && typeof x === 'object' && !Array.isArray(x), `${where}: object`);
      const values = Object.values(x as object);
      assert.ok(values.every((h) => typeof h === 'string') || values.every((h) => Array.isArray(h) && h.every((s: unknown) => typeof s === 'string')), `${where}: all strings or all lists`);
      return;
    }
    case 'string': {
      assert.equal(typeof x, 'string', `${where}: string, got ${JSON.stringify(x)}`);
      const s = x as string;
      const length = [...s].length;
      if (type.minLength !== undefined) assert.ok(length >= type.minLength, `${where}: at least ${type.minLength} characters, got ${JSON.stringify(s)}`);
      if (type.maxLength !== undefined) assert.ok(length <= type.maxLength, `${where}: at most ${type.maxLength} characters`);
      if (type.pattern) assert.match(s, type.pattern, where);
      if (type.enum) assert.ok(type.enum.includes(s), `${where}: one of ${type.enum.join(', ')}, got ${s}`);
      if (type.format === 'uri' || type.format === 'url') assert.ok(isUri(s), `${where}: an absolute URI, got ${JSON.stringify(s)}`);
      // USE_TZ = False: DRF writes naive ISO 8601 datetimes.
      if (type.format === 'iso8601') assert.match(s, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$/, `${where}: ISO 8601 datetime`);
      if (type.format === 'email') assert.match(s, /^[^@\s]+@[^@\s]+$/, `${where}: an email address`);
      return;
    }
    case 'array': {
      assert.ok(Array.isArray(x), `${where}: array`);
      (x as unknown[]).forEach((item, i) => check(item, type.items, v, `${where}[${i}]`));
      if (type.unique) assert.equal(new Set((x as unknown[]).map((i) => JSON.stringify(i))).size, (x as unknown[]).length, `${where}: unique items`);
      return;
    }
    case 'ref':
      return validate(x, type.to, v, where);
  }
}

/** RFC 3986 absolute URI: a scheme, then only characters a URI may hold (no spaces, no `{}`). */
function isUri(s: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/i.test(s)) return false;
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

/** The fields a version's document gives a component. */
function documented(component: Component, v: Version): Field[] {
  return SCHEMA[component].filter((f) => f.length === 2 || atLeast(v, f[2]));
}

/** Checks one object against its component: the documented fields, corrected by SCHEMA_ERRORS, no other. */
function validate(x: unknown, component: Component, v: Version, where: string): void {
  assert.ok(x !== null && typeof x === 'object' && !Array.isArray(x), `${where}: a ${component}`);
  const o = x as Record<string, unknown>;
  const expected: string[] = [];
  for (const [name, type] of documented(component, v)) {
    const base = BASE_OF[component];
    const error = ERRORS.get(`${component}.${name}`) ?? (base ? ERRORS.get(`${base}.${name}`) : undefined);
    const stats = error ? seen.get(error.at)! : undefined;
    const shown = !error || (!error.absent && (!error.since || atLeast(v, error.since)) && (!error.onlyIf || FLAGS[error.onlyIf as keyof typeof FLAGS]));
    if (!shown) {
      assert.ok(!(name in o), `${where}.${name}: absent (${error!.server})`);
      stats!.seen++;
      stats!.schemaFailed++;
      continue;
    }
    expected.push(name);
    assert.ok(name in o, `${where}: ${component}.${name} is missing`);
    fieldsChecked++;
    if (error?.type) {
      stats!.seen++;
      try {
        check(o[name], type, v, `${where}.${name}`);
      } catch {
        stats!.schemaFailed++;
      }
      check(o[name], error.type, v, `${where}.${name}`);
    } else {
      if (stats) stats.seen++;
      check(o[name], type, v, `${where}.${name}`);
    }
  }
  const extra = PATCHBAY_EXTRA[component] ?? [];
  assert.deepEqual(Object.keys(o).filter((k) => !extra.includes(k)).sort(), [...expected].sort(), `${where}: the fields of ${component} in ${v}`);
}

describe('API contract: every field as Patchwork’s published OpenAPI documents (1.0–1.4) describe it', () => {
  let a: ApiApp;
  let patchId: number;
  let pullId: number;
  let relayedId: number;
  let coverId: number;
  let bundleId: number;

  before(async () => {
    // comments: [PATCH 0/2] + 2 patches and replies; v2-in-reply-to-cover: a revision; pull-request: a [GIT PULL]
    // without a diff; single: a series without a cover; depends-on: a series depending on another.
    a = await startApiApp(['comments', 'v2-in-reply-to-cover', 'pull-request', 'single'], { showDependencies: true });
    await a.h.deliverMbox(path.resolve('test/fixtures/depends-on/base.mbox'));
    const base = (await a.get('/api/patches/?order=-id&per_page=2'))[1];
    const dir = tempDir('patchbay-schemas-');
    const fill = async (template: string, token: string) => {
      const file = path.join(dir, template.replace('.template', ''));
      fs.writeFileSync(file, fs.readFileSync(path.join('test/fixtures/depends-on', template), 'utf8').replace('{token}', token));
      await a.h.deliverMbox(file);
    };
    await fill('on-cover.mbox.template', base.msgid);
    // Two Received: fields make a repeated header (PatchDetail.headers in SCHEMA_ERRORS).
    await fill('on-patch.mbox.template', `https://pw.example.org/project/proctree/list/?series=${base.series[0].id}`);
    relayedId = (await a.get('/api/patches/?order=-id&per_page=1'))[0].id;

    const patches = await a.get('/api/patches/?order=id&per_page=100');
    patchId = patches[0].id;
    pullId = patches.find((p: { pull_url: string | null }) => p.pull_url !== null).id;
    coverId = (await a.get('/api/covers/?order=id'))[0].id;
    const check = await a.req({ method: 'POST', url: `/api/patches/${patchId}/checks/`, as: 'teacher', payload: { state: 'success', context: 'build', target_url: 'https://ci.example.org/7' } });
    assert.equal(check.statusCode, 201, check.body);
    const update = await a.req({ method: 'PATCH', url: `/api/patches/${patchId}/`, as: 'teacher', payload: { state: 'under-review', delegate: a.userIds.teacher, related: [patches[1].id] } });
    assert.equal(update.statusCode, 200, update.body);
    const b = await a.req({ method: 'POST', url: '/api/bundles/', as: 'teacher', payload: { name: 'schemas', patches: [patchId], public: true } });
    assert.equal(b.statusCode, 201, b.body);
    bundleId = b.json().id;
    const comments = await a.get(`/api/patches/${patchId}/comments/`);
    assert.equal((await a.req({ method: 'PATCH', url: `/api/patches/${patchId}/comments/${comments[0].id}/`, as: 'teacher', payload: { addressed: true } })).statusCode, 200);
  });
  after(() => a.close());

  for (const requested of [...VERSIONS, null] as (Version | null)[]) {
    const v: Version = requested ?? '1.4';
    const base = requested ? `/api/${requested}` : '/api';
    const label = requested ?? 'latest (/api/)';

    it(`answers every read of ${label} as its document describes the fields`, async () => {
      validate(await a.get(`${base}/`), 'Index', v, 'index');
      for (const [i, p] of (await a.get(`${base}/projects/`)).entries()) validate(p, 'Project', v, `projects[${i}]`);
      validate(await a.get(`${base}/projects/proctree/`), 'Project', v, 'project');
      for (const [i, u] of (await a.get(`${base}/users/`, 'olga')).entries()) validate(u, 'User', v, `users[${i}]`);
      validate(await a.get(`${base}/users/${a.userIds.teacher}/`, 'olga'), 'User', v, 'another user');
      validate(await a.get(`${base}/users/${a.userIds.olga}/`, 'olga'), atLeast(v, '1.2') ? 'UserDetail' : 'User', v, 'yourself');
      for (const [i, p] of (await a.get(`${base}/people/`, 'olga')).entries()) validate(p, 'Person', v, `people[${i}]`);

      for (const [i, p] of (await a.get(`${base}/patches/?per_page=100`)).entries()) validate(p, 'PatchList', v, `patches[${i}]`);
      for (const id of [patchId, pullId, relayedId]) validate(await a.get(`${base}/patches/${id}/`), 'PatchDetail', v, `patch ${id}`);
      for (const [i, c] of (await a.get(`${base}/covers/`)).entries()) validate(c, 'CoverList', v, `covers[${i}]`);
      validate(await a.get(`${base}/covers/${coverId}/`), 'CoverDetail', v, 'cover');
      const series = await a.get(`${base}/series/?per_page=100`);
      for (const [i, s] of series.entries()) validate(s, 'Series', v, `series[${i}]`);
      validate(await a.get(`${base}/series/${series[0].id}/`), 'Series', v, 'series');

      const checks = await a.get(`${base}/patches/${patchId}/checks/`);
      for (const [i, c] of checks.entries()) validate(c, 'Check', v, `checks[${i}]`);
      validate(await a.get(`${base}/patches/${patchId}/checks/${checks[0].id}/`), 'Check', v, 'check');
      for (const [i, b] of (await a.get(`${base}/bundles/`)).entries()) validate(b, 'Bundle', v, `bundles[${i}]`);
      validate(await a.get(`${base}/bundles/${bundleId}/`), 'Bundle', v, 'bundle');

      if (atLeast(v, '1.1')) {
        const comments = await a.get(`${base}/patches/${patchId}/comments/`);
        assert.ok(comments.length > 0);
        for (const [i, c] of [...comments, ...(await a.get(`${base}/covers/${coverId}/comments/`))].entries()) validate(c, 'Comment', v, `comments[${i}]`);
        if (atLeast(v, '1.3')) validate(await a.get(`${base}/patches/${patchId}/comments/${comments[0].id}/`), 'Comment', v, 'comment');
      }
      validate((await a.req({ url: `${base}/patches/99999/` })).json(), 'Error', v, 'a 404');
    });

    it(`lists in ${label} only the event categories its document's filter names, each payload as documented`, async () => {
      const events = await a.get(`${base}/events/?per_page=250`);
      const categories = new Set<string>();
      for (const [i, e] of events.entries()) {
        validate(e, 'EventBase', v, `events[${i}]`);
        assert.ok(EVENT_FILTER_CATEGORIES(v).includes(e.category), `events[${i}]: ${e.category} is a category of ${v}`);
        check(e.payload, { t: 'object', props: EVENT_PAYLOADS[e.category] }, v, `events[${i}].payload`);
        categories.add(e.category);
      }
      for (const c of ['series-created', 'patch-created', 'cover-created', 'check-created', 'patch-relation-changed', 'patch-delegated', 'patch-state-changed']) assert.ok(categories.has(c), c);
      assert.equal(categories.has('patch-comment-created'), atLeast(v, '1.3'), PATH_ERRORS[2].server);
    });

    it(`answers OPTIONS on every path of ${label}'s document with Allow naming its methods`, async () => {
      const comments = await a.get(`/api/patches/${patchId}/comments/`);
      const checks = await a.get(`/api/patches/${patchId}/checks/`);
      const coverComments = await a.get(`/api/covers/${coverId}/comments/`);
      const ids: Record<string, string> = { '{id}': String(patchId), '{check_id}': String(checks[0].id), '{comment_id}': String(comments[0].id) };
      for (const { path: p, methods } of PATHS) {
        const documentedHere = methods.filter(([, since]) => atLeast(v, since)).map(([m]) => m);
        if (!documentedHere.length) continue;
        let url = p.replace(/\{[a-z_]+\}/g, (k) => ids[k]!);
        if (p.startsWith('/projects/{id}')) url = '/projects/proctree/';
        if (p.startsWith('/users/{id}')) url = `/users/${a.userIds.olga}/`;
        if (p.startsWith('/people/{id}')) url = `/people/${(await a.get('/api/people/', 'olga'))[0].id}/`;
        if (p.startsWith('/covers/{id}')) url = url.replace(String(patchId), String(coverId)).replace(String(comments[0].id), String(coverComments[0].id));
        if (p.startsWith('/series/{id}')) url = `/series/${(await a.get('/api/series/'))[0].id}/`;
        if (p.startsWith('/bundles/{id}')) url = `/bundles/${bundleId}/`;
        if (p.endsWith('/comments/') && v === '1.0') {
          // PATH_ERRORS[0]: the 1.0 document has them, Patchwork's URL patterns do not.
          assert.equal((await a.req({ url: `${base}${url}` })).statusCode, 404, `${base}${url}: ${PATH_ERRORS[0].server}`);
          continue;
        }
        const r = await a.req({ method: 'OPTIONS', url: `${base}${url}` });
        assert.equal(r.statusCode, 200, `OPTIONS ${base}${url}`);
        const allow = String(r.headers.allow).split(', ');
        for (const m of [...documentedHere, 'OPTIONS']) assert.ok(allow.includes(m), `OPTIONS ${base}${url}: Allow ${allow.join(', ')} has ${m}`);
        if (p === '/bundles/{id}/') assert.ok(allow.includes('DELETE'), PATH_ERRORS[1].server);
        const get = await a.req({ url: `${base}${url}`, as: 'olga' });
        assert.equal(get.headers.allow, r.headers.allow, `GET ${base}${url} carries the same Allow`);
      }
    });
  }

  it('met every schema error the table notes, and the document’s own rule failed on the answers where it is wrong', (t) => {
    const lines: string[] = [];
    for (const e of SCHEMA_ERRORS) {
      const s = seen.get(e.at)!;
      assert.ok(s.seen > 0, `${e.at}: not met by any answer; the table is stale or the fixtures miss it`);
      lines.push(`${e.at}: met ${s.seen}×, the document's rule failed ${s.schemaFailed}× (${e.server})`);
    }
    for (const at of ['PatchDetail.headers', 'PatchList.hash', 'PatchDetail.diff', 'PatchList.pull_url', 'Series.cover_letter', 'CommentEmbedded.name', 'CoverEmbedded.mbox', 'ProjectEmbedded.web_url', 'Project.list_archive_url_format']) {
      assert.ok(seen.get(at)!.schemaFailed > 0, `${at}: the fixtures show the document wrong here`);
    }
    assert.ok(fieldsChecked > 10_000, `fields checked: ${fieldsChecked}`);
    t.diagnostic(`${fieldsChecked} fields checked against the documents; schema errors:\n${lines.join('\n')}`);
  });
});

// The REST API's response cache on real filed mail: kept answers, ETag and 304, writes seen by the very next read
// (through the API, by mail, by another connection), answers kept apart per base URL, nothing kept that depends on
// who asks, and `since=` counts split at midnight.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../../src/db/database.js';
import { FIXTURES, startApiApp, type ApiApp } from '../helpers/api-app.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('REST API response cache', () => {
  let a: ApiApp;
  const stats = () => a.api.responses!.size();

  before(async () => {
    // cover-letter: [PATCH 0/3] + 3 by Zoé; comments: [PATCH 0/2] + 2 with Tom's replies; unrelated-no-thread: two
    // unthreaded 3-patch series.
    a = await startApiApp(['cover-letter', 'comments', 'unrelated-no-thread']);
    assert.ok(a.api.responses, 'the cache is on by default');
  });
  after(() => a.close());

  it('answers a repeated GET from the cache: the same bytes, Link header and strong ETag', async () => {
    const url = '/api/patches/?per_page=2&order=id';
    const first = await a.req({ url });
    const hits = stats().hits;
    const second = await a.req({ url });
    assert.equal(stats().hits, hits + 1);
    assert.equal(second.statusCode, 200);
    assert.equal(second.body, first.body);
    assert.equal(second.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(second.headers.link, first.headers.link);
    assert.match(String(first.headers.etag), /^"[A-Za-z0-9_-]+"$/);
    assert.equal(second.headers.etag, first.headers.etag);
    const asTeacher = await a.req({ url, as: 'teacher' });
    assert.equal(stats().hits, hits + 2, 'a token does not change what a patch list shows');
    assert.equal(asTeacher.body, first.body);
  });

  it('answers If-None-Match with 304 and no body when it names the current tag, weakly or in a list', async () => {
    const url = '/api/series/';
    const etag = String((await a.req({ url })).headers.etag);
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const r = await a.req({ url, headers: { 'if-none-match': inm } });
      assert.equal(r.statusCode, 304, inm);
      assert.equal(r.body, '');
      assert.equal(r.headers.etag, etag);
    }
    assert.equal((await a.req({ url, headers: { 'if-none-match': '"other"' } })).statusCode, 200);
    // Answers that are computed for each requester have tags too.
    const mine = await a.req({ url: '/api/users/', as: 'teacher' });
    assert.equal((await a.req({ url: '/api/users/', as: 'teacher', headers: { 'if-none-match': String(mine.headers.etag) } })).statusCode, 304);
  });

  it('shows a write through the API in the very next read, under a new ETag', async () => {
    const url = '/api/patches/?order=id&per_page=100';
    const before = await a.req({ url });
    await a.req({ url });
    const id = before.json()[0].id;
    assert.equal(before.json()[0].state, 'new');
    const w = await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'teacher', headers: FORM, payload: 'state=under-review' });
    assert.equal(w.statusCode, 200, w.body);
    const after = await a.req({ url, headers: { 'if-none-match': String(before.headers.etag) } });
    assert.equal(after.statusCode, 200, 'the old tag no longer matches');
    assert.equal(after.json()[0].state, 'under-review');
    assert.notEqual(after.headers.etag, before.headers.etag);
    assert.equal((await a.get(`/api/patches/${id}/`)).state, 'under-review');
    assert.equal((await a.get('/api/events/?category=patch-state-changed'))[0].payload.patch.id, id);

    const check = await a.req({ method: 'POST', url: `/api/patches/${id}/checks/`, as: 'teacher', headers: FORM, payload: 'state=fail&context=build' });
    assert.equal(check.statusCode, 201, check.body);
    assert.equal((await a.get(url))[0].check, 'fail');
    assert.equal((await a.get(`/api/patches/${id}/checks/`)).length, 1);
  });

  it('shows mail filed after an answer was kept', async () => {
    const count = (await a.get('/api/series/')).length;
    await a.get('/api/series/');
    await a.h.deliverMbox(path.join(FIXTURES, 'rfc.mbox'));
    assert.equal((await a.get('/api/series/')).length, count + 1);
  });

  it('sees a write committed by another connection, as `patchbay import` makes from another process', async () => {
    const url = '/api/patches/?order=id&per_page=100';
    const [p] = await a.get(url);
    await a.get(url);
    const file = (await sql<{ file: string }>`select file from pragma_database_list where name = 'main'`.execute(a.h.db)).rows[0]!.file;
    const other = openDatabase(file);
    try {
      await other.db.updateTable('patches').set({ state: 'accepted' }).where('id', '=', p.id).execute();
    } finally {
      await other.db.destroy();
    }
    assert.equal((await a.get(url))[0].state, 'accepted');
  });

  it('serves one kept page to the URLs that show it: a poller’s since= moves each time, the newest page seldom does', async () => {
    const page = (since: string) => a.req({ url: `/api/events/?since=${since}&per_page=5` });
    const first = await page('2000-01-01T00:00:00');
    const hits = stats().hits;
    const second = await page('2000-01-02T00:00:00');
    assert.equal(stats().hits, hits + 1, 'a new URL, but the page it shows is kept');
    assert.equal(second.body, first.body);
    assert.equal(second.headers.etag, first.headers.etag);
    assert.match(String(second.headers.link), /since=2000-01-02/, 'the Link header is the URL’s own');
    const [p] = await a.get('/api/patches/?order=id');
    await a.req({ method: 'PATCH', url: `/api/patches/${p.id}/`, as: 'teacher', payload: { state: 'rejected' } });
    const third = await page('2000-01-03T00:00:00');
    assert.notEqual(third.headers.etag, first.headers.etag);
    assert.equal(third.json()[0].category, 'patch-state-changed', 'the new event heads the page');
  });

  it('keeps answers apart per base URL and per version', async () => {
    const url = '/api/patches/?per_page=1';
    const one = await a.req({ url, headers: { host: 'one.example' } });
    const two = await a.req({ url, headers: { host: 'two.example' } });
    assert.match(one.json()[0].url, /^http:\/\/one\.example\/api\/patches\//);
    assert.match(two.json()[0].url, /^http:\/\/two\.example\/api\/patches\//);
    assert.match(String(two.headers.link), /two\.example/);
    const old = await a.req({ url: '/api/1.0/patches/?per_page=1', headers: { host: 'one.example' } });
    assert.ok(!('web_url' in old.json()[0]) && 'web_url' in one.json()[0]);
  });

  it('never keeps an answer that depends on who asks, and still refuses wrong credentials on a kept URL', async () => {
    const [p] = await a.get('/api/patches/?order=id');
    const created = await a.req({ method: 'POST', url: '/api/bundles/', as: 'teacher', headers: FORM, payload: `name=private&patches=${p.id}&public=False` });
    assert.equal(created.statusCode, 201, created.body);
    for (let i = 0; i < 2; i++) {
      assert.equal((await a.get('/api/bundles/', 'teacher')).length, 1, 'the owner sees it');
      assert.deepEqual(await a.get('/api/bundles/'), [], 'anonymous does not');
      assert.deepEqual(await a.get('/api/bundles/', 'olga'), [], 'nor does another user');
    }
    assert.equal((await a.req({ url: `/api/bundles/${created.json().id}/` })).statusCode, 404);
    const self = await a.get(`/api/users/${a.userIds.teacher}/`, 'teacher');
    const other = await a.get(`/api/users/${a.userIds.teacher}/`, 'zoe');
    assert.ok('settings' in self && !('settings' in other), 'settings only on your own user');
    assert.equal((await a.req({ url: '/api/users/' })).statusCode, 403);

    await a.get('/api/covers/');
    const wrong = await a.req({ url: '/api/covers/', headers: { authorization: `Token ${'0'.repeat(40)}` } });
    assert.equal(wrong.statusCode, 403);
    assert.equal(wrong.json().detail, 'Invalid token.');
  });

  it('counts a since= list as the rest of its day plus the days after it, right after each write', async () => {
    const [series] = await a.get('/api/series/?order=id');
    const insert = (date: string) =>
      a.h.db.insertInto('events').values({ project_id: series.project.id, category: 'series-created', date, series_id: series.id, actor_id: null, patch_id: null, cover_id: null, comment_id: null, payload: null }).execute();
    for (const d of ['2030-01-01T10:00:00.000Z', '2030-01-01T23:00:00.000Z', '2030-01-02T01:00:00.000Z', '2030-01-05T00:00:00.000Z']) await insert(d);
    // per_page=1: the last page's number is the count.
    const count = async (since: string) => Number(/page=(\d+)>; rel="last"/.exec(String((await a.req({ url: `/api/events/?per_page=1&since=${since}` })).headers.link))![1]);
    const expected: [string, number][] = [
      ['2030-01-01T09:00:00', 4],
      ['2030-01-01T12:00:00', 3],
      ['2030-01-02T00:30:00', 2],
      ['2030-01-05T00:00:00', 1],
    ];
    for (const [since, n] of expected) assert.equal(await count(since), n, since);
    assert.deepEqual(await a.get('/api/events/?since=2030-01-05T00:00:01'), []);
    for (const [since, n] of expected) assert.equal(await count(since), n, `${since}, counted again`);
    await insert('2030-01-03T00:00:00.000Z');
    assert.equal(await count('2030-01-01T12:00:00'), 4, 'a new event after the next midnight is counted at once');
    assert.equal(await count('2030-01-02T00:30:00'), 3);
  });
});

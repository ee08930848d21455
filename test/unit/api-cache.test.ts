// The API's response cache and row memo alone: bounds, recency, markers; If-None-Match as RFC 9110 §13.1.2 reads it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApi } from '../../src/api/create-api.js';
import { etagOf, noneMatchHits, ResponseCache, type CachedAnswer } from '../../src/api/response-cache.js';
import { RowMemo } from '../../src/api/row-memo.js';
import { loadConfig } from '../../src/config/config.js';
import type { Db } from '../../src/db/database.js';

const answer = (text: string): CachedAnswer => {
  const body = Buffer.from(text);
  return { body, etag: etagOf(body), link: undefined };
};

describe('API response cache', () => {
  it('serves an answer only under the marker it was kept with, and empties itself when a newer marker is read', () => {
    const c = new ResponseCache({ maxEntries: 10, maxBytes: 1000 });
    assert.equal(c.get('a', 'm1'), undefined);
    c.set('a', 'm1', answer('[1]'));
    assert.equal(c.get('a', 'm1')?.body.toString(), '[1]');
    assert.deepEqual([c.size().hits, c.size().misses], [1, 1]);
    assert.equal(c.get('a', 'm2'), undefined, 'a write moved the marker');
    assert.deepEqual([c.size().entries, c.size().bytes], [0, 0]);
    c.set('a', 'm1', answer('[1]'));
    assert.equal(c.get('a', 'm2'), undefined, 'an answer computed under an older marker is not kept');
    assert.deepEqual([c.size().entries, c.size().bytes], [0, 0]);
  });

  it('keeps at most maxEntries answers, dropping the least recently used first', () => {
    const c = new ResponseCache({ maxEntries: 3, maxBytes: 1000 });
    c.get('x', 'm');
    for (const k of ['a', 'b', 'c']) c.set(k, 'm', answer(k));
    assert.ok(c.get('a', 'm'), 'a is now the most recent');
    c.set('d', 'm', answer('d'));
    assert.equal(c.size().entries, 3);
    assert.equal(c.get('b', 'm'), undefined, 'b was the least recently used');
    for (const k of ['a', 'c', 'd']) assert.ok(c.get(k, 'm'), k);
  });

  it('keeps at most maxBytes of bodies and never one larger than an eighth of them', () => {
    const c = new ResponseCache({ maxEntries: 100, maxBytes: 800 });
    c.get('x', 'm');
    c.set('big', 'm', answer('x'.repeat(101)));
    assert.equal(c.get('big', 'm'), undefined);
    for (let i = 0; i < 20; i++) c.set(`k${i}`, 'm', answer('y'.repeat(100)));
    assert.deepEqual([c.size().entries, c.size().bytes], [8, 800]);
    assert.ok(c.get('k19', 'm') && !c.get('k11', 'm'));
    c.set('k19', 'm', answer('z'.repeat(50)));
    assert.deepEqual([c.size().entries, c.size().bytes], [8, 750], 'a replaced answer is counted once');
  });

  it('computes an answer once for the requests that miss it together, and again after a failure', async () => {
    const c = new ResponseCache({ maxEntries: 10, maxBytes: 1000 });
    let runs = 0;
    const slow = () => new Promise<CachedAnswer>((resolve) => setImmediate(() => resolve(answer(`[${++runs}]`))));
    const [x, y] = await Promise.all([c.serve('k', 'm', slow), c.serve('k', 'm', slow)]);
    assert.equal(runs, 1);
    assert.equal(x, y);
    assert.equal(await c.serve('k', 'm', slow), x, 'then kept');
    const failing = () => Promise.reject(new Error('invalid page'));
    await assert.rejects(Promise.all([c.serve('e', 'm', failing), c.serve('e', 'm', failing)]), /invalid page/);
    assert.equal((await c.serve('e', 'm', slow)).body.toString(), '[2]', 'a failure is not kept');
    assert.equal((await c.serve('k', 'm2', slow)).body.toString(), '[3]', 'nor is anything past a new marker');
  });

  it('is on with 32 MiB by default, sized by PATCHBAY_API_CACHE in MiB, and off with 0', () => {
    const cacheOf = (env: Record<string, string>) => createApi({} as Db, [], null, { cacheBytes: loadConfig({}, env).apiCacheMiB * 2 ** 20 }).responses;
    assert.equal(cacheOf({})?.limits.maxBytes, 32 * 2 ** 20);
    assert.equal(cacheOf({ PATCHBAY_API_CACHE: '4' })?.limits.maxBytes, 4 * 2 ** 20);
    assert.equal(cacheOf({ PATCHBAY_API_CACHE: '0' }), null);
    assert.throws(() => loadConfig({}, { PATCHBAY_API_CACHE: 'lots' }), /PATCHBAY_API_CACHE/);
  });

  it('tags bodies by their bytes: equal bodies, equal strong tags', () => {
    assert.equal(etagOf(Buffer.from('[1]')), etagOf(Buffer.from('[1]')));
    assert.notEqual(etagOf(Buffer.from('[1]')), etagOf(Buffer.from('[2]')));
    assert.match(etagOf(Buffer.from('[]')), /^"[A-Za-z0-9_-]+"$/);
  });

  it('matches If-None-Match as RFC 9110 does: any tag of a list, weakly, or *', () => {
    const tag = '"abc"';
    assert.equal(noneMatchHits(undefined, tag), false);
    assert.equal(noneMatchHits('"abc"', tag), true);
    assert.equal(noneMatchHits('W/"abc"', tag), true);
    assert.equal(noneMatchHits('"x", W/"y" ,"abc"', tag), true);
    assert.equal(noneMatchHits(['"x"', '"abc"'], tag), true);
    assert.equal(noneMatchHits('*', tag), true);
    assert.equal(noneMatchHits('"abcd"', tag), false);
    assert.equal(noneMatchHits('abc', tag), false, 'an unquoted tag is no tag');
  });
});

describe('API row memo', () => {
  const rows = (ids: number[]) => ids.map((id) => ({ id, name: `p${id}` }));

  it('loads only the rows it does not keep under the current marker, and all of them after a newer one', async () => {
    const memo = new RowMemo<{ id: number; name: string }>(100);
    const loads: number[][] = [];
    const load = async (ids: number[]) => (loads.push(ids), rows(ids));
    memo.advance('m1');
    const first = await memo.get([1, 2, 2], 'm1', load);
    assert.deepEqual([...first.keys()], [1, 2]);
    const second = await memo.get([2, 3], 'm1', load);
    assert.equal(second.get(2), first.get(2), 'the same row object, so embedded objects built from it are reused');
    memo.advance('m2');
    await memo.get([1, 3], 'm2', load);
    assert.deepEqual(loads, [[1, 2], [3], [1, 3]]);
  });

  it('keeps nothing loaded by a request whose marker is no longer the newest', async () => {
    const memo = new RowMemo<{ id: number; name: string }>(100);
    memo.advance('m1');
    let release!: () => void;
    const slow = memo.get([1], 'm1', (ids) => new Promise((resolve) => (release = () => resolve(rows(ids)))));
    memo.advance('m2'); // another request read the marker after a write
    release();
    assert.equal((await slow).get(1)?.name, 'p1', 'the slow request still gets its rows');
    const loads: number[][] = [];
    await memo.get([1], 'm2', async (ids) => (loads.push(ids), rows(ids)));
    assert.deepEqual(loads, [[1]], 'but they were not kept for the newer marker');
  });
});

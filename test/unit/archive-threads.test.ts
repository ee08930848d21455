// Threads of archived posts: grouping by references, each reply under its direct parent, loops and ghosts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupThreads, type ThreadPost } from '../../src/web/archive-threads.js';

let next = 1;
const post = (msgid: string, date: string): ThreadPost => ({ mailId: next++, msgid, date: `2026-11-${date}:00.000Z` });
/** Each thread as "depth msgid" lines in reading order. */
const shape = (posts: ThreadPost[], refs: Record<string, string[]>) => {
  const byId = new Map(posts.map((p) => [p.msgid, p.mailId]));
  const refMap = new Map(Object.entries(refs).map(([m, r]) => [byId.get(m)!, r]));
  return groupThreads(posts, refMap).map((t) => t.entries.map((e) => `${e.depth} ${e.post.msgid}`));
};

describe('archive threads', () => {
  it('puts each reply under the post it answers, read from the longest References chain', () => {
    //   cover ── 1/2 ── review of 1/2 ── reply to the review
    //         └─ 2/2
    const posts = [post('cover', '20T10:00'), post('p1', '20T10:01'), post('p2', '20T10:02'), post('rev', '21T09:00'), post('re-rev', '21T10:00')];
    const refs = { p1: ['cover'], p2: ['cover'], rev: ['cover', 'p1'], 're-rev': ['cover', 'p1', 'rev'] };
    assert.deepEqual(shape(posts, refs), [['0 cover', '1 p1', '2 rev', '3 re-rev', '1 p2']]);
  });

  it('orders threads by their newest post, newest first', () => {
    const posts = [post('a', '20T10:00'), post('b', '21T10:00'), post('a-re', '22T10:00')];
    const threads = shape(posts, { 'a-re': ['a'] });
    assert.deepEqual(threads, [['0 a', '1 a-re'], ['0 b']]);
  });

  it('joins the replies to a parent that never reached the list into one thread (a ghost)', () => {
    const posts = [post('r1', '20T10:00'), post('r2', '20T11:00')];
    assert.deepEqual(shape(posts, { r1: ['ghost'], r2: ['ghost'] }), [['0 r1', '0 r2']]);
  });

  it('shows every post of a reference loop once', () => {
    const posts = [post('x', '20T10:00'), post('y', '20T11:00'), post('z', '20T12:00')];
    const threads = shape(posts, { x: ['y'], y: ['x'], z: ['y'] });
    assert.equal(threads.length, 1);
    assert.deepEqual([...threads[0]!].map((l) => l.split(' ')[1]).sort(), ['x', 'y', 'z']);
  });

  it('shows a Message-ID carried by two lists once', () => {
    const a = post('same', '20T10:00');
    const b = { ...a, mailId: a.mailId + 1000 };
    assert.deepEqual(shape([a, b], {}), [['0 same']]);
  });

  it('walks a chain of 20,000 replies without overflowing the stack', () => {
    const posts = Array.from({ length: 20_000 }, (_, i) => ({ mailId: i + 1, msgid: `m${i}`, date: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() }));
    const refs = new Map(posts.slice(1).map((p, i) => [p.mailId, [`m${i}`]]));
    const [thread] = groupThreads(posts, refs);
    assert.equal(thread!.entries.length, 20_000);
    assert.equal(thread!.entries.at(-1)!.depth, 19_999);
  });
});

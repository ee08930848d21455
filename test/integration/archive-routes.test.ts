// The list archive in public-inbox's layout through app.inject(), on real mail filed by the real services: message
// pages, the 301 b4's HEAD relies on, /raw, t.mbox.gz thread walks, POST searches as b4 sends them, 404s and 400s.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { searchArchive, threadMailIds } from '../../src/db/archive.repository.js';
import { parseSearchQuery } from '../../src/mail/search-query.js';
import { createLogger } from '../../src/log.js';
import { msgidSegment } from '../../src/mail/archive-layout.js';
import { extractMsgid, headerText, headerValue, normalizeNewlines } from '../../src/mail/raw.js';
import { backfillArchive } from '../../src/smtp/archive.service.js';
import { MboxSplitter } from '../../src/smtp/mbox.js';
import { buildApp } from '../../src/web/app.js';
import { createArchiveService, type ArchiveList } from '../../src/web/archive.service.js';
import { readMboxFile, startIngestHarness, type Delivered, type Harness } from '../helpers/ingest-harness.js';
import { makePatchArchive } from '../helpers/patch-mbox.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/series');
const fixture = (name: string) => path.join(FIXTURES, `${name}.mbox`);

/** The mails of an mboxrd answer (gzipped or not), by Message-ID, in order. */
function msgidsOf(body: Buffer): string[] {
  const splitter = new MboxSplitter('mboxrd');
  return [...splitter.push(body), ...splitter.end()].map((m) => extractMsgid(headerValue(headerText(m.raw), 'message-id'))!);
}
const gunzip = (b: Buffer) => zlib.gunzipSync(b);

async function appFor(h: Harness, lists: ArchiveList[], publicBase: string | null = null): Promise<FastifyInstance> {
  return buildApp({
    log: createLogger('silent'),
    health: { snapshot: async () => ({ mails: 0, pending: 0, outboundQueued: 0 }) },
    lists: {} as never,
    archive: { service: createArchiveService({ db: h.db, lists }), publicBase },
  });
}

describe('list archive (public-inbox layout)', () => {
  let h: Harness;
  let app: FastifyInstance;
  let cover: Delivered[]; // cover-letter.mbox: [PATCH 0/3], 1/3, 2/3, then 3/3 in reply to the cover
  let v2: Delivered[]; // v2-in-reply-to-cover.mbox: v1 0/2..2/2, v2 0/2..2/2 (v2 cover replies to v1 cover)
  let standalone: Delivered[]; // v2-standalone.mbox: v1 0/2 + 2, then v2 0/2 + 2 in a new thread, same title
  let review: Delivered[]; // reviewed-by.mbox with the patch's Message-ID turned into <a/b+c@students.example.org>
  let archive: Delivered[]; // git format-patch --pretty=mboxrd output: commit messages with "From " lines

  before(async () => {
    h = await startIngestHarness();
    cover = await h.deliverMbox(fixture('cover-letter'));
    v2 = await h.deliverMbox(fixture('v2-in-reply-to-cover'));
    standalone = await h.deliverMbox(fixture('v2-standalone'));
    // Message-IDs with "/" and "+" (seen from some mailers): the patch and the reply that references it.
    const [patch, reply] = await readMboxFile(fixture('reviewed-by'));
    const id = extractMsgid(headerValue(headerText(patch!), 'message-id'))!;
    const swap = (raw: Buffer) => Buffer.from(raw.toString('latin1').split(id).join('a/b+c@students.example.org'), 'latin1');
    review = [await h.deliver(swap(patch!)), await h.deliver(swap(reply!))];
    const made = makePatchArchive();
    archive = await h.deliverMbox(made.file);
    app = await appFor(h, [{ id: h.projectId, slug: 'proctree', name: 'Proctree <Syscall> & co' }]);
  });
  after(async () => {
    await app.close();
    await h.close();
  });

  const get = (url: string, method: 'GET' | 'HEAD' = 'GET') => app.inject({ method, url });

  it('serves the message page with every value escaped, and its thread', async () => {
    const r = await get(`/proctree/${cover[0]!.msgid}/`);
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.ok(r.body.includes('Proctree &lt;Syscall&gt; &amp; co'), 'list name escaped');
    assert.ok(r.body.includes(`&lt;${cover[0]!.msgid}&gt;`));
    assert.ok(!r.body.includes('<Syscall>'));
    for (const m of cover.slice(1)) assert.ok(r.body.includes(`href="../${m.msgid}/"`), `thread links ${m.msgid}`);
    assert.equal(r.headers['content-security-policy']?.toString().includes("default-src 'none'"), true);
  });

  it('redirects /<list>/<msgid> to …/ with 301 and an absolute Location, for GET and HEAD (b4 HEADs the midmask)', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const r = await get(`/proctree/${encodeURIComponent(cover[1]!.msgid)}?x=1`, method);
      assert.equal(r.statusCode, 301);
      // public-inbox writes "@" in the Location (mid_escape); b4 drops the last element to find the archive.
      assert.equal(r.headers.location, `http://localhost:80/proctree/${cover[1]!.msgid}/?x=1`);
    }
    const configured = await appFor(h, [{ id: h.projectId, slug: 'proctree', name: 'P' }], 'https://patchbay.example.org/pb');
    const r = await configured.inject({ url: `/proctree/${cover[1]!.msgid}` });
    assert.equal(r.headers.location, `https://patchbay.example.org/pb/proctree/${cover[1]!.msgid}/`);
    assert.equal((await configured.inject({ url: '/proctree' })).headers.location, 'https://patchbay.example.org/pb/proctree/');
    await configured.close();
  });

  it('takes Message-IDs with %40, %2F and + in the path', async () => {
    const special = review[0]!.msgid;
    assert.equal(special, 'a/b+c@students.example.org');
    for (const url of [`/proctree/a%2Fb+c%40students.example.org/`, `/proctree/${msgidSegment(special)}/`, `/all/a%2Fb%2Bc%40students.example.org/`]) {
      const r = await get(url);
      assert.equal(r.statusCode, 200, url);
      assert.ok(r.body.includes('&lt;a/b+c@students.example.org&gt;'), url);
    }
    const redirect = await get('/proctree/a%2Fb+c%40students.example.org');
    assert.equal(redirect.headers.location, 'http://localhost:80/proctree/a%2Fb+c@students.example.org/');
    const t = await get('/proctree/a%2Fb+c%40students.example.org/t.mbox.gz');
    assert.deepEqual(msgidsOf(gunzip(t.rawPayload)), [special, review[1]!.msgid]);
  });

  it('serves /raw as one mboxrd entry: the stored bytes, LF newlines, From lines quoted once more', async () => {
    const m = archive[1]!; // [PATCH 1/3] whose commit message has "From now on…" and ">From a quoted line…"
    const r = await get(`/proctree/${m.msgid}/raw`);
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.match(String(r.headers['content-disposition']), /^inline; filename=[-\w.]+\.txt$/);
    const body = r.rawPayload;
    assert.ok(body.toString('latin1').startsWith('From mboxrd@z Thu Jan  1 00:00:00 1970\n'));
    const text = body.toString('latin1');
    assert.match(text, /^>From now on step \d is counted\.$/m);
    assert.match(text, /^>>From a quoted line in the commit message\.$/m);
    const [back] = msgidsOf(body);
    assert.equal(back, m.msgid);
    const splitter = new MboxSplitter('mboxrd');
    const stored = (await h.db.selectFrom('mails').select('raw').where('id', '=', m.mailId).executeTakeFirstOrThrow()).raw;
    assert.ok([...splitter.push(body), ...splitter.end()][0]!.raw.equals(normalizeNewlines(stored)), 'unquotes to the stored bytes');
  });

  it('gives the whole thread in t.mbox.gz from any of its messages, walking up and down', async () => {
    const want = cover.map((m) => m.msgid);
    for (const m of cover) {
      const r = await get(`/proctree/${m.msgid}/t.mbox.gz`);
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['content-type'], 'application/gzip');
      assert.deepEqual(msgidsOf(gunzip(r.rawPayload)).sort(), [...want].sort(), `from ${m.msgid}`);
    }
    // The v2 cover replies to the v1 cover: one thread of six, oldest first.
    const r = await get(`/all/${v2[5]!.msgid}/t.mbox.gz`);
    assert.deepEqual(msgidsOf(gunzip(r.rawPayload)), v2.map((m) => m.msgid));
    // A v2 sent in a new thread is not part of v1's thread.
    const alone = await get(`/proctree/${standalone[0]!.msgid}/t.mbox.gz`);
    assert.deepEqual(msgidsOf(gunzip(alone.rawPayload)), standalone.slice(0, 3).map((m) => m.msgid));
  });

  it('joins replies to a parent that never reached the list into one thread (public-inbox ghosts)', async () => {
    // 1/3 and 2/3 of cover-letter.mbox without the cover: both reference it.
    const h2 = await startIngestHarness();
    try {
      const mails = await readMboxFile(fixture('cover-letter'));
      const got = [await h2.deliver(mails[1]!), await h2.deliver(mails[2]!)];
      const ids = await threadMailIds(h2.db, h2.projectId, [got[0]!.msgid], 100);
      assert.deepEqual(ids.sort(), got.map((g) => g.mailId).sort());
    } finally {
      await h2.close();
    }
  });

  it('answers b4\'s search (POST ?x=m&t=1) with the matching threads as gzipped mboxrd', async () => {
    // b4/mbox.py get_extra_series(): subject of the cover without prefixes, From address, a d: range.
    const q = '((s:"proctree: show threads" AND f:"zoe@students.example.org")) AND d:20261120..';
    const r = await app.inject({ method: 'POST', url: `/all/?x=m&t=1&q=${encodeURIComponent(q).replace(/%20/g, '+')}`, payload: '' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'application/gzip');
    const got = msgidsOf(gunzip(r.rawPayload));
    // Both covers of v2-standalone match; t=1 brings their two threads, with the patches.
    assert.deepEqual([...got].sort(), standalone.map((m) => m.msgid).sort());
  });

  it('gives only the matches without t=1, on one list', async () => {
    const q = '(s:"proctree: print the whole tree" OR s:"show threads") AND s:"v2"';
    const r = await app.inject({ method: 'POST', url: `/proctree/?x=m&q=${encodeURIComponent(q)}` });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(msgidsOf(gunzip(r.rawPayload)), [v2[3]!.msgid, standalone[3]!.msgid]);
  });

  it('narrows by date (the end day is included) and reads nq: as words the author wrote', async () => {
    const before = await app.inject({ method: 'POST', url: `/all/?x=m&q=${encodeURIComponent('s:"show threads" AND d:..20261120')}` });
    assert.deepEqual(msgidsOf(gunzip(before.rawPayload)), [standalone[0]!.msgid]);
    // Tom's reply quotes Zoé's Signed-off-by: quoted, so not nq:, but q:.
    const nq = await app.inject({ method: 'POST', url: `/all/?x=m&q=${encodeURIComponent('nq:"Reviewed-by: Tom Teacher"')}` });
    assert.deepEqual(msgidsOf(gunzip(nq.rawPayload)), [review[1]!.msgid]);
    const quoted = await app.inject({ method: 'POST', url: `/all/?x=m&q=${encodeURIComponent('q:"Signed-off-by" AND f:teacher')}` });
    assert.deepEqual(msgidsOf(gunzip(quoted.rawPayload)), [review[1]!.msgid]);
    const m = await app.inject({ method: 'POST', url: `/all/?x=m&q=${encodeURIComponent('m:<a/b+c@students.example.org>')}` });
    assert.deepEqual(msgidsOf(gunzip(m.rawPayload)), [review[0]!.msgid]);
  });

  it('combines NOT, OR, dates and Message-IDs as Xapian would', async () => {
    const search = async (q: string) => {
      const r = await app.inject({ method: 'POST', url: `/proctree/?x=m&q=${encodeURIComponent(q)}` });
      return r.statusCode === 200 ? msgidsOf(gunzip(r.rawPayload)) : r.statusCode;
    };
    assert.deepEqual(await search('s:"show threads" AND NOT s:v2'), [standalone[0]!.msgid]);
    assert.deepEqual(await search('s:"show threads" -s:v2'), [standalone[0]!.msgid]);
    assert.deepEqual(await search('s:"show threads" AND (d:..20261120 OR m:' + standalone[3]!.msgid + ')'), [standalone[0]!.msgid, standalone[3]!.msgid]);
    assert.deepEqual(await search('(s:"count the threads" OR s:"list the threads") AND NOT d:..20261121'), [standalone[4]!.msgid, standalone[5]!.msgid]);
    assert.deepEqual(await search('NOT s:proctree AND s:"credit"'), 404);
    assert.deepEqual(await search('thread* AND s:v2 AND NOT s:"0/2"'), [standalone[4]!.msgid, standalone[5]!.msgid]);
  });

  it('reads a broad search newest first and stops at the limit, with the same matches as a narrow one', async () => {
    // Lowered threshold: above it, FTS5 is walked newest rowid first (the path a search matching most of a large
    // archive takes); below it, the words' matches are gathered and ordered by date.
    const words = parseSearchQuery('s:proctree');
    const narrow = await searchArchive(h.db, h.projectId, words, 1000);
    const broad = await searchArchive(h.db, h.projectId, words, 1000, 2);
    assert.ok(narrow.length > 10);
    assert.deepEqual(broad.map((m) => m.mailId).sort(), narrow.map((m) => m.mailId).sort());
    const newest = await searchArchive(h.db, h.projectId, words, 2, 2);
    assert.deepEqual(newest.map((m) => m.mailId), [...narrow.map((m) => m.mailId)].sort((a, b) => b - a).slice(0, 2));
    // The first matches (the oldest mails) fail the date: the gathered few give nothing, so the broad walk finds it.
    const late = parseSearchQuery('s:proctree AND d:20261122..');
    const want = narrow.filter((m) => m.date >= '2026-11-22').map((m) => m.mailId).sort();
    assert.ok(want.length > 0);
    assert.deepEqual((await searchArchive(h.db, h.projectId, late, 1000, 2)).map((m) => m.mailId).sort(), want);
  });

  it('answers 404 when nothing matches (b4: "Nothing matching that query"), 400 for a bad query or no x=m', async () => {
    const none = await app.inject({ method: 'POST', url: `/all/?x=m&q=${encodeURIComponent('s:"no such subject at all"')}` });
    assert.equal(none.statusCode, 404);
    assert.equal(none.json().code, 'no_match');
    const bad = await app.inject({ method: 'POST', url: `/all/?x=m&q=${encodeURIComponent('(s:a')}` });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'search_syntax');
    const noX = await app.inject({ method: 'POST', url: '/all/?q=s:a' });
    assert.equal(noX.statusCode, 400);
    assert.equal(noX.json().code, 'search_format');
    const form = await app.inject({ method: 'POST', url: '/proctree/?x=m', payload: 'q=s%3A%22show+threads%22+AND+d%3A20261122..', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(form.statusCode, 200, form.body);
    assert.deepEqual(msgidsOf(gunzip(form.rawPayload)), [standalone[3]!.msgid]);
  });

  it('lists the newest posts, and search results, on the index page', async () => {
    const r = await get('/proctree/');
    assert.equal(r.statusCode, 200);
    assert.ok(r.body.includes(`href="./${msgidSegment(review[0]!.msgid)}/"`));
    const s = await get(`/all/?q=${encodeURIComponent('s:"show threads"')}`);
    assert.equal(s.statusCode, 200);
    assert.equal((s.body.match(/<li>/g) ?? []).length, 2);
    assert.ok(s.body.includes('[proctree]'), 'the all index names the list');
  });

  it('shows the index as threads, newest activity first, each reply indented under its parent', async () => {
    const r = await get('/proctree/');
    assert.equal(r.statusCode, 200);
    // Each thread: the Message-IDs of its posts in reading order, with their depth (class dN).
    const threads = [...r.body.matchAll(/<li class="thread" data-latest="([^"]+)"><ul>([\s\S]*?)<\/ul><\/li>/g)].map((m) => ({
      latest: m[1]!,
      posts: [...m[2]!.matchAll(/<li class="post d(\d+)" data-nav><a href="\.\/([^"]+)\/">/g)].map((p) => `${p[1]} ${p[2]}`),
    }));
    assert.ok(threads.length >= 4, r.body);
    const latest = threads.map((t) => t.latest);
    assert.deepEqual(latest, [...latest].sort().reverse(), 'newest activity first');
    // cover-letter.mbox: the cover, then its three patches replying to it (3/3 came two days later).
    const seg = (d: Delivered) => msgidSegment(d.msgid);
    assert.ok(threads.some((t) => t.posts.join() === [`0 ${seg(cover[0]!)}`, ...cover.slice(1).map((m) => `1 ${seg(m)}`)].join()), JSON.stringify(threads));
    // v2-in-reply-to-cover.mbox: v1's cover and patches, v2's cover replying to v1's, v2's patches under it.
    const v2Thread = [`0 ${seg(v2[0]!)}`, `1 ${seg(v2[1]!)}`, `1 ${seg(v2[2]!)}`, `1 ${seg(v2[3]!)}`, `2 ${seg(v2[4]!)}`, `2 ${seg(v2[5]!)}`];
    assert.ok(threads.some((t) => t.posts.join() === v2Thread.join()), JSON.stringify(threads));
    // The review replies to the patch.
    assert.ok(threads.some((t) => t.posts.join() === [`0 ${seg(review[0]!)}`, `1 ${seg(review[1]!)}`].join()), JSON.stringify(threads));
    // In the web view's layout: its stylesheet, the project's navigation.
    assert.match(r.body, /<link rel="stylesheet" href="\/static\/style\.css">/);
    assert.match(r.body, /<a href="\/project\/proctree\/list\/">Proctree &lt;Syscall&gt; &amp; co<\/a>/);
  });

  it('indents the thread of a message page the same way and marks the message', async () => {
    const r = await get(`/proctree/${v2[3]!.msgid}/`);
    assert.equal(r.statusCode, 200);
    const posts = [...r.body.matchAll(/<li class="post d(\d+)( current)?" data-nav>/g)].map((m) => `${m[1]}${m[2] ?? ''}`);
    assert.deepEqual(posts, ['0', '1', '1', '1 current', '2', '2']);
    assert.match(r.body, /<a id="message-raw" href="raw">raw<\/a>/);
    assert.match(r.body, /<a id="thread-mbox" href="t\.mbox\.gz">/);
  });

  it('pages the index by its newest posts (?o=), each page showing whole threads', async () => {
    const small = await buildApp({
      log: createLogger('silent'),
      health: { snapshot: async () => ({ mails: 0, pending: 0, outboundQueued: 0 }) },
      lists: {} as never,
      archive: { service: createArchiveService({ db: h.db, lists: [{ id: h.projectId, slug: 'proctree', name: 'Proctree' }], limits: { indexMails: 2 } }), publicBase: null },
    });
    try {
      const first = await small.inject({ url: '/proctree/' });
      assert.match(first.body, /<a href="\.\/\?o&#x3D;2" rel="next">Older/);
      assert.doesNotMatch(first.body, /rel="prev"/);
      const second = await small.inject({ url: '/proctree/?o=2' });
      assert.equal(second.statusCode, 200);
      assert.match(second.body, /<a href="\.\/\?o&#x3D;0" rel="prev">/);
      const firstPosts = new Set([...first.body.matchAll(/<li class="post d\d+" data-nav><a href="\.\/([^"]+)\/">/g)].map((m) => m[1]));
      const secondPosts = [...second.body.matchAll(/<li class="post d\d+" data-nav><a href="\.\/([^"]+)\/">/g)].map((m) => m[1]);
      assert.ok(secondPosts.some((m) => !firstPosts.has(m)), 'the second page reaches older threads');
      const total = (await h.db.selectFrom('archive').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;
      const last = await small.inject({ url: `/proctree/?o=${Number(total) - 1}` });
      assert.doesNotMatch(last.body, /rel="next"/);
    } finally {
      await small.close();
    }
  });

  it('answers 404 for an unknown list or message, on every archive path', async () => {
    for (const url of ['/nolist/', `/nolist/${cover[0]!.msgid}/`, `/nolist/${cover[0]!.msgid}`, `/nolist/${cover[0]!.msgid}/raw`, '/proctree/nope@x/', '/proctree/nope@x/raw', '/proctree/nope@x/t.mbox.gz', '/all/nope@x/t.mbox.gz']) {
      const r = await get(url);
      assert.equal(r.statusCode, 404, url);
      assert.match(r.json().code, /^no_such_(list|message)$/, url);
    }
    assert.equal((await app.inject({ method: 'POST', url: '/nolist/?x=m&q=a' })).statusCode, 404);
  });

  it('indexes posts stored before the archive existed, once, at start (migration 0005 backfill)', async () => {
    const id = cover[0]!.mailId;
    await h.db.deleteFrom('archive_fts').where('rowid', '=', id).execute();
    await h.db.deleteFrom('archive_refs').where('mail_id', '=', id).execute();
    await h.db.deleteFrom('archive').where('mail_id', '=', id).execute();
    assert.equal((await get(`/proctree/${cover[0]!.msgid}/`)).statusCode, 404);
    // The harness records the series engine's result as the reason; the server records how the list took the post.
    await h.db.updateTable('mails').set({ reason: 'distributed' }).where('id', '=', id).execute();
    await h.db.insertInto('archive_backfill').values({ upto: id }).execute();
    assert.equal(await backfillArchive(h.db, createLogger('silent')), 1);
    assert.equal(await backfillArchive(h.db, createLogger('silent')), 0, 'the mark is gone');
    assert.equal((await get(`/proctree/${cover[0]!.msgid}/`)).statusCode, 200);
    const s = await app.inject({ method: 'POST', url: `/proctree/?x=m&q=${encodeURIComponent('s:"count the children of a process"')}` });
    assert.deepEqual(msgidsOf(gunzip(s.rawPayload)), [cover[0]!.msgid]);
  });
});

describe('a list named like a reserved root', () => {
  let h: Harness;
  let app: FastifyInstance;
  let mails: Delivered[];

  before(async () => {
    h = await startIngestHarness();
    mails = await h.deliverMbox(fixture('cover-letter'));
    // The same project, served as a list named "series" (a root of /series/N/mbox/) and one named "api".
    app = await appFor(h, [{ id: h.projectId, slug: 'series', name: 'Series' }]);
  });
  after(async () => {
    await app.close();
    await h.close();
  });

  it('is served under /all/ only; /series/<msgid>/… is never its archive, and /series/N/mbox/ still works', async () => {
    const m = mails[0]!.msgid;
    assert.equal((await app.inject({ url: `/all/${m}/` })).statusCode, 200);
    assert.equal((await app.inject({ url: `/all/${m}/t.mbox.gz` })).statusCode, 200);
    for (const url of [`/series/${m}/`, `/series/${m}`, `/series/${m}/raw`, `/series/${m}/t.mbox.gz`, '/series/', `/api/${m}/`, `/lists/${m}`]) {
      const r = await app.inject({ url });
      assert.equal(r.statusCode, 404, url);
    }
    const series = (await h.series())[0]!;
    const mbox = await app.inject({ url: `/series/${series.id}/mbox/` });
    assert.equal(mbox.statusCode, 200);
    assert.equal((mbox.body.match(/^From patchwork /gm) ?? []).length, 3);
  });
});

// Bounds at the HTTP edge (issue 11): `order` and `q` with thousands of terms answer 400 in Patchwork's error shape on
// every list (they were 500s), and no response header built from mail or request data passes a few KB (a 20 KB
// subject made a 16 KB+ Content-Disposition; a long query a 60 KB Link; both break undici and proxies).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_LINK_HEADER } from '../../src/api/query.js';
import { MAX_FILENAME, MAX_LOCATION } from '../../src/web/headers.js';
import { FIXTURES } from '../helpers/api-app.js';
import { readMboxFile } from '../helpers/ingest-harness.js';
import { startWebApp, type WebApp } from '../helpers/web-app.js';

/** Every list endpoint, all of which take ?order= (ids from the fixtures: patch 1, cover 1) … */
const LISTS = ['projects', 'users', 'people', 'patches', 'covers', 'series', 'events', 'bundles', 'patches/1/comments', 'covers/1/comments', 'patches/1/checks'];
/** … and those that also search with ?q= (events and checks have no search, as in Patchwork). */
const SEARCHED = LISTS.filter((l) => l !== 'events' && !l.endsWith('/checks'));

/** RFC 6266 §4.1 with a token file name: what git-pw's `filename=(.+)` and undici read. */
const DISPOSITION = /^(attachment|inline); filename=[-_.A-Za-z0-9]+$/;

describe('HTTP bounds', () => {
  let w: WebApp;
  let longPatch: number;
  let longMsgid: string;
  const title = Array.from({ length: 2500 }, (_, i) => `word${i}`).join(' '); // ~20 KB

  before(async () => {
    w = await startWebApp({ fixtures: ['cover-letter'] });
    // A real patch mail whose Subject is folded over hundreds of lines into one ~20 KB title.
    const [raw] = await readMboxFile(path.join(FIXTURES, 'single.mbox'));
    const folded = `[PATCH] ${title}`.replace(/(.{1,70})( |$)/g, '$1\n ').trimEnd();
    // Under fastify's 100-character limit for a path parameter.
    longMsgid = `long-subject-${'x'.repeat(40)}@students.example.org`;
    const text = raw!
      .toString('utf8')
      .replace(/^Subject: .*$/m, `Subject: ${folded}`)
      .replace(/^Message-Id: .*$/m, `Message-Id: <${longMsgid}>`);
    await w.h.deliver(Buffer.from(text, 'utf8'));
    const patches = await w.apiGet('/api/patches/?per_page=250');
    const p = patches.find((x: { msgid: string }) => x.msgid === `<${longMsgid}>`);
    assert.ok(p.name.length > 16_384, `the patch is named by its whole subject (${p.name.length})`);
    longPatch = p.id;
  });
  after(() => w.close());

  it('answers 400 with { detail, code, order } to 5,000 order terms on every list, and takes 16', async () => {
    const many = Array.from({ length: 5000 }, (_, i) => (i % 2 ? '-id' : 'name')).join(',');
    const sixteen = Array.from({ length: 16 }, (_, i) => (i % 2 ? '-id' : 'id')).join(',');
    for (const list of LISTS) {
      const r = await w.app.inject({ url: `/api/${list}/?order=${many}`, headers: { authorization: `Token ${w.tokens.admin}` } });
      assert.equal(r.statusCode, 400, list);
      const body = JSON.parse(r.body);
      assert.equal(body.code, 'order_too_long', list);
      assert.equal(body.detail, 'order: at most 16 terms, got 5000');
      assert.deepEqual(body.order, ['Ensure this field has no more than 16 terms.']);
      const ok = await w.app.inject({ url: `/api/${list}/?order=${sixteen}`, headers: { authorization: `Token ${w.tokens.admin}` } });
      assert.equal(ok.statusCode, 200, `${list}: ${ok.body.slice(0, 200)}`);
    }
  });

  it('answers 400 to 5,000 search terms on every list, and takes 32', async () => {
    const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join('+');
    for (const list of SEARCHED) {
      const r = await w.app.inject({ url: `/api/${list}/?q=${words(5000)}`, headers: { authorization: `Token ${w.tokens.admin}` } });
      assert.equal(r.statusCode, 400, list);
      assert.equal(JSON.parse(r.body).code, 'search_too_long');
      assert.equal((await w.app.inject({ url: `/api/${list}/?q=${words(32)}`, headers: { authorization: `Token ${w.tokens.admin}` } })).statusCode, 200, list);
    }
  });

  it('keeps the Link header under 2 KB whatever the query holds, and its next link still walks the list', async () => {
    const junk = `&junk=${'j'.repeat(12_000)}`;
    const r = await w.app.inject({ url: `/api/patches/?per_page=1&state=new&state=new${junk}` });
    assert.equal(r.statusCode, 200);
    const link = String(r.headers.link);
    assert.ok(link.length <= MAX_LINK_HEADER, `${link.length}`);
    const next = /<([^>]+)>; rel="next"/.exec(link)![1]!;
    assert.equal(next, 'http://localhost/api/patches/?per_page=1&state=new&page=2');
    const page2 = await w.app.inject({ url: new URL(next).pathname + new URL(next).search });
    const direct = await w.app.inject({ url: '/api/patches/?per_page=1&state=new&page=2' });
    assert.equal(page2.body, direct.body);
  });

  it('bounds download file names from a 20 KB subject: a short valid Content-Disposition with the extension kept', async () => {
    const urls = [`/patch/${longPatch}/mbox/`, `/patch/${longPatch}/raw/`, `/proctree/${longMsgid}/raw`, `/proctree/${longMsgid}/t.mbox.gz`];
    for (const url of urls) {
      const r = await w.app.inject({ url });
      assert.equal(r.statusCode, 200, url);
      const cd = String(r.headers['content-disposition']);
      assert.match(cd, DISPOSITION, url);
      const name = cd.slice(cd.indexOf('=') + 1);
      assert.ok(name.length <= MAX_FILENAME, `${url}: ${name.length}`);
      assert.match(name, /word0-word1-word2/, url);
      assert.match(name, /\.(patch|diff|txt|mbox\.gz)$/, url);
      const total = Object.entries(r.headers).reduce((n, [k, v]) => n + k.length + String(v).length + 4, 0);
      assert.ok(total < 4096, `${url}: header block ${total} bytes`);
    }
    // A short name is left as it was (Patchwork's).
    const short = await w.app.inject({ url: '/patch/1/mbox/' });
    assert.match(String(short.headers['content-disposition']), /^attachment; filename=[-\w.]+\.patch$/);
  });

  it('bounds a redirect built from a long request: the query goes, the path stays', async () => {
    const q = `?q=${'q'.repeat(10_000)}`;
    const r = await w.app.inject({ url: `/proctree/${longMsgid}${q}` });
    assert.equal(r.statusCode, 301);
    assert.equal(r.headers.location, `http://localhost:80/proctree/${longMsgid}/`);
    const shortQ = await w.app.inject({ url: `/proctree/${longMsgid}?o=20` });
    assert.equal(shortQ.headers.location, `http://localhost:80/proctree/${longMsgid}/?o=20`);
    // The admin's login redirect: `next` only while the login form would take it.
    const admin = await w.app.inject({ url: `/admin/${q}` });
    assert.equal(admin.statusCode, 303);
    assert.equal(admin.headers.location, '/login/?next=%2Fadmin%2F');
    assert.ok(String(admin.headers.location).length <= MAX_LOCATION);
    assert.equal((await w.app.inject({ url: '/admin/?done=x' })).headers.location, '/login/?next=%2Fadmin%2F%3Fdone%3Dx');
  });
});

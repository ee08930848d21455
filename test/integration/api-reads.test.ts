// The REST API's reads via inject on real filed mail: Patchwork's filters, ordering, Link pagination, errors and URLs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES, startApiApp, type ApiApp } from '../helpers/api-app.js';
import { readMboxFile } from '../helpers/ingest-harness.js';

describe('REST API reads', () => {
  let a: ApiApp;
  let all: any[];

  before(async () => {
    // cover-letter: 0/3 + 3 patches; rfc: [RFC PATCH 0/2] + 2; unrelated-no-thread: two unthreaded 3-patch series;
    // comments: 0/2 + 2 with replies; v2-in-reply-to-cover: v1 0/2 + 2, v2 0/2 + 2 (v1 superseded).
    a = await startApiApp(['cover-letter', 'rfc', 'unrelated-no-thread', 'comments', 'v2-in-reply-to-cover']);
    all = await a.get('/api/patches/?per_page=250');
  });
  after(() => a.close());

  it('answers lists as bare arrays with Patchwork’s Link header: next, prev, first, last, other parameters kept', async () => {
    assert.equal(all.length, 17);
    const r = await a.req({ url: '/api/patches/?order=id&per_page=5&page=2&archived=false' });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json().map((p: { id: number }) => p.id), all.slice(5, 10).map((p) => p.id));
    const links: Record<string, URL> = Object.fromEntries([...String(r.headers.link).matchAll(/<([^>]+)>; rel="(\w+)"/g)].map((m) => [m[2]!, new URL(m[1]!)]));
    assert.deepEqual(Object.keys(links), ['next', 'prev', 'first', 'last']);
    assert.deepEqual([links.next!.searchParams.get('page'), links.prev!.searchParams.get('page'), links.first!.searchParams.get('page'), links.last!.searchParams.get('page')], ['3', '1', '1', '4']);
    for (const l of Object.values(links)) {
      assert.equal(l.pathname, '/api/patches/');
      assert.equal(l.searchParams.get('per_page'), '5');
      assert.equal(l.searchParams.get('archived'), 'false');
    }
    const first = await a.req({ url: '/api/patches/?per_page=5' });
    assert.doesNotMatch(String(first.headers.link), /rel="prev"/);
    const last = await a.req({ url: '/api/patches/?per_page=5&page=last' });
    assert.equal(last.json().length, 2);
    assert.doesNotMatch(String(last.headers.link), /rel="next"/);
  });

  it('answers a page past the end with 404 {"detail": "Invalid page."}, caps per_page at 250 and ignores a bad one', async () => {
    const r = await a.req({ url: '/api/patches/?per_page=5&page=9' });
    assert.equal(r.statusCode, 404);
    assert.equal(r.json().detail, 'Invalid page.');
    assert.equal((await a.req({ url: '/api/patches/?page=abc' })).statusCode, 404);
    assert.equal((await a.get('/api/patches/?per_page=abc')).length, 17, 'default 30 per page');
    assert.match(String((await a.req({ url: '/api/patches/?per_page=1000' })).headers.link), /page=1>; rel="last"/);
  });

  it('filters patches by project (id or link name), state (repeated; slug, name or id), archived, submitter and series', async () => {
    assert.equal((await a.get('/api/patches/?project=proctree&per_page=100')).length, 17);
    assert.equal((await a.get(`/api/patches/?project=${all[0].project.id}&per_page=100`)).length, 17);
    // An unknown value matches nothing: an empty list, not a 400 (Patchwork's filter backend).
    assert.deepEqual(await a.get('/api/patches/?project=nosuch'), []);
    assert.deepEqual(await a.get('/api/patches/?state=nosuch'), []);
    assert.equal((await a.get('/api/patches/?project=&per_page=100')).length, 17, 'an empty value is no filter (git-pw sends project=)');

    const superseded = all.filter((p) => p.state === 'superseded').map((p) => p.id);
    assert.equal(superseded.length, 2, 'v1 of the revised series');
    assert.deepEqual((await a.get('/api/patches/?state=superseded')).map((p: { id: number }) => p.id), superseded);
    assert.deepEqual((await a.get('/api/patches/?state=Superseded')).map((p: { id: number }) => p.id), superseded);
    assert.deepEqual((await a.get('/api/patches/?state=9')).map((p: { id: number }) => p.id), superseded, 'state id 9 = Superseded');
    assert.equal((await a.get('/api/patches/?state=new&state=superseded&per_page=100')).length, 17);

    const byEmail = await a.get('/api/patches/?submitter=ZOE@students.example.org&per_page=100');
    assert.equal(byEmail.length, 17, 'email matched case-insensitively');
    assert.equal((await a.get(`/api/patches/?submitter=${byEmail[0].submitter.id}&per_page=100`)).length, 17);
    assert.deepEqual(await a.get('/api/patches/?submitter=nobody@example.org'), []);

    const series = all[0].series[0].id;
    const inSeries = await a.get(`/api/patches/?series=${series}`);
    assert.deepEqual(inSeries.map((p: { id: number }) => p.id), all.filter((p) => p.series[0].id === series).map((p) => p.id));
    assert.deepEqual(await a.get('/api/patches/?archived=true'), []);
    assert.equal((await a.get('/api/patches/?archived=False&per_page=100')).length, 17);
  });

  it('filters by hash and msgid from 1.2 on, and ignores both before (versioned filters)', async () => {
    const p = all[3];
    const bare = p.msgid.slice(1, -1);
    assert.deepEqual((await a.get(`/api/1.2/patches/?msgid=${encodeURIComponent(bare)}`)).map((x: { id: number }) => x.id), [p.id]);
    assert.deepEqual((await a.get(`/api/patches/?hash=${p.hash.toUpperCase()}`)).map((x: { id: number }) => x.id), [p.id], 'hash matched case-insensitively');
    assert.equal((await a.get(`/api/1.1/patches/?msgid=${encodeURIComponent(bare)}&per_page=100`)).length, 17);
    assert.equal((await a.get(`/api/1.1/patches/?hash=${p.hash}&per_page=100`)).length, 17);
  });

  it('filters by since/before (ISO, naive is UTC), searches names with q (every term), and orders with order=', async () => {
    const dates = all.map((p) => p.date).sort();
    const mid = dates[8];
    const since = await a.get(`/api/patches/?since=${mid}&per_page=100`);
    const before = await a.get(`/api/patches/?before=${mid}&per_page=100`);
    assert.equal(since.length + before.length, 17);
    assert.ok(since.every((p: { date: string }) => p.date >= mid!) && before.every((p: { date: string }) => p.date < mid!));
    assert.deepEqual(await a.get('/api/patches/?since=yesterday'), [], 'an unreadable date matches nothing');

    const q = await a.get('/api/patches/?q=proctree%20children&per_page=100');
    assert.ok(q.length > 0 && q.every((p: { name: string }) => /proctree/i.test(p.name) && /children/i.test(p.name)), JSON.stringify(q.map((p: { name: string }) => p.name)));
    assert.deepEqual(await a.get('/api/patches/?q=%25'), [], 'LIKE wildcards are literal');

    const byDate = await a.get('/api/patches/?order=-date&per_page=100');
    assert.deepEqual(byDate.map((p: { date: string }) => p.date), [...dates].reverse());
    const byName = await a.get('/api/patches/?order=name&per_page=100');
    assert.deepEqual(byName.map((p: { name: string }) => p.name), [...byName.map((p: { name: string }) => p.name)].sort());
    assert.deepEqual((await a.get('/api/patches/?order=nosuch&per_page=100')).map((p: { id: number }) => p.id), all.map((p) => p.id), 'unknown order field: default (id)');
  });

  it('filters covers, series and events as Patchwork does; events newest first, comment events only from 1.3', async () => {
    const covers = await a.get('/api/covers/');
    assert.equal(covers.length, 5);
    const s = covers[0].series[0].id;
    assert.deepEqual((await a.get(`/api/covers/?series=${s}`)).map((c: { id: number }) => c.id), [covers[0].id]);
    assert.deepEqual((await a.get(`/api/covers/?msgid=${encodeURIComponent(covers[1].msgid)}`)).map((c: { id: number }) => c.id), [covers[1].id]);

    const series = await a.get('/api/series/?submitter=zoe@students.example.org');
    assert.equal(series.length, 7);
    assert.equal((await a.get('/api/series/?q=proctree&project=proctree')).length, series.filter((x: { name: string }) => /proctree/i.test(x.name)).length);

    const events = await a.get('/api/events/?per_page=250');
    assert.deepEqual(events.map((e: { date: string }) => e.date), [...events.map((e: { date: string }) => e.date)].sort().reverse());
    assert.ok(events.some((e: { category: string }) => e.category === 'patch-comment-created'));
    const old = await a.get('/api/1.2/events/?per_page=250');
    assert.ok(!old.some((e: { category: string }) => /comment|revision/.test(e.category)));
    const created = await a.get('/api/events/?category=series-created&per_page=250');
    assert.equal(created.length, 7);
    assert.deepEqual(await a.get('/api/events/?category=nosuch'), []);
    const ofPatch = await a.get(`/api/events/?patch=${all[0].id}`);
    assert.ok(ofPatch.length > 0 && ofPatch.every((e: { payload: { patch: { id: number } } }) => e.payload.patch.id === all[0].id));
    assert.deepEqual(await a.get('/api/events/?since=2099-01-01'), []);
  });

  it('filters events by series as Patchwork does: only the events it links to a series (not patch-created or cover-created)', async () => {
    const s = all[0].series[0].id;
    const ofSeries = await a.get(`/api/events/?series=${s}&per_page=250`);
    assert.deepEqual([...new Set(ofSeries.map((e: { category: string }) => e.category))].sort(), ['patch-completed', 'series-completed', 'series-created']);
    assert.ok(ofSeries.every((e: { payload: { series: { id: number } } }) => e.payload.series.id === s));
    assert.deepEqual(await a.get(`/api/events/?series=${s}&category=patch-created`), [], 'Patchwork never links a patch-created event to a series');
    assert.equal((await a.get(`/api/events/?series=${s}&category=patch-completed`)).length, ofSeries.filter((e: { category: string }) => e.category === 'patch-completed').length);
  });

  it('shows patchbay’s own series-new-revision only to a client that asks for it, in any version', async () => {
    for (const base of ['/api', '/api/1.0', '/api/1.4']) {
      const listed = await a.get(`${base}/events/?per_page=250`);
      assert.ok(!listed.some((e: { category: string }) => e.category === 'series-new-revision'), `${base}: not in an unfiltered list`);
      const asked = await a.get(`${base}/events/?category=series-new-revision`);
      assert.equal(asked.length, 1, base);
      assert.deepEqual(Object.keys(asked[0].payload), ['series', 'previous_series', 'reason']);
    }
    const v2 = (await a.get('/api/events/?category=series-new-revision'))[0].payload.series.id;
    assert.ok(!(await a.get(`/api/events/?series=${v2}`)).some((e: { category: string }) => e.category === 'series-new-revision'));
    assert.equal((await a.get(`/api/events/?series=${v2}&category=series-new-revision`)).length, 1);
  });

  it('orders series by received_all, as Patchwork’s SeriesList lists it among its ordering fields (false first)', async () => {
    const b = await startApiApp([]);
    try {
      // no-cover: 1/3, 2/3, 3/3 unthreaded; single: one patch. Only 1/3 of no-cover arrives: that series is incomplete.
      const [first] = await readMboxFile(path.join(FIXTURES, 'no-cover.mbox'));
      await b.h.deliverMbox(path.join(FIXTURES, 'single.mbox'));
      await b.h.deliver(first!);
      await b.h.deliverMbox(path.join(FIXTURES, 'cover-letter.mbox'));
      const byId = await b.get('/api/series/?order=id');
      assert.deepEqual(byId.map((s: { received_all: boolean }) => s.received_all), [true, false, true]);
      const up = await b.get('/api/series/?order=received_all');
      assert.deepEqual(up.map((s: { id: number }) => s.id), [byId[1].id, byId[0].id, byId[2].id], 'false before true, then by id');
      const down = await b.get('/api/series/?order=-received_all,-id');
      assert.deepEqual(down.map((s: { id: number }) => s.id), [byId[2].id, byId[0].id, byId[1].id]);
    } finally {
      await b.close();
    }
  });

  it('sends Allow with every answer (as DRF: GET, HEAD, OPTIONS for a list …), on a 405 too, and answers OPTIONS with the view’s metadata', async () => {
    const cases: [string, string][] = [
      ['/api/', 'GET, HEAD, OPTIONS'],
      ['/api/patches/', 'GET, HEAD, OPTIONS'],
      [`/api/patches/${all[0].id}/`, 'GET, PUT, PATCH, HEAD, OPTIONS'],
      [`/api/patches/${all[0].id}/checks/`, 'GET, POST, HEAD, OPTIONS'],
      ['/api/projects/proctree/', 'GET, PUT, PATCH, HEAD, OPTIONS'],
      ['/api/bundles/', 'GET, POST, HEAD, OPTIONS'],
      ['/api/1.0/series/', 'GET, HEAD, OPTIONS'],
      ['/api/patchbay/series/1/split/', 'POST, OPTIONS'],
    ];
    for (const [url, allow] of cases) {
      const opt = await a.req({ method: 'OPTIONS', url });
      assert.equal(opt.statusCode, 200, url);
      assert.equal(opt.headers.allow, allow, `OPTIONS ${url}`);
      assert.deepEqual(Object.keys(opt.json()), ['name', 'description', 'renders', 'parses'], url);
      const get = await a.req({ url });
      assert.equal(get.headers.allow, allow, `GET ${url} (${get.statusCode})`);
    }
    assert.equal((await a.req({ method: 'OPTIONS', url: `/api/patches/${all[0].id}/` })).json().name, 'Patch Detail');
    assert.equal((await a.req({ method: 'OPTIONS', url: '/api/patches/' })).json().name, 'Patch List');
    const refused = await a.req({ method: 'DELETE', url: '/api/patches/', as: 'teacher' });
    assert.equal(refused.statusCode, 405);
    assert.equal(refused.headers.allow, 'GET, HEAD, OPTIONS');
    const head = await a.req({ method: 'HEAD', url: '/api/patchbay/series/1/split/' });
    assert.equal(head.statusCode, 405, 'no GET, no HEAD');
    const wrong = await a.req({ url: '/api/patches/', headers: { authorization: `Token ${'f'.repeat(40)}` } });
    assert.equal(wrong.statusCode, 403);
    assert.equal(wrong.headers.allow, 'GET, HEAD, OPTIONS', 'a refused credential is answered by the view too');
    assert.equal((await a.req({ url: '/api/patches/99999/' })).headers.allow, 'GET, PUT, PATCH, HEAD, OPTIONS');
  });

  it('lets only authenticated users list people and users; `project` is ignored there, `q` searches', async () => {
    const anon = await a.req({ url: '/api/people/' });
    assert.equal(anon.statusCode, 403);
    assert.equal(anon.json().detail, 'Authentication credentials were not provided.');
    assert.equal((await a.req({ url: '/api/users/' })).statusCode, 403);
    const users = await a.get('/api/users/?q=teacher&project=proctree', 'olga');
    assert.deepEqual(users.map((u: { username: string }) => u.username), ['teacher']);
    const people = await a.get('/api/people/?q=example.org&project=proctree', 'olga');
    assert.deepEqual(people.map((p: { email: string }) => p.email).sort(), ['teacher@example.org', 'zoe@students.example.org']);
  });

  it('answers unknown ids, paths and versions with 404 and a JSON detail; unsupported methods with 405', async () => {
    for (const url of ['/api/patches/99999/', '/api/patches/abc/', '/api/1.5/patches/', '/api/series/99999/', '/api/projects/nosuch/', '/api/patches/99999/checks/']) {
      const r = await a.req({ url });
      assert.equal(r.statusCode, 404, url);
      assert.equal(typeof r.json().detail, 'string', url);
    }
    for (const [method, url] of [['POST', '/api/patches/'], ['DELETE', `/api/patches/${all[0].id}/`], ['PATCH', '/api/series/1/'], ['POST', '/api/events/']] as const) {
      const r = await a.req({ method, url, as: 'teacher', payload: {} });
      assert.equal(r.statusCode, 405, `${method} ${url}`);
      assert.equal(r.json().detail, `Method "${method}" not allowed.`);
    }
  });

  it('builds absolute URLs from the Host header, keeps the requested version in API URLs, and takes a missing slash', async () => {
    const r = await a.req({ url: `/api/1.1/patches/${all[0].id}/`, headers: { host: 'pw.example.org:8443' } });
    const p = r.json();
    assert.equal(p.url, `http://pw.example.org:8443/api/1.1/patches/${all[0].id}/`);
    assert.equal(p.mbox, `http://pw.example.org:8443/patch/${all[0].id}/mbox/`);
    assert.equal(p.series[0].mbox, `http://pw.example.org:8443/series/${all[0].series[0].id}/mbox/`);
    assert.equal(p.submitter.url, `http://pw.example.org:8443/api/1.1/people/${p.submitter.id}/`);
    assert.equal((await a.req({ url: `/api/patches/${all[0].id}` })).statusCode, 200);
    // X-Forwarded-* count only from a --trust-proxy peer (login-limits.test.ts has the proxy's side).
    const fwd = await a.req({ url: '/api/', headers: { host: 'pw.example.org', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'review.example.org' } });
    assert.equal(fwd.json().patches, 'http://pw.example.org/api/patches/');
  });

  it('prefers a configured base URL, and shows the patch’s mail headers, content, diff and prefixes in detail only', async () => {
    const b = await startApiApp(['rfc'], { baseUrl: 'https://patches.example.org' });
    try {
      const [p] = await b.get('/api/patches/');
      assert.equal(p.url, `https://patches.example.org/api/patches/${p.id}/`);
      assert.ok(!('diff' in p) && !('content' in p) && !('headers' in p));
      const d = await b.get(`/api/patches/${p.id}/`);
      assert.match(d.diff, /^diff --git /);
      assert.match(d.content, /Signed-off-by: /);
      assert.equal(d.headers['Message-ID'] ?? d.headers['Message-Id'], d.msgid);
      // [RFC PATCH 1/2] is named [RFC,1/2] (api-names.test.ts has every shape).
      const n = /^\[RFC,([12])\/2\] proctree: /.exec(d.name)?.[1];
      assert.ok(n, d.name);
      assert.deepEqual(d.prefixes, ['RFC', `${n}/2`]);
    } finally {
      await b.close();
    }
  });

  it('counts anew after a write: the last page grows when mail is filed', async () => {
    const lastPage = async () => new URL(/<([^>]+)>; rel="last"/.exec(String((await a.req({ url: '/api/patches/?per_page=1' })).headers.link))![1]!).searchParams.get('page');
    assert.equal(await lastPage(), '17');
    await a.h.deliverMbox(path.join(FIXTURES, 'single.mbox'));
    assert.equal(await lastPage(), '18');
  });
});

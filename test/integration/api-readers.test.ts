// The API's reader threads (--api-threads, issue 16): on a database file, list pages computed by worker threads with
// connections of their own answer byte for byte what the main thread answers (--api-threads 0): body, status, ETag,
// Link, refusals; for every API version, paging, filters, and a private project's readers; and the response cache
// keeps their answers as it keeps the main thread's.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createApi } from '../../src/api/create-api.js';
import { createLogger } from '../../src/log.js';
import { buildApp } from '../../src/web/app.js';
import { FIXTURES } from '../helpers/api-app.js';
import { readMboxFile } from '../helpers/ingest-harness.js';
import { asOlga, startWebApp, type WebApp, type Who } from '../helpers/web-app.js';

const ROSTER = ['login,name,email', 'zetu,Zoé Étudiante,zoe@students.example.org', 'olga,Olga Other,olga@students.example.org'].join('\n');

interface Side {
  app: FastifyInstance;
  api: ReturnType<typeof createApi>;
}

/** The REST API alone over the web app's database, as serve wires it with `--api-threads threads`. */
async function apiOn(w: WebApp, threads: number, cacheBytes = 0): Promise<Side> {
  const api = createApi(w.h.db, [w.project], null, { cacheBytes, readers: { file: w.h.file, threads } });
  const app = await buildApp({ log: createLogger('silent'), health: { snapshot: async () => ({ mails: 0, pending: 0, outboundQueued: 0 }) }, lists: {} as never, api });
  return { app, api };
}

async function close(s: Side): Promise<void> {
  await s.app.close();
  await s.api.stop();
}

interface Seen {
  status: number;
  body: string;
  etag: string | undefined;
  link: string | undefined;
  type: string | undefined;
}

async function seen(s: Side, w: WebApp, url: string, as?: Who, headers: Record<string, string> = {}): Promise<Seen> {
  const r = await s.app.inject({ url, headers: { ...headers, ...(as ? { authorization: `Token ${w.tokens[as]}` } : {}) } });
  const h = (n: string) => (r.headers[n] === undefined ? undefined : String(r.headers[n]));
  return { status: r.statusCode, body: r.body, etag: h('etag'), link: h('link'), type: h('content-type') };
}

/** Asks both sides each URL as each reader; every answer must be the same, byte for byte. Returns the answers. */
async function sameAnswers(w: WebApp, inProcess: Side, threaded: Side, urls: string[], readers: (Who | undefined)[]): Promise<Seen[]> {
  const out: Seen[] = [];
  for (const as of readers) {
    for (const url of urls) {
      const a = await seen(inProcess, w, url, as);
      const b = await seen(threaded, w, url, as);
      assert.deepEqual(b, a, `${url} as ${as ?? 'anonymous'}`);
      out.push(a);
    }
  }
  return out;
}

const VERSIONS = ['/api', '/api/1.0', '/api/1.1', '/api/1.2', '/api/1.3', '/api/1.4'];

describe('API reader threads on a public project', () => {
  let w: WebApp;
  let inProcess: Side;
  let threaded: Side;
  let patchId: number;
  let coverId: number;

  before(async () => {
    w = await startWebApp({ fixtures: ['cover-letter', 'rfc', 'unrelated-no-thread', 'comments', 'v2-in-reply-to-cover', 'reviewed-by'] });
    inProcess = await apiOn(w, 0);
    threaded = await apiOn(w, 2);
    patchId = (await w.h.db.selectFrom('patches').select('id').orderBy('id').executeTakeFirstOrThrow()).id;
    coverId = (await w.h.db.selectFrom('covers').select('id').orderBy('id').executeTakeFirstOrThrow()).id;
    // A check, so that the patch lists' `check` summary and the checks list show one.
    const r = await inProcess.app.inject({ method: 'POST', url: `/api/patches/${patchId}/checks/`, headers: { authorization: `Token ${w.tokens.teacher}` }, payload: { state: 'warning', context: 'build' } });
    assert.equal(r.statusCode, 201, r.body);
  });
  after(async () => {
    await close(threaded);
    await close(inProcess);
    await w.close();
  });

  it('computes no list in a thread with --api-threads 0, nor on an in-memory database', async () => {
    assert.equal(inProcess.api.readers, null);
    const memory = createApi(w.h.db, [w.project], null, { readers: { file: ':memory:', threads: 2 } });
    assert.equal(memory.readers, null);
    assert.ok(threaded.api.readers);
  });

  it('answers every list, filter, order and page of every version as the main thread does, Link and ETag included', async () => {
    const before = threaded.api.readers!.answered();
    const lists = [
      '/patches/',
      '/patches/?project=proctree&state=new&per_page=100',
      '/patches/?order=-date&per_page=2',
      '/patches/?order=-date&per_page=2&page=2',
      '/patches/?per_page=2&page=last',
      '/patches/?q=proctree&archived=false',
      '/patches/?submitter=zoe@students.example.org',
      '/patches/?since=2020-01-01T00:00:00&before=2100-01-01T00:00:00',
      '/patches/?hash=0000000000000000000000000000000000000000',
      '/series/',
      '/series/?per_page=1&page=2',
      '/series/?order=-id&project=proctree',
      '/covers/',
      '/covers/?per_page=1&page=2&order=-date',
      '/events/',
      '/events/?category=patch-created&per_page=3',
      '/events/?category=check-created',
      '/events/?category=bogus',
      `/events/?patch=${patchId}`,
      `/patches/${patchId}/comments/`,
      `/covers/${coverId}/comments/`,
      `/patches/${patchId}/checks/`,
      `/patches/${patchId}/checks/?state=warning`,
      '/bundles/',
    ];
    const urls = VERSIONS.flatMap((v) => lists.map((l) => `${v}${l}`));
    const answers = await sameAnswers(w, inProcess, threaded, urls, [undefined, 'teacher']);
    // What was compared is what the lists show: pages with items, Link headers, the 1.0 comments' 404.
    assert.ok(answers.filter((a) => a.status === 200 && a.body.length > 2).length > urls.length, 'lists with items');
    assert.ok(answers.some((a) => a.link?.includes('rel="next"')) && answers.some((a) => a.link?.includes('rel="prev"')), 'paged lists');
    assert.ok(answers.some((a) => a.status === 404), 'a 404 (comments in 1.0)');
    assert.ok(threaded.api.readers!.answered() - before >= urls.length, 'the threads computed the pages');
  });

  it('answers users and people only to the authenticated, as the main thread does', async () => {
    const urls = VERSIONS.flatMap((v) => [`${v}/users/`, `${v}/people/?per_page=2`, `${v}/people/?q=zoe`]);
    const answers = await sameAnswers(w, inProcess, threaded, urls, [undefined, 'zoe', 'teacher']);
    assert.ok(answers.some((a) => a.status === 403));
    assert.ok(answers.some((a) => a.status === 200 && a.body.includes('zoe@students.example.org')));
  });

  it('refuses bad filters and pages with the same status, code and body (unknown values match nothing, as in Patchwork)', async () => {
    // Too many search or order terms: 400 with the field named (an AppError's details cross the thread too).
    const urls = [
      `/api/patches/?q=${Array.from({ length: 33 }, (_, i) => `t${i}`).join('+')}`,
      `/api/series/?order=${Array.from({ length: 17 }, () => '-id').join(',')}`,
      `/api/events/?q=x&order=${Array.from({ length: 17 }, () => 'id').join(',')}`,
      '/api/patches/?project=nope',
      '/api/patches/?page=99',
      '/api/patches/?per_page=x',
      '/api/patches/?state=bogus',
      '/api/series/?since=yesterday',
      '/api/events/?series=abc',
      '/api/covers/?order=nothing',
      '/api/patches/999999/checks/',
      '/api/patches/999999/comments/',
      '/api/covers/999999/comments/',
    ];
    const answers = await sameAnswers(w, inProcess, threaded, urls, [undefined]);
    assert.ok(answers.some((a) => a.status === 400 && /"q":\["Ensure this field/.test(a.body)), '400 naming q');
    assert.ok(answers.some((a) => a.status === 400 && /"order":\["Ensure this field/.test(a.body)), '400 naming order');
    assert.ok(answers.some((a) => a.status === 404), '404');
    for (const a of answers.filter((x) => x.status >= 400)) assert.match(a.body, /"detail"/);
  });

  it("answers 304 to the ETag of a thread's page, and HEAD with the same headers", async () => {
    const url = '/api/patches/?per_page=2';
    const first = await seen(threaded, w, url);
    assert.equal(first.status, 200);
    const again = await seen(threaded, w, url, undefined, { 'if-none-match': first.etag! });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    const head = await threaded.app.inject({ method: 'HEAD', url });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers.etag, first.etag);
    assert.equal(head.headers.link, first.link);
  });

  it('shows new mail and project settings written after the threads started', async () => {
    const [single] = await readMboxFile(path.join(FIXTURES, 'single.mbox'));
    await w.h.deliver(asOlga(single!, 'olga arrives later', { ownMsgid: true }));
    // Each side's services read the settings again after their own write (as a server does after PATCH).
    for (const s of [inProcess, threaded]) {
      const r = await s.app.inject({
        method: 'PATCH',
        url: `/api/projects/${w.project.id}/`,
        headers: { authorization: `Token ${w.tokens.teacher}` },
        payload: { list_archive_url_format: 'https://lore.example.org/proctree/{}/', web_url: 'https://proctree.example.org/' },
      });
      assert.equal(r.statusCode, 200, r.body);
    }
    const answers = await sameAnswers(w, inProcess, threaded, ['/api/patches/?order=-id&per_page=3', '/api/series/?order=-id', '/api/events/?per_page=5', '/api/1.1/covers/'], [undefined]);
    assert.match(answers[0]!.body, /olga arrives later/);
    assert.match(answers[0]!.body, /lore\.example\.org\/proctree\//);
    assert.match(answers[1]!.body, /proctree\.example\.org/);
  });

  it('keeps a thread-computed page in the response cache by URL and by contents, as the main thread does', async () => {
    const cached = await apiOn(w, 2, 1 << 20);
    try {
      const url = '/api/patches/?per_page=2&order=id';
      const a = await seen(cached, w, url);
      const asked = cached.api.readers!.answered();
      const b = await seen(cached, w, url);
      assert.deepEqual(b, a);
      assert.equal(cached.api.readers!.answered(), asked, 'the second answer came from the cache');
      const stats = cached.api.responses!.size();
      assert.ok(stats.entries >= 2, `kept by URL and by contents: ${JSON.stringify(stats)}`);
      assert.ok(stats.hits >= 1);
      // Another URL showing the same page: computed again (a thread), its bytes taken from the contents entry.
      const c = await seen(cached, w, `${url}&since=2000-01-01T00:00:00`);
      assert.equal(c.body, a.body);
      assert.equal(c.etag, a.etag);
      assert.deepEqual(await seen(inProcess, w, url), a);
    } finally {
      await close(cached);
    }
  });
});

describe('API reader threads on a private project', () => {
  let w: WebApp;
  let inProcess: Side;
  let threaded: Side;
  let cachedThreads: Side;
  let zPatch: number;
  let oPatch: number;

  before(async () => {
    w = await startWebApp({ roster: ROSTER, project: { visibility: 'private', roster: 'roster.csv' }, fixtures: ['cover-letter', 'comments'] });
    const [single] = await readMboxFile(path.join(FIXTURES, 'single.mbox'));
    await w.h.deliver(asOlga(single!, 'olga solves it', { ownMsgid: true }));
    const patches = await w.h.db.selectFrom('patches').innerJoin('series', 'series.id', 'patches.series_id').select(['patches.id', 'series.name']).orderBy('patches.id').execute();
    zPatch = patches.find((p) => !/olga/.test(p.name ?? ''))!.id;
    oPatch = patches.find((p) => /olga/.test(p.name ?? ''))!.id;
    inProcess = await apiOn(w, 0);
    threaded = await apiOn(w, 2);
    cachedThreads = await apiOn(w, 2, 1 << 20);
  });
  after(async () => {
    await close(cachedThreads);
    await close(threaded);
    await close(inProcess);
    await w.close();
  });

  it("shows anonymous nothing, a student their own series, the maintainer everything, as the main thread does", async () => {
    const lists = ['/patches/', '/patches/?project=proctree', '/series/', '/covers/', '/events/', `/patches/${zPatch}/comments/`, `/patches/${oPatch}/checks/`, '/projects/'];
    const urls = VERSIONS.flatMap((v) => lists.map((l) => `${v}${l}`));
    const answers = await sameAnswers(w, inProcess, threaded, urls, [undefined, 'zoe', 'olga', 'teacher']);
    const of = (who: number, url: string) => answers[who * urls.length + urls.indexOf(url)]!;
    assert.equal(of(0, '/api/patches/').body, '[]', 'anonymous sees no patch');
    assert.equal(of(0, `/api/patches/${zPatch}/comments/`).status, 404);
    assert.doesNotMatch(of(1, '/api/patches/').body, /olga solves it/);
    assert.match(of(2, '/api/patches/').body, /olga solves it/);
    assert.doesNotMatch(of(2, '/api/patches/').body, /count the children/i);
    assert.match(of(3, '/api/patches/').body, /olga solves it/);
  });

  it("never serves one reader's scoped page to another from the cache", async () => {
    const url = '/api/patches/';
    const teacher = await seen(cachedThreads, w, url, 'teacher');
    const anonymous = await seen(cachedThreads, w, url);
    const olga = await seen(cachedThreads, w, url, 'olga');
    assert.equal(anonymous.body, '[]');
    assert.notEqual(olga.body, teacher.body);
    assert.deepEqual(olga, await seen(inProcess, w, url, 'olga'));
    assert.deepEqual(teacher, await seen(inProcess, w, url, 'teacher'));
    // Only the maintainer's (who sees all of it) may be kept; the others are computed each time.
    assert.deepEqual(await seen(cachedThreads, w, url), anonymous);
  });
});

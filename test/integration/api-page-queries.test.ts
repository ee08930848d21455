// A list page costs a fixed number of queries whatever its size: each embedded relation (people, users, series,
// covers, patches, checks) in one query by ids, read by key (SQLite's plan searches; it scans only the id list).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteDialect, sql } from 'kysely';
import { ApiService } from '../../src/api/api.service.js';
import type { Database } from '../../src/db/schema.js';
import { startApiApp, type ApiApp } from '../helpers/api-app.js';

describe('API list pages: one query per embedded relation', () => {
  let a: ApiApp;
  let db: Kysely<Database>;
  let api: ApiService;
  const captured: CompiledQuery[] = [];

  before(async () => {
    a = await startApiApp(['cover-letter', 'rfc', 'unrelated-no-thread', 'comments', 'v2-in-reply-to-cover']);
    // Checks, delegates and state changes, so that every relation a page embeds has rows; two delegates.
    const [p, q] = await a.get('/api/patches/?order=id');
    for (const [x, delegate] of [[p, a.userIds.teacher], [q, a.userIds.admin]] as const) {
      await a.req({ method: 'POST', url: `/api/patches/${x.id}/checks/`, as: 'teacher', payload: { state: 'success' } });
      await a.req({ method: 'PATCH', url: `/api/patches/${x.id}/`, as: 'teacher', payload: { delegate, state: 'under-review' } });
    }
    // Every mail here is Zoé's: half of the rows go to Tom, so that a page has two submitters to embed.
    const tom = await a.h.db.selectFrom('people').select('id').where('email', '=', 'teacher@example.org').executeTakeFirstOrThrow();
    for (const table of ['patches', 'series', 'covers'] as const) await a.h.db.updateTable(table).set({ submitter_id: tom.id }).where(sql<boolean>`id % 2 = 0`).execute();
    // The same database through a Kysely that records every query the service runs.
    const file = (await sql<{ file: string }>`select file from pragma_database_list where name = 'main'`.execute(a.h.db)).rows[0]!.file;
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(file) }), log: (e) => void (e.level === 'query' && captured.push(e.query)) });
    api = new ApiService(db, [...a.api.api.projects.values()]);
  });
  after(async () => {
    await db.destroy();
    await a.close();
  });

  const lists = {
    patches: (q: Record<string, string>) => api.listPatches(api.ctx('http://h', null), q),
    series: (q: Record<string, string>) => api.listSeries(api.ctx('http://h', null), q),
    covers: (q: Record<string, string>) => api.listCovers(api.ctx('http://h', null), q),
    events: (q: Record<string, string>) => api.listEvents(api.ctx('http://h', null), q),
  };

  for (const [name, list] of Object.entries(lists)) {
    it(`reads a page of 100 ${name} in no more queries than a page of 2, each relation once and by key`, async () => {
      const run = async (perPage: string) => {
        captured.length = 0;
        const r = await list({ per_page: perPage, order: 'id' });
        return { items: (await r.items()).length, queries: [...captured] };
      };
      // A first call fills what is kept while nothing changes (counts, people, users), so both calls below find it.
      await run('100');
      const small = await run('2');
      const large = await run('100');
      assert.ok(large.items > small.items, `${large.items} items`);
      const texts = large.queries.map((q) => q.sql);
      assert.equal(new Set(texts).size, texts.length, `no query runs twice for one page:\n${texts.join('\n')}`);
      // The small page may embed fewer kinds of things (two events of one category), never more.
      assert.deepEqual(small.queries.map((q) => q.sql).filter((x) => !texts.includes(x)), []);
      for (const q of large.queries.filter((x) => /json_each/.test(x.sql))) {
        const plan = (await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]))).rows.map((r) => r.detail);
        assert.ok(plan.some((d) => /^SEARCH \w+ USING (INTEGER PRIMARY KEY|(COVERING )?INDEX)/.test(d)), `${q.sql}\n${plan.join('\n')}`);
        assert.ok(!plan.some((d) => /^SCAN (?!json_each)/.test(d)), `only the id list is scanned:\n${q.sql}\n${plan.join('\n')}`);
      }
    });
  }
});

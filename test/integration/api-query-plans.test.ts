// Every filtered API list query is answered from an index: SQLite's query plan for each names one and scans no table.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CompiledQuery, Kysely, SqliteDialect } from 'kysely';
import { ApiService } from '../../src/api/api.service.js';
import { migrate, openDatabase } from '../../src/db/database.js';
import type { Database } from '../../src/db/schema.js';
import { tempDir } from '../helpers/dirs.js';

describe('API list queries use indexes', () => {
  let db: Kysely<Database>;
  let close: () => Promise<void>;
  const captured: CompiledQuery[] = [];

  before(async () => {
    const opened = openDatabase(path.join(tempDir('patchbay-plans-'), 'patchbay.sqlite'));
    await migrate(opened.db);
    await opened.db.insertInto('projects').values({ slug: 'proctree', name: 'Proctree', list_address: 'proctree@lists.example.org', policy: 'open', created_at: '2026-01-01T00:00:00.000Z' }).execute();
    await opened.db.insertInto('people').values({ email: 'zoe@students.example.org', name: 'Zoé', created_at: '2026-01-01T00:00:00.000Z' }).execute();
    await opened.db.insertInto('users').values({ username: 'teacher', email: 'teacher@example.org', first_name: 'Tom', last_name: 'Teacher', role: 'maintainer', password_hash: null, created_at: '2026-01-01T00:00:00.000Z' }).execute();
    // The same database through a Kysely that records every query the service runs.
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: opened.sqlite }), log: (e) => void (e.level === 'query' && captured.push(e.query)) });
    close = async () => {
      await db.destroy();
    };
  });
  after(() => close());

  const lists: [string, Record<string, string | string[]>][] = [
    ['patches', { project: 'proctree', state: 'new' }],
    ['patches', { project: 'proctree', state: ['new', 'under-review'], archived: 'false', order: '-date' }],
    ['patches', { project: 'proctree', order: '-date' }],
    ['patches', { series: '1' }],
    ['patches', { submitter: 'zoe@students.example.org' }],
    ['patches', { delegate: 'teacher' }],
    ['patches', { hash: 'ab'.repeat(20) }],
    ['patches', { msgid: 'x@y' }],
    ['patches', { since: '2026-01-01' }],
    ['series', { project: 'proctree' }],
    ['series', { submitter: '1' }],
    ['series', { since: '2026-01-01', order: '-date' }],
    ['covers', { series: '1' }],
    ['covers', { project: 'proctree' }],
    ['events', { project: 'proctree' }],
    ['events', { since: '2026-01-01' }],
    ['events', { series: '1' }],
  ];

  for (const [resource, query] of lists) {
    it(`reads /api/${resource}/?${new URLSearchParams(query as Record<string, string>).toString()} from an index`, async () => {
      // The filter values must exist, or the service answers [] without asking the database.
      await db.insertInto('series').values({ id: 1, project_id: 1, submitter_id: 1, name: 's', version: 1, total: 1, date: '2026-01-01T00:00:00.000Z', created_at: '2026-01-01T00:00:00.000Z' }).onConflict((oc) => oc.doNothing()).execute();
      const api = new ApiService(db, [{ id: 1, slug: 'proctree', name: 'Proctree', list: 'proctree@lists.example.org', scmUrl: null, maintainers: [] }]);
      const ctx = api.ctx('http://h', null);
      captured.length = 0;
      const call = { patches: () => api.listPatches(ctx, query), series: () => api.listSeries(ctx, query), covers: () => api.listCovers(ctx, query), events: () => api.listEvents(ctx, query) }[resource]!;
      await call();
      const main = captured.filter((q) => new RegExp(`from "${resource}"`).test(q.sql) && /where/.test(q.sql) && !/"id" in \(/.test(q.sql));
      assert.ok(main.length >= 2, `the count and the page query ran: ${captured.map((q) => q.sql).join('\n')}`);
      for (const q of main) {
        const plan = (await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]))).rows.map((r) => r.detail);
        assert.ok(plan.some((d) => /USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/.test(d)), `${q.sql}\n${plan.join('\n')}`);
        assert.ok(!plan.some((d) => new RegExp(`^SCAN ${resource}( |$)`).test(d) && !/INDEX/.test(d)), `no table scan:\n${q.sql}\n${plan.join('\n')}`);
      }
    });
  }
});

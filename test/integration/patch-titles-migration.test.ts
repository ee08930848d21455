// Migration 0014 on a database filed before it: each patch gets its normalized title from its stored name, and a
// series a maintainer linked is marked as fixed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Migrator, sql } from 'kysely';
import { migrate, openDatabase } from '../../src/db/database.js';
import { migrations } from '../../migrations/index.js';
import { tempDir } from '../helpers/dirs.js';

describe('migration 0014-patch-titles', () => {
  it('gives patches filed before it their normalized titles, and fixes the revisions maintainers linked', async () => {
    const dir = tempDir('patchbay-migration-');
    const { db } = openDatabase(path.join(dir, 'patchbay.sqlite'));
    try {
      const before = new Migrator({ db, provider: { getMigrations: async () => migrations } });
      const { error } = await before.migrateTo('0011-step-worker');
      assert.equal(error, undefined);
      const now = '2026-11-20T10:00:00.000Z';
      await sql`insert into projects (id, slug, name, list_address, policy, created_at) values (1, 'p', 'P', 'p@lists.example.org', 'open', ${now})`.execute(db);
      await sql`insert into people (id, email, name, created_at) values (1, 'zoe@example.org', 'Zoe', ${now})`.execute(db);
      await sql`insert into mails (id, project_id, route, recipient, msgid, envelope_from, envelope_to, source, raw, size, received_at)
        values (1, 1, 'list', 'p@lists.example.org', 'm@x', 'zoe@example.org', '[]', 'import', x'00', 1, ${now})`.execute(db);
      for (const id of [1, 2, 3]) {
        await sql`insert into series (id, project_id, submitter_id, version, total, date, created_at) values (${id}, 1, 1, ${id}, 2, ${now}, ${now})`.execute(db);
      }
      const names = ['ringbuf: add a capacity check', '[RFC] Ringbuf:  Add a capacity  check.', '[v2,2/2] ringbuf: document the wrap-around', 'Ｆｕｌｌ width'];
      for (const [i, name] of names.entries()) {
        await sql`insert into patches (project_id, mail_id, msgid, series_id, number, submitter_id, name, content, date, state, signoff_ok)
          values (1, 1, ${`p${i}@x`}, ${1 + (i % 2)}, 1, 1, ${name}, '', ${now}, 'new', 1)`.execute(db);
      }
      await sql`insert into revisions (series_id, previous_id, reason, source, created_at) values (2, 1, 'same title and submitter', 'parser', ${now})`.execute(db);
      await sql`insert into revisions (series_id, previous_id, reason, source, created_at) values (3, 2, 'linked by a maintainer', 'maintainer', ${now})`.execute(db);

      await migrate(db);

      const titles = await sql<{ name: string; title_norm: string }>`select name, title_norm from patches order by id`.execute(db);
      assert.deepEqual(
        titles.rows.map((r) => r.title_norm),
        ['ringbuf: add a capacity check', 'ringbuf: add a capacity check', 'ringbuf: document the wrap-around', 'full width'],
      );
      const fixed = await sql<{ id: number; revision_fixed: number }>`select id, revision_fixed from series order by id`.execute(db);
      assert.deepEqual(
        fixed.rows.map((r) => [r.id, r.revision_fixed]),
        [
          [1, 0],
          [2, 0],
          [3, 1],
        ],
      );
    } finally {
      await db.destroy();
    }
  });
});

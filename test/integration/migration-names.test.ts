// Migration 0012 on a database left by the previous release (migrated to 0011, rows as its parser named them): the
// names of patches, covers and the series named after them become Patchwork's, computed from the stored subjects.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Migrator, type Kysely } from 'kysely';
import { migrations } from '../../migrations/index.js';
import { openDatabase, migrate } from '../../src/db/database.js';
import { tempDir } from '../helpers/dirs.js';

const AT = '2026-11-20T10:00:00.000Z';

/** A database at 0011, the schema before names changed. */
async function oldDatabase(): Promise<Kysely<any>> {
  const { db } = openDatabase(path.join(tempDir('patchbay-migration-names-'), 'patchbay.sqlite'));
  const r = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateTo('0011-step-worker');
  if (r.error) throw r.error;
  return db as unknown as Kysely<any>;
}

/** Rows written as the 0011 release wrote them: only the columns that existed then, the names its parser made. */
function seeder(db: Kysely<any>) {
  let n = 0;
  const projects = new Map<string, number>();
  return {
    async project(slug: string): Promise<number> {
      const id = (await db.insertInto('projects').values({ slug, name: slug, list_address: `${slug}@lists.example.org`, policy: 'open', created_at: AT }).returning('id').executeTakeFirstOrThrow()).id as number;
      projects.set(slug, id);
      return id;
    },
    async person(): Promise<number> {
      return (await db.insertInto('people').values({ email: `p${++n}@example.org`, name: null, created_at: AT }).returning('id').executeTakeFirstOrThrow()).id as number;
    },
    async mail(projectId: number, subject: string | null): Promise<{ id: number; msgid: string }> {
      const msgid = `m${++n}@example.org`;
      const raw = Buffer.from(`Subject: ${subject ?? ''}\nMessage-ID: <${msgid}>\n\nbody\n`);
      const row = { project_id: projectId, route: 'list', recipient: 'x@lists.example.org', msgid, envelope_from: '', envelope_to: '[]', source: 'import', raw, size: raw.length, received_at: AT, state: 'processed', subject };
      return { id: (await db.insertInto('mails').values(row).returning('id').executeTakeFirstOrThrow()).id as number, msgid };
    },
    async series(projectId: number, submitterId: number, name: string | null): Promise<number> {
      return (await db.insertInto('series').values({ project_id: projectId, submitter_id: submitterId, name, version: 1, total: 2, date: AT, created_at: AT }).returning('id').executeTakeFirstOrThrow()).id as number;
    },
    async patch(projectId: number, seriesId: number, submitterId: number, number: number, subject: string | null, oldName: string, id?: number): Promise<number> {
      const mail = await this.mail(projectId, subject);
      const row = { ...(id ? { id } : {}), project_id: projectId, mail_id: mail.id, msgid: mail.msgid, series_id: seriesId, number, submitter_id: submitterId, name: oldName, content: '', date: AT, state: 'new', signoff_ok: 1 };
      return (await db.insertInto('patches').values(row).returning('id').executeTakeFirstOrThrow()).id as number;
    },
    async cover(projectId: number, seriesId: number, submitterId: number, subject: string, oldName: string): Promise<number> {
      const mail = await this.mail(projectId, subject);
      const id = (await db.insertInto('covers').values({ project_id: projectId, mail_id: mail.id, msgid: mail.msgid, series_id: seriesId, submitter_id: submitterId, name: oldName, content: '', date: AT }).returning('id').executeTakeFirstOrThrow()).id as number;
      await db.updateTable('series').set({ cover_id: id }).where('id', '=', seriesId).execute();
      return id;
    },
  };
}

const nameOf = async (db: Kysely<any>, table: string, id: number) => (await db.selectFrom(table).select('name').where('id', '=', id).executeTakeFirstOrThrow()).name as string | null;

describe('migration 0012: names as Patchwork stores them', () => {
  it('renames patches and covers from their stored subjects, dropping each project’s own tag, and the series named after them', async () => {
    const db = await oldDatabase();
    const s = seeder(db);
    const proctree = await s.project('proctree');
    const kernel = await s.project('kernel');
    const zoe = await s.person();

    // A cover and two patches: v1 named them "[RFC] …" and "…", the series after the cover's title.
    const rfc = await s.series(proctree, zoe, 'proctree: live view of forks');
    const cover = await s.cover(proctree, rfc, zoe, '[RFC PATCH v2 0/2] proctree: live view of forks', '[RFC] proctree: live view of forks');
    const p1 = await s.patch(proctree, rfc, zoe, 1, '[RFC PATCH v2 1/2] proctree: trace forks', '[RFC] proctree: trace forks');
    // No cover: the series took 1/2's name; the list's tag, in its group or alone, goes.
    const bare = await s.series(proctree, zoe, 'proctree: parse the pid');
    const b1 = await s.patch(proctree, bare, zoe, 1, '[proctree] [PATCH 1/2] proctree: parse the pid', 'proctree: parse the pid');
    const b2 = await s.patch(proctree, bare, zoe, 2, '[PATCH proctree 2/2] proctree: reject a negative pid', 'proctree: reject a negative pid');
    // Another project: "proctree" is no tag of its own there and stays.
    const other = await s.series(kernel, zoe, '[proctree] mm: fix');
    const k1 = await s.patch(kernel, other, zoe, 1, '[PATCH proctree] mm: fix', '[proctree] mm: fix');
    // A series a maintainer split off keeps the name it was given: it matches none of its patches' names.
    const split = await s.series(proctree, zoe, 'proctree: parse the pid');
    const s2 = await s.patch(proctree, split, zoe, 2, '[PATCH 2/3] proctree: explain the usage', 'proctree: explain the usage');
    // A mail without a subject, and a patch far past the first window of ids.
    const none = await s.patch(proctree, split, zoe, 3, null, '');
    const far = await s.patch(proctree, split, zoe, 4, '[PATCH v3 4/4] proctree: far away', 'proctree: far away', 125_001);

    await migrate(db);

    assert.equal(await nameOf(db, 'covers', cover), '[RFC,v2,0/2] proctree: live view of forks');
    assert.equal(await nameOf(db, 'patches', p1), '[RFC,v2,1/2] proctree: trace forks');
    assert.equal(await nameOf(db, 'series', rfc), 'proctree: live view of forks');
    assert.equal(await nameOf(db, 'patches', b1), '[1/2] proctree: parse the pid');
    assert.equal(await nameOf(db, 'patches', b2), '[2/2] proctree: reject a negative pid');
    assert.equal(await nameOf(db, 'series', bare), '[1/2] proctree: parse the pid');
    assert.equal(await nameOf(db, 'patches', k1), '[proctree] mm: fix');
    assert.equal(await nameOf(db, 'series', other), '[proctree] mm: fix');
    assert.equal(await nameOf(db, 'series', split), 'proctree: parse the pid');
    assert.equal(await nameOf(db, 'patches', s2), '[2/3] proctree: explain the usage');
    assert.equal(await nameOf(db, 'patches', none), '');
    assert.equal(far, 125_001);
    assert.equal(await nameOf(db, 'patches', far), '[v3,4/4] proctree: far away');

    // Run again (a migration cut short is run again from the start): nothing changes.
    const before = await db.selectFrom('patches').select(['id', 'name']).orderBy('id').execute();
    const seriesBefore = await db.selectFrom('series').select(['id', 'name']).orderBy('id').execute();
    await migrations['0012-patchwork-names']!.up(db);
    assert.deepEqual(await db.selectFrom('patches').select(['id', 'name']).orderBy('id').execute(), before);
    assert.deepEqual(await db.selectFrom('series').select(['id', 'name']).orderBy('id').execute(), seriesBefore);
    await db.destroy();
  });

  it('runs on an empty database', async () => {
    const db = await oldDatabase();
    await migrate(db);
    const done = await db.selectFrom('kysely_migration').select('name').where('name', '=', '0012-patchwork-names').execute();
    assert.equal(done.length, 1);
    await db.destroy();
  });
});

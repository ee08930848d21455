// Filing a batch of mails in one transaction: rows many mails add (archive index, events, outcomes) are written once
// at its end, a failing mail costs only itself, prepared statements bind the right values, and every statement the
// series engine runs reads through an index.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { migrate, openDatabase, setBulkLoad, type Db } from '../../src/db/database.js';
import { deferWrite, withDeferredWrites } from '../../src/db/deferred-writes.js';
import { getMail } from '../../src/db/mail.repository.js';
import { prepared } from '../../src/db/prepared.js';
import { upsertProjects } from '../../src/db/project.repository.js';
import type { MailRow } from '../../src/db/schema.js';
import { createLogger } from '../../src/log.js';
import { SeriesIngestService } from '../../src/series/ingest.service.js';
import { fileWithArchive } from '../../src/smtp/archive.service.js';
import { IntakeService } from '../../src/smtp/intake.service.js';
import { createBackfillHandler, ProcessingService, type RouteHandler } from '../../src/smtp/processing.service.js';
import { tempDir } from '../helpers/dirs.js';
import { readMboxFile } from '../helpers/ingest-harness.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/series');
const LIST = 'proctree@lists.example.org';

async function count(db: Db, table: 'archive' | 'events' | 'patches'): Promise<number> {
  return Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
}

/** A database with the project, an intake, and a processing service whose list posts go through `handler`. */
async function setup(handler: (file: RouteHandler) => RouteHandler) {
  const sqliteFile = path.join(tempDir('patchbay-filing-'), 'patchbay.sqlite');
  const opened = openDatabase(sqliteFile);
  const { db } = opened;
  await migrate(db);
  const projectId = (await upsertProjects(db, [{ slug: 'proctree', name: 'Proctree', listAddress: LIST, policy: 'open' }])).get('proctree')!;
  const log = createLogger('silent');
  const ingest = new SeriesIngestService(new Map([[projectId, { id: projectId, slug: 'proctree', supersede: true }]]), log);
  const filing = createBackfillHandler(fileWithArchive(ingest.ingest.bind(ingest)));
  const outcomes = new Map<number, unknown>();
  const processing = new ProcessingService(db, { list: filing, request: filing, bounces: filing, bot: filing, postmaster: filing }, log, () => {}, {
    backfill: handler(filing),
    slugs: new Map([[projectId, 'proctree']]),
    retryDelayMs: 5,
    onProcessed: (id, _state, error) => outcomes.set(id, error),
  });
  const ids: number[] = [];
  const intake = new IntakeService(db, 'lists.example.org', log, (stored) => ids.push(...stored));
  const box = { mailbox: { projectId, slug: 'proctree', route: 'list' as const }, address: LIST };
  /** Stores the mails (without processing them), then processes them all as one batch. */
  const fileAll = async (raws: Buffer[]) => {
    await Promise.all(raws.map((raw) => intake.accept({ raw, mailFrom: '', recipients: [box], envelopeTo: [LIST], remoteAddr: null, source: 'import' })));
    await intake.drain();
    processing.enqueue(ids.splice(0));
    await processing.drain();
  };
  return { db, sqlite: opened.sqlite, fileAll, outcomes };
}

describe('filing a batch of mails', () => {
  it('writes the archive index, the events and the outcomes of a batch at its end, once for all of its mails', async () => {
    const seen: { archive: number; events: number; patches: number; processed: number }[] = [];
    const { db, fileAll } = await setup((file) => ({
      async handle(tx, mail, parsed) {
        // What earlier mails of this batch left in the database by the time this one is filed.
        seen.push({
          archive: Number((await sql<{ n: number }>`select count(*) as n from archive`.execute(tx)).rows[0]!.n),
          events: Number((await sql<{ n: number }>`select count(*) as n from events`.execute(tx)).rows[0]!.n),
          patches: Number((await sql<{ n: number }>`select count(*) as n from patches`.execute(tx)).rows[0]!.n),
          processed: Number((await sql<{ n: number }>`select count(*) as n from mails where state = 'processed'`.execute(tx)).rows[0]!.n),
        });
        return file.handle(tx, mail, parsed);
      },
    }));
    const raws = await readMboxFile(path.join(FIXTURES, 'cover-letter.mbox'));
    await fileAll(raws);
    // The series rows go in mail by mail (the next mail's threading reads them); the rest waits for the end.
    assert.deepEqual(
      seen.map((s) => [s.archive, s.events, s.processed]),
      raws.map(() => [0, 0, 0]),
    );
    assert.deepEqual(
      seen.map((s) => s.patches),
      [0, 0, 1, 2],
    );
    assert.equal(await count(db, 'archive'), raws.length);
    assert.equal(await count(db, 'patches'), 3);
    // cover-created, series-created, 3 × patch-created, 3 × patch-completed, series-completed — in filing order.
    const events = await db.selectFrom('events').select(['id', 'category']).orderBy('id').execute();
    assert.deepEqual(
      events.map((e) => e.category),
      ['series-created', 'cover-created', 'patch-created', 'patch-completed', 'patch-created', 'patch-completed', 'patch-created', 'patch-completed', 'series-completed'],
    );
    const states = await db.selectFrom('mails').select(['state', 'reason']).execute();
    assert.deepEqual(states, raws.map(() => ({ state: 'processed', reason: 'imported' })));
    const found = await sql<{ rowid: number }>`select rowid from archive_fts where archive_fts match 'proctree'`.execute(db);
    assert.equal(found.rows.length, raws.length);
    await db.destroy();
  });

  it('files the rest of a batch when one mail fails, writes nothing deferred for the failed one, and quarantines it after its attempts', async () => {
    const { db, fileAll, outcomes } = await setup((file) => ({
      async handle(tx, mail: MailRow, parsed) {
        const result = await file.handle(tx, mail, parsed);
        if (/\.2-/.test(mail.msgid) || mail.msgid.includes('-3-')) throw new Error('this one fails');
        return result;
      },
    }));
    const raws = await readMboxFile(path.join(FIXTURES, 'cover-letter.mbox'));
    await fileAll(raws);
    const failed = [...outcomes].filter(([, error]) => error !== undefined).map(([id]) => id);
    assert.equal(failed.length, 1, 'one mail failed');
    const bad = (await getMail(db, failed[0]!))!;
    assert.equal(bad.state, 'quarantined');
    assert.match(bad.reason ?? '', /this one fails/);
    // Its archive row and events were deferred in the batch that failed, and the tries alone failed too: none stayed.
    const archived = await db.selectFrom('archive').select('mail_id').execute();
    assert.deepEqual(archived.map((r) => r.mail_id).sort(), (await db.selectFrom('mails').select('id').where('state', '=', 'processed').execute()).map((r) => r.id).sort());
    assert.ok(!archived.some((r) => r.mail_id === bad.id));
    assert.equal(await count(db, 'archive'), raws.length - 1);
    await db.destroy();
  });

  it('writes a deferred row at once when no batch is being filed, and flushes each kind in the order first deferred', async () => {
    const { db } = openDatabase(':memory:');
    const written: string[] = [];
    const a = async (_tx: unknown, items: number[]) => void written.push(`a:${items.join(',')}`);
    const b = async (_tx: unknown, items: number[]) => void written.push(`b:${items.join(',')}`);
    await deferWrite(db, a, 1);
    assert.deepEqual(written, ['a:1']);
    await db.transaction().execute((tx) =>
      withDeferredWrites(tx, async () => {
        await deferWrite(tx, b, 2);
        await deferWrite(tx, a, 3);
        await deferWrite(tx, b, 4);
        assert.deepEqual(written, ['a:1'], 'nothing before the end');
      }),
    );
    assert.deepEqual(written, ['a:1', 'b:2,4', 'a:3']);
    await assert.rejects(
      db.transaction().execute((tx) =>
        withDeferredWrites(tx, async () => {
          await deferWrite(tx, a, 5);
          throw new Error('the batch fails');
        }),
      ),
      /the batch fails/,
    );
    assert.deepEqual(written, ['a:1', 'b:2,4', 'a:3'], 'a failed batch flushes nothing');
    await db.destroy();
  });

  it('binds each parameter of a prepared query where its stand-in was, inside and outside a transaction', async () => {
    const { db } = openDatabase(':memory:');
    await sql`create table t (a integer, b text, c text, d integer)`.execute(db);
    const insert = prepared((d, p: { a: number; b: string | null; d: number }) => d.insertInto('t' as never).values({ a: p.a, b: p.b, c: 'constant', d: p.d } as never));
    const select = prepared((d, p: { min: number; b: string }) =>
      d
        .selectFrom('t' as never)
        .select(['a', 'b', 'c', 'd'] as never)
        .where('d' as never, '>=', p.min as never)
        .where('b' as never, '=', p.b as never),
    );
    await insert(db, { d: 4, b: 'x', a: 1 });
    await db.transaction().execute(async (tx) => {
      await insert(tx, { a: 2, b: 'x', d: 5 });
      await insert(tx, { a: 3, b: undefined as unknown as null, d: 6 }); // left out: NULL
      assert.deepEqual(await select(tx, { b: 'x', min: 5 }), [{ a: 2, b: 'x', c: 'constant', d: 5 }]);
    });
    assert.deepEqual(await select(db, { min: 0, b: 'x' }), [
      { a: 1, b: 'x', c: 'constant', d: 4 },
      { a: 2, b: 'x', c: 'constant', d: 5 },
    ]);
    assert.deepEqual((await sql<{ n: number }>`select count(*) as n from t where b is null`.execute(db)).rows, [{ n: 1 }]);
    await db.destroy();
  });

  it('reads through an index in every statement it runs to file the fixtures (no table scan)', async () => {
    const { db, sqlite, fileAll } = await setup((file) => file);
    const statements = new Set<string>();
    const prepare = sqlite.prepare.bind(sqlite);
    sqlite.prepare = ((source: string) => {
      statements.add(source);
      return prepare(source);
    }) as typeof sqlite.prepare;
    for (const f of fs.readdirSync(FIXTURES).filter((x) => x.endsWith('.mbox')).sort()) await fileAll(await readMboxFile(path.join(FIXTURES, f)));
    sqlite.prepare = prepare;
    const scans: string[] = [];
    let checked = 0;
    // The plans of the statements themselves: without the foreign-key actions SQLite plans for a parent row that an
    // upsert could change (never taken here: no statement changes a referenced id).
    sqlite.pragma('foreign_keys = OFF');
    for (const source of statements) {
      if (!/^(select|insert|update|delete|with)\b/i.test(source)) continue;
      const plan = sqlite.prepare(`explain query plan ${source}`).all(...Array.from({ length: countParams(source) }, () => '[]')) as { detail: string }[];
      for (const { detail } of plan) {
        // json_each is the list of values a statement was given; the roster (students, a few dozen rows) is read once
        // per batch; anything else scanned whole is a missing or unused index.
        if (/^SCAN /.test(detail) && !/^SCAN (j|json_each|student_emails|students)\b|VIRTUAL TABLE|CONSTANT ROW/.test(detail)) scans.push(`${detail} in: ${source.slice(0, 160)}`);
      }
      checked++;
    }
    // Earlier series of the same title and submitter: by the title (a few rows), not by the submitter (all of theirs).
    const byTitle = [...statements].filter((s) => /from "series" where .*"title_norm" = \?/.test(s));
    assert.equal(byTitle.length, 1);
    const plan = sqlite.prepare(`explain query plan ${byTitle[0]}`).all(...Array.from({ length: countParams(byTitle[0]!) }, () => 'x')) as { detail: string }[];
    assert.match(plan.map((p) => p.detail).join('\n'), /USING INDEX series_title \(project_id=\? AND title_norm=\?\)/);
    sqlite.pragma('foreign_keys = ON');
    assert.ok(checked >= 20, `${checked} statements checked`);
    assert.deepEqual(scans, []);
    await db.destroy();
  });

  it('relaxes the sync of its commits for a bulk load and restores it after', async () => {
    const { db, sqlite } = openDatabase(path.join(tempDir('patchbay-bulk-'), 'patchbay.sqlite'));
    await migrate(db);
    assert.equal(sqlite.pragma('synchronous', { simple: true }), 2); // FULL
    await setBulkLoad(db, true);
    assert.equal(sqlite.pragma('synchronous', { simple: true }), 1); // NORMAL
    assert.equal(sqlite.pragma('wal_autocheckpoint', { simple: true }), 32_768); // 128 MB of WAL
    await setBulkLoad(db, false);
    assert.equal(sqlite.pragma('synchronous', { simple: true }), 2);
    assert.equal(sqlite.pragma('wal_autocheckpoint', { simple: true }), 1000);
    await db.destroy();
  });
});

/** Bound parameters of a statement: `?` outside quotes. */
function countParams(source: string): number {
  return source.replace(/'[^']*'|"[^"]*"/g, '').split('?').length - 1;
}

// The WAL checkpointed by a thread of its own, and intake's commit durable with its fsync off the main thread.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase, transactionSyncedAside } from '../../src/db/database.js';
import { tempDir } from '../helpers/dirs.js';

const MB = 1024 * 1024;

async function fill(db: ReturnType<typeof openDatabase>['db'], megabytes: number): Promise<void> {
  await sql`create table if not exists blobs (id integer primary key, body blob)`.execute(db);
  for (let i = 0; i < megabytes; i++) await sql`insert into blobs (body) values (${Buffer.alloc(MB, i)})`.execute(db);
}

async function until(what: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (what()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return what();
}

test('beside a checkpointer the main connection does not checkpoint; the thread copies the WAL into the file', async () => {
  const dir = tempDir('patchbay-ckpt-');
  const file = path.join(dir, 'db.sqlite');
  const opened = openDatabase(file, { checkpointAside: { onError: (m) => assert.fail(m) } });
  try {
    assert.equal(opened.sqlite.pragma('wal_autocheckpoint', { simple: true }), 16_384);
    await fill(opened.db, 12);
    // 12 MB is three times SQLite's own 1,000-page threshold, under the main connection's 64 MB one: only the
    // checkpointer can have copied it.
    assert.ok(await until(() => fs.statSync(file).size > 12 * MB, 5000), `database file ${fs.statSync(file).size} bytes after 5 s`);
  } finally {
    await opened.stopCheckpointer();
    await opened.db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('without a checkpointer the file is copied only at 1,000 pages, by the committing connection', async () => {
  const dir = tempDir('patchbay-ckpt-');
  const file = path.join(dir, 'db.sqlite');
  const opened = openDatabase(file);
  try {
    assert.equal(opened.sqlite.pragma('wal_autocheckpoint', { simple: true }), 1000);
    await fill(opened.db, 2);
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(fs.statSync(file).size < MB, 'nothing checkpointed under 1,000 pages');
  } finally {
    await opened.db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a transaction synced aside is committed when it resolves, restores FULL, and rolls back on a throw', async () => {
  const dir = tempDir('patchbay-ckpt-');
  const file = path.join(dir, 'db.sqlite');
  const opened = openDatabase(file, { checkpointAside: { onError: (m) => assert.fail(m) } });
  try {
    await sql`create table t (v text)`.execute(opened.db);
    const got = await transactionSyncedAside(opened.db, async (tx) => {
      await sql`insert into t (v) values ('kept')`.execute(tx);
      return 'done';
    });
    assert.equal(got, 'done');
    await assert.rejects(
      transactionSyncedAside(opened.db, async (tx) => {
        await sql`insert into t (v) values ('dropped')`.execute(tx);
        throw new Error('no');
      }),
      /no/,
    );
    assert.equal(opened.sqlite.pragma('synchronous', { simple: true }), 2, 'FULL again for every other write');
    // Another connection (another process would see the same) reads the committed row only.
    const other = openDatabase(file);
    try {
      assert.deepEqual((await sql<{ v: string }>`select v from t`.execute(other.db)).rows, [{ v: 'kept' }]);
    } finally {
      await other.db.destroy();
    }
    // In memory there is no WAL to sync.
    const mem = openDatabase(':memory:');
    await sql`create table t (v text)`.execute(mem.db);
    await transactionSyncedAside(mem.db, async (tx) => void (await sql`insert into t (v) values ('x')`.execute(tx)));
    assert.equal((await sql<{ n: number }>`select count(*) as n from t`.execute(mem.db)).rows[0]!.n, 1);
    await mem.db.destroy();
  } finally {
    await opened.stopCheckpointer();
    await opened.db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

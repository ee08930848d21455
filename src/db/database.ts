// Opens the SQLite database (WAL, foreign keys, full sync: set here and nowhere else) and runs the migrations.
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, sql, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig, type Transaction } from 'kysely';
import { migrations } from '../../migrations/index.js';
import { AUTOCHECKPOINT_BESIDE_CHECKPOINTER, startCheckpointer, type Checkpointer } from './checkpointer.js';
import { withObjectRows, type DriverStatement } from './object-rows.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;
export type DbOrTx = Kysely<Database> | Transaction<Database>;

export interface OpenedDb {
  db: Db;
  sqlite: SQLite.Database;
  /** Stops the checkpointer thread (openDatabase's checkpointAside); to be awaited before the database is closed. */
  stopCheckpointer: () => Promise<void>;
}

/**
 * Transactions start with BEGIN IMMEDIATE: the server and `patchbay import` write the same file, and a deferred
 * transaction that reads before it writes fails at once with SQLITE_BUSY_SNAPSHOT when the other process committed
 * in between (the busy timeout does not apply to that); taking the write lock first makes it wait its turn instead.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly settings: SqliteDialectConfig) {
    super(settings);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.settings);
  }
}

/**
 * Opens (creating if needed) the database file; ':memory:' for tests. `checkpointAside`: the WAL is checkpointed by a
 * thread of its own (checkpointer.ts), not inside this connection's commits; `onError` hears what it could not do.
 */
export function openDatabase(file: string, o: { checkpointAside?: { onError: (message: string) => void } } = {}): OpenedDb {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  let checkpointer: Checkpointer | null = null;
  if (o.checkpointAside && file !== ':memory:') {
    sqlite.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_BESIDE_CHECKPOINTER}`);
    checkpointer = startCheckpointer(path.resolve(file), { onError: o.checkpointAside.onError });
  }
  // FULL: a write is on disk when its commit returns, even across a power cut. Intake's group commit gets the same
  // guarantee before its 250 with the fsync moved off the main thread (transactionSyncedAside).
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const wal = file === ':memory:' ? null : new WalFile(`${path.resolve(file)}-wal`);
  const db = new Kysely<Database>({
    dialect: new ImmediateSqliteDialect({
      database: withStatementCache(sqlite, () => {
        wal?.close();
        sqlite.close();
      }),
    }),
  });
  if (wal) wals.set(db, wal);
  return { db, sqlite, stopCheckpointer: async () => checkpointer?.stop() };
}

/**
 * A bulk load's automatic checkpoint, in pages: 128 MB of WAL at SQLite's default 4 KiB page, which patchbay keeps.
 * Each checkpoint copies again the index pages rewritten since the last; against every 32 MB, 20,000 mails imported
 * 10% faster (bench/ingest, interleaved runs, docs/benchmarks.md), and a 512 MB WAL was no faster again.
 */
const BULK_AUTOCHECKPOINT_PAGES = 32_768;

/** Each connection's automatic checkpoint before a bulk load, given back after it. */
const autocheckpoints = new WeakMap<Db, number>();

/**
 * A bulk load on this connection (`patchbay import`): its commits are not fsynced one by one (synchronous=NORMAL; in
 * WAL mode a crash of the process still loses nothing, a power cut may lose the last commits), and the WAL is
 * checkpointed every BULK_AUTOCHECKPOINT_PAGES instead of every 4 MB (each checkpoint syncs twice and copies every
 * page rewritten since the last). What an import stores can be imported again (Message-IDs make that a no-op for
 * mail already there), and the end of the load, before the import reports, syncs the database and its WAL to disk.
 * Other connections (the server's) keep their own settings: FULL, for the 250 that acknowledges a message.
 */
export async function setBulkLoad(db: Db, on: boolean): Promise<void> {
  await sql.raw(`pragma synchronous = ${on ? 'NORMAL' : 'FULL'}`).execute(db);
  if (on) autocheckpoints.set(db, (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db)).rows[0]!.wal_autocheckpoint);
  const pages = on ? Math.max(BULK_AUTOCHECKPOINT_PAGES, autocheckpoints.get(db) ?? 0) : (autocheckpoints.get(db) ?? 1000);
  await sql.raw(`pragma wal_autocheckpoint = ${Number(pages)}`).execute(db);
  if (on) return;
  const file = (await sql<{ file: string }>`select file from pragma_database_list where name = 'main'`.execute(db)).rows[0]?.file;
  for (const f of file ? [`${file}-wal`, file] : []) {
    let fd: number;
    try {
      fd = fs.openSync(f, 'r');
    } catch {
      continue; // no WAL file: nothing to sync
    }
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * Runs `fn` in a transaction whose commit is written to the WAL but not fsynced (synchronous=NORMAL for this one
 * commit): it survives the process dying, not a power cut. For bookkeeping that a power cut may lose at no cost
 * (processing's count of attempts, which guards against a mail that kills the process, not the machine). The
 * connection is held from the first pragma to the last, so no other transaction (an API write, whose answer needs
 * the fsync) commits under the lighter setting.
 */
export async function transactionWithoutSync<T>(db: Db, fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
  return (await unsyncedTransaction(db, fn)).result;
}

/** transactionWithoutSync, and the connection's own setting it returned to (2 = FULL, 1 = NORMAL, 0 = OFF). */
async function unsyncedTransaction<T>(db: Db, fn: (tx: Transaction<Database>) => Promise<T>): Promise<{ result: T; mode: number }> {
  return db.connection().execute(async (conn) => {
    const mode = Number((await sql<{ synchronous: number }>`pragma synchronous`.execute(conn)).rows[0]!.synchronous);
    await sql.raw('pragma synchronous = NORMAL').execute(conn);
    try {
      return { result: await conn.transaction().execute(fn), mode };
    } finally {
      await sql.raw(`pragma synchronous = ${mode}`).execute(conn);
    }
  });
}

/**
 * Runs `fn` in a transaction that is durable when the promise resolves, as with synchronous=FULL, but whose fsync does
 * not hold the main thread: the commit is written to the WAL unsynced (transactionWithoutSync), then the WAL file is
 * fsynced by libuv's thread pool (fsync flushes the file, whichever descriptor asks) while the event loop goes on
 * reading sockets. For intake's group commit, which answers 250 only after this resolves: a FULL commit spent a third
 * of the main thread in fsync while every SMTP session waited. A checkpoint in between has already synced what it
 * copied into the database file.
 */
export async function transactionSyncedAside<T>(db: Db, fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
  const { result, mode } = await unsyncedTransaction(db, fn);
  // A connection that does not sync its commits (a bulk load: setBulkLoad) does not sync this one either.
  if (mode >= 2) await syncWal(db);
  return result;
}

/** The WAL of each opened file database, held open for transactionSyncedAside's fsyncs. */
const wals = new WeakMap<Db, WalFile>();

/**
 * One descriptor for the connection's life: SQLite deletes a WAL only when the last connection to it closes, and this
 * connection is open until close() (so the descriptor always names the live WAL).
 */
class WalFile {
  private fd: number | null = null;

  constructor(private readonly file: string) {}

  sync(): Promise<void> {
    this.fd ??= fs.openSync(this.file, 'r');
    const fd = this.fd;
    return new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

async function syncWal(db: Db): Promise<void> {
  await wals.get(db)?.sync();
}

/**
 * Kysely prepares every query anew; preparing costs as much as running a small query. Queries are built from a fixed
 * set of shapes (values are parameters), so a bounded cache of prepared statements serves nearly every call. Their
 * rows are made into objects by object-rows.ts.
 */
function withStatementCache(sqlite: SQLite.Database, close: () => void, size = 500) {
  const cache = new Map<string, DriverStatement>();
  return {
    close,
    prepare(query: string) {
      let stmt = cache.get(query);
      if (stmt) {
        cache.delete(query); // re-insert: Map order is the least-recently-used order
      } else {
        stmt = withObjectRows(sqlite.prepare(query));
        if (cache.size >= size) cache.delete(cache.keys().next().value!);
      }
      cache.set(query, stmt);
      return stmt;
    },
  };
}

export async function migrate(db: Kysely<any>): Promise<void> {
  // Unordered: migrations are written on parallel branches (0013 landed after 0014); each is independent of the
  // ones numbered after it, so a database that already ran a later one still takes an earlier newcomer.
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations }, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}

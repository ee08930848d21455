// Queries built and compiled by kysely once, then run with new values: building and compiling a query costs about as
// much as SQLite running a small one, and the series engine runs a dozen small ones per mail.
import type { Compilable, CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';
import type { DbOrTx } from './database.js';

const SLOT = '\u0000prepared-slot:';

type Slot<P> = { key: keyof P } | { value: unknown };

/**
 * `build` receives stand-ins for the parameters (`p.id` …) and uses them where values go; the query is compiled the
 * first time it runs, and later calls put each parameter where its stand-in was. The query's shape must not depend on
 * the values: no branches on them, and a list goes in as one JSON parameter (read with json_each), never as `in (…)`.
 * Values the build writes itself (constants) stay as they were.
 */
export function prepared<P extends object, R>(build: (db: DbOrTx, p: P) => Compilable<R>): (db: DbOrTx, params: P) => Promise<R[]> {
  let query: CompiledQuery<R> | undefined;
  let slots: Slot<P>[] = [];
  const rowsOf = (result: QueryResult<R>) => result.rows;
  return (db, params) => {
    if (!query) {
      const standIns = new Proxy({} as P, { get: (_target, key) => (typeof key === 'string' ? SLOT + key : undefined) });
      query = build(db, standIns).compile();
      slots = query.parameters.map((v) => (typeof v === 'string' && v.startsWith(SLOT) ? { key: v.slice(SLOT.length) as keyof P } : { value: v }));
    }
    // A parameter left out is NULL, as kysely leaves an undefined value out of an insert.
    const compiled: CompiledQuery<R> = { query: query.query, queryId: query.queryId, sql: query.sql, parameters: slots.map((s) => ('key' in s ? (params[s.key] ?? null) : s.value)) };
    if (!db.isTransaction) return db.executeQuery(compiled).then(rowsOf);
    const connection = connections.get(db);
    return (connection ? connection.executeQuery<R>(compiled) : connectionOf(db).then((c) => c.executeQuery<R>(compiled))).then(rowsOf);
  };
}

const connections = new WeakMap<DbOrTx, DatabaseConnection>();

/**
 * The connection a transaction holds. A transaction owns its connection from BEGIN to COMMIT, so a statement may go
 * to it directly instead of through kysely's executor, which builds a new executor and five promises per statement
 * (a third of what filing a mail allocated). Outside a transaction, statements go through kysely, which makes them
 * wait for any transaction running on the connection.
 */
async function connectionOf(tx: DbOrTx): Promise<DatabaseConnection> {
  let connection = connections.get(tx);
  if (!connection) {
    await tx.getExecutor().provideConnection(async (c) => {
      connection = c;
    });
    connections.set(tx, connection!);
  }
  return connection!;
}

// Writes that may wait for the end of the transaction making them: rows that many mails of one processing batch add
// to the same table go in one statement there, instead of one statement per mail.
import type { DbOrTx } from './database.js';

/** Writes a list of rows in the caller's transaction. Identified by the function itself: one buffer per flush. */
export type Flush<T> = (tx: DbOrTx, items: T[]) => Promise<void>;

type Scope = Map<Flush<never>, unknown[]>;

const scopes = new WeakMap<DbOrTx, Scope>();

/**
 * Runs `body` in `tx` (a transaction the caller owns) with deferral on: each deferWrite in it is buffered and made
 * when `body` returns, one flush per kind in the order each kind was first deferred. Should `body` or a flush throw,
 * nothing buffered is written and the caller's transaction is rolled back as it would be anyway.
 */
export async function withDeferredWrites<R>(tx: DbOrTx, body: () => Promise<R>): Promise<R> {
  if (scopes.has(tx)) return body(); // nested: the outer scope flushes
  const scope: Scope = new Map();
  scopes.set(tx, scope);
  try {
    const result = await body();
    for (const [flush, items] of scope) if (items.length) await (flush as Flush<unknown>)(tx, items);
    return result;
  } finally {
    scopes.delete(tx);
  }
}

/**
 * Writes `item` at the end of the enclosing withDeferredWrites of `tx`, or now when there is none (a moderator's
 * approval, a test calling a repository directly). What is deferred must not be read back before the end.
 */
export async function deferWrite<T>(tx: DbOrTx, flush: Flush<T>, item: T): Promise<void> {
  const scope = scopes.get(tx);
  if (!scope) return flush(tx, [item]);
  let items = scope.get(flush as Flush<never>);
  if (!items) scope.set(flush as Flush<never>, (items = []));
  items.push(item);
}

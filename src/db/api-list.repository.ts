// What every API list query shares: the page window, sort keys, LIKE patterns, rows by ids, and a marker that moves on
// any write.
import { sql, type Compilable, type CompiledQuery, type Expression } from 'kysely';
import type { DbOrTx } from './database.js';

/** A page as LIMIT/OFFSET: Patchwork's API pages by number. */
export interface Page {
  limit: number;
  offset: number;
}

/** One ORDER BY key, already checked against the resource's ordering fields. */
export interface SortKey {
  field: string;
  desc: boolean;
}

/** `%`, `_` and `\` of a text made to match themselves in LIKE … ESCAPE '\'. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** `%term%` for LIKE … ESCAPE '\': Patchwork's search is icontains; `%` and `_` in the term match themselves. */
export function likePattern(term: string): string {
  return `%${escapeLike(term)}%`;
}

/**
 * A query over a list of ids (the rows a page embeds), built and compiled by kysely once instead of on every call:
 * building costs about as much as running a small query. The ids go in as one parameter, a JSON array read with
 * json_each, so the SQL text (and the prepared statement) is the same whatever the list's length; SQLite still
 * seeks each id on its index, in ascending order (EXPLAIN QUERY PLAN: SEARCH … USING … (x=?), LIST SUBQUERY).
 */
export function byIds<R>(build: (db: DbOrTx, ids: Expression<number>) => Compilable<R>): (db: DbOrTx, ids: readonly number[]) => Promise<R[]> {
  let compiled: CompiledQuery<R> | undefined;
  return async (db, ids) => {
    if (!ids.length) return [];
    if (!compiled) {
      compiled = build(db, sql<number>`(select value from json_each(${'[]'}))`).compile();
      if (compiled.parameters.length !== 1) throw new Error(`byIds: the query must take only the ids: ${compiled.sql}`);
    }
    return (await db.executeQuery<R>({ ...compiled, parameters: [JSON.stringify([...new Set(ids)])] })).rows;
  };
}

let markerQuery: CompiledQuery<{ t: number; v: number }> | undefined;

/**
 * Changes since this connection opened plus SQLite's data_version (which moves when another connection, such as
 * `patchbay import`, commits): equal markers mean no row changed in between, so a count or a whole answer computed
 * then still holds. Both only grow, so a marker never comes back. Read before every API answer: compiled once.
 */
export async function changeMarker(db: DbOrTx): Promise<string> {
  markerQuery ??= sql<{ t: number; v: number }>`select total_changes() as t, (select data_version from pragma_data_version) as v`.compile(db);
  const row = (await db.executeQuery(markerQuery)).rows[0]!;
  return `${row.t}:${row.v}`;
}

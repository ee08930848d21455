// What every API list query shares: the page window, sort keys, LIKE patterns, and a marker that moves on any write.
import { sql } from 'kysely';
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

/** `%term%` for LIKE … ESCAPE '\': Patchwork's search is icontains; `%` and `_` in the term match themselves. */
export function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Changes since this connection opened plus SQLite's data_version (which moves when another connection, such as
 * `patchbay import`, commits): equal markers mean no row changed in between, so a count taken then still holds.
 */
export async function changeMarker(db: DbOrTx): Promise<string> {
  const r = await sql<{ t: number; v: number }>`select total_changes() as t, (select data_version from pragma_data_version) as v`.execute(db);
  const row = r.rows[0]!;
  return `${row.t}:${row.v}`;
}

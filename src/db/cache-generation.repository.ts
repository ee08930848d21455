// The change generations the caches key their answers by (migration 0018-cache: triggers move them in each writer's
// transaction), and the project a patch, cover letter or series belongs to (which generations its answers read).
import { sql, type CompiledQuery } from 'kysely';
import type { DbOrTx } from './database.js';

let generationsQuery: CompiledQuery<{ scope: string; gen: number }> | undefined;

/** Every scope's generation (a few per project). */
export async function readGenerations(db: DbOrTx): Promise<Map<string, number>> {
  generationsQuery ??= sql<{ scope: string; gen: number }>`select scope, gen from cache_generations`.compile(db);
  return new Map((await db.executeQuery(generationsQuery)).rows.map((r) => [r.scope, r.gen]));
}

const projectQueries = new Map<string, CompiledQuery<{ project_id: number }>>();

/** The project of one patch, cover letter or series; undefined when there is none. */
export async function projectOfRow(db: DbOrTx, table: 'patches' | 'covers' | 'series', id: number): Promise<number | undefined> {
  let q = projectQueries.get(table);
  if (!q) projectQueries.set(table, (q = sql<{ project_id: number }>`select project_id from ${sql.table(table)} where id = ${0}`.compile(db)));
  const compiled: CompiledQuery<{ project_id: number }> = { ...q, parameters: [id] };
  return (await db.executeQuery(compiled)).rows[0]?.project_id;
}

/** The triggers of migration 0018-cache that exist (a table rebuilt by a later migration loses its triggers). */
export async function generationTriggers(db: DbOrTx): Promise<Set<string>> {
  const rows = await sql<{ name: string }>`select name from sqlite_master where type = 'trigger' and name like 'cache_gen_%'`.execute(db);
  return new Set(rows.rows.map((r) => r.name));
}

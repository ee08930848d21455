// Change generations for the response and page caches (issue 16): one counter per (kind, project), moved by triggers in
// the writer's own transaction, so a write by any process (the SMTP intake, a pipeline worker, the CLI) is seen.
import { sql, type Kysely } from 'kysely';

/**
 * Scopes: `*` (what every answer may show: users, people's names, project settings, visibility, bundles),
 * `p:<project>` (submissions: patches, series, covers, comments and what hangs off them), `k:<project>` (checks),
 * `e:<project>` (events), `r:<project>` (pipeline runs). A write bumps one counter (its project's): the answers without
 * one project filter read the sum of a kind's counters, which also only grows.
 */
type Kind = 'p' | 'k' | 'e' | 'r';

/** The project of the row: a column of its own, or found through a parent row. */
type ProjectOf = { column: string } | { parent: string; key: string; parentKey?: string };

const PROJECT_TABLES: Array<{ table: string; kind: Kind; project: ProjectOf; ops?: Op[] }> = [
  { table: 'patches', kind: 'p', project: { column: 'project_id' } },
  { table: 'series', kind: 'p', project: { column: 'project_id' } },
  { table: 'covers', kind: 'p', project: { column: 'project_id' } },
  { table: 'comments', kind: 'p', project: { column: 'project_id' } },
  { table: 'series_assignments', kind: 'p', project: { column: 'project_id' } },
  { table: 'revisions', kind: 'p', project: { parent: 'series', key: 'series_id' } },
  { table: 'series_dependencies', kind: 'p', project: { parent: 'series', key: 'series_id' } },
  { table: 'patch_relation_members', kind: 'p', project: { parent: 'patches', key: 'patch_id' } },
  { table: 'comment_addressed', kind: 'p', project: { parent: 'comments', key: 'comment_id' } },
  { table: 'checks', kind: 'k', project: { parent: 'patches', key: 'patch_id' } },
  { table: 'events', kind: 'e', project: { column: 'project_id' } },
  { table: 'runs', kind: 'r', project: { column: 'project_id' } },
  { table: 'run_steps', kind: 'r', project: { parent: 'runs', key: 'run_id' } },
];

type Op = 'insert' | 'update' | 'delete';
const ALL_OPS: Op[] = ['insert', 'update', 'delete'];

/** Tables whose rows any answer may show, with no one project: a write bumps `*`. A new person shows only with a new submission (which bumps its project): people bump `*` when changed or deleted. */
const GLOBAL_TABLES: Array<{ table: string; ops: Op[] }> = [
  { table: 'users', ops: ALL_OPS },
  { table: 'people', ops: ['update', 'delete'] },
  { table: 'user_settings', ops: ALL_OPS },
  { table: 'project_api_settings', ops: ALL_OPS },
  { table: 'projects', ops: ALL_OPS },
  { table: 'bundles', ops: ALL_OPS },
  { table: 'bundle_patches', ops: ALL_OPS },
  { table: 'students', ops: ALL_OPS },
  { table: 'student_emails', ops: ALL_OPS },
  { table: 'assignment_rules', ops: ALL_OPS },
  { table: 'patch_relations', ops: ALL_OPS },
];

const bump = (scope: string) => `insert into cache_generations (scope, gen) values (${scope}, 1) on conflict (scope) do update set gen = gen + 1;`;

function projectExpr(p: ProjectOf, row: 'new' | 'old'): string {
  if ('column' in p) return `${row}.${p.column}`;
  return `(select project_id from ${p.parent} where ${p.parentKey ?? 'id'} = ${row}.${p.key})`;
}

/** `moved`: an update's old row, bumped only when the row changed project (the new row's bump covers it otherwise). */
function projectBump(kind: Kind, p: ProjectOf, row: 'new' | 'old', moved: boolean): string {
  // A row whose parent is gone has no project: its write still moves the kind's sum, which answers without a filter read.
  const scope = `coalesce('${kind}:' || ${projectExpr(p, row)}, '${kind}:?')`;
  if (!moved) return bump(scope);
  // INSERT … SELECT needs its WHERE before ON CONFLICT (SQLite's upsert parsing rule).
  return `insert into cache_generations (scope, gen) select ${scope}, 1 where ${projectExpr(p, 'old')} is not ${projectExpr(p, 'new')} on conflict (scope) do update set gen = gen + 1;`;
}

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('cache_generations')
    .addColumn('scope', 'text', (c) => c.primaryKey().notNull())
    .addColumn('gen', 'integer', (c) => c.notNull())
    .execute();
  const existing = new Set((await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows.map((r) => r.name));
  for (const { table, kind, project, ops = ALL_OPS } of PROJECT_TABLES) {
    if (!existing.has(table)) continue;
    for (const op of ops) {
      const rows: Array<'new' | 'old'> = op === 'insert' ? ['new'] : op === 'delete' ? ['old'] : ['new', 'old'];
      const body = rows.map((r) => projectBump(kind, project, r, op === 'update' && r === 'old')).join('\n');
      await sql
        .raw(`create trigger cache_gen_${table}_${op} after ${op} on ${table} begin\n${body}\nend`)
        .execute(db);
    }
  }
  for (const { table, ops } of GLOBAL_TABLES) {
    if (!existing.has(table)) continue;
    for (const op of ops) await sql.raw(`create trigger cache_gen_${table}_${op} after ${op} on ${table} begin ${bump(`'*'`)} end`).execute(db);
  }
}

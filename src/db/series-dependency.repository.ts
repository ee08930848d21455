// SQL for series dependencies (migration 0013): what a `Depends-on:` reference names in a project, the links, and the
// dependencies and dependents of a page of series.
import type { DbOrTx } from './database.js';
import { byIds } from './api-list.repository.js';

/** A reference of a `Depends-on:` line (src/series/depends-on.ts), to be found in one project. */
export type DependencyLookup = { kind: 'msgid'; msgid: string } | { kind: 'series' | 'patch' | 'cover'; id: number };

/** The series a reference names in the project, if any: a patch's or cover letter's series, or the series itself. */
export async function seriesOfRef(db: DbOrTx, projectId: number, ref: DependencyLookup): Promise<number | null> {
  switch (ref.kind) {
    case 'msgid': {
      const patch = await db.selectFrom('patches').select('series_id').where('msgid', '=', ref.msgid).where('project_id', '=', projectId).executeTakeFirst();
      if (patch) return patch.series_id;
      const cover = await db.selectFrom('covers').select('series_id').where('msgid', '=', ref.msgid).where('project_id', '=', projectId).executeTakeFirst();
      return cover?.series_id ?? null;
    }
    case 'series':
      return (await db.selectFrom('series').select('id').where('id', '=', ref.id).where('project_id', '=', projectId).executeTakeFirst())?.id ?? null;
    case 'patch':
      return (await db.selectFrom('patches').select('series_id').where('id', '=', ref.id).where('project_id', '=', projectId).executeTakeFirst())?.series_id ?? null;
    case 'cover':
      return (await db.selectFrom('covers').select('series_id').where('id', '=', ref.id).where('project_id', '=', projectId).executeTakeFirst())?.series_id ?? null;
  }
}

export async function addSeriesDependencies(db: DbOrTx, seriesId: number, dependsOn: number[]): Promise<void> {
  if (!dependsOn.length) return;
  await db
    .insertInto('series_dependencies')
    .values(dependsOn.map((d) => ({ series_id: seriesId, depends_on_id: d })))
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** (series, the series it depends on) for these series, by the second's id. */
export const dependenciesOf: (db: DbOrTx, seriesIds: readonly number[]) => Promise<{ series_id: number; depends_on_id: number }[]> = byIds((db, ids) =>
  db.selectFrom('series_dependencies').select(['series_id', 'depends_on_id']).where('series_id', 'in', ids).orderBy('series_id').orderBy('depends_on_id'),
);

/** (series, a series that depends on it) for these series, read on the reverse index. */
export const dependentsOf: (db: DbOrTx, seriesIds: readonly number[]) => Promise<{ series_id: number; depends_on_id: number }[]> = byIds((db, ids) =>
  db.selectFrom('series_dependencies').select(['series_id', 'depends_on_id']).where('depends_on_id', 'in', ids).orderBy('depends_on_id').orderBy('series_id'),
);

// Files a cover letter's or patch's `Depends-on:` references (depends-on.ts) as dependencies of its series: each one
// names a series of the same project, never the series itself (Patchwork's Series.add_dependencies).
import type { DbOrTx } from '../db/database.js';
import { addSeriesDependencies, seriesOfRef } from '../db/series-dependency.repository.js';
import type { DependencyRef } from './depends-on.js';

export async function fileDependencies(tx: DbOrTx, projectId: number, seriesId: number, refs: DependencyRef[]): Promise<number[]> {
  const found = new Set<number>();
  for (const ref of refs) {
    const id = await seriesOfRef(tx, projectId, ref);
    if (id !== null && id !== seriesId) found.add(id);
  }
  await addSeriesDependencies(tx, seriesId, [...found]);
  return [...found];
}

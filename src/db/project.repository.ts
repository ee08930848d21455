// SQL for projects: the rows mirror projects/*.yaml and are refreshed at every start.
import type { DbOrTx } from './database.js';
import { nowIso } from './database.js';

export interface ProjectRowInput {
  slug: string;
  name: string;
  listAddress: string;
  policy: string;
}

/** Inserts or updates each project by slug; returns slug -> id. */
export async function upsertProjects(db: DbOrTx, projects: ProjectRowInput[]): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const p of projects) {
    const row = await db
      .insertInto('projects')
      .values({ slug: p.slug, name: p.name, list_address: p.listAddress, policy: p.policy, created_at: nowIso() })
      .onConflict((oc) => oc.column('slug').doUpdateSet({ name: p.name, list_address: p.listAddress, policy: p.policy }))
      .returning('id')
      .executeTakeFirstOrThrow();
    ids.set(p.slug, row.id);
  }
  return ids;
}

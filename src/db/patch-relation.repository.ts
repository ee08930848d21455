// SQL for patch relations (migration 0013, Patchwork's PatchRelation): which relation each patch is in, the other
// patches of a page's relations, and the writes of PATCH /api/patches/N/ {"related": [...]}.
import type { DbOrTx } from './database.js';
import { byIds } from './api-list.repository.js';

/** The relation of each of these patches that has one. */
export const relationsOf: (db: DbOrTx, patchIds: readonly number[]) => Promise<{ patch_id: number; relation_id: number }[]> = byIds((db, ids) =>
  db.selectFrom('patch_relation_members').select(['patch_id', 'relation_id']).where('patch_id', 'in', ids),
);

/** (patch, another patch of its relation) for these patches, the others by id: what `related` lists. */
export const relatedOf: (db: DbOrTx, patchIds: readonly number[]) => Promise<{ patch_id: number; related_id: number }[]> = byIds((db, ids) =>
  db
    .selectFrom('patch_relation_members as m')
    .innerJoin('patch_relation_members as o', 'o.relation_id', 'm.relation_id')
    .select(['m.patch_id as patch_id', 'o.patch_id as related_id'])
    .where('m.patch_id', 'in', ids)
    .whereRef('o.patch_id', '!=', 'm.patch_id')
    .orderBy('m.patch_id')
    .orderBy('o.patch_id'),
);

/** Whether any patch is in a relation at all (most trackers have none: their pages then skip relatedOf). */
export async function anyRelation(db: DbOrTx): Promise<boolean> {
  return (await db.selectFrom('patch_relation_members').select('patch_id').limit(1).executeTakeFirst()) !== undefined;
}

export async function membersOf(db: DbOrTx, relationId: number): Promise<number[]> {
  return (await db.selectFrom('patch_relation_members').select('patch_id').where('relation_id', '=', relationId).orderBy('patch_id').execute()).map((r) => r.patch_id);
}

export async function createRelation(db: DbOrTx, now: string): Promise<number> {
  return (await db.insertInto('patch_relations').values({ created_at: now }).returning('id').executeTakeFirstOrThrow()).id;
}

/** Puts the patch in the relation, or takes it out of any (null). */
export async function setPatchRelation(db: DbOrTx, patchId: number, relationId: number | null): Promise<void> {
  if (relationId === null) {
    await db.deleteFrom('patch_relation_members').where('patch_id', '=', patchId).execute();
    return;
  }
  await db
    .insertInto('patch_relation_members')
    .values({ patch_id: patchId, relation_id: relationId })
    .onConflict((oc) => oc.column('patch_id').doUpdateSet({ relation_id: relationId }))
    .execute();
}

/** Removes a relation and, with it, every patch's membership. */
export async function deleteRelation(db: DbOrTx, relationId: number): Promise<void> {
  await db.deleteFrom('patch_relations').where('id', '=', relationId).execute();
}

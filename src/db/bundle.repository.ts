// SQL for bundles: a user's named, ordered list of patches of one project, private or public.
import { sql, type SelectQueryBuilder } from 'kysely';
import type { BundleRow } from './api-schema.js';
import type { DbOrTx } from './database.js';
import type { Database } from './schema.js';
import { nowIso } from './database.js';
import { likePattern, type Page, type SortKey } from './api-list.repository.js';
import { inOrder } from './api-patch.repository.js';

export interface BundleFilter {
  /** Bundles this user may see besides the public ones (null: anonymous, public only). */
  viewerId: number | null;
  projectIds?: number[];
  ownerIds?: number[];
  public?: boolean;
  terms: string[];
}

const BUNDLE_SORT: Record<string, string> = { id: 'id', name: 'name', owner: 'owner_id' };
export const BUNDLE_SORT_FIELDS = Object.keys(BUNDLE_SORT);

type BundleQuery = SelectQueryBuilder<Database, 'bundles', object>;

function filterBundles(db: DbOrTx, f: BundleFilter): BundleQuery {
  let q = db.selectFrom('bundles') as BundleQuery;
  const viewer = f.viewerId;
  q = viewer === null ? q.where('public', '=', 1) : q.where((eb) => eb.or([eb('public', '=', 1), eb('owner_id', '=', viewer)]));
  if (f.projectIds) q = q.where('project_id', 'in', f.projectIds);
  if (f.ownerIds) q = q.where('owner_id', 'in', f.ownerIds);
  if (f.public !== undefined) q = q.where('public', '=', f.public ? 1 : 0);
  for (const t of f.terms) q = q.where(sql<boolean>`name like ${likePattern(t)} escape '\\'`);
  return q;
}

export async function countBundles(db: DbOrTx, f: BundleFilter): Promise<number> {
  return Number((await filterBundles(db, f).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
}

export async function pageBundles(db: DbOrTx, f: BundleFilter, sort: SortKey[], page: Page): Promise<BundleRow[]> {
  let q = filterBundles(db, f).select('id');
  for (const s of sort) if (s.field !== 'id') q = q.orderBy(sql.ref(BUNDLE_SORT[s.field]!), s.desc ? 'desc' : 'asc');
  q = q.orderBy('id', sort[sort.length - 1]?.desc ? 'desc' : 'asc');
  const ids = (await q.limit(page.limit).offset(page.offset).execute()).map((r) => r.id);
  if (!ids.length) return [];
  return inOrder(ids, await db.selectFrom('bundles').selectAll().where('id', 'in', ids).execute());
}

export async function getBundle(db: DbOrTx, id: number): Promise<BundleRow | undefined> {
  return db.selectFrom('bundles').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findBundle(db: DbOrTx, ownerId: number, name: string): Promise<BundleRow | undefined> {
  return db.selectFrom('bundles').selectAll().where('owner_id', '=', ownerId).where('name', '=', name).executeTakeFirst();
}

/** Patch ids of these bundles, each bundle's in its order. */
export async function bundlePatchIds(db: DbOrTx, bundleIds: number[]): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>(bundleIds.map((id) => [id, []]));
  if (!bundleIds.length) return out;
  const rows = await db
    .selectFrom('bundle_patches')
    .select(['bundle_id', 'patch_id'])
    .where('bundle_id', 'in', [...new Set(bundleIds)])
    .orderBy('bundle_id')
    .orderBy('position')
    .execute();
  for (const r of rows) out.get(r.bundle_id)!.push(r.patch_id);
  return out;
}

export async function insertBundle(db: DbOrTx, b: { ownerId: number; projectId: number; name: string; public: boolean }): Promise<number> {
  const row = await db
    .insertInto('bundles')
    .values({ owner_id: b.ownerId, project_id: b.projectId, name: b.name, public: b.public ? 1 : 0, created_at: nowIso() })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function updateBundle(db: DbOrTx, id: number, set: Partial<{ name: string; public: 0 | 1; project_id: number }>): Promise<void> {
  if (!Object.keys(set).length) return;
  await db.updateTable('bundles').set(set).where('id', '=', id).execute();
}

/** Replaces the bundle's patches with these, in this order (Patchwork's overwrite_patches). */
export async function setBundlePatches(db: DbOrTx, bundleId: number, patchIds: number[]): Promise<void> {
  await db.deleteFrom('bundle_patches').where('bundle_id', '=', bundleId).execute();
  if (!patchIds.length) return;
  await db
    .insertInto('bundle_patches')
    .values(patchIds.map((patchId, i) => ({ bundle_id: bundleId, patch_id: patchId, position: i + 1 })))
    .execute();
}

export async function deleteBundle(db: DbOrTx, id: number): Promise<void> {
  await db.deleteFrom('bundle_patches').where('bundle_id', '=', id).execute();
  await db.deleteFrom('bundles').where('id', '=', id).execute();
}

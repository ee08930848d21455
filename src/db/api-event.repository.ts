// SQL for the REST API's events and checks: events page on (date) or (project, date); checks by patch.
import { sql, type SelectQueryBuilder } from 'kysely';
import type { CheckRow } from './api-schema.js';
import type { DbOrTx } from './database.js';
import type { Database } from './schema.js';
import type { EventRow } from './series-schema.js';
import { byIds, type Page, type SortKey } from './api-list.repository.js';
import { EVENT_SERIES, scopeCondition, type RowScope } from './visibility.repository.js';

export interface EventFilter {
  /** What the reader may see (private projects); absent: everything. */
  scope?: RowScope;
  projectIds?: number[];
  categories?: string[];
  excludeCategories: string[];
  seriesIds?: number[];
  patchIds?: number[];
  coverIds?: number[];
  actorIds?: number[];
  since?: string;
  before?: string;
}

type EventQuery = SelectQueryBuilder<Database, 'events', object>;

function filterEvents(db: DbOrTx, f: EventFilter): EventQuery {
  let q = db.selectFrom('events') as EventQuery;
  if (f.projectIds) q = q.where('project_id', 'in', f.projectIds);
  if (f.scope) q = q.where(scopeCondition(f.scope, 'events.project_id', EVENT_SERIES));
  if (f.categories) q = q.where('category', 'in', f.categories);
  if (f.excludeCategories.length) q = q.where('category', 'not in', f.excludeCategories);
  if (f.seriesIds) q = q.where('series_id', 'in', f.seriesIds);
  if (f.patchIds) q = q.where('patch_id', 'in', f.patchIds);
  if (f.coverIds) q = q.where('cover_id', 'in', f.coverIds);
  if (f.actorIds) q = q.where('actor_id', 'in', f.actorIds);
  if (f.since !== undefined) q = q.where('date', '>=', f.since);
  if (f.before !== undefined) q = q.where('date', '<', f.before);
  return q;
}

/** Whether any event of these categories exists (read on the category index: a lookup, not a scan). */
export async function anyEventOf(db: DbOrTx, categories: string[]): Promise<boolean> {
  return (await db.selectFrom('events').select('id').where('category', 'in', categories).limit(1).executeTakeFirst()) !== undefined;
}

export async function countEvents(db: DbOrTx, f: EventFilter): Promise<number> {
  return Number((await filterEvents(db, f).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
}

/**
 * The ids of one page, in order (then eventRows). Patchwork orders events by date only; ties (one mail's events share
 * a timestamp) go by id the same way.
 */
export async function pageEventIds(db: DbOrTx, f: EventFilter, sort: SortKey[], page: Page): Promise<number[]> {
  const desc = sort[0]?.desc ?? true;
  return (
    await filterEvents(db, f)
      .select('id')
      .orderBy('date', desc ? 'desc' : 'asc')
      .orderBy('id', desc ? 'desc' : 'asc')
      .limit(page.limit)
      .offset(page.offset)
      .execute()
  ).map((r) => r.id);
}

export const eventRows: (db: DbOrTx, ids: readonly number[]) => Promise<EventRow[]> = byIds((db, ids) => db.selectFrom('events').selectAll().where('id', 'in', ids));

// Checks.

export interface CheckFilter {
  userIds?: number[];
  states?: string[];
  contexts?: string[];
  since?: string;
  before?: string;
}

export async function checksOfPatch(db: DbOrTx, patchId: number, f: CheckFilter): Promise<CheckRow[]> {
  let q = db.selectFrom('checks').selectAll().where('patch_id', '=', patchId);
  if (f.userIds) q = q.where('user_id', 'in', f.userIds);
  if (f.states) q = q.where('state', 'in', f.states);
  if (f.contexts) q = q.where('context', 'in', f.contexts);
  if (f.since !== undefined) q = q.where('date', '>=', f.since);
  if (f.before !== undefined) q = q.where('date', '<', f.before);
  return q.orderBy('id').execute();
}

export async function getCheck(db: DbOrTx, patchId: number, id: number): Promise<CheckRow | undefined> {
  return db.selectFrom('checks').selectAll().where('patch_id', '=', patchId).where('id', '=', id).executeTakeFirst();
}

export const checkRows: (db: DbOrTx, ids: readonly number[]) => Promise<CheckRow[]> = byIds((db, ids) => db.selectFrom('checks').selectAll().where('id', 'in', ids));

/** What the combined state of each patch needs: every check's user, context, state, in id order. */
export const checkStatesOf: (db: DbOrTx, patchIds: readonly number[]) => Promise<{ patch_id: number; user_id: number | null; context: string; state: string }[]> = byIds((db, ids) =>
  db.selectFrom('checks').select(['patch_id', 'user_id', 'context', 'state']).where('patch_id', 'in', ids).orderBy('patch_id').orderBy('id'),
);

export async function insertCheck(
  db: DbOrTx,
  c: { patchId: number; userId: number | null; date: string; state: string; targetUrl: string | null; context: string; description: string | null },
): Promise<number> {
  const row = await db
    .insertInto('checks')
    .values({ patch_id: c.patchId, user_id: c.userId, date: c.date, state: c.state, target_url: c.targetUrl, context: c.context, description: c.description })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Removes the `pending` checks a pipeline step wrote when it started (its user, context and log URL, on these
 * patches) with their check-created events: a step that turned out not to run leaves no check (docs/pipeline.md,
 * "Checks"). Returns how many checks went.
 */
export async function deletePendingChecks(db: DbOrTx, c: { userId: number; context: string; targetUrl: string; patchIds: number[] }): Promise<number> {
  if (!c.patchIds.length) return 0;
  const rows = await db
    .selectFrom('checks')
    .select('id')
    .where('user_id', '=', c.userId)
    .where('context', '=', c.context)
    .where('target_url', '=', c.targetUrl)
    .where('state', '=', 'pending')
    .where('patch_id', 'in', c.patchIds)
    .execute();
  const ids = rows.map((r) => r.id);
  if (!ids.length) return 0;
  await db
    .deleteFrom('events')
    .where('category', '=', 'check-created')
    .where('patch_id', 'in', c.patchIds)
    .where(sql<number>`json_extract(payload, '$.check')`, 'in', ids)
    .execute();
  await db.deleteFrom('checks').where('id', 'in', ids).execute();
  return ids.length;
}

/** Ids among these that name an existing row of the table (unknown filter values empty the list, as in Patchwork). */
export async function existingIds(db: DbOrTx, table: 'patches' | 'covers' | 'series', ids: number[]): Promise<number[]> {
  if (!ids.length) return [];
  return (await db.selectFrom(table).select('id').where('id', 'in', ids).execute()).map((r) => r.id);
}


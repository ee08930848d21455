// SQL for the REST API's series and people: filtered id pages on indexes, then rows by id.
import { sql, type SelectQueryBuilder } from 'kysely';
import type { DbOrTx } from './database.js';
import type { Database } from './schema.js';
import { byIds, likePattern, type Page, type SortKey } from './api-list.repository.js';
import { idOrder } from './api-patch.repository.js';
import { scopeCondition, seriesOfColumn, type RowScope } from './visibility.repository.js';

export interface SeriesFilter {
  /** What the reader may see (private projects); absent: everything. */
  scope?: RowScope;
  projectIds?: number[];
  submitterIds?: number[];
  since?: string;
  before?: string;
  terms: string[];
}

export interface SeriesListRow {
  id: number;
  project_id: number;
  name: string | null;
  date: string;
  version: number;
  total: number;
  submitter_id: number;
  cover_id: number | null;
}

const SERIES_LIST = ['id', 'project_id', 'name', 'date', 'version', 'total', 'submitter_id', 'cover_id'] as const;
const SERIES_SORT: Record<string, string> = { id: 'id', name: 'name', date: 'date', submitter: 'submitter_id' };
/**
 * Patchwork's SeriesList.ordering_fields. received_all is derived (total <= patches received), so ordering on it
 * counts each filtered series' patches on the patches_series_embed index (migration 0018): false before true, as Django sorts booleans.
 */
export const SERIES_SORT_FIELDS = [...Object.keys(SERIES_SORT), 'received_all'];
const RECEIVED_ALL = sql`(total <= (select count(*) from patches where patches.series_id = series.id))`;

type SeriesQuery = SelectQueryBuilder<Database, 'series', object>;

function filterSeries(db: DbOrTx, f: SeriesFilter): SeriesQuery {
  let q = db.selectFrom('series') as SeriesQuery;
  if (f.projectIds) q = q.where('project_id', 'in', f.projectIds);
  if (f.scope) q = q.where(scopeCondition(f.scope, 'series.project_id', seriesOfColumn('series.id')));
  if (f.submitterIds) q = q.where('submitter_id', 'in', f.submitterIds);
  if (f.since !== undefined) q = q.where('date', '>=', f.since);
  if (f.before !== undefined) q = q.where('date', '<', f.before);
  for (const t of f.terms) q = q.where(sql<boolean>`name like ${likePattern(t)} escape '\\'`);
  return q;
}

export async function countSeries(db: DbOrTx, f: SeriesFilter): Promise<number> {
  return Number((await filterSeries(db, f).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
}

/** The ids of one page, in order (then seriesRows). */
export async function pageSeriesIds(db: DbOrTx, f: SeriesFilter, sort: SortKey[], page: Page): Promise<number[]> {
  let q = filterSeries(db, f).select('id');
  for (const s of sort) {
    if (s.field === 'received_all') q = q.orderBy(RECEIVED_ALL, s.desc ? 'desc' : 'asc');
    else if (SERIES_SORT[s.field] && s.field !== 'id') q = q.orderBy(sql.ref(SERIES_SORT[s.field]!), s.desc ? 'desc' : 'asc');
  }
  q = q.orderBy(idOrder(f), sort[sort.length - 1]?.desc ? 'desc' : 'asc');
  return (await q.limit(page.limit).offset(page.offset).execute()).map((r) => r.id);
}

export const seriesRows: (db: DbOrTx, ids: readonly number[]) => Promise<SeriesListRow[]> = byIds((db, ids) => db.selectFrom('series').select(SERIES_LIST).where('id', 'in', ids));

// People.

export interface PersonRow {
  id: number;
  name: string | null;
  email: string;
}

const PERSON_SORT: Record<string, string> = { id: 'id', name: 'name', email: 'email' };
export const PERSON_SORT_FIELDS = Object.keys(PERSON_SORT);

export const peopleRows: (db: DbOrTx, ids: readonly number[]) => Promise<PersonRow[]> = byIds((db, ids) => db.selectFrom('people').select(['id', 'name', 'email']).where('id', 'in', ids));

/** Ids of people matching each value: an integer is an id, anything else an email (stored lowercase). */
export async function resolvePeople(db: DbOrTx, values: string[]): Promise<number[]> {
  const ids = values.filter((v) => /^\d+$/.test(v)).map(Number);
  const emails = values.filter((v) => !/^\d+$/.test(v)).map((v) => v.toLowerCase());
  const rows = await db
    .selectFrom('people')
    .select('id')
    .where((eb) => eb.or([eb('id', 'in', ids.length ? ids : [-1]), eb('email', 'in', emails.length ? emails : [''])]))
    .execute();
  return rows.map((r) => r.id);
}

/** `byEmail` false: neither `q` nor the order reads the email (see listUsers). */
export async function listPeople(db: DbOrTx, q: { terms: string[]; sort: SortKey[]; page: Page; byEmail?: boolean }): Promise<{ total: number; rows: PersonRow[] }> {
  const byEmail = q.byEmail ?? true;
  let query = db.selectFrom('people');
  for (const t of q.terms) {
    const like = likePattern(t);
    query = query.where((eb) => eb.or([eb(sql`name`, 'like', sql`${like} escape '\\'`), ...(byEmail ? [eb(sql`email`, 'like', sql`${like} escape '\\'`)] : [])]));
  }
  const total = Number((await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  let rows = query.select(['id', 'name', 'email']);
  for (const s of q.sort) rows = rows.orderBy(sql.ref(s.field === 'email' && !byEmail ? 'id' : PERSON_SORT[s.field]!), s.desc ? 'desc' : 'asc');
  return { total, rows: await rows.orderBy('id').limit(q.page.limit).offset(q.page.offset).execute() };
}

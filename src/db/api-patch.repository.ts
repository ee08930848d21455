// SQL for the REST API's patches, cover letters and comments: filtered id pages on indexes, then rows by id.
import { sql, type SelectQueryBuilder } from 'kysely';
import type { DbOrTx } from './database.js';
import type { Database } from './schema.js';
import { byIds, likePattern, type Page, type SortKey } from './api-list.repository.js';
import { scopeCondition, seriesOfColumn, type RowScope } from './visibility.repository.js';

/** Every field is an AND; each list inside is an OR (repeated query keys). Undefined means "not filtered". */
export interface PatchFilter {
  /** What the reader may see (private projects); absent: everything. */
  scope?: RowScope;
  projectIds?: number[];
  seriesIds?: number[];
  submitterIds?: number[];
  delegateIds?: number[];
  states?: string[];
  archived?: boolean;
  hash?: string;
  msgid?: string;
  since?: string;
  before?: string;
  terms: string[];
}

export interface PatchListRow {
  id: number;
  project_id: number;
  msgid: string;
  date: string;
  name: string;
  commit_ref: string | null;
  pull_url: string | null;
  state: string;
  archived: 0 | 1;
  hash: string | null;
  submitter_id: number;
  delegate_id: number | null;
  series_id: number;
  number: number;
}

export interface PatchDetailRow extends PatchListRow {
  content: string;
  diff: string | null;
  mail_id: number;
}

const PATCH_LIST = ['id', 'project_id', 'msgid', 'date', 'name', 'commit_ref', 'pull_url', 'state', 'archived', 'hash', 'submitter_id', 'delegate_id', 'series_id', 'number'] as const;

const PATCH_SORT: Record<string, string> = {
  id: 'id',
  name: 'name',
  project: 'project_id',
  date: 'date',
  state: 'state',
  archived: 'archived',
  submitter: 'submitter_id',
};

type PatchQuery = SelectQueryBuilder<Database, 'patches', object>;

function filterPatches(db: DbOrTx, f: PatchFilter): PatchQuery {
  let q = db.selectFrom('patches') as PatchQuery;
  if (f.projectIds) q = q.where('project_id', 'in', f.projectIds);
  if (f.scope) q = q.where(scopeCondition(f.scope, 'patches.project_id', seriesOfColumn('patches.series_id')));
  if (f.seriesIds) q = q.where('series_id', 'in', f.seriesIds);
  if (f.submitterIds) q = q.where('submitter_id', 'in', f.submitterIds);
  if (f.delegateIds) q = q.where('delegate_id', 'in', f.delegateIds);
  if (f.states) q = q.where('state', 'in', f.states);
  if (f.archived !== undefined) q = q.where('archived', '=', f.archived ? 1 : 0);
  // Hashes are stored lowercase (hex); Patchwork matches iexact.
  if (f.hash !== undefined) q = q.where('hash', '=', f.hash.toLowerCase());
  if (f.msgid !== undefined) q = q.where('msgid', '=', f.msgid);
  if (f.since !== undefined) q = q.where('date', '>=', f.since);
  if (f.before !== undefined) q = q.where('date', '<', f.before);
  for (const t of f.terms) q = q.where(sql<boolean>`name like ${likePattern(t)} escape '\\'`);
  return q;
}

export async function countPatches(db: DbOrTx, f: PatchFilter): Promise<number> {
  const r = await filterPatches(db, f).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The ids of one page, in order: read from an index alone where the filter and order allow (then patchListRows). */
export async function pagePatchIds(db: DbOrTx, f: PatchFilter, sort: SortKey[], page: Page): Promise<number[]> {
  let q = filterPatches(db, f).select('id');
  for (const s of sort) if (s.field !== 'id') q = q.orderBy(sql.ref(PATCH_SORT[s.field]!), s.desc ? 'desc' : 'asc');
  q = q.orderBy(idOrder(f), sort[sort.length - 1]?.desc ? 'desc' : 'asc');
  return (await q.limit(page.limit).offset(page.offset).execute()).map((r) => r.id);
}

export const PATCH_SORT_FIELDS = Object.keys(PATCH_SORT);

export const patchListRows: (db: DbOrTx, ids: readonly number[]) => Promise<PatchListRow[]> = byIds((db, ids) => db.selectFrom('patches').select(PATCH_LIST).where('id', 'in', ids));

export async function patchDetailRow(db: DbOrTx, id: number): Promise<PatchDetailRow | undefined> {
  return db
    .selectFrom('patches')
    .select([...PATCH_LIST, 'content', 'diff', 'mail_id'])
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Embedded patches (id, msgid, date, name) of these series, by series then number. */
export const patchesOfSeriesList: (db: DbOrTx, seriesIds: readonly number[]) => Promise<{ id: number; series_id: number; msgid: string; date: string; name: string; project_id: number }[]> = byIds(
  (db, ids) => db.selectFrom('patches').select(['id', 'series_id', 'msgid', 'date', 'name', 'project_id']).where('series_id', 'in', ids).orderBy('series_id').orderBy('number').orderBy('id'),
);

export const embeddedPatches: (db: DbOrTx, ids: readonly number[]) => Promise<{ id: number; msgid: string; date: string; name: string; project_id: number }[]> = byIds((db, ids) =>
  db.selectFrom('patches').select(['id', 'msgid', 'date', 'name', 'project_id']).where('id', 'in', ids),
);

export async function patchProject(db: DbOrTx, id: number): Promise<{ id: number; project_id: number; submitter_id: number; delegate_id: number | null } | undefined> {
  return db.selectFrom('patches').select(['id', 'project_id', 'submitter_id', 'delegate_id']).where('id', '=', id).executeTakeFirst();
}

/** The header block of stored mails (latin1, as the raw helpers read it), by mail id. */
const mailRows = byIds((db, ids) => db.selectFrom('mails').select(['id', 'raw', 'subject']).where('id', 'in', ids));

export async function mailHeaders(db: DbOrTx, mailIds: number[]): Promise<Map<number, { raw: Buffer; subject: string | null }>> {
  return new Map((await mailRows(db, mailIds)).map((r) => [r.id, { raw: r.raw, subject: r.subject }]));
}

// Cover letters.

export interface CoverFilter {
  /** What the reader may see (private projects); absent: everything. */
  scope?: RowScope;
  projectIds?: number[];
  seriesIds?: number[];
  submitterIds?: number[];
  msgid?: string;
  since?: string;
  before?: string;
  terms: string[];
}

export interface CoverListRow {
  id: number;
  project_id: number;
  msgid: string;
  date: string;
  name: string;
  submitter_id: number;
  series_id: number | null;
}

const COVER_LIST = ['id', 'project_id', 'msgid', 'date', 'name', 'submitter_id', 'series_id'] as const;
const COVER_SORT: Record<string, string> = { id: 'id', name: 'name', date: 'date', submitter: 'submitter_id' };
export const COVER_SORT_FIELDS = Object.keys(COVER_SORT);

type CoverQuery = SelectQueryBuilder<Database, 'covers', object>;

function filterCovers(db: DbOrTx, f: CoverFilter): CoverQuery {
  let q = db.selectFrom('covers') as CoverQuery;
  if (f.projectIds) q = q.where('project_id', 'in', f.projectIds);
  if (f.scope) q = q.where(scopeCondition(f.scope, 'covers.project_id', seriesOfColumn('covers.series_id')));
  if (f.seriesIds) q = q.where('series_id', 'in', f.seriesIds);
  if (f.submitterIds) q = q.where('submitter_id', 'in', f.submitterIds);
  if (f.msgid !== undefined) q = q.where('msgid', '=', f.msgid);
  if (f.since !== undefined) q = q.where('date', '>=', f.since);
  if (f.before !== undefined) q = q.where('date', '<', f.before);
  for (const t of f.terms) q = q.where(sql<boolean>`name like ${likePattern(t)} escape '\\'`);
  return q;
}

export async function countCovers(db: DbOrTx, f: CoverFilter): Promise<number> {
  return Number((await filterCovers(db, f).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
}

/** The ids of one page, in order (then coverRows). */
export async function pageCoverIds(db: DbOrTx, f: CoverFilter, sort: SortKey[], page: Page): Promise<number[]> {
  let q = filterCovers(db, f).select('id');
  for (const s of sort) if (s.field !== 'id') q = q.orderBy(sql.ref(COVER_SORT[s.field]!), s.desc ? 'desc' : 'asc');
  q = q.orderBy(idOrder(f), sort[sort.length - 1]?.desc ? 'desc' : 'asc');
  return (await q.limit(page.limit).offset(page.offset).execute()).map((r) => r.id);
}

export const coverRows: (db: DbOrTx, ids: readonly number[]) => Promise<CoverListRow[]> = byIds((db, ids) => db.selectFrom('covers').select(COVER_LIST).where('id', 'in', ids));

export async function coverDetailRow(db: DbOrTx, id: number): Promise<(CoverListRow & { content: string; mail_id: number }) | undefined> {
  return db.selectFrom('covers').select([...COVER_LIST, 'content', 'mail_id']).where('id', '=', id).executeTakeFirst();
}

// Comments on a patch or a cover letter.

export interface CommentRowOut {
  id: number;
  project_id: number;
  msgid: string;
  date: string;
  submitter_id: number;
  content: string;
  mail_id: number;
  patch_id: number | null;
  cover_id: number | null;
  /** Patchwork's null until someone sets it. */
  addressed: 0 | 1 | null;
}

const COMMENT_SORT: Record<string, string> = { id: 'comments.id', subject: 'mails.subject', date: 'comments.date', submitter: 'comments.submitter_id' };
export const COMMENT_SORT_FIELDS = Object.keys(COMMENT_SORT);

function commentsQuery(db: DbOrTx) {
  return db
    .selectFrom('comments')
    .innerJoin('mails', 'mails.id', 'comments.mail_id')
    .leftJoin('comment_addressed', 'comment_addressed.comment_id', 'comments.id')
    .select([
      'comments.id',
      'comments.project_id',
      'comments.msgid',
      'comments.date',
      'comments.submitter_id',
      'comments.content',
      'comments.mail_id',
      'comments.patch_id',
      'comments.cover_id',
      'comment_addressed.addressed',
    ]);
}

/** Comments of one patch or cover: a parent has few, so one query reads them all and counts them. */
export async function commentsOf(
  db: DbOrTx,
  parent: { kind: 'patch' | 'cover'; id: number },
  q: { terms: string[]; sort: SortKey[] },
): Promise<CommentRowOut[]> {
  let query = commentsQuery(db).where(parent.kind === 'patch' ? 'comments.patch_id' : 'comments.cover_id', '=', parent.id);
  for (const t of q.terms) query = query.where(sql<boolean>`mails.subject like ${likePattern(t)} escape '\\'`);
  for (const s of q.sort) query = query.orderBy(sql.ref(COMMENT_SORT[s.field]!), s.desc ? 'desc' : 'asc');
  return query.orderBy('comments.id').execute();
}

export async function commentRow(db: DbOrTx, id: number): Promise<CommentRowOut | undefined> {
  return commentsQuery(db).where('comments.id', '=', id).executeTakeFirst();
}

export const commentRows: (db: DbOrTx, ids: readonly number[]) => Promise<CommentRowOut[]> = byIds((db, ids) => commentsQuery(db).where('comments.id', 'in', ids));

/** Sets a comment's `addressed` (true, false) or clears it back to Patchwork's null. */
export async function setCommentAddressed(db: DbOrTx, id: number, addressed: boolean | null, now: string): Promise<void> {
  if (addressed === null) {
    await db.deleteFrom('comment_addressed').where('comment_id', '=', id).execute();
    return;
  }
  const value = addressed ? 1 : 0;
  await db
    .insertInto('comment_addressed')
    .values({ comment_id: id, updated_at: now, addressed: value })
    .onConflict((oc) => oc.column('comment_id').doUpdateSet({ addressed: value, updated_at: now }))
    .execute();
}

/**
 * The id as the last ORDER BY key. With a date range, `+id` keeps SQLite from walking the whole table in rowid order
 * while it filters on the date: it reads the range from the date index and sorts just that.
 */
export function idOrder(f: { since?: string; before?: string }) {
  return f.since !== undefined || f.before !== undefined ? sql`+id` : sql`id`;
}

/** Rows in the order of `ids` (SQL `IN` returns them in index order). */
export function inOrder<T extends { id: number }>(ids: number[], rows: T[]): T[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

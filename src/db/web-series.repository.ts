// SQL for the web view's series, patch and cover pages: a series with its cover, patches, revision chain, latest run
// and checks; a patch or cover by Message-ID with its comments and state history. Every query reads an index
// (series and revisions by primary key, patches_series_embed, patches_msgid, covers_msgid, comments_patch/_cover,
// checks_patch_state, events_patch, runs_series): a page costs a handful of index lookups whatever the database's size.
import { sql } from 'kysely';
import type { DbOrTx } from './database.js';
import type { RunRow } from './pipeline-schema.js';

export interface WebSeriesRow {
  id: number;
  project_id: number;
  name: string | null;
  version: number;
  total: number;
  date: string;
  cover_id: number | null;
  completed: 0 | 1;
  submitter_name: string | null;
  submitter_email: string;
}

export async function webSeries(db: DbOrTx, id: number): Promise<WebSeriesRow | undefined> {
  return db
    .selectFrom('series')
    .innerJoin('people', 'people.id', 'series.submitter_id')
    .select(['series.id', 'series.project_id', 'series.name', 'series.version', 'series.total', 'series.date', 'series.cover_id', 'series.completed'])
    .select(['people.name as submitter_name', 'people.email as submitter_email'])
    .where('series.id', '=', id)
    .executeTakeFirst();
}

export interface WebCoverRow {
  id: number;
  project_id: number;
  msgid: string;
  series_id: number | null;
  name: string;
  content: string;
  date: string;
  submitter_name: string | null;
  submitter_email: string;
}

const coverQuery = (db: DbOrTx) =>
  db
    .selectFrom('covers')
    .innerJoin('people', 'people.id', 'covers.submitter_id')
    .select(['covers.id', 'covers.project_id', 'covers.msgid', 'covers.series_id', 'covers.name', 'covers.content', 'covers.date'])
    .select(['people.name as submitter_name', 'people.email as submitter_email']);

export async function webCover(db: DbOrTx, id: number): Promise<WebCoverRow | undefined> {
  return coverQuery(db).where('covers.id', '=', id).executeTakeFirst();
}

export async function webCoverByMsgid(db: DbOrTx, projectId: number, msgid: string): Promise<WebCoverRow | undefined> {
  return coverQuery(db).where('covers.project_id', '=', projectId).where('covers.msgid', '=', msgid).executeTakeFirst();
}

/** A patch as the series page lists it: no content, no diff (those can be megabytes). */
export interface WebPatchListRow {
  id: number;
  msgid: string;
  number: number;
  name: string;
  state: string;
  archived: 0 | 1;
  date: string;
  acked: number;
  reviewed: number;
  tested: number;
  replaced_by: number | null;
  submitter_name: string | null;
  submitter_email: string;
}

export async function webSeriesPatches(db: DbOrTx, seriesId: number): Promise<WebPatchListRow[]> {
  return db
    .selectFrom('patches')
    .innerJoin('people', 'people.id', 'patches.submitter_id')
    .select(['patches.id', 'patches.msgid', 'patches.number', 'patches.name', 'patches.state', 'patches.archived', 'patches.date'])
    .select(['patches.acked', 'patches.reviewed', 'patches.tested', 'patches.replaced_by'])
    .select(['people.name as submitter_name', 'people.email as submitter_email'])
    .where('patches.series_id', '=', seriesId)
    .orderBy('patches.number')
    .orderBy('patches.id')
    .execute();
}

export interface WebPatchRow extends WebPatchListRow {
  project_id: number;
  series_id: number;
  content: string;
  diff: string | null;
  pull_url: string | null;
  commit_ref: string | null;
  delegate_id: number | null;
  delegate_username: string | null;
  delegate_first: string | null;
  delegate_last: string | null;
}

const patchQuery = (db: DbOrTx) =>
  db
    .selectFrom('patches')
    .innerJoin('people', 'people.id', 'patches.submitter_id')
    .leftJoin('users', 'users.id', 'patches.delegate_id')
    .select(['patches.id', 'patches.project_id', 'patches.series_id', 'patches.msgid', 'patches.number', 'patches.name', 'patches.state', 'patches.archived'])
    .select(['patches.date', 'patches.acked', 'patches.reviewed', 'patches.tested', 'patches.replaced_by', 'patches.content', 'patches.diff'])
    .select(['patches.pull_url', 'patches.commit_ref', 'patches.delegate_id'])
    .select(['people.name as submitter_name', 'people.email as submitter_email'])
    .select(['users.username as delegate_username', 'users.first_name as delegate_first', 'users.last_name as delegate_last']);

export async function webPatchByMsgid(db: DbOrTx, projectId: number, msgid: string): Promise<WebPatchRow | undefined> {
  return patchQuery(db).where('patches.project_id', '=', projectId).where('patches.msgid', '=', msgid).executeTakeFirst();
}

/** Where a patch, cover or comment lives (for the /patch/ID/, /cover/ID/ and /comment/ID/ redirects). */
export async function patchLocator(db: DbOrTx, id: number): Promise<{ project_id: number; msgid: string } | undefined> {
  return db.selectFrom('patches').select(['project_id', 'msgid']).where('id', '=', id).executeTakeFirst();
}

export async function coverLocator(db: DbOrTx, id: number): Promise<{ project_id: number; msgid: string } | undefined> {
  return db.selectFrom('covers').select(['project_id', 'msgid']).where('id', '=', id).executeTakeFirst();
}

export async function commentLocator(db: DbOrTx, id: number): Promise<{ project_id: number; patch_msgid: string | null; cover_msgid: string | null } | undefined> {
  return db
    .selectFrom('comments')
    .leftJoin('patches', 'patches.id', 'comments.patch_id')
    .leftJoin('covers', 'covers.id', 'comments.cover_id')
    .select(['comments.project_id', 'patches.msgid as patch_msgid', 'covers.msgid as cover_msgid'])
    .where('comments.id', '=', id)
    .executeTakeFirst();
}

/** A patch's full text for the range-diff: name (Patchwork's, with its prefixes), message and diff, by series. */
export interface RangeDiffPatchRow {
  id: number;
  series_id: number;
  number: number;
  name: string;
  content: string;
  diff: string | null;
  date: string;
  replaced_by: number | null;
  submitter_name: string | null;
  submitter_email: string;
}

export async function rangeDiffPatches(db: DbOrTx, seriesIds: number[]): Promise<RangeDiffPatchRow[]> {
  if (!seriesIds.length) return [];
  return db
    .selectFrom('patches')
    .innerJoin('people', 'people.id', 'patches.submitter_id')
    .select(['patches.id', 'patches.series_id', 'patches.number', 'patches.name', 'patches.content', 'patches.diff', 'patches.date', 'patches.replaced_by'])
    .select(['people.name as submitter_name', 'people.email as submitter_email'])
    .where('patches.series_id', 'in', seriesIds)
    .orderBy('patches.series_id')
    .orderBy('patches.number')
    .orderBy('patches.id')
    .execute();
}

/** Only the ids, to tell whether a cached range-diff still shows what the series hold. */
export async function seriesPatchIds(db: DbOrTx, seriesIds: number[]): Promise<{ id: number; series_id: number; replaced_by: number | null }[]> {
  if (!seriesIds.length) return [];
  return db.selectFrom('patches').select(['id', 'series_id', 'replaced_by']).where('series_id', 'in', seriesIds).orderBy('series_id').orderBy('number').orderBy('id').execute();
}

export interface RevisionChainRow {
  id: number;
  version: number;
  name: string | null;
  date: string;
  completed: 0 | 1;
  /** How far from the series asked about: negative = older, positive = newer. */
  depth: number;
  /** The link from this series to the one it revises (null for the oldest). */
  previous_id: number | null;
  reason: string | null;
  source: string | null;
}

/**
 * The revision chain through a series, walked both ways (series_id → previous_id by primary key, previous_id →
 * series_id by revisions_previous), at most 50 steps each way, with each series' own link to its predecessor.
 */
export async function revisionChain(db: DbOrTx, seriesId: number): Promise<RevisionChainRow[]> {
  const r = await sql<RevisionChainRow>`
    with recursive
      older(id, depth) as (
        select ${seriesId}, 0
        union all
        select r.previous_id, o.depth - 1 from revisions r join older o on r.series_id = o.id where o.depth > -50
      ),
      newer(id, depth) as (
        select ${seriesId}, 0
        union all
        select r.series_id, n.depth + 1 from revisions r join newer n on r.previous_id = n.id where n.depth < 50
      ),
      chain(id, depth) as (select id, depth from older union select id, depth from newer where depth > 0)
    select s.id, s.version, s.name, s.date, s.completed, c.depth, r.previous_id, r.reason, r.source
    from chain c
    join series s on s.id = c.id
    left join revisions r on r.series_id = c.id
    order by c.depth`.execute(db);
  // A fork (two newer series revising one) walks both; keep the first arrival of each id.
  const seen = new Set<number>();
  return r.rows.filter((row) => (seen.has(row.id) ? false : (seen.add(row.id), true)));
}

/** Series the chain's form may offer: id and version of each, by id. */
export async function seriesVersions(db: DbOrTx, ids: number[]): Promise<{ id: number; version: number; project_id: number }[]> {
  if (!ids.length) return [];
  return db.selectFrom('series').select(['id', 'version', 'project_id']).where('id', 'in', ids).execute();
}

export async function latestRunOfSeries(db: DbOrTx, seriesId: number): Promise<RunRow | undefined> {
  return db.selectFrom('runs').selectAll().where('series_id', '=', seriesId).orderBy('id', 'desc').limit(1).executeTakeFirst();
}

export async function countRunsOfSeries(db: DbOrTx, seriesId: number): Promise<number> {
  const r = await db.selectFrom('runs').select((eb) => eb.fn.countAll<number>().as('n')).where('series_id', '=', seriesId).executeTakeFirstOrThrow();
  return Number(r.n);
}

export interface WebCheckRow {
  id: number;
  patch_id: number;
  context: string;
  state: string;
  target_url: string | null;
  description: string | null;
  date: string;
  username: string | null;
}

export async function checksOfPatches(db: DbOrTx, patchIds: number[]): Promise<WebCheckRow[]> {
  if (!patchIds.length) return [];
  return db
    .selectFrom('checks')
    .leftJoin('users', 'users.id', 'checks.user_id')
    .select(['checks.id', 'checks.patch_id', 'checks.context', 'checks.state', 'checks.target_url', 'checks.description', 'checks.date', 'users.username'])
    .where('checks.patch_id', 'in', patchIds)
    .orderBy('checks.patch_id')
    .orderBy('checks.id')
    .execute();
}

export interface WebCommentRow {
  id: number;
  msgid: string;
  date: string;
  content: string;
  subject: string | null;
  submitter_name: string | null;
  submitter_email: string;
}

/** The comments with their mail's subject and their author, oldest first; `where` picks them. */
function commentRows(db: DbOrTx) {
  return db
    .selectFrom('comments')
    .innerJoin('people', 'people.id', 'comments.submitter_id')
    .innerJoin('mails', 'mails.id', 'comments.mail_id')
    .select(['comments.id', 'comments.msgid', 'comments.date', 'comments.content', 'mails.subject'])
    .select(['people.name as submitter_name', 'people.email as submitter_email'])
    .orderBy('comments.date')
    .orderBy('comments.id');
}

/** Every comment on the series' cover letter and patches (the discussion shown on the series page), oldest first. */
export async function commentsOfSeries(db: DbOrTx, seriesId: number): Promise<WebCommentRow[]> {
  return commentRows(db)
    .where((eb) =>
      eb.or([
        eb('comments.cover_id', 'in', eb.selectFrom('covers').select('covers.id').where('covers.series_id', '=', seriesId)),
        eb('comments.patch_id', 'in', eb.selectFrom('patches').select('patches.id').where('patches.series_id', '=', seriesId)),
      ]),
    )
    .execute();
}

export async function commentsOfParent(db: DbOrTx, parent: { kind: 'patch' | 'cover'; id: number }): Promise<WebCommentRow[]> {
  return commentRows(db)
    .where(parent.kind === 'patch' ? 'comments.patch_id' : 'comments.cover_id', '=', parent.id)
    .execute();
}

export interface WebEventRow {
  id: number;
  category: string;
  date: string;
  payload: string | null;
  actor_username: string | null;
  actor_first: string | null;
  actor_last: string | null;
}

/** The state history of a patch: its creation, state changes and delegations, oldest first. */
export async function patchHistory(db: DbOrTx, patchId: number): Promise<WebEventRow[]> {
  return db
    .selectFrom('events')
    .leftJoin('users', 'users.id', 'events.actor_id')
    .select(['events.id', 'events.category', 'events.date', 'events.payload'])
    .select(['users.username as actor_username', 'users.first_name as actor_first', 'users.last_name as actor_last'])
    .where('events.patch_id', '=', patchId)
    .where('events.category', 'in', ['patch-created', 'patch-state-changed', 'patch-delegated'])
    .orderBy('events.id')
    .execute();
}

export interface DelegateRow {
  id: number;
  username: string;
  first_name: string;
  last_name: string;
}

/** Who a patch can be delegated to: the project's maintainers that have an account, and the admins. */
export async function delegateCandidates(db: DbOrTx, maintainerEmails: readonly string[]): Promise<DelegateRow[]> {
  const emails = [...new Set(maintainerEmails.map((e) => e.toLowerCase()))];
  let q = db.selectFrom('users').select(['id', 'username', 'first_name', 'last_name']);
  q = emails.length ? q.where((eb) => eb.or([eb('role', '=', 'admin'), eb('email', 'in', emails)])) : q.where('role', '=', 'admin');
  return q.orderBy('username').execute();
}

export async function usernames(db: DbOrTx, ids: number[]): Promise<Map<number, string>> {
  if (!ids.length) return new Map();
  const rows = await db.selectFrom('users').select(['id', 'username']).where('id', 'in', [...new Set(ids)]).execute();
  return new Map(rows.map((r) => [r.id, r.username]));
}

// SQL for the list archive (its index, threads and search) and for the mbox downloads of patches, series and covers.
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { ArchiveEntry } from '../mail/archive-entry.js';
import { ftsMatch, type SearchNode } from '../mail/search-query.js';
import type { DbOrTx } from './database.js';
import { prepared } from './prepared.js';
import type { Database } from './schema.js';

/** Processing outcomes of list posts the archive shows: relayed to the list, approved by a moderator, or imported. */
export const ARCHIVED_REASONS = ['distributed', 'approved', 'imported'] as const;

/** One list (a project id) or every list (null). */
/** One list, several lists (`/all/` on a server with private lists: the public ones), or every list (null). */
export type ArchiveScope = number | readonly number[] | null;

export const inScope = (scope: number | readonly number[]) =>
  sql<boolean>`archive.project_id in (${sql.join((typeof scope === 'number' ? [scope] : scope.length ? scope : [-1]).map((id) => sql`${id}`))})`;

/** SQLite's default limit on bound parameters is 32766; lookups by many ids go in chunks well below it. */
const CHUNK = 500;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing the index

/** One post for the index: the list (project id), the stored mail and what the archive keeps of it. */
export interface ArchiveRow {
  projectId: number;
  mailId: number;
  entry: ArchiveEntry;
}

/**
 * Indexes posts, a statement per table for all of them (a processing batch's posts at the end of its transaction);
 * posts already indexed are left as they are. Returns how many were indexed.
 *
 * The FTS5 rows go in one statement, and last: FTS5 keeps the rows of a transaction in memory and writes them out as
 * a new segment whenever a later statement opens a statement journal (an upsert, a multi-row insert), so one FTS
 * insert per mail between the series engine's statements made one segment per mail, and merging them cost more
 * than all the other writes of the mail together.
 */
export async function insertArchiveEntries(db: DbOrTx, rows: ArchiveRow[]): Promise<number> {
  if (!rows.length) return 0;
  const inserted = await insertArchiveRows(db, {
    rows: JSON.stringify(rows.map(({ projectId, mailId, entry: e }) => [mailId, projectId, e.msgid, e.date, e.subject, e.sender])),
  });
  const fresh = new Set(inserted.map((r) => r.mail_id));
  const written = rows.filter((r) => fresh.has(r.mailId));
  const refs = written.flatMap((r) => r.entry.refs.map((ref) => [r.mailId, ref]));
  if (refs.length) await insertArchiveRefs(db, { rows: JSON.stringify(refs) });
  if (written.length) {
    await insertArchiveText(db, { rows: JSON.stringify(written.map(({ mailId, entry: e }) => [mailId, e.subject, e.sender, e.recipients, e.body, e.quoted])) });
  }
  return written.length;
}

// Rows go in as one JSON array of arrays, read with json_each: one statement text whatever their number, so one
// prepared statement serves every batch (a VALUES list per row count would prepare, and cache, one per count).

/** The n-th element of the json_each row `j`, as SQL text. */
const at = (n: number) => sql.raw(`j.value ->> ${n}`);

const insertArchiveRows = prepared((db, p: { rows: string }) =>
  db
    .insertInto('archive')
    .columns(['mail_id', 'project_id', 'msgid', 'date', 'subject', 'sender'])
    .expression(
      db
        .selectFrom(sql<{ key: number; value: unknown }>`json_each(${p.rows})`.as('j'))
        .select([sql<number>`${at(0)}`.as('mail_id'), sql<number>`${at(1)}`.as('project_id'), sql<string>`${at(2)}`.as('msgid'), sql<string>`${at(3)}`.as('date'), sql<string>`${at(4)}`.as('subject'), sql<string>`${at(5)}`.as('sender')])
        // SQLite reads `SELECT … ON CONFLICT` as a join's ON unless the SELECT has a WHERE (lang_upsert.html, parsing ambiguity).
        .where(sql<boolean>`true`)
        .orderBy('j.key'),
    )
    .onConflict((oc) => oc.column('mail_id').doNothing())
    .returning('mail_id'),
);

const insertArchiveRefs = prepared((db, p: { rows: string }) =>
  db
    .insertInto('archive_refs')
    .columns(['mail_id', 'ref'])
    .expression(
      db
        .selectFrom(sql<{ key: number; value: unknown }>`json_each(${p.rows})`.as('j'))
        .select([sql<number>`${at(0)}`.as('mail_id'), sql<string>`${at(1)}`.as('ref')])
        .where(sql<boolean>`true`)
        .orderBy('j.key'),
    )
    .onConflict((oc) => oc.doNothing()),
);

const insertArchiveText = prepared((db, p: { rows: string }) =>
  db
    .insertInto('archive_fts')
    .columns(['rowid', 'subject', 'sender', 'recipients', 'body', 'quoted'])
    .expression(
      db
        .selectFrom(sql<{ key: number; value: unknown }>`json_each(${p.rows})`.as('j'))
        .select([sql<number>`${at(0)}`.as('rowid'), sql<string>`${at(1)}`.as('subject'), sql<string>`${at(2)}`.as('sender'), sql<string>`${at(3)}`.as('recipients'), sql<string>`${at(4)}`.as('body'), sql<string>`${at(5)}`.as('quoted')])
        .orderBy('j.key'),
    ),
);

/** The highest mail id that may predate the index (migration 0005), or null once the backfill is done. */
export async function backfillUpto(db: DbOrTx): Promise<number | null> {
  const row = await db.selectFrom('archive_backfill').select((eb) => eb.fn.max('upto').as('upto')).executeTakeFirst();
  return row?.upto ?? null;
}

export async function clearBackfill(db: DbOrTx): Promise<void> {
  await db.deleteFrom('archive_backfill').execute();
}

/** Archived list posts (by their processing outcome) with ids in (afterId, upto] that have no index row yet. */
export async function unindexedPosts(db: DbOrTx, afterId: number, upto: number, limit: number) {
  return db
    .selectFrom('mails')
    .leftJoin('archive', 'archive.mail_id', 'mails.id')
    .select(['mails.id', 'mails.project_id', 'mails.msgid', 'mails.received_at', 'mails.raw'])
    .where('mails.id', '>', afterId)
    .where('mails.id', '<=', upto)
    .where('mails.route', '=', 'list')
    .where('mails.state', '=', 'processed')
    .where('mails.reason', 'in', [...ARCHIVED_REASONS])
    .where('archive.mail_id', 'is', null)
    .orderBy('mails.id')
    .limit(limit)
    .execute();
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the archive

export interface ArchivedMail {
  mailId: number;
  projectId: number;
  msgid: string;
  date: string;
  subject: string;
  sender: string;
}

const ARCHIVE_COLUMNS = ['archive.mail_id', 'archive.project_id', 'archive.msgid', 'archive.date', 'archive.subject', 'archive.sender'] as const;

function toArchived(r: { mail_id: number; project_id: number; msgid: string; date: string; subject: string; sender: string }): ArchivedMail {
  return { mailId: r.mail_id, projectId: r.project_id, msgid: r.msgid, date: r.date, subject: r.subject, sender: r.sender };
}

/** The post with this Message-ID in the scope (the first one stored, should two lists carry it). */
export async function findArchived(db: DbOrTx, scope: ArchiveScope, msgid: string): Promise<ArchivedMail | undefined> {
  let q = db.selectFrom('archive').select(ARCHIVE_COLUMNS).where('archive.msgid', '=', msgid);
  if (scope !== null) q = q.where(inScope(scope));
  const row = await q.orderBy('archive.mail_id').limit(1).executeTakeFirst();
  return row ? toArchived(row) : undefined;
}

/**
 * Every post connected to the seeds through In-Reply-To/References, walked both ways: up to what a post refers to,
 * down to what refers to it. Message-IDs that no stored post carries (a parent that never reached the list) still
 * join their replies into one thread, as public-inbox's thread ids do. Stops after `cap` posts.
 */
export async function threadMailIds(db: DbOrTx, scope: ArchiveScope, seeds: string[], cap: number): Promise<number[]> {
  const seen = new Set<string>(seeds);
  const mails = new Set<number>();
  let frontier = [...seen];
  while (frontier.length && mails.size < cap) {
    const found = new Map<number, string>();
    for (const batch of chunks(frontier)) {
      let self = db.selectFrom('archive').select(['archive.mail_id', 'archive.msgid']).where('archive.msgid', 'in', batch);
      let children = db
        .selectFrom('archive_refs')
        .innerJoin('archive', 'archive.mail_id', 'archive_refs.mail_id')
        .select(['archive.mail_id', 'archive.msgid'])
        .where('archive_refs.ref', 'in', batch);
      if (scope !== null) {
        self = self.where(inScope(scope));
        children = children.where(inScope(scope));
      }
      for (const r of [...(await self.execute()), ...(await children.execute())]) if (!mails.has(r.mail_id)) found.set(r.mail_id, r.msgid);
    }
    const next: string[] = [];
    const visit = (msgid: string) => {
      if (!seen.has(msgid)) {
        seen.add(msgid);
        next.push(msgid);
      }
    };
    for (const [id, msgid] of found) {
      mails.add(id);
      visit(msgid);
    }
    for (const batch of chunks([...found.keys()])) {
      for (const r of await db.selectFrom('archive_refs').select('ref').where('mail_id', 'in', batch).execute()) visit(r.ref);
    }
    frontier = next;
  }
  return [...mails].slice(0, cap);
}

/**
 * The part of a search tree FTS5 can answer in one MATCH, as FTS5 query text, or null. Combining the words of a
 * query in one MATCH lets FTS5 intersect its doclists, seeking past rowids (b4's `s:"…" AND f:"addr"`: the address
 * is in nearly every post, the subject in a few), instead of materializing each word's matches for SQLite to join.
 * FTS5 has no unary NOT: a negation joins only as `a NOT b` inside an AND with something positive.
 */
function ftsExpression(node: SearchNode): string | null {
  switch (node.op) {
    case 'text':
      return `(${ftsMatch(node)})`;
    case 'or': {
      const parts = node.children.map(ftsExpression);
      return parts.every((p) => p !== null) ? `(${parts.join(' OR ')})` : null;
    }
    case 'and': {
      const positive: string[] = [];
      const negative: string[] = [];
      for (const c of node.children) {
        const inner = c.op === 'not' ? ftsExpression(c.child) : ftsExpression(c);
        if (inner === null) return null;
        (c.op === 'not' ? negative : positive).push(inner);
      }
      if (!positive.length) return null;
      return `(${positive.join(' AND ')}${negative.map((n) => ` NOT ${n}`).join('')})`;
    }
    default:
      return null;
  }
}

/** The search tree as a condition on `archive` rows; every value, FTS5 query text included, is a bound parameter. */
function condition(eb: ExpressionBuilder<Database, 'archive'>, node: SearchNode): Expression<SqlBool> {
  const fts = ftsExpression(node);
  if (fts !== null) return eb('archive.mail_id', 'in', eb.selectFrom('archive_fts').select('archive_fts.rowid').where(sql<SqlBool>`archive_fts match ${fts}`));
  switch (node.op) {
    case 'and': {
      // The children FTS5 can take go into one MATCH; dates and Message-IDs stay SQL conditions beside it.
      const textual = node.children.filter((c) => ftsExpression(c.op === 'not' ? c.child : c) !== null);
      const combined = textual.length > 1 ? ftsExpression({ op: 'and', children: textual }) : null;
      const rest = combined === null ? node.children : node.children.filter((c) => !textual.includes(c));
      const parts = rest.map((c) => condition(eb, c));
      if (combined !== null) parts.unshift(eb('archive.mail_id', 'in', eb.selectFrom('archive_fts').select('archive_fts.rowid').where(sql<SqlBool>`archive_fts match ${combined}`)));
      return eb.and(parts);
    }
    case 'or':
      return eb.or(node.children.map((c) => condition(eb, c)));
    case 'not':
      return eb.not(condition(eb, node.child));
    case 'date':
      return eb.and([
        ...(node.from !== null ? [eb('archive.date', '>=', node.from)] : []),
        ...(node.to !== null ? [eb('archive.date', '<', node.to)] : []),
      ]);
    case 'msgid':
      return eb('archive.msgid', '=', node.msgid);
    case 'none':
      return sql<SqlBool>`0`;
    case 'text':
      throw new Error('unreachable: a text term is always FTS5');
  }
}

/** A query's words for one MATCH at the top, and the rest (dates, Message-IDs, ORs of both) beside it; or null. */
function splitTop(node: SearchNode): { fts: string; rest: SearchNode[] } | null {
  const whole = ftsExpression(node);
  if (whole !== null) return { fts: whole, rest: [] };
  if (node.op !== 'and') return null;
  const textual = node.children.filter((c) => ftsExpression(c.op === 'not' ? c.child : c) !== null);
  const fts = textual.length ? ftsExpression({ op: 'and', children: textual }) : null;
  return fts === null ? null : { fts, rest: node.children.filter((c) => !textual.includes(c)) };
}

/** Above this many word matches, a search reads FTS5's matches newest first instead of materializing them all. */
const BROAD_MATCHES = 5_000;

/**
 * Posts matching the search, newest first, at most `limit`. Most searches (b4's) match a few posts: FTS5 finds
 * them once, seeking through its doclists in rowid order, into a CTE capped at BROAD_MATCHES + 1 ids, and SQLite
 * orders what passes the other conditions by date. A search whose words match more (`s:patch`) would otherwise
 * materialize hundreds of thousands of ids: the CTE's size tells, and then FTS5 is walked newest rowid first,
 * stopping at the limit.
 */
export async function searchArchive(db: DbOrTx, scope: ArchiveScope, node: SearchNode, limit: number, broadAt = BROAD_MATCHES): Promise<ArchivedMail[]> {
  const top = splitTop(node);
  if (!top) {
    let q = db.selectFrom('archive').select(ARCHIVE_COLUMNS).where((eb) => condition(eb, node));
    if (scope !== null) q = q.where(inScope(scope));
    return (await q.orderBy('archive.date', 'desc').orderBy('archive.mail_id', 'desc').limit(limit).execute()).map(toArchived);
  }
  let narrow = db
    .with(
      (cte) => cte('m').materialized(),
      (qb) => qb.selectFrom('archive_fts').select('archive_fts.rowid as id').where(sql<SqlBool>`archive_fts match ${top.fts}`).limit(broadAt + 1),
    )
    .selectFrom('archive')
    .select(ARCHIVE_COLUMNS)
    .select((eb) => eb.selectFrom('m').select(eb.fn.countAll<number>().as('n')).as('matched'))
    .where('archive.mail_id', 'in', (eb) => eb.selectFrom('m').select('m.id'));
  for (const c of top.rest) narrow = narrow.where((eb) => condition(eb, c));
  if (scope !== null) narrow = narrow.where(inScope(scope));
  const rows = await narrow.orderBy('archive.date', 'desc').orderBy('archive.mail_id', 'desc').limit(limit).execute();
  let matched = rows[0]?.matched;
  if (matched === undefined || matched === null) {
    // Nothing passed the other conditions: were the words' matches all there was, or only the first ones?
    const probe = await sql<{ n: number }>`select count(*) as n from (select rowid from archive_fts where archive_fts match ${top.fts} limit ${broadAt + 1})`.execute(db);
    matched = Number(probe.rows[0]?.n ?? 0);
  }
  if (Number(matched) <= broadAt) return rows.map(toArchived);
  let broad = db
    .selectFrom('archive_fts')
    .innerJoin('archive', 'archive.mail_id', 'archive_fts.rowid')
    .select(ARCHIVE_COLUMNS)
    .where(sql<SqlBool>`archive_fts match ${top.fts}`);
  for (const c of top.rest) broad = broad.where((eb) => condition(eb, c));
  if (scope !== null) broad = broad.where(inScope(scope));
  return (await broad.orderBy('archive_fts.rowid', 'desc').limit(limit).execute()).map(toArchived);
}

/** Index rows of these posts, oldest first. */
export async function archivedByIds(db: DbOrTx, mailIds: number[]): Promise<ArchivedMail[]> {
  const out: ArchivedMail[] = [];
  for (const batch of chunks(mailIds)) out.push(...(await db.selectFrom('archive').select(ARCHIVE_COLUMNS).where('archive.mail_id', 'in', batch).execute()).map(toArchived));
  return out.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.mailId - b.mailId));
}

/** The stored bytes of these mails, by id. */
export async function rawMails(db: DbOrTx, mailIds: number[]): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  for (const batch of chunks(mailIds)) {
    for (const r of await db.selectFrom('mails').select(['id', 'raw']).where('id', 'in', batch).execute()) out.set(r.id, r.raw);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// mbox downloads (Patchwork's /patch/N/mbox/, /series/N/mbox/, /cover/N/mbox/)

/** Header blocks are read from the first bytes of the stored mail; a longer one is read whole (see headerOf). */
export const HEADER_PREFIX = 64 * 1024;

export interface SubmissionRow {
  id: number;
  projectId: number;
  seriesId: number | null;
  number: number;
  name: string;
  date: string;
  content: string;
  diff: string | null;
  /** Email of the user the patch is delegated to (X-Patchwork-Delegate). */
  delegateEmail: string | null;
  submitterName: string | null;
  submitterEmail: string;
  listAddress: string;
  mailId: number;
  /** The first HEADER_PREFIX bytes of the stored mail. */
  head: Buffer;
}

function patchQuery(db: DbOrTx) {
  return db
    .selectFrom('patches')
    .innerJoin('people', 'people.id', 'patches.submitter_id')
    .innerJoin('projects', 'projects.id', 'patches.project_id')
    .innerJoin('mails', 'mails.id', 'patches.mail_id')
    .leftJoin('users', 'users.id', 'patches.delegate_id')
    .select([
      'patches.id',
      'patches.project_id',
      'patches.series_id',
      'patches.number',
      'patches.name',
      'patches.date',
      'patches.content',
      'patches.diff',
      'users.email as delegate_email',
      'people.name as submitter_name',
      'people.email as submitter_email',
      'projects.list_address',
      'patches.mail_id',
    ])
    .select(sql<Buffer>`substr(mails.raw, 1, ${HEADER_PREFIX})`.as('head'));
}

type PatchQueryRow = Awaited<ReturnType<ReturnType<typeof patchQuery>['execute']>>[number];

function toSubmission(r: PatchQueryRow): SubmissionRow {
  return {
    id: r.id,
    projectId: r.project_id,
    seriesId: r.series_id,
    number: r.number,
    name: r.name,
    date: r.date,
    content: r.content,
    diff: r.diff,
    delegateEmail: r.delegate_email,
    submitterName: r.submitter_name,
    submitterEmail: r.submitter_email,
    listAddress: r.list_address,
    mailId: r.mail_id,
    head: r.head,
  };
}

export async function patchForMbox(db: DbOrTx, id: number): Promise<SubmissionRow | undefined> {
  const row = await patchQuery(db).where('patches.id', '=', id).executeTakeFirst();
  return row ? toSubmission(row) : undefined;
}

/**
 * Patches of a series in Patchwork's order (by number), up to `beforeNumber` when given (exclusive). A patch another
 * replaced ([PATCH v5.1 2/3] for 2/3) is left out: git am would apply both.
 */
export async function seriesPatchesForMbox(db: DbOrTx, seriesId: number, beforeNumber?: number): Promise<SubmissionRow[]> {
  let q = patchQuery(db).where('patches.series_id', '=', seriesId).where('patches.replaced_by', 'is', null);
  if (beforeNumber !== undefined) q = q.where('patches.number', '<', beforeNumber);
  const rows = await q.orderBy('patches.number').orderBy('patches.id').execute();
  return rows.map(toSubmission);
}

/** Patches by id, in the order given (a bundle's order); ids that do not exist are left out. */
export async function patchesForMboxByIds(db: DbOrTx, ids: number[]): Promise<SubmissionRow[]> {
  const byId = new Map<number, SubmissionRow>();
  for (const batch of chunks([...new Set(ids)])) for (const r of await patchQuery(db).where('patches.id', 'in', batch).execute()) byId.set(r.id, toSubmission(r));
  return ids.map((id) => byId.get(id)).filter((r): r is SubmissionRow => r !== undefined);
}

export async function coverForMbox(db: DbOrTx, id: number): Promise<SubmissionRow | undefined> {
  const r = await db
    .selectFrom('covers')
    .innerJoin('people', 'people.id', 'covers.submitter_id')
    .innerJoin('projects', 'projects.id', 'covers.project_id')
    .innerJoin('mails', 'mails.id', 'covers.mail_id')
    .select([
      'covers.id',
      'covers.project_id',
      'covers.series_id',
      'covers.name',
      'covers.date',
      'covers.content',
      'people.name as submitter_name',
      'people.email as submitter_email',
      'projects.list_address',
      'covers.mail_id',
    ])
    .select(sql<Buffer>`substr(mails.raw, 1, ${HEADER_PREFIX})`.as('head'))
    .where('covers.id', '=', id)
    .executeTakeFirst();
  if (!r) return undefined;
  return {
    id: r.id,
    projectId: r.project_id,
    seriesId: r.series_id,
    number: 0,
    name: r.name,
    date: r.date,
    content: r.content,
    diff: null,
    delegateEmail: null,
    submitterName: r.submitter_name,
    submitterEmail: r.submitter_email,
    listAddress: r.list_address,
    mailId: r.mail_id,
    head: r.head,
  };
}

export async function seriesForMbox(db: DbOrTx, id: number): Promise<{ id: number; name: string | null } | undefined> {
  return db.selectFrom('series').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}

/** Comment contents per parent, oldest first (Patchwork's Comment ordering is by date). */
export async function commentContents(db: DbOrTx, parent: 'patch' | 'cover', ids: number[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  if (!ids.length) return out;
  const column = parent === 'patch' ? 'comments.patch_id' : 'comments.cover_id';
  for (const batch of chunks(ids)) {
    const rows = await db
      .selectFrom('comments')
      .select([`${column} as parent`, 'comments.content'])
      .where(column, 'in', batch)
      .orderBy('comments.date')
      .orderBy('comments.id')
      .execute();
    for (const r of rows) {
      const list = out.get(r.parent!) ?? [];
      list.push(r.content);
      out.set(r.parent!, list);
    }
  }
  return out;
}

/** The whole stored mail, for the rare header block longer than HEADER_PREFIX. */
export async function rawMail(db: DbOrTx, mailId: number): Promise<Buffer | undefined> {
  return (await db.selectFrom('mails').select('raw').where('id', '=', mailId).executeTakeFirst())?.raw;
}

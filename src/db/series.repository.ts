// SQL for the series engine: people, series and their claimed Message-IDs, covers, patches, comments, revisions, events.
// Filing runs a dozen of these per mail: those are prepared (prepared.ts), lists going in as one JSON parameter.
import { sql, type Expression } from 'kysely';
import type { KnownMail, SeriesSummary } from '../series/thread.js';
import type { DbOrTx } from './database.js';
import { nowIso } from './database.js';
import { prepared } from './prepared.js';
import type { CommentRow, CoverRow, EventRow, PatchRow, RevisionRow, SeriesRow } from './series-schema.js';

/** The values of a JSON array parameter, as the right-hand side of `in`: one statement for a list of any length. */
function jsonValues<T>(json: string): Expression<T> {
  return sql<T>`(select value from json_each(${json}))`;
}

/**
 * Rows a transaction keeps reading that change only by its own hand: people (added here) and the roster (changed by
 * `patchbay students import`, another transaction). Transactions begin IMMEDIATE, so no other writer commits while
 * one runs; what it read stays true to its end. Filing a batch reads each sender and the roster once.
 */
interface TxMemo {
  people: Map<string, { id: number; name: string | null }>;
  roster: Map<number, Roster>;
}

const memos = new WeakMap<DbOrTx, TxMemo>();

function memoOf(db: DbOrTx): TxMemo | null {
  if (!db.isTransaction) return null;
  let memo = memos.get(db);
  if (!memo) memos.set(db, (memo = { people: new Map(), roster: new Map() }));
  return memo;
}

/**
 * The person with this address, created when new; a name is recorded when the row has none yet. Read first: nearly
 * every mail comes from someone known, and a read is cheaper than an upsert, which writes the row every time.
 */
export async function upsertPerson(db: DbOrTx, email: string, name: string | null): Promise<number> {
  const e = email.toLowerCase();
  const memo = memoOf(db);
  const known = memo?.people.get(e) ?? (await personByEmail(db, { email: e }))[0];
  if (known && (known.name !== null || !name)) {
    memo?.people.set(e, known);
    return known.id;
  }
  const id = (await upsertPersonQuery(db, { email: e, name: name || null, createdAt: nowIso() }))[0]!.id;
  memo?.people.set(e, { id, name: known?.name ?? (name || null) });
  return id;
}

const personByEmail = prepared((db, p: { email: string }) => db.selectFrom('people').select(['id', 'name']).where('email', '=', p.email));

const upsertPersonQuery = prepared((db, p: { email: string; name: string | null; createdAt: string }) =>
  db
    .insertInto('people')
    .values({ email: p.email, name: p.name, created_at: p.createdAt })
    .onConflict((oc) => oc.column('email').doUpdateSet({ name: sql`coalesce(people.name, excluded.name)` }))
    .returning('id'),
);

/**
 * What filing a mail needs to know of its thread, in one statement: the patches, covers and (when asked) comments
 * with these Message-IDs, and the series that claimed each of them.
 */
export async function threadLookup(
  db: DbOrTx,
  projectId: number,
  msgids: string[],
  withComments: boolean,
): Promise<{ known: KnownMail[]; seriesRefs: Map<string, number> }> {
  const seriesRefs = new Map<string, number>();
  if (!msgids.length) return { known: [], seriesRefs };
  const rows = await threadLookupQuery(db, { projectId, msgids: JSON.stringify(msgids), comments: withComments ? 1 : 0 });
  const patches: KnownMail[] = [];
  const covers: KnownMail[] = [];
  const comments: KnownMail[] = [];
  for (const r of rows) {
    if (r.kind === 'ref') seriesRefs.set(r.msgid, r.series_id!);
    else if (r.kind === 'patch') patches.push({ msgid: r.msgid, kind: 'patch', id: r.id!, seriesId: r.series_id, index: r.number });
    else if (r.kind === 'cover') covers.push({ msgid: r.msgid, kind: 'cover', id: r.id!, seriesId: r.series_id, index: 0 });
    else {
      const parent = r.patch_id !== null ? { kind: 'patch' as const, id: r.patch_id } : { kind: 'cover' as const, id: r.cover_id! };
      comments.push({ msgid: r.msgid, kind: 'comment', id: r.id!, seriesId: null, index: null, parent });
    }
  }
  return { known: [...patches, ...covers, ...comments], seriesRefs };
}

const threadLookupQuery = prepared((db, p: { projectId: number; msgids: string; comments: 0 | 1 }) => {
  const none = sql<number | null>`null`;
  // The first arm names the columns and their types for all four.
  const maybe = (column: string) => sql<number | null>`${sql.ref(column)}`;
  return db
    .selectFrom('patches')
    .select([sql<string>`'patch'`.as('kind'), maybe('id').as('id'), 'msgid', maybe('series_id').as('series_id'), maybe('number').as('number'), none.as('patch_id'), none.as('cover_id')])
    .where('project_id', '=', p.projectId)
    .where('msgid', 'in', jsonValues<string>(p.msgids))
    .unionAll(
      db
        .selectFrom('covers')
        .select([sql<string>`'cover'`.as('kind'), 'id', 'msgid', 'series_id', sql<number>`0`.as('number'), none.as('patch_id'), none.as('cover_id')])
        .where('project_id', '=', p.projectId)
        .where('msgid', 'in', jsonValues<string>(p.msgids)),
    )
    .unionAll(
      db
        .selectFrom('comments')
        .select([sql<string>`'comment'`.as('kind'), 'id', 'msgid', none.as('series_id'), none.as('number'), 'patch_id', 'cover_id'])
        .where(sql<boolean>`${p.comments} = 1`)
        .where('project_id', '=', p.projectId)
        .where('msgid', 'in', jsonValues<string>(p.msgids)),
    )
    .unionAll(
      db
        .selectFrom('series_refs')
        .select([sql<string>`'ref'`.as('kind'), none.as('id'), 'msgid', 'series_id', none.as('number'), none.as('patch_id'), none.as('cover_id')])
        .where('project_id', '=', p.projectId)
        .where('msgid', 'in', jsonValues<string>(p.msgids)),
    );
});

export async function findSeriesRefs(db: DbOrTx, projectId: number, msgids: string[]): Promise<Map<string, number>> {
  if (!msgids.length) return new Map();
  const rows = await seriesRefsQuery(db, { projectId, msgids: JSON.stringify(msgids) });
  return new Map(rows.map((r) => [r.msgid, r.series_id]));
}

const seriesRefsQuery = prepared((db, p: { projectId: number; msgids: string }) =>
  db.selectFrom('series_refs').select(['msgid', 'series_id']).where('project_id', '=', p.projectId).where('msgid', 'in', jsonValues<string>(p.msgids)),
);

/** Claims Message-IDs for a series; ids already claimed by another series stay with it (first claim wins). */
export async function claimRefs(db: DbOrTx, projectId: number, seriesId: number, msgids: string[]): Promise<void> {
  const unique = [...new Set(msgids)];
  if (!unique.length) return;
  await claimRefsQuery(db, { projectId, seriesId, msgids: JSON.stringify(unique) });
}

const claimRefsQuery = prepared((db, p: { projectId: number; seriesId: number; msgids: string }) =>
  db
    .insertInto('series_refs')
    .columns(['project_id', 'msgid', 'series_id'])
    .expression(
      db
        .selectFrom(sql<{ key: number; value: string }>`json_each(${p.msgids})`.as('j'))
        .select([sql<number>`${p.projectId}`.as('project_id'), 'j.value', sql<number>`${p.seriesId}`.as('series_id')])
        // SQLite reads `SELECT … ON CONFLICT` as a join's ON unless the SELECT has a WHERE (lang_upsert.html, parsing ambiguity).
        .where(sql<boolean>`true`)
        .orderBy('j.key'),
    )
    .onConflict((oc) => oc.doNothing()),
);

export async function seriesSummaries(db: DbOrTx, ids: number[]): Promise<SeriesSummary[]> {
  return (await seriesWithSummaries(db, ids)).map((s) => s.summary);
}

/** Each series' row and what threading needs of it (seriesSummaries), read in one statement. */
export async function seriesWithSummaries(db: DbOrTx, ids: number[]): Promise<{ row: SeriesRow; summary: SeriesSummary }[]> {
  if (!ids.length) return [];
  const rows = await seriesSummariesQuery(db, { ids: JSON.stringify(ids) });
  return rows.map(({ email, superseded, revises, indices, ...row }) => ({
    row,
    summary: {
      id: row.id,
      submitter: email,
      version: row.version,
      total: row.total,
      date: row.date,
      indices: JSON.parse(indices) as number[],
      hasCover: row.cover_id !== null,
      batch: row.batch,
      title: row.title_norm,
      changeId: row.change_id,
      superseded: Boolean(superseded),
      revises: Boolean(revises),
    },
  }));
}

const seriesSummariesQuery = prepared((db, p: { ids: string }) =>
  db
    .selectFrom('series')
    .innerJoin('people', 'people.id', 'series.submitter_id')
    .selectAll('series')
    .select('people.email')
    .select((eb) => [
      eb.exists(eb.selectFrom('revisions').select('revisions.series_id').whereRef('revisions.previous_id', '=', 'series.id')).as('superseded'),
      // A series whose earlier revision a maintainer set (or removed) counts as linked: the parser adds no link to it.
      eb.or([eb.exists(eb.selectFrom('revisions as r2').select('r2.series_id').whereRef('r2.series_id', '=', 'series.id')), eb('series.revision_fixed', '=', 1)]).as('revises'),
      // Positions received (a replaced patch's position is held by its replacement).
      eb
        .selectFrom('patches')
        .select(sql<string>`json_group_array(patches.number)`.as('n'))
        .whereRef('patches.series_id', '=', 'series.id')
        .where('patches.replaced_by', 'is', null)
        .$asScalar()
        .as('indices'),
    ])
    .where('series.id', 'in', jsonValues<number>(p.ids)),
);

/**
 * Series a mail sent without a known thread may belong to: same submitter, version and count, dated within the
 * window, of the same send batch (both without one is the same), and without a cover when the mail is one.
 */
export async function nearbySeriesIds(
  db: DbOrTx,
  q: { projectId: number; submitterId: number; version: number; total: number; from: string; to: string; batch: string | null; coverless: boolean },
): Promise<number[]> {
  return (await nearbyQuery(db, { ...q, coverless: q.coverless ? 1 : 0 })).map((r) => r.id);
}

const nearbyQuery = prepared(
  (db, q: { projectId: number; submitterId: number; version: number; total: number; from: string; to: string; batch: string | null; coverless: 0 | 1 }) =>
    db
      .selectFrom('series')
      .select('id')
      .where('project_id', '=', q.projectId)
      .where('submitter_id', '=', q.submitterId)
      .where('version', '=', q.version)
      .where('total', '=', q.total)
      .where('date', '>=', q.from)
      .where('date', '<=', q.to)
      // IS: two series without a batch are alike (decide compares the same way).
      .where(sql<boolean>`${sql.ref('batch')} is ${q.batch}`)
      .where(sql<boolean>`(${q.coverless} = 0 or ${sql.ref('cover_id')} is null)`),
);

export async function predecessorCandidateIds(
  db: DbOrTx,
  q: { projectId: number; submitterId: number; titleNorm: string | null; changeId: string | null; supersedes: string | null },
): Promise<{ bySupersedes: number | null; byChangeId: number[]; byTitle: number[] }> {
  const bySupersedes = q.supersedes ? ((await findSeriesRefs(db, q.projectId, [q.supersedes])).get(q.supersedes) ?? null) : null;
  const byChangeId = q.changeId ? (await byChangeIdQuery(db, { projectId: q.projectId, changeId: q.changeId })).map((r) => r.id) : [];
  const byTitle = q.titleNorm ? (await byTitleQuery(db, { projectId: q.projectId, submitterId: q.submitterId, titleNorm: q.titleNorm })).map((r) => r.id) : [];
  return { bySupersedes, byChangeId, byTitle };
}

const byChangeIdQuery = prepared((db, p: { projectId: number; changeId: string }) =>
  db.selectFrom('series').select('id').where('project_id', '=', p.projectId).where('change_id', '=', p.changeId),
);

const byTitleQuery = prepared((db, p: { projectId: number; submitterId: number; titleNorm: string }) =>
  db
    .selectFrom('series')
    .select('id')
    .where('project_id', '=', p.projectId)
    .where('title_norm', '=', p.titleNorm)
    // Unary + keeps SQLite off series_nearby (project, submitter, …), which it would otherwise pick and then read
    // every series of the submitter; series_title finds the few with this title (12× faster at 20,000 mails).
    .where(sql<number>`+${sql.ref('submitter_id')}`, '=', p.submitterId)
    // The order series_nearby gave, which the candidates' stable sorts keep for ties.
    .orderBy('version')
    .orderBy('total')
    .orderBy('date')
    .orderBy('id'),
);

export interface NewSeries {
  projectId: number;
  submitterId: number;
  name: string | null;
  version: number;
  total: number;
  date: string;
  batch: string | null;
  titleNorm: string | null;
  changeId: string | null;
}

export async function insertSeries(db: DbOrTx, s: NewSeries): Promise<number> {
  return (await insertSeriesRow(db, s)).id;
}

/** Inserts the series and returns its row as stored. */
export async function insertSeriesRow(db: DbOrTx, s: NewSeries): Promise<SeriesRow> {
  return (await insertSeriesQuery(db, { ...s, createdAt: nowIso() }))[0]!;
}

const insertSeriesQuery = prepared((db, s: NewSeries & { createdAt: string }) =>
  db
    .insertInto('series')
    .values({
      project_id: s.projectId,
      submitter_id: s.submitterId,
      name: s.name,
      version: s.version,
      total: s.total,
      date: s.date,
      batch: s.batch,
      title_norm: s.titleNorm,
      change_id: s.changeId,
      created_at: s.createdAt,
    })
    .returningAll(),
);

export async function getSeries(db: DbOrTx, id: number): Promise<SeriesRow | undefined> {
  return (await getSeriesQuery(db, { id }))[0];
}

const getSeriesQuery = prepared((db, p: { id: number }) => db.selectFrom('series').selectAll().where('id', '=', p.id));

export async function updateSeries(
  db: DbOrTx,
  id: number,
  set: Partial<Pick<SeriesRow, 'name' | 'cover_id' | 'title_norm' | 'change_id' | 'completed' | 'total' | 'date' | 'revision_fixed'>>,
): Promise<void> {
  await db.updateTable('series').set(set).where('id', '=', id).execute();
}

// The updates filing makes, each one prepared.

export async function setSeriesDate(db: DbOrTx, id: number, date: string): Promise<void> {
  await setSeriesDateQuery(db, { id, date });
}

const setSeriesDateQuery = prepared((db, p: { id: number; date: string }) => db.updateTable('series').set({ date: p.date }).where('id', '=', p.id));

export async function setSeriesCompleted(db: DbOrTx, id: number): Promise<void> {
  await setSeriesCompletedQuery(db, { id });
}

const setSeriesCompletedQuery = prepared((db, p: { id: number }) => db.updateTable('series').set({ completed: 1 }).where('id', '=', p.id));

/** The name a series is shown with and its normalized title (from patch 1, or a single patch, until a cover comes). */
export async function setSeriesName(db: DbOrTx, id: number, name: string, titleNorm: string): Promise<void> {
  await setSeriesNameQuery(db, { id, name, titleNorm });
}

const setSeriesNameQuery = prepared((db, p: { id: number; name: string; titleNorm: string }) =>
  db.updateTable('series').set({ name: p.name, title_norm: p.titleNorm }).where('id', '=', p.id),
);

/** A cover stating the version its patches left out ("[PATCH v3 0/4]" over "[PATCH 1/4]") gives it to the series. */
export async function setSeriesVersion(db: DbOrTx, id: number, version: number): Promise<void> {
  await setSeriesVersionQuery(db, { id, version });
}

const setSeriesVersionQuery = prepared((db, p: { id: number; version: number }) => db.updateTable('series').set({ version: p.version }).where('id', '=', p.id));

/**
 * Other series of the same submitter holding patches with the titles of this series' patches: how many distinct
 * titles each shares, and how many patches each has. A revision whose cover title changed, or that gained or lost
 * a cover, still carries its patches' titles.
 */
export async function seriesSharingPatches(
  db: DbOrTx,
  seriesId: number,
): Promise<{ mine: number; others: { seriesId: number; shared: number; patches: number; version: number }[] }> {
  const rows = await sharingQuery(db, { seriesId });
  const mine = rows.find((r) => r.series_id === seriesId);
  return {
    mine: mine?.shared ?? 0,
    others: rows.filter((r) => r.series_id !== seriesId).map((r) => ({ seriesId: r.series_id, shared: r.shared, patches: r.patches, version: r.version })),
  };
}

const sharingQuery = prepared((db, p: { seriesId: number }) =>
  db
    .selectFrom('patches as m')
    .innerJoin('patches as o', (j) => j.onRef('o.project_id', '=', 'm.project_id').onRef('o.title_norm', '=', 'm.title_norm'))
    .innerJoin('series as s', 's.id', 'o.series_id')
    .where('m.series_id', '=', p.seriesId)
    .where('m.replaced_by', 'is', null)
    .whereRef('o.submitter_id', '=', 'm.submitter_id')
    .where('o.replaced_by', 'is', null)
    .groupBy('o.series_id')
    .select((eb) => [
      'o.series_id',
      's.version',
      eb.fn.count<number>(sql`distinct ${sql.ref('o.title_norm')}`).as('shared'),
      eb
        .selectFrom('patches as c')
        .select((e) => e.fn.countAll<number>().as('n'))
        .whereRef('c.series_id', '=', 'o.series_id')
        .where('c.replaced_by', 'is', null)
        .$asScalar()
        .as('patches'),
    ]),
);

/** The cover letter names the series; its change-id, when it has one, is the series' (else the series keeps its own). */
export async function setSeriesCover(db: DbOrTx, id: number, c: { coverId: number; name: string; titleNorm: string; changeId: string | null }): Promise<void> {
  await setSeriesCoverQuery(db, { id, ...c });
}

const setSeriesCoverQuery = prepared((db, p: { id: number; coverId: number; name: string; titleNorm: string; changeId: string | null }) =>
  db
    .updateTable('series')
    .set({ cover_id: p.coverId, name: p.name, title_norm: p.titleNorm, change_id: sql<string | null>`coalesce(${p.changeId}, change_id)` })
    .where('id', '=', p.id),
);

export interface NewPatch {
  projectId: number;
  mailId: number;
  msgid: string;
  seriesId: number;
  number: number;
  submitterId: number;
  name: string;
  content: string;
  diff: string | null;
  hash: string | null;
  pullUrl: string | null;
  date: string;
  state: string;
  tags: { acked: number; reviewed: number; tested: number };
  baseCommit: string | null;
  changeId: string | null;
  signoffOk: boolean;
  studentId: number | null;
  /** normalizeTitle of the title without prefixes. */
  titleNorm: string;
}

export async function insertPatch(db: DbOrTx, p: NewPatch): Promise<number> {
  const { tags, signoffOk, ...rest } = p;
  return (await insertPatchQuery(db, { ...rest, ...tags, signoffOk: signoffOk ? 1 : 0 }))[0]!.id;
}

type FlatPatch = Omit<NewPatch, 'tags' | 'signoffOk'> & NewPatch['tags'] & { signoffOk: 0 | 1 };

const insertPatchQuery = prepared((db, p: FlatPatch) =>
  db
    .insertInto('patches')
    .values({
      project_id: p.projectId,
      mail_id: p.mailId,
      msgid: p.msgid,
      series_id: p.seriesId,
      number: p.number,
      submitter_id: p.submitterId,
      name: p.name,
      content: p.content,
      diff: p.diff,
      hash: p.hash,
      pull_url: p.pullUrl,
      date: p.date,
      state: p.state,
      acked: p.acked,
      reviewed: p.reviewed,
      tested: p.tested,
      base_commit: p.baseCommit,
      change_id: p.changeId,
      signoff_ok: p.signoffOk,
      student_id: p.studentId,
      replaced_by: null,
      title_norm: p.titleNorm,
    })
    .returning('id'),
);

export async function getPatch(db: DbOrTx, id: number): Promise<PatchRow | undefined> {
  return db.selectFrom('patches').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A patch's state, or undefined when there is no such patch. */
export async function patchState(db: DbOrTx, id: number): Promise<string | undefined> {
  return (await patchStateQuery(db, { id }))[0]?.state;
}

const patchStateQuery = prepared((db, p: { id: number }) => db.selectFrom('patches').select('state').where('id', '=', p.id));

export async function patchesOfSeries(db: DbOrTx, seriesId: number): Promise<PatchRow[]> {
  return db.selectFrom('patches').selectAll().where('series_id', '=', seriesId).orderBy('number').orderBy('id').execute();
}

/** What filing needs of a series' patches (no content or diff), by number. */
export async function patchSlotsOfSeries(db: DbOrTx, seriesId: number): Promise<{ id: number; number: number; state: string; replaced_by: number | null }[]> {
  return patchSlotsQuery(db, { seriesId });
}

const patchSlotsQuery = prepared((db, p: { seriesId: number }) =>
  db.selectFrom('patches').select(['id', 'number', 'state', 'replaced_by']).where('series_id', '=', p.seriesId).orderBy('number').orderBy('id'),
);

export async function setPatchState(db: DbOrTx, id: number, state: string): Promise<void> {
  await setPatchStateQuery(db, { id, state });
}

const setPatchStateQuery = prepared((db, p: { id: number; state: string }) => db.updateTable('patches').set({ state: p.state }).where('id', '=', p.id));

export async function setReplacedBy(db: DbOrTx, id: number, replacement: number): Promise<void> {
  await setReplacedByQuery(db, { id, replacement });
}

const setReplacedByQuery = prepared((db, p: { id: number; replacement: number }) => db.updateTable('patches').set({ replaced_by: p.replacement }).where('id', '=', p.id));

export async function addPatchTags(db: DbOrTx, id: number, t: { acked: number; reviewed: number; tested: number }): Promise<void> {
  await addPatchTagsQuery(db, { id, ...t });
}

const addPatchTagsQuery = prepared((db, p: { id: number; acked: number; reviewed: number; tested: number }) =>
  db
    .updateTable('patches')
    .set((eb) => ({ acked: eb('acked', '+', p.acked), reviewed: eb('reviewed', '+', p.reviewed), tested: eb('tested', '+', p.tested) }))
    .where('id', '=', p.id),
);

export interface NewCover {
  projectId: number;
  mailId: number;
  msgid: string;
  seriesId: number;
  submitterId: number;
  name: string;
  content: string;
  date: string;
}

export async function insertCover(db: DbOrTx, c: NewCover): Promise<number> {
  return (await insertCoverQuery(db, c))[0]!.id;
}

const insertCoverQuery = prepared((db, c: NewCover) =>
  db
    .insertInto('covers')
    .values({
      project_id: c.projectId,
      mail_id: c.mailId,
      msgid: c.msgid,
      series_id: c.seriesId,
      submitter_id: c.submitterId,
      name: c.name,
      content: c.content,
      date: c.date,
    })
    .returning('id'),
);

export interface NewComment {
  projectId: number;
  mailId: number;
  msgid: string;
  patchId: number | null;
  coverId: number | null;
  submitterId: number;
  content: string;
  date: string;
}

export async function insertComment(db: DbOrTx, c: NewComment): Promise<number> {
  return (await insertCommentQuery(db, c))[0]!.id;
}

const insertCommentQuery = prepared((db, c: NewComment) =>
  db
    .insertInto('comments')
    .values({
      project_id: c.projectId,
      mail_id: c.mailId,
      msgid: c.msgid,
      patch_id: c.patchId,
      cover_id: c.coverId,
      submitter_id: c.submitterId,
      content: c.content,
      date: c.date,
    })
    .returning('id'),
);

export async function getRevision(db: DbOrTx, seriesId: number): Promise<RevisionRow | undefined> {
  return (await revisionQuery(db, { seriesId }))[0];
}

const revisionQuery = prepared((db, p: { seriesId: number }) => db.selectFrom('revisions').selectAll().where('series_id', '=', p.seriesId));

export async function nextRevisionOf(db: DbOrTx, seriesId: number): Promise<RevisionRow | undefined> {
  return (await nextRevisionQuery(db, { seriesId }))[0];
}

const nextRevisionQuery = prepared((db, p: { seriesId: number }) => db.selectFrom('revisions').selectAll().where('previous_id', '=', p.seriesId));

export async function insertRevision(db: DbOrTx, r: { seriesId: number; previousId: number; reason: string; source: 'parser' | 'maintainer' }): Promise<void> {
  await insertRevisionQuery(db, { ...r, createdAt: nowIso() });
}

const insertRevisionQuery = prepared((db, r: { seriesId: number; previousId: number; reason: string; source: 'parser' | 'maintainer'; createdAt: string }) =>
  db.insertInto('revisions').values({ series_id: r.seriesId, previous_id: r.previousId, reason: r.reason, source: r.source, created_at: r.createdAt }),
);

export async function deleteRevision(db: DbOrTx, seriesId: number): Promise<void> {
  await db.deleteFrom('revisions').where('series_id', '=', seriesId).execute();
}

export async function markRevisionAnnounced(db: DbOrTx, seriesId: number): Promise<void> {
  await markAnnouncedQuery(db, { seriesId });
}

const markAnnouncedQuery = prepared((db, p: { seriesId: number }) => db.updateTable('revisions').set({ announced: 1 }).where('series_id', '=', p.seriesId));

export interface NewEvent {
  projectId: number;
  category: string;
  actorId?: number | null;
  patchId?: number | null;
  seriesId?: number | null;
  coverId?: number | null;
  commentId?: number | null;
  payload?: Record<string, unknown>;
}

function eventRow(e: NewEvent, date: string) {
  return {
    project_id: e.projectId,
    category: e.category,
    date,
    actor_id: e.actorId ?? null,
    patch_id: e.patchId ?? null,
    series_id: e.seriesId ?? null,
    cover_id: e.coverId ?? null,
    comment_id: e.commentId ?? null,
    payload: e.payload ? JSON.stringify(e.payload) : null,
  };
}

export async function insertEvent(db: DbOrTx, e: NewEvent): Promise<number> {
  const row = await db.insertInto('events').values(eventRow(e, nowIso())).returning('id').executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Several events in one statement, in order (a processing batch's, at its end). They go in as one JSON array, so
 * the statement's text, and its prepared statement, is the same for any number of them.
 */
export async function insertEvents(db: DbOrTx, events: NewEvent[]): Promise<void> {
  if (!events.length) return;
  const date = nowIso();
  await insertEventsQuery(db, {
    rows: JSON.stringify(
      events.map((e) => {
        const r = eventRow(e, date);
        return [r.project_id, r.category, r.date, r.actor_id, r.patch_id, r.series_id, r.cover_id, r.comment_id, r.payload];
      }),
    ),
  });
}

const insertEventsQuery = prepared((db, p: { rows: string }) => {
  const at = <T>(n: number) => sql<T>`${sql.raw(`j.value ->> ${n}`)}`;
  return db
    .insertInto('events')
    .columns(['project_id', 'category', 'date', 'actor_id', 'patch_id', 'series_id', 'cover_id', 'comment_id', 'payload'])
    .expression(
      db
        .selectFrom(sql<{ key: number; value: unknown }>`json_each(${p.rows})`.as('j'))
        .select([
          at<number>(0).as('project_id'),
          at<string>(1).as('category'),
          at<string>(2).as('date'),
          at<number | null>(3).as('actor_id'),
          at<number | null>(4).as('patch_id'),
          at<number | null>(5).as('series_id'),
          at<number | null>(6).as('cover_id'),
          at<number | null>(7).as('comment_id'),
          at<string | null>(8).as('payload'),
        ])
        .orderBy('j.key'),
    );
});

export async function eventsSince(db: DbOrTx, afterId: number, categories?: string[]) {
  let q = db.selectFrom('events').selectAll().where('id', '>', afterId).orderBy('id');
  if (categories?.length) q = q.where('category', 'in', categories);
  return q.execute();
}

type Roster = { id: number; name: string; emails: string[] }[];

/** The project's students with their addresses, for matching an author by email or by name. */
export async function rosterOf(db: DbOrTx, projectId: number): Promise<Roster> {
  const memo = memoOf(db);
  const known = memo?.roster.get(projectId);
  if (known) return known;
  const rows = await rosterQuery(db, { projectId });
  const byId = new Map<number, { id: number; name: string; emails: string[] }>();
  for (const r of rows) {
    const s = byId.get(r.id) ?? { id: r.id, name: r.name, emails: [] };
    if (r.email) s.emails.push(r.email);
    byId.set(r.id, s);
  }
  const roster = [...byId.values()];
  memo?.roster.set(projectId, roster);
  return roster;
}

const rosterQuery = prepared((db, p: { projectId: number }) =>
  db
    .selectFrom('students')
    .leftJoin('student_emails', 'student_emails.student_id', 'students.id')
    .select(['students.id', 'students.name', 'student_emails.email'])
    .where('students.project_id', '=', p.projectId),
);

export async function movePatches(db: DbOrTx, patchIds: number[], seriesId: number): Promise<void> {
  if (!patchIds.length) return;
  await db.updateTable('patches').set({ series_id: seriesId }).where('id', 'in', patchIds).execute();
}

export async function moveCover(db: DbOrTx, coverId: number, seriesId: number): Promise<void> {
  await db.updateTable('covers').set({ series_id: seriesId }).where('id', '=', coverId).execute();
}

export async function setPatchFields(db: DbOrTx, id: number, set: Partial<Pick<PatchRow, 'state' | 'delegate_id' | 'archived' | 'commit_ref' | 'pull_url'>>): Promise<void> {
  if (!Object.keys(set).length) return;
  await db.updateTable('patches').set(set).where('id', '=', id).execute();
}

// Reads for views and tests: everything of one project, in id order.

export async function listSeries(db: DbOrTx, projectId: number): Promise<SeriesRow[]> {
  return db.selectFrom('series').selectAll().where('project_id', '=', projectId).orderBy('id').execute();
}

export async function listPatches(db: DbOrTx, projectId: number): Promise<PatchRow[]> {
  return db.selectFrom('patches').selectAll().where('project_id', '=', projectId).orderBy('id').execute();
}

export async function listCovers(db: DbOrTx, projectId: number): Promise<CoverRow[]> {
  return db.selectFrom('covers').selectAll().where('project_id', '=', projectId).orderBy('id').execute();
}

export async function listComments(db: DbOrTx, projectId: number): Promise<CommentRow[]> {
  return db.selectFrom('comments').selectAll().where('project_id', '=', projectId).orderBy('id').execute();
}

/** Revision links whose newer series belongs to the project. */
export async function listRevisions(db: DbOrTx, projectId: number): Promise<RevisionRow[]> {
  return db
    .selectFrom('revisions')
    .innerJoin('series', 'series.id', 'revisions.series_id')
    .selectAll('revisions')
    .where('series.project_id', '=', projectId)
    .orderBy('revisions.series_id')
    .execute();
}

export async function listEvents(db: DbOrTx, projectId: number): Promise<EventRow[]> {
  return db.selectFrom('events').selectAll().where('project_id', '=', projectId).orderBy('id').execute();
}

export async function getPeople(db: DbOrTx, ids: number[]): Promise<{ id: number; email: string; name: string | null }[]> {
  if (!ids.length) return [];
  return db.selectFrom('people').select(['id', 'email', 'name']).where('id', 'in', ids).execute();
}

/** Totals for benchmarks and health: how much the series engine has filed. */
export async function benchCounts(db: DbOrTx): Promise<{ series: number; patches: number; covers: number; comments: number; revisions: number; superseded: number }> {
  const count = async (table: 'series' | 'patches' | 'covers' | 'comments' | 'revisions') =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const superseded = Number(
    (await db.selectFrom('patches').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'superseded').executeTakeFirstOrThrow()).n,
  );
  return { series: await count('series'), patches: await count('patches'), covers: await count('covers'), comments: await count('comments'), revisions: await count('revisions'), superseded };
}

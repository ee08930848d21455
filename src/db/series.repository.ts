// SQL for the series engine: people, series and their claimed Message-IDs, covers, patches, comments, revisions, events.
import { sql } from 'kysely';
import type { KnownMail, SeriesSummary } from '../series/thread.js';
import type { DbOrTx } from './database.js';
import { nowIso } from './database.js';
import type { CommentRow, CoverRow, EventRow, PatchRow, RevisionRow, SeriesRow } from './series-schema.js';

export async function upsertPerson(db: DbOrTx, email: string, name: string | null): Promise<number> {
  const e = email.toLowerCase();
  const row = await db
    .insertInto('people')
    .values({ email: e, name: name || null, created_at: nowIso() })
    .onConflict((oc) => oc.column('email').doUpdateSet({ name: sql`coalesce(people.name, excluded.name)` }))
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Patches and covers (and, when asked, comments) with these Message-IDs. */
export async function findKnown(db: DbOrTx, projectId: number, msgids: string[], withComments = true): Promise<KnownMail[]> {
  if (!msgids.length) return [];
  const [patches, covers, comments] = await Promise.all([
    db.selectFrom('patches').select(['id', 'msgid', 'series_id', 'number']).where('project_id', '=', projectId).where('msgid', 'in', msgids).execute(),
    db.selectFrom('covers').select(['id', 'msgid', 'series_id']).where('project_id', '=', projectId).where('msgid', 'in', msgids).execute(),
    withComments
      ? db.selectFrom('comments').select(['id', 'msgid', 'patch_id', 'cover_id']).where('project_id', '=', projectId).where('msgid', 'in', msgids).execute()
      : Promise.resolve([]),
  ]);
  return [
    ...patches.map((p): KnownMail => ({ msgid: p.msgid, kind: 'patch', id: p.id, seriesId: p.series_id, index: p.number })),
    ...covers.map((c): KnownMail => ({ msgid: c.msgid, kind: 'cover', id: c.id, seriesId: c.series_id, index: 0 })),
    ...comments.map(
      (c): KnownMail => ({
        msgid: c.msgid,
        kind: 'comment',
        id: c.id,
        seriesId: null,
        index: null,
        parent: c.patch_id !== null ? { kind: 'patch', id: c.patch_id } : { kind: 'cover', id: c.cover_id! },
      }),
    ),
  ];
}

export async function findSeriesRefs(db: DbOrTx, projectId: number, msgids: string[]): Promise<Map<string, number>> {
  if (!msgids.length) return new Map();
  const rows = await db.selectFrom('series_refs').select(['msgid', 'series_id']).where('project_id', '=', projectId).where('msgid', 'in', msgids).execute();
  return new Map(rows.map((r) => [r.msgid, r.series_id]));
}

/** Claims Message-IDs for a series; ids already claimed by another series stay with it (first claim wins). */
export async function claimRefs(db: DbOrTx, projectId: number, seriesId: number, msgids: string[]): Promise<void> {
  const unique = [...new Set(msgids)];
  if (!unique.length) return;
  await db
    .insertInto('series_refs')
    .values(unique.map((msgid) => ({ project_id: projectId, msgid, series_id: seriesId })))
    .onConflict((oc) => oc.doNothing())
    .execute();
}

export async function seriesSummaries(db: DbOrTx, ids: number[]): Promise<SeriesSummary[]> {
  if (!ids.length) return [];
  const rows = await db
    .selectFrom('series')
    .innerJoin('people', 'people.id', 'series.submitter_id')
    .select([
      'series.id',
      'people.email',
      'series.version',
      'series.total',
      'series.date',
      'series.cover_id',
      'series.batch',
      'series.title_norm',
      'series.change_id',
    ])
    .select((eb) => [
      eb.exists(eb.selectFrom('revisions').select('revisions.series_id').whereRef('revisions.previous_id', '=', 'series.id')).as('superseded'),
      eb.exists(eb.selectFrom('revisions as r2').select('r2.series_id').whereRef('r2.series_id', '=', 'series.id')).as('revises'),
    ])
    .where('series.id', 'in', ids)
    .execute();
  const numbers = await db.selectFrom('patches').select(['series_id', 'number']).where('series_id', 'in', ids).where('replaced_by', 'is', null).execute();
  return rows.map((r) => ({
    id: r.id,
    submitter: r.email,
    version: r.version,
    total: r.total,
    date: r.date,
    indices: numbers.filter((n) => n.series_id === r.id).map((n) => n.number),
    hasCover: r.cover_id !== null,
    batch: r.batch,
    title: r.title_norm,
    changeId: r.change_id,
    superseded: Boolean(r.superseded),
    revises: Boolean(r.revises),
  }));
}

export async function nearbySeriesIds(
  db: DbOrTx,
  q: { projectId: number; submitterId: number; version: number; total: number; from: string; to: string },
): Promise<number[]> {
  const rows = await db
    .selectFrom('series')
    .select('id')
    .where('project_id', '=', q.projectId)
    .where('submitter_id', '=', q.submitterId)
    .where('version', '=', q.version)
    .where('total', '=', q.total)
    .where('date', '>=', q.from)
    .where('date', '<=', q.to)
    .execute();
  return rows.map((r) => r.id);
}

export async function predecessorCandidateIds(
  db: DbOrTx,
  q: { projectId: number; submitterId: number; titleNorm: string | null; changeId: string | null; supersedes: string | null },
): Promise<{ bySupersedes: number | null; byChangeId: number[]; byTitle: number[] }> {
  const bySupersedes = q.supersedes ? ((await findSeriesRefs(db, q.projectId, [q.supersedes])).get(q.supersedes) ?? null) : null;
  const byChangeId = q.changeId
    ? (await db.selectFrom('series').select('id').where('project_id', '=', q.projectId).where('change_id', '=', q.changeId).execute()).map((r) => r.id)
    : [];
  const byTitle = q.titleNorm
    ? (
        await db
          .selectFrom('series')
          .select('id')
          .where('project_id', '=', q.projectId)
          .where('submitter_id', '=', q.submitterId)
          .where('title_norm', '=', q.titleNorm)
          .execute()
      ).map((r) => r.id)
    : [];
  return { bySupersedes, byChangeId, byTitle };
}

export async function insertSeries(
  db: DbOrTx,
  s: { projectId: number; submitterId: number; name: string | null; version: number; total: number; date: string; batch: string | null; titleNorm: string | null; changeId: string | null },
): Promise<number> {
  const row = await db
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
      created_at: nowIso(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function getSeries(db: DbOrTx, id: number): Promise<SeriesRow | undefined> {
  return db.selectFrom('series').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function updateSeries(
  db: DbOrTx,
  id: number,
  set: Partial<Pick<SeriesRow, 'name' | 'cover_id' | 'title_norm' | 'change_id' | 'completed' | 'total' | 'date'>>,
): Promise<void> {
  await db.updateTable('series').set(set).where('id', '=', id).execute();
}

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
}

export async function insertPatch(db: DbOrTx, p: NewPatch): Promise<number> {
  const row = await db
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
      acked: p.tags.acked,
      reviewed: p.tags.reviewed,
      tested: p.tags.tested,
      base_commit: p.baseCommit,
      change_id: p.changeId,
      signoff_ok: p.signoffOk ? 1 : 0,
      student_id: p.studentId,
      replaced_by: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function getPatch(db: DbOrTx, id: number): Promise<PatchRow | undefined> {
  return db.selectFrom('patches').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function patchesOfSeries(db: DbOrTx, seriesId: number): Promise<PatchRow[]> {
  return db.selectFrom('patches').selectAll().where('series_id', '=', seriesId).orderBy('number').orderBy('id').execute();
}

export async function setPatchState(db: DbOrTx, id: number, state: string): Promise<void> {
  await db.updateTable('patches').set({ state }).where('id', '=', id).execute();
}

export async function setReplacedBy(db: DbOrTx, id: number, replacement: number): Promise<void> {
  await db.updateTable('patches').set({ replaced_by: replacement }).where('id', '=', id).execute();
}

export async function addPatchTags(db: DbOrTx, id: number, t: { acked: number; reviewed: number; tested: number }): Promise<void> {
  await db
    .updateTable('patches')
    .set((eb) => ({ acked: eb('acked', '+', t.acked), reviewed: eb('reviewed', '+', t.reviewed), tested: eb('tested', '+', t.tested) }))
    .where('id', '=', id)
    .execute();
}

export async function insertCover(
  db: DbOrTx,
  c: { projectId: number; mailId: number; msgid: string; seriesId: number; submitterId: number; name: string; content: string; date: string },
): Promise<number> {
  const row = await db
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
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function insertComment(
  db: DbOrTx,
  c: { projectId: number; mailId: number; msgid: string; patchId: number | null; coverId: number | null; submitterId: number; content: string; date: string },
): Promise<number> {
  const row = await db
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
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function getRevision(db: DbOrTx, seriesId: number) {
  return db.selectFrom('revisions').selectAll().where('series_id', '=', seriesId).executeTakeFirst();
}

export async function nextRevisionOf(db: DbOrTx, seriesId: number) {
  return db.selectFrom('revisions').selectAll().where('previous_id', '=', seriesId).executeTakeFirst();
}

export async function insertRevision(db: DbOrTx, r: { seriesId: number; previousId: number; reason: string; source: 'parser' | 'maintainer' }): Promise<void> {
  await db
    .insertInto('revisions')
    .values({ series_id: r.seriesId, previous_id: r.previousId, reason: r.reason, source: r.source, created_at: nowIso() })
    .execute();
}

export async function deleteRevision(db: DbOrTx, seriesId: number): Promise<void> {
  await db.deleteFrom('revisions').where('series_id', '=', seriesId).execute();
}

export async function markRevisionAnnounced(db: DbOrTx, seriesId: number): Promise<void> {
  await db.updateTable('revisions').set({ announced: 1 }).where('series_id', '=', seriesId).execute();
}

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

/** Several events in one statement, in order. */
export async function insertEvents(db: DbOrTx, events: NewEvent[]): Promise<void> {
  if (!events.length) return;
  const date = nowIso();
  await db
    .insertInto('events')
    .values(events.map((e) => eventRow(e, date)))
    .execute();
}

export async function eventsSince(db: DbOrTx, afterId: number, categories?: string[]) {
  let q = db.selectFrom('events').selectAll().where('id', '>', afterId).orderBy('id');
  if (categories?.length) q = q.where('category', 'in', categories);
  return q.execute();
}

/** The project's students with their addresses, for matching an author by email or by name. */
export async function rosterOf(db: DbOrTx, projectId: number): Promise<{ id: number; name: string; emails: string[] }[]> {
  const rows = await db
    .selectFrom('students')
    .leftJoin('student_emails', 'student_emails.student_id', 'students.id')
    .select(['students.id', 'students.name', 'student_emails.email'])
    .where('students.project_id', '=', projectId)
    .execute();
  const byId = new Map<number, { id: number; name: string; emails: string[] }>();
  for (const r of rows) {
    const s = byId.get(r.id) ?? { id: r.id, name: r.name, emails: [] };
    if (r.email) s.emails.push(r.email);
    byId.set(r.id, s);
  }
  return [...byId.values()];
}

export async function movePatches(db: DbOrTx, patchIds: number[], seriesId: number): Promise<void> {
  if (!patchIds.length) return;
  await db.updateTable('patches').set({ series_id: seriesId }).where('id', 'in', patchIds).execute();
}

export async function moveCover(db: DbOrTx, coverId: number, seriesId: number): Promise<void> {
  await db.updateTable('covers').set({ series_id: seriesId }).where('id', '=', coverId).execute();
}

export async function setPatchFields(db: DbOrTx, id: number, set: Partial<Pick<PatchRow, 'state' | 'delegate_id' | 'archived' | 'commit_ref'>>): Promise<void> {
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

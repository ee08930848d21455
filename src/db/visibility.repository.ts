// SQL behind the visibility rule (src/api/visibility.service.ts): who a reader is in a project's roster, and which
// project and student each thing (series, patch, cover, comment, run, archived mail) belongs to.
import { sql, type RawBuilder } from 'kysely';
import type { DbOrTx } from './database.js';

/** The roster students of these projects whose email list holds this address (a reader is at most one per project). */
export async function studentsByEmail(db: DbOrTx, email: string): Promise<{ id: number; project_id: number; login: string }[]> {
  return db
    .selectFrom('student_emails')
    .innerJoin('students', 'students.id', 'student_emails.student_id')
    .select(['students.id', 'students.project_id', 'students.login'])
    .where('student_emails.email', '=', email.toLowerCase())
    .execute();
}

/** Where a thing is, and the roster student its series is attributed to (null: nobody's). */
export interface Owner {
  projectId: number;
  studentId: number | null;
}

/** A series' student: the one its patches are attributed to (patches.student_id, set at filing from the roster). */
export async function seriesOwner(db: DbOrTx, id: number): Promise<Owner | undefined> {
  const s = await db.selectFrom('series').select('project_id').where('id', '=', id).executeTakeFirst();
  if (!s) return undefined;
  const p = await db.selectFrom('patches').select('student_id').where('series_id', '=', id).where('student_id', 'is not', null).limit(1).executeTakeFirst();
  return { projectId: s.project_id, studentId: p?.student_id ?? null };
}

export async function patchOwner(db: DbOrTx, id: number): Promise<Owner | undefined> {
  const r = await db.selectFrom('patches').select(['project_id', 'series_id']).where('id', '=', id).executeTakeFirst();
  return r && seriesOwner(db, r.series_id);
}

export async function coverOwner(db: DbOrTx, id: number): Promise<Owner | undefined> {
  const r = await db.selectFrom('covers').select(['project_id', 'series_id']).where('id', '=', id).executeTakeFirst();
  if (!r) return undefined;
  return r.series_id === null ? { projectId: r.project_id, studentId: null } : seriesOwner(db, r.series_id);
}

export async function commentOwner(db: DbOrTx, id: number): Promise<Owner | undefined> {
  const r = await db.selectFrom('comments').select(['project_id', 'patch_id', 'cover_id']).where('id', '=', id).executeTakeFirst();
  if (!r) return undefined;
  if (r.patch_id !== null) return patchOwner(db, r.patch_id);
  if (r.cover_id !== null) return coverOwner(db, r.cover_id);
  return { projectId: r.project_id, studentId: null };
}

export async function runOwner(db: DbOrTx, id: number): Promise<Owner | undefined> {
  const r = await db.selectFrom('runs').select('series_id').where('id', '=', id).executeTakeFirst();
  return r && seriesOwner(db, r.series_id);
}

/** The bundle at /bundle/OWNER/NAME/: its project and owner. */
export async function bundleByName(db: DbOrTx, owner: string, name: string): Promise<{ project_id: number; owner_id: number } | undefined> {
  return db
    .selectFrom('bundles')
    .innerJoin('users', 'users.id', 'bundles.owner_id')
    .select(['bundles.project_id', 'bundles.owner_id'])
    .where('users.username', '=', owner)
    .where('bundles.name', '=', name)
    .executeTakeFirst();
}

/** A patch or cover letter of a project by Message-ID (the web view's /project/SLUG/patch/MSGID/ pages). */
export async function submissionOwnerByMsgid(db: DbOrTx, kind: 'patch' | 'cover', projectId: number, msgid: string): Promise<Owner | undefined> {
  const table = kind === 'patch' ? 'patches' : 'covers';
  const r = await db.selectFrom(table).select('id').where('project_id', '=', projectId).where('msgid', '=', msgid).executeTakeFirst();
  if (!r) return undefined;
  return kind === 'patch' ? patchOwner(db, r.id) : coverOwner(db, r.id);
}

/**
 * An archived post of a project: owned as the patch, cover letter or comment it was filed as; any other post
 * (a question to the list, a maintainer's announcement) is nobody's.
 */
export async function archivedMailOwner(db: DbOrTx, projectId: number, msgid: string): Promise<Owner | undefined> {
  const a = await db.selectFrom('archive').select('mail_id').where('project_id', '=', projectId).where('msgid', '=', msgid).executeTakeFirst();
  if (!a) return undefined;
  const p = await db.selectFrom('patches').select('id').where('mail_id', '=', a.mail_id).executeTakeFirst();
  if (p) return patchOwner(db, p.id);
  const c = await db.selectFrom('covers').select('id').where('mail_id', '=', a.mail_id).executeTakeFirst();
  if (c) return coverOwner(db, c.id);
  const m = await db.selectFrom('comments').select('id').where('mail_id', '=', a.mail_id).executeTakeFirst();
  if (m) return commentOwner(db, m.id);
  return { projectId, studentId: null };
}

/**
 * What a reader may list: rows of `hidden` projects never; rows of `restricted` projects only when their series is
 * attributed to one of `students`; everything else. The API's list filters carry it (the rule itself is in
 * src/api/visibility.service.ts).
 */
export interface RowScope {
  hidden: readonly number[];
  restricted: readonly number[];
  students: readonly number[];
}

const ids = (xs: readonly number[]) => (xs.length ? sql.join(xs.map((x) => sql`${x}`)) : sql`null`);

/** The scope as a condition on a row's project column and its series (a column or an expression). */
export function scopeCondition(scope: RowScope, projectCol: string, series: RawBuilder<unknown>): RawBuilder<boolean> {
  const parts: RawBuilder<unknown>[] = [];
  if (scope.hidden.length) parts.push(sql`${sql.ref(projectCol)} not in (${ids(scope.hidden)})`);
  if (scope.restricted.length) {
    parts.push(sql`(${sql.ref(projectCol)} not in (${ids(scope.restricted)}) or ${series} in (select p.series_id from patches p where p.student_id in (${ids(scope.students)})))`);
  }
  return parts.length ? sql<boolean>`(${sql.join(parts, sql` and `)})` : sql<boolean>`1 = 1`;
}

export const seriesOfColumn = (col: string): RawBuilder<unknown> => sql`${sql.ref(col)}`;
/** An event's series: its own, else its patch's or its cover letter's. */
export const EVENT_SERIES: RawBuilder<unknown> = sql`coalesce(events.series_id, (select p2.series_id from patches p2 where p2.id = events.patch_id), (select c2.series_id from covers c2 where c2.id = events.cover_id))`;

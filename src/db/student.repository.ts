// SQL for the project roster: students and their email addresses.
import type { DbOrTx } from './database.js';
import { nowIso } from './database.js';

export interface RosterEntry {
  login: string;
  name: string;
  emails: string[];
}

/** Inserts or updates each student by login and replaces their email list; returns how many rows were written. */
export async function upsertStudents(db: DbOrTx, projectId: number, entries: RosterEntry[]): Promise<number> {
  for (const e of entries) {
    const row = await db
      .insertInto('students')
      .values({ project_id: projectId, login: e.login, name: e.name, created_at: nowIso() })
      .onConflict((oc) => oc.columns(['project_id', 'login']).doUpdateSet({ name: e.name }))
      .returning('id')
      .executeTakeFirstOrThrow();
    await db.deleteFrom('student_emails').where('student_id', '=', row.id).execute();
    for (const email of new Set(e.emails.map((m) => m.toLowerCase()))) {
      await db.insertInto('student_emails').values({ student_id: row.id, email }).execute();
    }
  }
  return entries.length;
}

export async function isStudentEmail(db: DbOrTx, projectId: number, email: string): Promise<boolean> {
  const row = await db
    .selectFrom('student_emails')
    .innerJoin('students', 'students.id', 'student_emails.student_id')
    .select('students.id')
    .where('students.project_id', '=', projectId)
    .where('student_emails.email', '=', email.toLowerCase())
    .executeTakeFirst();
  return row !== undefined;
}

export interface StoredStudent extends RosterEntry {
  id: number;
  /** Series holding a patch attributed to this student (patches.student_id). */
  series: number;
}

/** The project's roster by login, each student with their addresses (sorted) and how many series they sent. */
export async function listStudents(db: DbOrTx, projectId: number): Promise<StoredStudent[]> {
  const rows = await db
    .selectFrom('students')
    .select(['students.id', 'students.login', 'students.name'])
    .select((eb) =>
      eb
        .selectFrom('patches')
        .select((x) => x.fn.count<number>('patches.series_id').distinct().as('n'))
        .whereRef('patches.student_id', '=', 'students.id')
        .as('series'),
    )
    .where('students.project_id', '=', projectId)
    .orderBy('students.login')
    .execute();
  if (!rows.length) return [];
  const emails = await db
    .selectFrom('student_emails')
    .select(['student_id', 'email'])
    .where('student_id', 'in', rows.map((r) => r.id))
    .orderBy('email')
    .execute();
  const byStudent = new Map<number, string[]>();
  for (const e of emails) byStudent.set(e.student_id, [...(byStudent.get(e.student_id) ?? []), e.email]);
  return rows.map((r) => ({ id: r.id, login: r.login, name: r.name, emails: byStudent.get(r.id) ?? [], series: Number(r.series ?? 0) }));
}

/**
 * Deletes one student and their addresses. Their patches keep `student_id` (ids are AUTOINCREMENT, never reused):
 * the series stay a student's work, never read as nobody's, and nobody else is credited with them.
 */
export async function deleteStudent(db: DbOrTx, studentId: number): Promise<void> {
  await db.deleteFrom('student_emails').where('student_id', '=', studentId).execute();
  await db.deleteFrom('students').where('id', '=', studentId).execute();
}

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

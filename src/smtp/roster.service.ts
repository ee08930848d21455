// The project roster (students allowed to post under the `roster` policy): checks a CSV roster and stores it whole.
import type { Db } from '../db/database.js';
import { deleteStudent, listStudents, upsertStudents, type StoredStudent } from '../db/student.repository.js';
import { AppError, invalid, notFound } from '../errors.js';
import { diffRoster, parseRoster, type RosterChanges } from '../config/roster.js';

/**
 * Imports the roster in one transaction, or nothing: a bad line refuses the file with `FILE:LINE: reason` for each
 * problem. Students are matched by login; only added or changed students are written, so importing the same file
 * again changes nothing. Students absent from the file are kept (removing one is `students remove`, on purpose),
 * and an address the file gives to someone while such a student still holds it refuses the file.
 */
export async function importRoster(
  db: Db,
  projectId: number,
  fileName: string,
  text: string,
  /**
   * Makes the accounts of the students who have none and mails each a first-login link (issue 14; the web view's
   * createStudentAccounts().createAccounts); absent: the roster only, and students ask for their link at
   * /password/reset/.
   */
  accounts?: { createAccounts(projectId: number): Promise<string[]> },
): Promise<RosterChanges> {
  const result = parseRoster(text);
  if (!result.ok) {
    const lines = result.problems.map((p) => `${fileName}:${p.line}: ${p.reason}`);
    throw invalid('roster_invalid', `roster refused, nothing imported:\n${lines.join('\n')}`, { problems: result.problems });
  }
  const changes = await db.transaction().execute(async (tx) => {
    const changes = diffRoster(await listStudents(tx, projectId), result.entries);
    if (changes.conflicts.length) {
      const lines = changes.conflicts.map((c) => `${fileName}: ${c.email} (given to "${c.login}") belongs to "${c.heldBy}", who is not in the file`);
      const message = `roster refused, nothing imported:\n${lines.join('\n')}\nremove them first (patchbay students remove) or give the address back to them`;
      throw new AppError('conflict', 'roster_conflict', message, { conflicts: changes.conflicts });
    }
    const changed = new Set([...changes.added.map((e) => e.login), ...changes.updated.map((u) => u.login)]);
    await upsertStudents(tx, projectId, result.entries.filter((e) => changed.has(e.login)));
    return changes;
  });
  if (accounts) await accounts.createAccounts(projectId);
  return changes;
}

export async function rosterOfProject(db: Db, projectId: number): Promise<StoredStudent[]> {
  return listStudents(db, projectId);
}

/** Removes a student from the roster; their series stay, still attributed to them (see deleteStudent). */
export async function removeStudent(db: Db, projectId: number, login: string): Promise<StoredStudent> {
  return db.transaction().execute(async (tx) => {
    const student = (await listStudents(tx, projectId)).find((s) => s.login === login);
    if (!student) throw notFound('student_unknown', `no student with the login "${login}" in this project`);
    await deleteStudent(tx, student.id);
    return student;
  });
}

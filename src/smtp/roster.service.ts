// The project roster (students allowed to post under the `roster` policy): checks a CSV roster and stores it whole.
import type { Db } from '../db/database.js';
import { upsertStudents } from '../db/student.repository.js';
import { invalid } from '../errors.js';
import { parseRoster } from '../config/roster.js';

/**
 * Imports every line of the roster in one transaction, or none: a bad line refuses the file with
 * `FILE:LINE: reason` for each problem. Students are matched by login, so importing again updates them.
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
): Promise<number> {
  const result = parseRoster(text);
  if (!result.ok) {
    const lines = result.problems.map((p) => `${fileName}:${p.line}: ${p.reason}`);
    throw invalid('roster_invalid', `roster refused, nothing imported:\n${lines.join('\n')}`, { problems: result.problems });
  }
  const n = await db.transaction().execute((tx) => upsertStudents(tx, projectId, result.entries));
  if (accounts) await accounts.createAccounts(projectId);
  return n;
}

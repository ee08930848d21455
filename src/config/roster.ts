// Roster files (CSV `login,name,email[,email…]`, optional header row): parsed and checked line by line, pure.
import { parse, CsvError } from 'csv-parse/sync';

export interface RosterEntry {
  login: string;
  name: string;
  emails: string[];
}

export interface RosterProblem {
  line: number;
  reason: string;
}

export type RosterResult = { ok: true; entries: RosterEntry[] } | { ok: false; problems: RosterProblem[] };

const LOGIN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// The domain is split at its first dot after its first character: one way to match, so linear time.
const EMAIL = /^[^\s@<>"(),;:]+@[^\s@<>"(),;:][^\s@<>"(),;:.]*\.[^\s@<>"(),;:]+$/;

/**
 * Every line is checked; any problem refuses the whole file, each problem with its line, so that a roster is
 * imported complete or not at all. Lines starting with "#" and empty lines are skipped; an Excel BOM is ignored.
 */
export function parseRoster(text: string): RosterResult {
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parse(text, {
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      comment: '#',
      comment_no_infix: true,
    }) as unknown as typeof rows; // the typings do not model `info: true` records
  } catch (e) {
    if (e instanceof CsvError) return { ok: false, problems: [{ line: recordStartLine(text, e), reason: `CSV syntax: ${e.message.replace(/ at line \d+$/, '')}` }] };
    throw e;
  }

  const problems: RosterProblem[] = [];
  const entries: RosterEntry[] = [];
  const logins = new Map<string, number>();
  const owners = new Map<string, { login: string; line: number }>();
  rows.forEach(({ record, info }, index) => {
    const line = info.lines;
    const fields = record.map((f) => f.trim());
    // The header row, if any, is the first: "login,name,email…".
    if (index === 0 && fields[0]?.toLowerCase() === 'login' && fields[1]?.toLowerCase() === 'name') return;
    const [login = '', name = '', ...rest] = fields;
    const emails = rest.filter((e) => e !== '').map((e) => e.toLowerCase());
    const fail = (reason: string) => problems.push({ line, reason });
    if (!LOGIN.test(login)) return fail(login ? `login "${login}" must be letters, digits, ".", "_" or "-"` : 'login is empty');
    if (!name) return fail(`name is empty for login "${login}"`);
    if (!emails.length) return fail(`no email address for login "${login}"`);
    const bad = emails.find((e) => !EMAIL.test(e));
    if (bad) return fail(`"${bad}" is not an email address`);
    const first = logins.get(login);
    if (first !== undefined) return fail(`login "${login}" is already on line ${first}`);
    logins.set(login, line);
    for (const email of emails) {
      const owner = owners.get(email);
      if (owner && owner.login !== login) return fail(`${email} already belongs to "${owner.login}" on line ${owner.line}`);
      owners.set(email, { login, line });
    }
    entries.push({ login, name, emails: [...new Set(emails)] });
  });
  return problems.length ? { ok: false, problems } : { ok: true, entries };
}

/**
 * csv-parse reports the line where it gave up (for an unclosed quote: the end of the file); the operator needs the
 * line where the broken record starts, which follows the last good record (`bytes_records`) and any blank lines.
 */
function recordStartLine(text: string, e: CsvError): number {
  const good = typeof e['bytes_records'] === 'number' ? e['bytes_records'] : 0;
  const bytes = Buffer.from(text, 'utf8');
  const before = bytes.subarray(0, good).toString('utf8');
  const blank = /^(?:[ \t]*\r?\n)*/.exec(bytes.subarray(good).toString('utf8'))![0];
  return before.split('\n').length + blank.split('\n').length - 1;
}

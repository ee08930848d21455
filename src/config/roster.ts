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

// --- what an import changes ---------------------------------------------------------------------------------------

export interface RosterUpdate {
  login: string;
  /** Set when the name changed. */
  name?: { from: string; to: string };
  /** Addresses the file adds and drops for this student; both empty when only the name changed. */
  emailsAdded: string[];
  emailsRemoved: string[];
}

export interface RosterChanges {
  added: RosterEntry[];
  updated: RosterUpdate[];
  unchanged: number;
  /** Students stored but absent from the file: an import keeps them (`students remove` removes one). */
  notInFile: { login: string; name: string }[];
  /** Addresses the file gives to a login while a stored student absent from the file holds them. */
  conflicts: { email: string; login: string; heldBy: string }[];
}

/** What importing `entries` over the `stored` roster would change; both sides' emails are lowercase already. */
export function diffRoster(stored: readonly RosterEntry[], entries: readonly RosterEntry[]): RosterChanges {
  const byLogin = new Map(stored.map((s) => [s.login, s]));
  const inFile = new Set(entries.map((e) => e.login));
  const holder = new Map<string, string>();
  for (const s of stored) if (!inFile.has(s.login)) for (const m of s.emails) holder.set(m, s.login);
  const changes: RosterChanges = { added: [], updated: [], unchanged: 0, notInFile: [], conflicts: [] };
  for (const e of entries) {
    for (const email of e.emails) {
      const heldBy = holder.get(email);
      if (heldBy !== undefined) changes.conflicts.push({ email, login: e.login, heldBy });
    }
    const s = byLogin.get(e.login);
    if (!s) {
      changes.added.push(e);
      continue;
    }
    const before = new Set(s.emails);
    const after = new Set(e.emails);
    const update: RosterUpdate = {
      login: e.login,
      ...(s.name !== e.name ? { name: { from: s.name, to: e.name } } : {}),
      emailsAdded: e.emails.filter((m) => !before.has(m)).sort(),
      emailsRemoved: s.emails.filter((m) => !after.has(m)).sort(),
    };
    if (update.name || update.emailsAdded.length || update.emailsRemoved.length) changes.updated.push(update);
    else changes.unchanged++;
  }
  changes.notInFile = stored.filter((s) => !inFile.has(s.login)).map((s) => ({ login: s.login, name: s.name }));
  return changes;
}

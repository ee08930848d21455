// Pure parser for the archive's search language: the subset of public-inbox's Xapian syntax that b4 and people send.
import { invalid } from '../errors.js';

/*
 * public-inbox's search help (`/$INBOX/_/text/help`) documents prefixes on top of Xapian's query parser. b4 0.12
 * sends, in b4/mbox.py get_extra_series() and b4/ez.py:
 *   ((s:"proctree: a syscall" AND f:"zoe@students.example.org") OR nq:"change-id: 20261126-proctree-1a2b") AND d:20261126..
 *   "change-id: 20261126-proctree-1a2b"
 * Xapian's boolean operators are upper case only (a lower-case "and" is a word); adjacent terms are ANDed.
 */

/** Text fields of the archive's full-text index. */
export type TextField = 'subject' | 'sender' | 'recipients' | 'body' | 'quoted';

export type SearchNode =
  | { op: 'and' | 'or'; children: SearchNode[] }
  | { op: 'not'; child: SearchNode }
  /** Words that must appear in this order in one of the fields; `prefix` makes the last word a prefix (`foo*`). */
  | { op: 'text'; fields: TextField[]; phrase: string; prefix: boolean }
  /** Date header within [from, to): ISO strings, either end open. */
  | { op: 'date'; from: string | null; to: string | null }
  | { op: 'msgid'; msgid: string }
  /** A term that can match nothing (no word characters in it). */
  | { op: 'none' };

/**
 * Prefixes as public-inbox defines them. t: and c: share one field (the recipients), a: covers every address;
 * unprefixed words search the subject and the whole body, as public-inbox's default does.
 */
const TEXT_PREFIXES: Record<string, TextField[]> = {
  s: ['subject'],
  f: ['sender'],
  t: ['recipients'],
  c: ['recipients'],
  tc: ['recipients'],
  a: ['sender', 'recipients'],
  b: ['body', 'quoted'],
  bs: ['subject', 'body', 'quoted'],
  nq: ['body'],
  q: ['quoted'],
};
const DEFAULT_FIELDS: TextField[] = ['subject', 'body', 'quoted'];

/** public-inbox prefixes this archive does not index: refused rather than silently read as words. */
const UNSUPPORTED = new Set(['n', 'l', 'rt', 'dt', 'z', 'dfn', 'dfa', 'dfb', 'dfhh', 'dfctx', 'dfpre', 'dfpost', 'dfblob', 'patchid', 'kw', 'L']);

export const QUERY_LIMITS = { length: 2_000, terms: 64, depth: 32 };

type Token = { kind: '(' } | { kind: ')' } | { kind: 'op'; op: 'AND' | 'OR' | 'NOT' } | { kind: 'term'; prefix: string | null; value: string; quoted: boolean; sign: '+' | '-' | null };

function tokenize(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const ch = q[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === '(' || ch === ')') {
      out.push(ch === '(' ? { kind: '(' } : { kind: ')' });
      i++;
      continue;
    }
    let sign: '+' | '-' | null = null;
    if ((ch === '+' || ch === '-') && i + 1 < q.length && !/[\s()]/.test(q[i + 1]!)) {
      sign = ch;
      i++;
    }
    // prefix:"a phrase", prefix:word, "a phrase", word
    let prefix: string | null = null;
    const p = /^([A-Za-z]+):/.exec(q.slice(i, i + 12));
    if (p && i + p[0].length < q.length && !/\s/.test(q[i + p[0].length]!)) {
      prefix = p[1]!;
      i += p[0].length;
    }
    if (q[i] === '"') {
      // Xapian has no escape inside a phrase: it ends at the next double quote (or at the end of the query).
      const end = q.indexOf('"', i + 1);
      const value = q.slice(i + 1, end === -1 ? q.length : end);
      i = end === -1 ? q.length : end + 1;
      out.push({ kind: 'term', prefix, value, quoted: true, sign });
      continue;
    }
    let j = i;
    while (j < q.length && !/[\s()]/.test(q[j]!)) j++;
    const value = q.slice(i, j);
    i = j;
    if (!prefix && !sign && (value === 'AND' || value === 'OR' || value === 'NOT')) {
      out.push({ kind: 'op', op: value });
      continue;
    }
    out.push({ kind: 'term', prefix, value, quoted: false, sign });
  }
  return out;
}

const DAY = 86_400_000;
const UNITS: Record<string, number> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: DAY, week: 7 * DAY, month: 30 * DAY, year: 365 * DAY };

/**
 * One end of a d: range as [start, end) of the instant or day it names, in UTC. Absolute forms: YYYYMMDD,
 * YYYY-MM-DD, YYYYMMDDHHMM[SS], YYYY-MM-DDTHH:MM[:SS][Z]; approxidate-like relative forms as public-inbox accepts
 * them: now, today, yesterday, N.unit(s).ago, last.unit (unit: second … year).
 */
function parseDatePoint(text: string, now: Date): { start: number; end: number } | null {
  let m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(text);
  if (m) {
    const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    return validDay(start, m) ? { start, end: start + DAY } : null;
  }
  m = /^(\d{4})-?(\d{2})-?(\d{2})(?:T|\s)?(\d{2}):?(\d{2})(?::?(\d{2}))?Z?$/.exec(text);
  if (m) {
    const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
    if (!validDay(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])), m) || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59) return null;
    return { start, end: start + (m[6] === undefined ? 60_000 : 1_000) };
  }
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  if (text === 'now') return { start: now.getTime(), end: now.getTime() + 1_000 };
  if (text === 'today') return { start: today, end: today + DAY };
  if (text === 'yesterday') return { start: today - DAY, end: today };
  m = /^(?:(\d{1,4})|last)\.(second|minute|hour|day|week|month|year)s?(?:\.ago)?$/.exec(text);
  if (m && (m[1] !== undefined ? text.endsWith('.ago') : !text.endsWith('.ago'))) {
    const at = now.getTime() - Number(m[1] ?? 1) * UNITS[m[2]!]!;
    return { start: at, end: at + 1_000 };
  }
  return null;
}

function validDay(start: number, m: RegExpExecArray): boolean {
  const d = new Date(start);
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

/** d:A..B, d:A.., d:..B (B inclusive, to the end of the day or instant it names), or d:A (that day). */
function parseDateRange(value: string, now: Date): SearchNode {
  const bad = () => invalid('search_date', `d:${value} is not a date or a range of dates (YYYYMMDD..YYYYMMDD)`);
  const dots = value.indexOf('..');
  const point = (s: string) => {
    const p = parseDatePoint(s, now);
    if (!p) throw bad();
    return p;
  };
  if (dots === -1) {
    const p = point(value);
    return { op: 'date', from: new Date(p.start).toISOString(), to: new Date(p.end).toISOString() };
  }
  const a = value.slice(0, dots);
  const b = value.slice(dots + 2);
  if (!a && !b) throw bad();
  return {
    op: 'date',
    from: a ? new Date(point(a).start).toISOString() : null,
    to: b ? new Date(point(b).end).toISOString() : null,
  };
}

/** True when the text holds something the full-text tokenizer keeps (a letter or a digit). */
function hasWords(text: string): boolean {
  return /[\p{L}\p{N}]/u.test(text);
}

function termNode(t: Extract<Token, { kind: 'term' }>, now: Date): SearchNode {
  let prefix = t.prefix;
  let value = t.value;
  if (prefix !== null && !(prefix in TEXT_PREFIXES) && prefix !== 'd' && prefix !== 'm') {
    if (UNSUPPORTED.has(prefix)) throw invalid('search_prefix', `the search prefix ${prefix}: is not supported here`);
    // Not a prefix Xapian knows: the whole thing is text, as "change-id:" in an unquoted search.
    value = `${prefix}:${value}`;
    prefix = null;
  }
  if (prefix === 'd') return parseDateRange(value, now);
  if (prefix === 'm') {
    const msgid = value.trim().replace(/^<|>$/g, '');
    if (!msgid) throw invalid('search_msgid', 'm: needs a Message-ID');
    return { op: 'msgid', msgid };
  }
  const fields = prefix === null ? DEFAULT_FIELDS : TEXT_PREFIXES[prefix]!;
  // A trailing * makes a word a prefix (Xapian FLAG_WILDCARD); inside quotes it is literal.
  const wildcard = !t.quoted && value.endsWith('*');
  if (wildcard) value = value.slice(0, -1);
  if (!hasWords(value)) return { op: 'none' };
  return { op: 'text', fields, phrase: value, prefix: wildcard };
}

/** Parses a query; `now` anchors relative dates. Throws AppError('invalid') with a code saying what is wrong. */
export function parseSearchQuery(q: string, now: Date = new Date()): SearchNode {
  if (q.length > QUERY_LIMITS.length) throw invalid('search_too_long', `a search is at most ${QUERY_LIMITS.length} characters`);
  const tokens = tokenize(q);
  const terms = tokens.filter((t) => t.kind === 'term').length;
  if (terms === 0) throw invalid('search_empty', 'the search has no terms');
  if (terms > QUERY_LIMITS.terms) throw invalid('search_too_long', `a search has at most ${QUERY_LIMITS.terms} terms`);
  let pos = 0;
  const peek = () => tokens[pos];

  const orExpr = (depth: number): SearchNode => {
    if (depth > QUERY_LIMITS.depth) throw invalid('search_too_deep', `parentheses nest at most ${QUERY_LIMITS.depth} deep`);
    const children = [andExpr(depth)];
    while (peek()?.kind === 'op' && (peek() as { op: string }).op === 'OR') {
      pos++;
      children.push(andExpr(depth));
    }
    return children.length === 1 ? children[0]! : { op: 'or', children };
  };
  const andExpr = (depth: number): SearchNode => {
    const children = [unary(depth)];
    for (;;) {
      const t = peek();
      if (!t || t.kind === ')' || (t.kind === 'op' && t.op === 'OR')) break;
      if (t.kind === 'op' && t.op === 'AND') pos++;
      children.push(unary(depth));
    }
    return children.length === 1 ? children[0]! : { op: 'and', children };
  };
  const unary = (depth: number): SearchNode => {
    const t = peek();
    if (t?.kind === 'op' && t.op === 'NOT') {
      pos++;
      return { op: 'not', child: unary(depth) };
    }
    return primary(depth);
  };
  const primary = (depth: number): SearchNode => {
    const t = tokens[pos++];
    if (!t) throw invalid('search_syntax', 'the search ends where a term was expected');
    if (t.kind === '(') {
      const inner = orExpr(depth + 1);
      if (tokens[pos++]?.kind !== ')') throw invalid('search_syntax', 'a parenthesis is not closed');
      return inner;
    }
    if (t.kind === ')') throw invalid('search_syntax', 'a closing parenthesis has no opening one');
    if (t.kind === 'op') throw invalid('search_syntax', `${t.op} needs a term after it`);
    const node = termNode(t, now);
    return t.sign === '-' ? { op: 'not', child: node } : node;
  };

  const tree = orExpr(0);
  if (pos < tokens.length) throw invalid('search_syntax', 'a closing parenthesis has no opening one');
  return tree;
}

/**
 * The FTS5 query text for one text term: a column filter and a quoted phrase, double quotes doubled (FTS5's only
 * escape), so that nothing in the user's words is read as FTS5 syntax. Used as a bound parameter, never as SQL.
 */
export function ftsMatch(node: Extract<SearchNode, { op: 'text' }>): string {
  return `{${node.fields.join(' ')}} : "${node.phrase.replace(/"/g, '""')}"${node.prefix ? ' *' : ''}`;
}

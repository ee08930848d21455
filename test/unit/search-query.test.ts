// The archive's search language, table-driven: the queries b4 0.12 sends, public-inbox's prefixes, dates, errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '../../src/errors.js';
import { ftsMatch, parseSearchQuery, QUERY_LIMITS, type SearchNode } from '../../src/mail/search-query.js';

const NOW = new Date('2026-11-27T15:30:00Z');
const s = (phrase: string): SearchNode => ({ op: 'text', fields: ['subject'], phrase, prefix: false });
const f = (phrase: string): SearchNode => ({ op: 'text', fields: ['sender'], phrase, prefix: false });
const nq = (phrase: string): SearchNode => ({ op: 'text', fields: ['body'], phrase, prefix: false });
const any = (phrase: string, prefix = false): SearchNode => ({ op: 'text', fields: ['subject', 'body', 'quoted'], phrase, prefix });
const from = (iso: string, to: string | null = null): SearchNode => ({ op: 'date', from: iso, to });

const cases: [string, string, SearchNode][] = [
  [
    // b4/mbox.py get_extra_series(), direction > 0, with a change-id in the cover letter.
    'b4 am -c with a change-id',
    '((s:"proctree: a syscall" AND f:"zoe@students.example.org") OR nq:"change-id: 20261127-proctree-0123") AND d:20261126..',
    {
      op: 'and',
      children: [
        { op: 'or', children: [{ op: 'and', children: [s('proctree: a syscall'), f('zoe@students.example.org')] }, nq('change-id: 20261127-proctree-0123')] },
        from('2026-11-26T00:00:00.000Z'),
      ],
    },
  ],
  [
    'b4 am -c without a change-id (the notes\' recorded request)',
    '((s:"f: add letters" AND f:"s@ex.org")) AND d:20261126..',
    { op: 'and', children: [{ op: 'and', children: [s('f: add letters'), f('s@ex.org')] }, from('2026-11-26T00:00:00.000Z')] },
  ],
  ['older revisions: the end day is included', 'd:..20261126', { op: 'date', from: null, to: '2026-11-27T00:00:00.000Z' }],
  ['b4 trailers: a bare phrase searches subject and body', '"change-id: 20261127-x"', any('change-id: 20261127-x')],
  ['adjacent terms are ANDed', 'proctree syscall', { op: 'and', children: [any('proctree'), any('syscall')] }],
  ['lower-case "and" is a word (Xapian operators are upper case)', 'a and b', { op: 'and', children: [any('a'), any('and'), any('b')] }],
  ['OR binds looser than AND', 's:a OR s:b s:c', { op: 'or', children: [s('a'), { op: 'and', children: [s('b'), s('c')] }] }],
  ['NOT and AND NOT', 's:a AND NOT f:b', { op: 'and', children: [s('a'), { op: 'not', child: f('b') }] }],
  ['a leading minus is NOT', 's:a -f:b', { op: 'and', children: [s('a'), { op: 'not', child: f('b') }] }],
  ['a trailing star makes a prefix', 'proc*', any('proc', true)],
  ['a star inside quotes is literal', '"proc*"', any('proc*')],
  ['an unknown prefix is part of the word', 'change-id:x', any('change-id:x')],
  ['t:, c:, tc: search the recipients', 'tc:list@example.org', { op: 'text', fields: ['recipients'], phrase: 'list@example.org', prefix: false }],
  ['a: searches every address', 'a:zoe', { op: 'text', fields: ['sender', 'recipients'], phrase: 'zoe', prefix: false }],
  ['b: is the whole body, q: the quoted part', 'b:x q:y', { op: 'and', children: [{ op: 'text', fields: ['body', 'quoted'], phrase: 'x', prefix: false }, { op: 'text', fields: ['quoted'], phrase: 'y', prefix: false }] }],
  ['m: is a Message-ID, brackets or not', 'm:<a/b+c@x>', { op: 'msgid', msgid: 'a/b+c@x' }],
  ['a phrase without words can match nothing', 's:"---"', { op: 'none' }],
  ['an unclosed phrase ends with the query', 's:"open phrase', s('open phrase')],
  ['d: with one day', 'd:2026-11-26', { op: 'date', from: '2026-11-26T00:00:00.000Z', to: '2026-11-27T00:00:00.000Z' }],
  ['d: with a closed range', 'd:20261101..20261130', { op: 'date', from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z' }],
  ['d: with a time', 'd:202611261200..', from('2026-11-26T12:00:00.000Z')],
  ['d: relative, approxidate style', 'd:2.weeks.ago..', from('2026-11-13T15:30:00.000Z')],
  ['d: last.week', 'd:last.week..yesterday', { op: 'date', from: '2026-11-20T15:30:00.000Z', to: '2026-11-27T00:00:00.000Z' }],
  ['d: today', 'd:today', { op: 'date', from: '2026-11-27T00:00:00.000Z', to: '2026-11-28T00:00:00.000Z' }],
];

const errors: [string, string, string][] = [
  ['empty', '   ', 'search_empty'],
  ['only operators', 'AND', 'search_empty'],
  ['an unclosed parenthesis', '(s:a', 'search_syntax'],
  ['a stray closing parenthesis', 's:a)', 'search_syntax'],
  ['an operator at the end', 's:a AND', 'search_syntax'],
  ['a date that is not one', 'd:yesterdayish..', 'search_date'],
  ['a month 13', 'd:20261301..', 'search_date'],
  ['an empty range', 'd:..', 'search_date'],
  ['a prefix this archive does not index', 'dfn:Makefile', 'search_prefix'],
  ['an empty m:', 'm:<>', 'search_msgid'],
  ['too long', 'x'.repeat(QUERY_LIMITS.length + 1), 'search_too_long'],
  ['too many terms', Array.from({ length: QUERY_LIMITS.terms + 1 }, (_, i) => `w${i}`).join(' '), 'search_too_long'],
  ['too deep', '('.repeat(QUERY_LIMITS.depth + 2) + 'a' + ')'.repeat(QUERY_LIMITS.depth + 2), 'search_too_deep'],
];

describe('parseSearchQuery', () => {
  for (const [name, q, want] of cases) {
    it(`parses ${name}: ${q.length > 60 ? q.slice(0, 57) + '...' : q}`, () => {
      assert.deepEqual(parseSearchQuery(q, NOW), want);
    });
  }
  for (const [name, q, code] of errors) {
    it(`refuses ${name} with ${code}`, () => {
      assert.throws(
        () => parseSearchQuery(q, NOW),
        (e: unknown) => isAppError(e) && e.kind === 'invalid' && e.code === code,
      );
    });
  }
});

describe('ftsMatch', () => {
  const cases: [Extract<SearchNode, { op: 'text' }>, string][] = [
    [{ op: 'text', fields: ['subject'], phrase: 'proctree: a syscall', prefix: false }, '{subject} : "proctree: a syscall"'],
    [{ op: 'text', fields: ['sender', 'recipients'], phrase: 'zoe', prefix: true }, '{sender recipients} : "zoe" *'],
    // A double quote cannot end the phrase early: FTS5 reads "" as one quote inside a string.
    [{ op: 'text', fields: ['body'], phrase: 'say "hi" OR x', prefix: false }, '{body} : "say ""hi"" OR x"'],
  ];
  for (const [node, want] of cases) {
    it(`quotes ${JSON.stringify(node.phrase)}`, () => assert.equal(ftsMatch(node), want));
  }
});

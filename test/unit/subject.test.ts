// Subject parsing, table-driven over subjects seen on kernel lists.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeTitle, parseSubject } from '../../src/series/subject.js';

type Want = Partial<ReturnType<typeof parseSubject>>;
const cases: [string, Want][] = [
  ['[PATCH v3 2/7] mm: fix the thing', { version: 3, index: 2, total: 7, name: '[v3,2/7] mm: fix the thing', title: 'mm: fix the thing', hasPatchTag: true }],
  ['[RFC PATCH v2 00/10] sched: a cover', { version: 2, index: 0, total: 10, rfc: true, name: '[RFC,v2,00/10] sched: a cover', prefixes: ['RFC'] }],
  ['[PATCH net-next v2 1/3] net: x', { version: 2, index: 1, total: 3, prefixes: ['net-next'], name: '[net-next,v2,1/3] net: x' }],
  ['[PATCH 1/3 v2] foo: bar', { version: 2, index: 1, total: 3, name: '[1/3,v2] foo: bar' }],
  ['[PATCHv2] foo: bar', { version: 2, index: null, total: null, hasPatchTag: true, name: '[PATCHv2] foo: bar' }],
  ['[PATCH RESEND] foo', { resend: true, version: 1, name: '[RESEND] foo' }],
  ['[PATCH v5.1 10/12] foo', { version: 5, subversion: 1, index: 10, total: 12 }],
  ['[PATCH] [RFC] [1/2] meep', { rfc: true, index: 1, total: 2, name: '[RFC,1/2] meep' }],
  ['[PATCH RFC 1/2] meep', { rfc: true, index: 1, total: 2, name: '[RFC,1/2] meep' }],
  ['[PATCH] rewrite [a-z] regexes', { name: 'rewrite [a-z] regexes' }],
  ['Re: [PATCH v2 1/3] foo', { isReply: true, version: 2, index: 1 }],
  ['AW: Re: [PATCH] foo', { isReply: true, name: 'AW: Re: [PATCH] foo' }],
  ['SV: [PATCH] foo', { isReply: true }],
  ['Fwd: [PATCH] foo', { isReply: false, isForward: true, hasPatchTag: true }],
  ['[PATCH 1 of 2] hg style', { index: 1, total: 2, name: '[1 of 2] hg style' }],
  ['[PATCH1/8] glued', { index: 1, total: 8, hasPatchTag: true }],
  ['[v2PATCH1/4] glued', { index: 1, total: 4, version: 2 }],
  ['a plain subject (v3)', { version: 3, hasPatchTag: false, name: 'a plain subject (v3)' }],
  ['[proctree][PATCH v9] syscall: add dummy system call', { version: 9, name: '[v9] syscall: add dummy system call' }],
  ['[GIT PULL] Networking for 6.8', { hasPatchTag: true, name: '[GIT,PULL] Networking for 6.8' }],
  ['Hello list', { hasPatchTag: false, index: null, version: 1, name: 'Hello list' }],
  // Patchwork's parse_series_marker (test_parser.py SubjectTest.test_series_markers).
  ['[bar 1/2] x', { index: 1, total: 2 }],
  ['[bar 0/12] x', { index: 0, total: 12 }],
  ['[bar 1 of 2] x', { index: 1, total: 2 }],
  ['[bar 0 of 12] x', { index: 0, total: 12 }],
  ['[PATCH1 of 8] x', { index: 1, total: 8 }],
  ['[PATCH100/123] x', { index: 100, total: 123 }],
  ['[v2 PATCH1/4] x', { index: 1, total: 4, version: 2 }],
  ['[v2.3PATCH1/4] x', { index: 1, total: 4 }],
  ['[net,v2,1/2] net: comma prefixes', { version: 2, versionGiven: true, index: 1, total: 2, prefixes: ['net'] }],
  ['[Patch 2/2]: hotplug: a colon after the bracket', { index: 2, total: 2, hasPatchTag: true }],
  // Patchwork's parse_version (test_version): a bracketed vN, else "(vN)" in an unnumbered subject, else 1.
  ['Hello, world', { version: 1, versionGiven: false }],
  ['[version] Hello, world', { version: 1, versionGiven: false }],
  ['[v2] Hello, world', { version: 2, versionGiven: true }],
  ['[V6] Hello, world', { version: 6, versionGiven: true }],
  ['[v10] Hello, world', { version: 10, versionGiven: true }],
  ['Hello, world (v2)', { version: 2, versionGiven: true }],
  ['Hello, world (V6)', { version: 6, versionGiven: true }],
  ['[PATCH] mm: fix the thing (v2)', { version: 2, versionGiven: true, index: null }],
  // In a numbered subject the version is the brackets' alone: "(v2)" here is the text's (issue 13).
  ['[PATCH 7/7] requirements: Test older versions of DRF (v2)', { version: 1, versionGiven: false, index: 7, total: 7, title: 'requirements: Test older versions of DRF (v2)' }],
  ['[PATCH v3 7/7] requirements: Test older versions of DRF (v2)', { version: 3, versionGiven: true }],
  ['[PATCH 0/4] net: dsa: ground work (v3)', { version: 3, versionGiven: true, index: 0 }],
  ['[PATCH 1/4] net: dsa: no version of its own', { version: 1, versionGiven: false }],
];

describe('parseSubject', () => {
  for (const [subject, want] of cases) {
    it(`parses ${JSON.stringify(subject)}`, () => {
      const got = parseSubject(subject, 'proctree');
      for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof typeof got], v, `${k} of ${subject}`);
    });
  }

  it('normalizes titles for revision matching', () => {
    assert.equal(normalizeTitle('Mm:  Fix  the thing.'), normalizeTitle('mm: fix the thing'));
    assert.notEqual(normalizeTitle('mm: fix the thing'), normalizeTitle('mm: fix another thing'));
  });
});

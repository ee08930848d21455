// Names as Patchwork stores them: its parser's SubjectTest expectations (the subjects reworded where they are not the
// rule itself), then the shapes kernel lists send, and the name read back into the API's prefixes and a series title.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cleanSubject, NAME_MAX, namePrefixes, nameTitle, patchName } from '../../src/series/patch-name.js';

type Case = [subject: string, drop: string[], name: string, prefixes: string[]];

/** Patchwork's SubjectTest.test_clean_subject, case for case, in our own words where the words are not the point. */
const SUBJECT_TEST: Case[] = [
  ['walk the tree', [], 'walk the tree', []],
  ['Re: walk the tree', [], 'walk the tree', []],
  ['[PATCH] walk the tree', [], 'walk the tree', []],
  ['[PATCH] walk the \n tree', [], 'walk the tree', []],
  ['[PATCH] walk,\n the tree', [], 'walk, the tree', []],
  ['[PATCH RFC] walk the tree', [], '[RFC] walk the tree', ['RFC']],
  ['[PATCH,RFC] walk the tree', [], '[RFC] walk the tree', ['RFC']],
  ['[PATCH,1/2] walk the tree', [], '[1/2] walk the tree', ['1/2']],
  ['[PATCH RFC 1/2] walk the tree', [], '[RFC,1/2] walk the tree', ['RFC', '1/2']],
  ['[PATCH] [RFC] walk the tree', [], '[RFC] walk the tree', ['RFC']],
  ['[PATCH] [RFC,1/2] walk the tree', [], '[RFC,1/2] walk the tree', ['RFC', '1/2']],
  ['[PATCH] [RFC] [1/2] walk the tree', [], '[RFC,1/2] walk the tree', ['RFC', '1/2']],
  ['[PATCH] match [0-9] digits', [], 'match [0-9] digits', []],
  ['[PATCH] [RFC] match [0-9] digits', [], '[RFC] match [0-9] digits', ['RFC']],
  ['[proctree] [lab] walk the tree', ['proctree'], '[lab] walk the tree', ['lab']],
  ['[PROCTREE] [lab] walk the tree', ['proctree'], '[lab] walk the tree', ['lab']],
];

/** What git format-patch, git send-email, hg email and people send; each name checked against Patchwork 3.x's parser. */
const LIST_SHAPES: Case[] = [
  // Version and position are kept as written, in the subject's order; only PATCH and the list's tag go.
  ['[PATCH v2 4/5] docs: describe proctree', ['proctree'], '[v2,4/5] docs: describe proctree', ['v2', '4/5']],
  ['[PATCH v3 00/12] proctree: a syscall', ['proctree'], '[v3,00/12] proctree: a syscall', ['v3', '00/12']],
  ['[RFC PATCH net-next v2 1/3] net: x', ['proctree'], '[RFC,net-next,v2,1/3] net: x', ['RFC', 'net-next', 'v2', '1/3']],
  ['[PATCH 1/3 v2] foo: bar', [], '[1/3,v2] foo: bar', ['1/3', 'v2']],
  ['[proctree][PATCH v9] syscall: add a call', ['proctree'], '[v9] syscall: add a call', ['v9']],
  ['[PATCH proctree 2/2] kernel: y', ['proctree'], '[2/2] kernel: y', ['2/2']],
  ['[PATCH RESEND v2] foo', [], '[RESEND,v2] foo', ['RESEND', 'v2']],
  ['[patch] lower case', [], 'lower case', []],
  // Glued words are one token: only a token that is exactly PATCH (any case) goes.
  ['[PATCHv2] foo: bar', [], '[PATCHv2] foo: bar', ['PATCHv2']],
  ['[PATCH1/8] glued', [], '[PATCH1/8] glued', ['PATCH1/8']],
  ['[GIT PULL] Networking for 6.8', [], '[GIT,PULL] Networking for 6.8', ['GIT', 'PULL']],
  // Mercurial's "PATCH n of m" keeps "n of m" whole, only in that exact form; Unicode digits count as digits.
  ['[PATCH 1 of 3] hg style', [], '[1 of 3] hg style', ['1 of 3']],
  ['[PATCH 2 of 3 RFC] hg style', [], '[2 of 3,RFC] hg style', ['2 of 3', 'RFC']],
  ['[patch 1 of 3] hg style', [], '[1,of,3] hg style', ['1', 'of', '3']],
  ['[PATCH ١ of ٣] digits', [], '[١ of ٣] digits', ['١ of ٣']],
  // One Re:/Fwd: goes, before the brackets only; other reply words are not Patchwork's.
  ['RE: [PATCH 1/2] x', [], '[1/2] x', ['1/2']],
  ['re [PATCH 1/2] x', [], '[1/2] x', ['1/2']],
  ['Fwd: [PATCH] x', [], 'x', []],
  ['FW: [PATCH] x', [], 'x', []],
  ['Re: Re: [PATCH] x', [], 'Re: [PATCH] x', []],
  ['[PATCH] Re: x', [], 'Re: x', []],
  ['AW: [PATCH] x', [], 'AW: [PATCH] x', []],
  ['Reorder the list', [], 'Reorder the list', []],
  // Brackets: an empty group, an unclosed one, a group later in the text.
  ['[PATCH] [] x', [], 'x', []],
  ['[PATCH] [unclosed x', [], '[unclosed x', []],
  ['[PATCH,,v2,] x', [], '[v2] x', ['v2']],
  ['x [PATCH] y', [], 'x [PATCH] y', []],
  // Python's whitespace: U+001C–U+001F and U+0085 are spaces, U+FEFF is not; NULs go.
  ['[PATCH]\x1cx\x85y\u00a0z', [], 'x y z', []],
  ['\ufeff[PATCH] x', [], '\ufeff[PATCH] x', []],
  ['[PA\0TCH] x\0y', [], 'xy', []],
  ['', [], '', []],
];

describe('cleanSubject: the names of Patchwork’s parser', () => {
  for (const [subject, drop, name, prefixes] of [...SUBJECT_TEST, ...LIST_SHAPES]) {
    it(`names ${JSON.stringify(subject)} ${JSON.stringify(name)}`, () => {
      assert.deepEqual(cleanSubject(subject, drop), { name, prefixes });
    });
  }
});

describe('patchName', () => {
  it('drops the project’s own tag and PATCH', () => {
    assert.equal(patchName('[PATCH proctree v2 1/2] x', 'proctree'), '[v2,1/2] x');
    assert.equal(patchName('[PATCH proctree v2 1/2] x'), '[proctree,v2,1/2] x');
  });

  it('keeps the first 255 characters, counting an astral character as one', () => {
    const long = `[PATCH v2 1/2] ${'𝔘'.repeat(300)}`;
    const name = patchName(long);
    assert.equal([...name].length, NAME_MAX);
    assert.ok(name.startsWith('[v2,1/2] 𝔘'));
    assert.ok(!/[\ud800-\udbff]$/.test(name), 'no half of a surrogate pair at the end');
    assert.equal(patchName(`[PATCH] ${'a'.repeat(254)}`).length, 254);
  });

  it('names a subject as long as a header block can be (512 KB of brackets) and cuts the name', () => {
    const name = patchName(`${'[x]'.repeat(175_000)} title`);
    assert.equal(name.length, NAME_MAX);
    assert.ok(name.startsWith('[x,x,x'));
  });
});

describe('namePrefixes: the API’s prefixes, read back from a stored name', () => {
  const cases: [string, string[]][] = [
    ['[RFC,v2,1/3] proctree: walk', ['RFC', 'v2', '1/3']],
    ['[net-next] x', ['net-next']],
    ['proctree: walk', []],
    ['rewrite [a-z] regexes', []],
    // A name kept as Mercurial wrote it reads back as three tokens (Patchwork splits "1 of 3" only after PATCH).
    ['[1 of 3] hg style', ['1', 'of', '3']],
    // A name cut at 255 characters inside its prefix group has no prefixes.
    ['[RFC,v2', []],
  ];
  for (const [name, prefixes] of cases) {
    it(`reads ${JSON.stringify(prefixes)} from ${JSON.stringify(name)}`, () => assert.deepEqual(namePrefixes(name), prefixes));
  }
});

describe('nameTitle: a series named after its cover', () => {
  const cases: [string, string][] = [
    ['[v2,0/3] proctree: a syscall', 'proctree: a syscall'],
    ['proctree: a syscall', 'proctree: a syscall'],
    ['[0/3]', ''],
    ['[unclosed x', '[unclosed x'],
    // Only the one group a name starts with goes.
    ['[0/3] [a-z] x', '[a-z] x'],
  ];
  for (const [name, title] of cases) {
    it(`titles ${JSON.stringify(name)} ${JSON.stringify(title)}`, () => assert.equal(nameTitle(name), title));
  }
});

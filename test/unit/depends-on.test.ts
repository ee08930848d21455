// The `Depends-on:` reader (src/series/depends-on.ts) against the shapes Patchwork 3.2's parse_depends_on takes and
// refuses (patchwork/tests/unit/test_parser.py TestParseDependsOn), and patchbay's own URLs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dependsOnRefs, urlRef, type DependencyRef } from '../../src/series/depends-on.js';

describe('Depends-on: lines', () => {
  const cases: [string, string, DependencyRef[]][] = [
    ['a Message-ID in <>', 'Depends-on: <20261116090100.1-1-zoe@students.example.org>', [{ kind: 'msgid', msgid: '20261116090100.1-1-zoe@students.example.org' }]],
    ["Patchwork's series URL", 'Depends-on: https://pw.example.org/project/proctree/list/?series=12', [{ kind: 'series', id: 12 }]],
    ["Patchwork's series URL as its documentation writes it (no slash)", 'Depends-on: https://pw.example.org/project/proctree/list?series=1234', [{ kind: 'series', id: 1234 }]],
    ["Patchwork's patch URL (the Message-ID with / escaped)", 'Depends-on: http://test/project/proctree/patch/a%2Fb@example.org/', [{ kind: 'msgid', msgid: 'a/b@example.org' }]],
    ["patchbay's series page", 'Depends-on: https://patchbay.example.org/series/7/', [{ kind: 'series', id: 7 }]],
    ["patchbay's patch and cover pages", 'Depends-on: https://h/patch/3/\nDepends-on: https://h/cover/4', [{ kind: 'patch', id: 3 }, { kind: 'cover', id: 4 }]],
    ["the API's series URL, with and without a version", 'Depends-on: https://h/api/1.4/series/9/\nDepends-on: https://h/api/series/10/', [{ kind: 'series', id: 9 }, { kind: 'series', id: 10 }]],
    ['the tag in any case, trailing blanks, among other lines', 'Intro.\n\nDEPENDS-ON: <x@y>   \nSigned-off-by: Z <z@y>', [{ kind: 'msgid', msgid: 'x@y' }]],
    ['the same reference twice, once', 'Depends-on: <x@y>\nDepends-on: <x@y>', [{ kind: 'msgid', msgid: 'x@y' }]],
  ];
  for (const [what, text, refs] of cases) {
    it(`reads ${what}`, () => assert.deepEqual(dependsOnRefs(text), refs));
  }

  const none: [string, string][] = [
    ['a value that is neither (test_parse_depends_on_garbage_ref_1)', 'Depends-on: not-an-id-or-url'],
    ["a URL that is not a series or patch page (garbage_url: '/projects/…/list')", 'Depends-on: http://patchwork.dpdk.org/projects/proctree/list'],
    ['a series URL without its series', 'Depends-on: https://h/project/proctree/list/'],
    ['text after the reference', 'Depends-on: <x@y> (the first one)'],
    ['no space after the colon', 'Depends-on:<x@y>'],
    ['the tag not at the start of its line', '> Depends-on: <x@y>'],
    ['a quoted or indented tag', '  Depends-on: <x@y>'],
    ['a URL with a space', 'Depends-on: https://h/series/1/ 2'],
    ['another scheme', 'Depends-on: ftp://h/series/1/'],
  ];
  for (const [what, text] of none) {
    it(`names nothing for ${what}`, () => assert.deepEqual(dependsOnRefs(text), []));
  }

  it('reads at most 50 references from one mail, and skips lines longer than a mail line may be', () => {
    const many = Array.from({ length: 80 }, (_, i) => `Depends-on: <m${i}@y>`).join('\n');
    assert.equal(dependsOnRefs(many).length, 50);
    assert.deepEqual(dependsOnRefs(`Depends-on: <${'a'.repeat(1000)}@y>`), []);
  });

  it('keeps to the path of a URL: the host does not matter, as in Patchwork', () => {
    assert.deepEqual(urlRef('https://elsewhere.example.com/series/5/'), { kind: 'series', id: 5 });
    assert.equal(urlRef('https://h/series/5/extra/'), null);
    assert.equal(urlRef('https://h/api/2.0/series/5/'), null);
  });
});

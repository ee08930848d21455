// Assignments: the project file's `assignments:` (refusals with file, line and reason) and how a series is matched
// to one (subject tag, diff path glob, first listed wins) and found late (the server's received time).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProjectFile } from '../../src/config/projects.js';
import { isAppError } from '../../src/errors.js';
import { bestIndex, compileAssignments, describeAssignment, isLate, matchIndex, rulesFingerprint, subjectTags } from '../../src/series/assignment.js';

const base = `name: Proctree Syscall
slug: proctree
list: proctree@lists.example.org
`;

const withAssignments = `${base}assignments:
  - name: proctree
    title: The proctree system call
    deadline: 2026-03-01T23:59:00+01:00
    match:
      tag: proctree
      path: "tools/testing/proctree/*.yaml"
  - name: kmod
    title: A kernel module
    deadline: 2026-04-01T12:00:00Z
    match:
      path: "drivers/misc/kmod/**"
`;

describe('assignments in the project file', () => {
  it('reads name, title, deadline (kept as UTC) and match, in order', () => {
    const p = parseProjectFile('proctree.yaml', withAssignments);
    assert.deepEqual(
      p.assignments.map((a) => [a.name, a.deadline, a.match.tag ?? null, a.match.path ?? null]),
      [
        ['proctree', '2026-03-01T22:59:00.000Z', 'proctree', 'tools/testing/proctree/*.yaml'],
        ['kmod', '2026-04-01T12:00:00.000Z', null, 'drivers/misc/kmod/**'],
      ],
    );
  });

  it('has none by default', () => {
    assert.deepEqual(parseProjectFile('proctree.yaml', base).assignments, []);
  });

  const bad: [string, string, RegExp][] = [
    ['a deadline without a timezone', withAssignments.replace('2026-03-01T23:59:00+01:00', '2026-03-01T23:59:00'), /^bad\.yaml:7: assignments\.0\.deadline: must be an ISO 8601 date and time with a timezone/],
    ['a deadline that is only a date', withAssignments.replace('2026-04-01T12:00:00Z', '2026-04-01'), /^bad\.yaml:13: assignments\.1\.deadline: must be an ISO 8601/],
    ['a day that does not exist', withAssignments.replace('2026-03-01T23:59:00+01:00', '2026-02-30T23:59:00+01:00'), /^bad\.yaml:7: assignments\.0\.deadline: is not a real date and time/],
    ['a match with neither tag nor path', withAssignments.replace('    match:\n      path: "drivers/misc/kmod/**"\n', '    match: {}\n'), /^bad\.yaml:14: assignments\.1\.match: needs a tag, a path or both/],
    ['a name that is no slug', withAssignments.replace('name: kmod', 'name: Kernel Module'), /^bad\.yaml:11: assignments\.1\.name: must be lowercase/],
    ['a name listed twice', withAssignments.replace('name: kmod', 'name: proctree'), /^bad\.yaml:11: assignments\.1\.name: "proctree" is listed twice/],
    ['a tag of two words', withAssignments.replace('tag: proctree', 'tag: proc tree'), /^bad\.yaml:9: assignments\.0\.match\.tag: must be one word/],
    ['an unknown key', withAssignments.replace('    title: A kernel module', '    title: A kernel module\n    due: tomorrow'), /^bad\.yaml:13: assignments\.1\.due: unknown key "due"/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what} with file, line and reason`, () => {
      assert.throws(
        () => parseProjectFile('bad.yaml', text),
        (e) => isAppError(e) && message.test(e.message),
      );
    });
  }
});

describe('matching a series to an assignment', () => {
  const rules = parseProjectFile('proctree.yaml', withAssignments).assignments;
  const compiled = compileAssignments(rules);

  const cases: [string, string, string[], number][] = [
    ['the tag in the PATCH group', '[PATCH proctree v2 1/3] proctree: add the syscall', [], 0],
    ['the tag in a group of its own', '[proctree][PATCH v2 1/3] proctree: add the syscall', [], 0],
    ['the tag in any case', '[PROCTREE PATCH] add it', [], 0],
    ['the test definition the diff adds', '[PATCH 2/3] tests', ['tools/testing/proctree/mine.yaml'], 0],
    ['the path glob of the second assignment', '[PATCH] kmod: add', ['drivers/misc/kmod/sub/kmod.c'], 1],
    ['the first listed when both fit', '[PATCH proctree] both', ['drivers/misc/kmod/kmod.c'], 0],
    ['nothing for a word in the title', '[PATCH] proctree: add the syscall', ['kernel/proctree.c'], -1],
    ['nothing for a glob that stays in its folder', '[PATCH] nested', ['tools/testing/proctree/sub/x.yaml'], -1],
  ];
  for (const [what, subject, files, expected] of cases) {
    it(`finds ${what}`, () => {
      assert.equal(matchIndex(compiled, { tags: subjectTags(subject), files }), expected);
    });
  }

  it('keeps the project slug among the subject tags (Patchwork names drop it)', () => {
    assert.deepEqual(subjectTags('[PATCH proctree RFC v3 0/2] cover'), ['proctree', 'rfc']);
  });

  it('takes the earliest listed assignment over all the mails of a series, in any order', () => {
    assert.equal(bestIndex(-1, 1), 1);
    assert.equal(bestIndex(1, -1), 1);
    assert.equal(bestIndex(1, 0), 0);
    assert.equal(bestIndex(0, 1), 0);
    assert.equal(bestIndex(-1, -1), -1);
  });

  it('is late only when received after the deadline, to the millisecond', () => {
    assert.equal(isLate('2026-03-01T22:59:00.000Z', '2026-03-01T22:59:00.000Z'), false);
    assert.equal(isLate('2026-03-01T22:59:00.000Z', '2026-03-01T22:59:00.001Z'), true);
  });

  it('describes a series by the current rules: none for an unmatched series or a name no longer listed', () => {
    assert.deepEqual(describeAssignment(rules, { assignment: 'kmod', received_at: '2026-04-02T00:00:00.000Z' }), {
      name: 'kmod',
      title: 'A kernel module',
      deadline: '2026-04-01T12:00:00.000Z',
      receivedAt: '2026-04-02T00:00:00.000Z',
      late: true,
    });
    assert.equal(describeAssignment(rules, { assignment: null, received_at: '2026-04-02T00:00:00.000Z' }), null);
    assert.equal(describeAssignment(rules, { assignment: 'gone', received_at: '2026-04-02T00:00:00.000Z' }), null);
    assert.equal(describeAssignment(rules, undefined), null);
  });

  it('changes its fingerprint with the matching rules, not with titles or deadlines', () => {
    const moved = rules.map((r) => ({ ...r, title: 'x', deadline: '2030-01-01T00:00:00.000Z' }));
    assert.equal(rulesFingerprint(moved), rulesFingerprint(rules));
    assert.notEqual(rulesFingerprint([...rules].reverse()), rulesFingerprint(rules));
  });
});

// Bounds on what a mail can make the server do (issue 11): subject numbers, references, an empty Content-Type part,
// a Date past year 9999. Table-driven over the shapes that stopped the server, and the largest real ones that must pass.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseMessage } from '../../src/mail/parse.js';
import { readFiling } from '../../src/series/filing.js';
import { boundedReferences, MAX_REFERENCES } from '../../src/series/limits.js';
import { parseSubject } from '../../src/series/subject.js';
import { ROOT } from '../helpers/server-process.js';

type Want = Partial<ReturnType<typeof parseSubject>>;
const cases: [string, Want][] = [
  // The poison of issue 11, item 1: ignored, flagged, still a patch-style subject.
  ['[PATCH 99999999999999999999/0] proctree: x', { index: null, total: null, outOfRange: true, hasPatchTag: true, name: '[99999999999999999999/0] proctree: x' }],
  ['[PATCH 1/1000000000] proctree: x', { index: null, total: null, outOfRange: true, hasPatchTag: true }],
  ['[PATCH v99999999999999999999 1/3] proctree: x', { version: 1, index: 1, total: 3, outOfRange: true }],
  ['[PATCH 1/0] proctree: x', { index: null, total: null, outOfRange: true }],
  ['[PATCH v5.99999 2/3] proctree: x', { version: 1, subversion: null, outOfRange: true }],
  ['[v99999999999PATCH1/4] glued', { version: 1, index: 1, total: 4, outOfRange: true }],
  ['a plain subject (v99999999999)', { version: 1, outOfRange: true }],
  // The largest real ones pass untouched.
  ['[PATCH 0000/2297] Eliminate the Linux kernel\'s "Dependency Hell"', { index: 0, total: 2297, outOfRange: false }],
  ['[PATCH 9999/9999] the bound itself', { index: 9999, total: 9999, outOfRange: false }],
  ['[PATCH 1/10000] one past it', { index: null, total: null, outOfRange: true }],
  ['[PATCH v999 1/2] the highest version', { version: 999, index: 1, total: 2, outOfRange: false }],
  ['[PATCH v5.1 10/12] foo', { version: 5, subversion: 1, index: 10, total: 12, outOfRange: false }],
  ['[PATCH 001/100] zero-padded', { index: 1, total: 100, outOfRange: false }],
];

describe('bounds on numbers taken from a mail', () => {
  for (const [subject, want] of cases) {
    it(`reads ${JSON.stringify(subject)} within the bounds`, () => {
      const got = parseSubject(subject, 'proctree');
      for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof typeof got], v, `${k} of ${subject}`);
    });
  }

  it('files a patch whose marker is out of range as unnumbered, with the defect on the mail', () => {
    const header = 'From: Zoe <zoe@example.org>\nSubject: [PATCH 1/1000000000] x\n';
    const filing = readFiling(
      { msgid: 'm@example.org', header, parts: { text: 'x\n\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n', attachments: [] }, from: { name: 'Zoe', email: 'zoe@example.org' }, subject: '[PATCH 1/1000000000] x', date: null, fallbackDate: '2026-11-20T10:00:00.000Z' },
      'proctree',
    );
    assert.equal(filing.classified.kind, 'patch');
    assert.deepEqual([filing.classified.subject.index, filing.classified.subject.total], [null, null]);
    assert.deepEqual(filing.defects, ['subject-number-out-of-range']);
  });

  it('keeps the thread root and the nearest references, at most MAX_REFERENCES', () => {
    const refs = Array.from({ length: 5000 }, (_, i) => `r${i}@example.org`);
    const kept = boundedReferences(refs);
    assert.equal(kept.length, MAX_REFERENCES);
    assert.equal(kept[0], 'r0@example.org');
    assert.equal(kept[kept.length - 1], 'r4999@example.org');
    assert.deepEqual(boundedReferences(refs.slice(0, 3)), refs.slice(0, 3));
  });

  it('reads a MIME part with an empty Content-Type as bytes of no known type, and marks the mail', async () => {
    const parsed = await parseMessage(fs.readFileSync(path.join(ROOT, 'test/fixtures/fuzz/empty-content-type.eml')));
    assert.ok(parsed.defects.includes('bad-content-type'));
    assert.equal(parsed.fatal, false);
    assert.deepEqual(
      parsed.attachments.map((a) => [a.contentType, a.filename, a.text?.slice(0, 10)]),
      [['application/octet-stream', '0001-parse.patch', 'diff --git']],
    );
  });

  it('drops a Date past year 9999 (valid for JavaScript, not for date arithmetic) and marks the mail', async () => {
    const parsed = await parseMessage(fs.readFileSync(path.join(ROOT, 'test/fixtures/fuzz/date-year-275760.eml')));
    assert.equal(parsed.date, null);
    assert.ok(parsed.defects.includes('date-out-of-range'));
  });
});

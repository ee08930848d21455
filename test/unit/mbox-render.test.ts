// mbox rendering on its output: Patchwork's patch/cover mbox (checked against Python's email package running
// Patchwork's _submission_to_mbox) and public-inbox's mboxrd entries, table-driven.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MboxSplitter } from '../../src/smtp/mbox.js';
import {
  ctime,
  foldField,
  formatAddress,
  formatDate,
  joinMbox,
  mboxFilename,
  mboxrdEntry,
  renderSubmissionMbox,
  submissionBody,
  subjectFilename,
  type MboxSubmission,
} from '../../src/mail/mbox-render.js';

const HEADER = [
  'From: Zoe <zoe@students.example.org>',
  'To: proctree@lists.example.org',
  'Subject: [PATCH 2/3] proctree: count',
  'Date: Fri, 20 Nov 2026 10:00:00 +0000',
  'Message-Id: <20261120.2-zoe@x>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=UTF-8',
  'Content-Transfer-Encoding: 8bit',
  '',
].join('\n');
const DIFF = 'diff --git a/proctree.c b/proctree.c\n--- a/proctree.c\n+++ b/proctree.c\n@@ -1 +1 @@\n-a\n+b\n';

const patch = (over: Partial<MboxSubmission> = {}): MboxSubmission => ({
  kind: 'patch',
  id: 12,
  date: '2026-11-06T10:00:00.000Z',
  content: 'Count the children.\n\nSigned-off-by: Zoé Étudiante <zoe@students.example.org>\n---\n proctree.c | 2 +-\n 1 file changed\n\n',
  diff: DIFF,
  submitter: { name: 'Zoé Étudiante', email: 'zoe@students.example.org' },
  delegateEmail: 'teacher@example.org',
  header: HEADER,
  comments: ['> Signed-off-by: Zoé\nLooks good.\n\nReviewed-by: Tom Teacher <teacher@example.org>\n', 'acked-BY: Ann <ann@example.org>\nTested-by: CI\n'],
  listAddress: 'proctree@lists.example.org',
  ...over,
});

describe('renderSubmissionMbox', () => {
  it('renders a patch byte for byte as Patchwork does (Python email package output, but one MIME-Version)', () => {
    // python3: PatchMbox(body) + X-Patchwork-* + original headers; .as_bytes(True). Python also repeats the
    // original MIME-Version after ours; RFC 2045 §4 wants it once, so ours is the only one.
    const want =
      'From patchwork Fri Nov  6 10:00:00 2026\nContent-Type: text/plain; charset="utf-8"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n' +
      'X-Patchwork-Submitter: =?utf-8?b?Wm/DqSDDiXR1ZGlhbnRl?=\n <zoe@students.example.org>\nX-Patchwork-Id: 12\nX-Patchwork-Delegate: teacher@example.org\n' +
      'From: Zoe <zoe@students.example.org>\nTo: proctree@lists.example.org\nSubject: [PATCH 2/3] proctree: count\nDate: Fri, 20 Nov 2026 10:00:00 +0000\nMessage-Id: <20261120.2-zoe@x>\n' +
      '\nCount the children.\n\nSigned-off-by: Zoé Étudiante <zoe@students.example.org>\nReviewed-by: Tom Teacher <teacher@example.org>\nacked-BY: Ann <ann@example.org>\nTested-by: CI\n---\n proctree.c | 2 +-\n 1 file changed\n\n' +
      DIFF;
    assert.equal(renderSubmissionMbox(patch()).toString('utf8'), want);
  });

  type Case = [string, Partial<MboxSubmission>, (out: string) => void];
  const cases: Case[] = [
    ['says 7bit when the body is ASCII', { content: 'Fix.\n', submitter: { name: 'Tom', email: 't@x.org' }, comments: [] }, (o) => assert.match(o, /^Content-Transfer-Encoding: 7bit$/m)],
    ['adds Date when the mail had none (formatdate, -0000)', { header: 'From: Zoe <zoe@students.example.org>\nSubject: x\n' }, (o) => assert.match(o, /^Date: Fri, 06 Nov 2026 10:00:00 -0000$/m)],
    [
      'puts the submitter back in From when the list rewrote it (DMARC), keeping the original',
      { header: 'From: "Zoe via proctree" <PROCTREE@lists.example.org>\nSubject: x\nDate: Fri, 20 Nov 2026 10:00:00 +0000\n' },
      (o) => {
        assert.match(o, /^X-Patchwork-Original-From: "Zoe via proctree" <PROCTREE@lists.example.org>\nFrom: =\?utf-8\?b\?Wm\/DqSDDiXR1ZGlhbnRl\?= <zoe@students.example.org>$/m);
        assert.equal(o.match(/^From: /gm)!.length, 1);
      },
    ],
    ['leaves out the delegate of a cover letter, and its diff', { kind: 'cover', diff: DIFF }, (o) => assert.ok(!o.includes('X-Patchwork-Delegate') && !o.includes('diff --git'))],
    ['leaves out X-Patchwork-Delegate when not delegated', { delegateEmail: null }, (o) => assert.ok(!o.includes('X-Patchwork-Delegate'))],
    [
      'keeps folded original fields and their order, and drops the MIME ones',
      { header: 'Subject: a long\n subject\nReferences: <a@x>\n\t<b@x>\nContent-Type: multipart/mixed;\n boundary="b"\nX-Other: 1\n' },
      (o) => {
        assert.match(o, /X-Patchwork-Delegate: teacher@example.org\nSubject: a long\n subject\nReferences: <a@x>\n\t<b@x>\nX-Other: 1\nDate: /);
        assert.equal(o.match(/^Content-Type:/gm)!.length, 1);
      },
    ],
    [
      'keeps 8-bit header bytes as they were (a latin1 round trip)',
      { header: 'Subject: caf\xe9\n' },
      (o) => assert.ok(Buffer.from(o, 'latin1').includes(Buffer.from('Subject: caf\xe9\n', 'latin1'))),
    ],
    [
      'never lets a name start a header field (a CR or LF in it becomes a space)',
      { submitter: { name: 'Evil\r\nBcc: x@y', email: 'e@x.org' } },
      (o) => assert.match(o, /^X-Patchwork-Submitter: "Evil Bcc: x@y" <e@x.org>$/m),
    ],
  ];
  for (const [name, over, check] of cases) {
    it(name, () => check(renderSubmissionMbox(patch(over)).toString('latin1')));
  }
});

describe('submissionBody', () => {
  const cases: [string, Pick<MboxSubmission, 'kind' | 'content' | 'diff' | 'comments'>, string][] = [
    ['no postscript: tags after the description', { kind: 'patch', content: 'Fix it.\n\nSigned-off-by: A <a@x>', diff: 'D\n', comments: ['Acked-by: B <b@x>'] }, 'Fix it.\n\nSigned-off-by: A <a@x>\nAcked-by: B <b@x>\n\nD\n'],
    ['"--" also starts a postscript', { kind: 'patch', content: 'Msg\n--\nnotes', diff: null, comments: [] }, 'Msg\n---\nnotes\n'],
    ['a quoted tag is not collected, a tag inside a line neither', { kind: 'patch', content: 'M', diff: null, comments: ['> Reviewed-by: X\nsee Reviewed-by: Y\nNacked-by: Z'] }, 'M\nNacked-by: Z\n'],
    ['Reported-by and Signed-off-by are collected too', { kind: 'patch', content: 'M', diff: null, comments: ['Reported-by: R', 'Signed-off-by: S'] }, 'M\nReported-by: R\nSigned-off-by: S\n'],
    ['a cover keeps no diff', { kind: 'cover', content: 'Cover\n', diff: 'D\n', comments: [] }, 'Cover\n'],
    ['an empty content gives the diff alone', { kind: 'patch', content: '', diff: 'D\n', comments: [] }, '\nD\n'],
  ];
  for (const [name, s, want] of cases) it(name, () => assert.equal(submissionBody(s), want));

  // Issue 11: `\s+$` took 11 s on this text, on every request for the patch's mbox.
  it('keeps a run of 100,000 spaces inside the text, in linear time', { timeout: 5000 }, () => {
    const content = `a${' '.repeat(100_000)}x\n\n  \t`;
    assert.equal(submissionBody({ kind: 'patch', content, diff: null, comments: [] }), `a${' '.repeat(100_000)}x\n`);
  });
});

describe('mbox helpers', () => {
  const addresses: [string | null, string, string][] = [
    ['Tom Teacher', 'teacher@example.org', 'Tom Teacher <teacher@example.org>'],
    [null, 'a@x.org', 'a@x.org'],
    ['', 'a@x.org', 'a@x.org'],
    ['Doe, "J" \\x', 'j@x.org', '"Doe, \\"J\\" \\\\x" <j@x.org>'], // email.utils.formataddr
    ['Zoé Étudiante', 'zoe@x.org', '=?utf-8?b?Wm/DqSDDiXR1ZGlhbnRl?= <zoe@x.org>'],
  ];
  for (const [name, email, want] of addresses) it(`formats ${JSON.stringify(name)} <${email}>`, () => assert.equal(formatAddress(name, email), want));

  it('splits a long non-ASCII name into encoded words of at most 75 characters (RFC 2047 §2)', () => {
    const words = formatAddress('Ünïcödé '.repeat(8).trim(), 'u@x.org').split(' <')[0]!.split(' ');
    assert.ok(words.length > 1 && words.every((w) => w.length <= 75 && /^=\?utf-8\?b\?[A-Za-z0-9+/=]+\?=$/.test(w)), words.join('|'));
    const decoded = words.map((w) => Buffer.from(w.slice(10, -2), 'base64').toString('utf8')).join('');
    assert.equal(decoded, 'Ünïcödé '.repeat(8).trim());
  });

  it('folds at spaces past 78 characters', () => {
    assert.equal(foldField('X: short'), 'X: short');
    assert.equal(foldField(`X: ${'a'.repeat(70)} ${'b'.repeat(10)}`), `X: ${'a'.repeat(70)}\n ${'b'.repeat(10)}`);
  });

  it('writes ctime and formatdate as Python does', () => {
    assert.equal(ctime(new Date('2026-11-06T10:00:00Z')), 'Fri Nov  6 10:00:00 2026');
    assert.equal(ctime(new Date('2026-11-20T09:05:03Z')), 'Fri Nov 20 09:05:03 2026');
    assert.equal(formatDate(new Date('2026-11-06T10:00:00Z')), 'Fri, 06 Nov 2026 10:00:00 -0000');
  });

  const names: [string, string][] = [
    ['[PATCH v2 1/3] proctree: take the pid', 'PATCH-v2-1-3-proctree-take-the-pid'],
    ['doc: décrire l’appel', 'doc-d-crire-l-appel'],
    ['---', 'fallback'],
    ['a.b_c-d', 'a.b_c-d'],
  ];
  for (const [name, want] of names) it(`names the file of ${JSON.stringify(name)} ${want}`, () => assert.equal(mboxFilename(name, 'fallback'), want));
  it('names a thread download after its subject without Re:', () => {
    assert.equal(subjectFilename('Re: [PATCH] x'), 'PATCH-x');
    assert.equal(subjectFilename(null), 'no-subject');
  });

  it('joins submissions with a newline, as series_to_mbox', () => {
    assert.equal(joinMbox([Buffer.from('a\n'), Buffer.from('b\n'), Buffer.from('c\n')]).toString(), 'a\n\nb\n\nc\n');
  });
});

describe('mboxrdEntry', () => {
  const cases: [string, string, string][] = [
    [
      'quotes From lines once more (mboxrd), drops Lines/Bytes/Content-Length/Status, CRLF to LF',
      'Subject: x\r\nLines: 3\r\nContent-Length: 9\r\nStatus: RO\r\nBytes: 1\r\n\r\nFrom me\r\n>From you\r\n>>From them\r\n From not\r\nok',
      'From mboxrd@z Thu Jan  1 00:00:00 1970\nSubject: x\n\n>From me\n>>From you\n>>>From them\n From not\nok\n\n',
    ],
    ['a mail ending with a newline gets only the blank line', 'Subject: y\n\nbody\n', 'From mboxrd@z Thu Jan  1 00:00:00 1970\nSubject: y\n\nbody\n\n'],
    ['8-bit bytes pass through', 'Subject: z\n\ncaf\xe9\n', 'From mboxrd@z Thu Jan  1 00:00:00 1970\nSubject: z\n\ncaf\xe9\n\n'],
  ];
  for (const [name, raw, want] of cases) {
    it(name, () => assert.equal(mboxrdEntry(Buffer.from(raw, 'latin1')).toString('latin1'), want));
  }

  it('reads back byte for byte with an mboxrd reader (what git mailsplit --mboxrd and b4 do)', () => {
    const mails = ['Subject: a\n\nFrom the start\n>From quoted\n', 'Subject: b\n\nline\n'];
    const splitter = new MboxSplitter('mboxrd');
    const all = [...splitter.push(Buffer.concat(mails.map((m) => mboxrdEntry(Buffer.from(m))))), ...splitter.end()];
    assert.deepEqual(
      all.map((m) => m.raw.toString()),
      mails,
    );
  });
});

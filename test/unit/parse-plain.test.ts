// The plain-mail fast path (parse-plain.ts) must read every mail it takes exactly as mailparser does, and leave the
// rest to mailparser. Each case is a header block (and body) seen in git's output or built to probe one rule.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { simpleParser, type AddressObject } from 'mailparser';
import { parseMessage } from '../../src/mail/parse.js';
import { parsePlain } from '../../src/mail/parse-plain.js';
import { headerText, normalizeNewlines, splitHeader } from '../../src/mail/raw.js';
import { openMbox, splitMbox } from '../../src/smtp/mbox.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');

/** What parse.ts takes from mailparser, read by mailparser itself. */
async function viaMailparser(raw: Buffer) {
  const buf = normalizeNewlines(raw);
  const mail = await simpleParser(buf, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true });
  const first = (mail.from as AddressObject | undefined)?.value?.[0];
  return {
    from: first?.address ? { address: first.address.toLowerCase(), name: first.name ?? '' } : null,
    subject: mail.subject ?? null,
    date: mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date.toISOString() : null,
    text: mail.text ?? '',
    attachments: mail.attachments.length,
  };
}

function fast(raw: Buffer) {
  const buf = normalizeNewlines(raw);
  return parsePlain(buf, headerText(buf), splitHeader(buf).bodyStart);
}

const GIT_HEADER = [
  'From: Zoe Student <zoe@students.example.org>',
  'To: proctree@lists.example.org',
  'Subject: [PATCH v2 1/3] proctree: read the children file',
  'Date: Fri, 20 Nov 2026 09:59:58 +0000',
  'Message-Id: <20261120100000.21562-2-zoe@students.example.org>',
  'X-Mailer: git-send-email 2.39.5',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=UTF-8',
  'Content-Transfer-Encoding: 8bit',
];
const BODY = 'Reads the file.\n\nSigned-off-by: Zoé Student <zoe@students.example.org>\n---\n a.c | 1 +\n\ndiff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -1 +1,2 @@\n x\n+y\n-- \n2.39.5\n\n';

function mail(header: string[], body = BODY, nl = '\n'): Buffer {
  return Buffer.from(header.join(nl) + nl + nl + body.replace(/\n/g, nl), 'utf8');
}

function withField(name: string, value: string | null): string[] {
  const rest = GIT_HEADER.filter((l) => !l.toLowerCase().startsWith(name.toLowerCase() + ':'));
  return value === null ? rest : [...rest, `${name}: ${value}`];
}

// [what, raw mail, whether the fast path takes it]
const CASES: [string, Buffer, boolean][] = [
  ['git send-email output', mail(GIT_HEADER), true],
  ['CRLF newlines', mail(GIT_HEADER, BODY, '\r\n'), true],
  ['no MIME fields at all (the bench corpus)', mail(GIT_HEADER.filter((l) => !/^(MIME|Content)/.test(l)), BODY.replace('é', 'e')), true],
  ['US-ASCII charset', mail(withField('Content-Type', 'text/plain; charset="us-ascii"'), 'plain ascii\n'), true],
  ['charset in capitals, 7bit', mail([...withField('Content-Type', 'TEXT/PLAIN; CHARSET=utf-8').filter((l) => !l.startsWith('Content-Transfer')), 'Content-Transfer-Encoding: 7bit']), true],
  ['folded subject', mail([...withField('Subject', null), 'Subject: [PATCH 1/3] a long subject\n  that goes on\n\tand on']), true],
  ['subject with trailing blanks on a folded line', mail([...withField('Subject', null), 'Subject: [PATCH] a  \n   b  ']), true],
  ['empty subject', mail(withField('Subject', '')), true],
  ['no subject', mail(withField('Subject', null)), true],
  ['no date', mail(withField('Date', null)), true],
  ['date without day name', mail(withField('Date', '20 Nov 2026 09:59:58 +0100')), true],
  ['bare address', mail(withField('From', 'zoe@students.example.org')), true],
  ['address in angle brackets only', mail(withField('From', '<zoe@students.example.org>')), true],
  ['quoted name with a comma', mail(withField('From', '"Student, Zoe" <Zoe@Students.Example.org>')), true],
  ['name in a comment', mail(withField('From', 'zoe@students.example.org (Zoe Student)')), true],
  ['empty body', mail(GIT_HEADER, ''), true],
  ['body without a final newline', mail(GIT_HEADER, 'no newline at the end'), true],
  ['body of blank lines', mail(GIT_HEADER, '\n\n\n'), true],
  ['body starting with blanks', mail(GIT_HEADER, '  indented\n\tand tabbed\n'), true],
  ['encoded name', mail(withField('From', '=?UTF-8?q?Zo=C3=A9?= <zoe@students.example.org>')), false],
  ['encoded subject', mail(withField('Subject', '=?UTF-8?B?W1BBVENIXSDDqQ==?=')), false],
  ['quoted-printable body', mail(withField('Content-Transfer-Encoding', 'quoted-printable'), 'caf=C3=A9\n'), false],
  ['base64 body', mail(withField('Content-Transfer-Encoding', 'base64'), 'aGVsbG8K\n'), false],
  ['latin-1 charset', mail(withField('Content-Type', 'text/plain; charset=iso-8859-1')), false],
  ['format=flowed', mail(withField('Content-Type', 'text/plain; charset=utf-8; format=flowed')), false],
  ['multipart', mail(withField('Content-Type', 'multipart/mixed; boundary="b"'), '--b\nContent-Type: text/plain\n\nx\n--b--\n'), false],
  ['text attachment disposition', mail([...GIT_HEADER, 'Content-Disposition: attachment; filename=a.patch']), false],
  ['8-bit body without a charset', mail(GIT_HEADER.filter((l) => !/^(MIME|Content)/.test(l)), 'café\n'), false],
  ['invalid UTF-8 body', Buffer.concat([mail(GIT_HEADER, ''), Buffer.from([0x63, 0xe9, 0x0a])]), false],
  ['two From fields', mail([...GIT_HEADER, 'From: other@example.org']), false],
  ['two Subject fields', mail([...GIT_HEADER, 'Subject: again']), false],
  ['unreadable date', mail(withField('Date', 'yesterday')), false],
  ['group address', mail(withField('From', 'students: zoe@students.example.org;')), false],
  ['punycode domain', mail(withField('From', 'zoe@xn--tudiant-bya.example')), false],
  ['header without its empty line', Buffer.from(GIT_HEADER.join('\n') + '\n'), false],
  ['a line that is not a field', mail([...GIT_HEADER, 'not a field']), false],
  ['8-bit name', mail(withField('From', 'Zoé <zoe@students.example.org>')), false],
];

describe('plain mail fast path', () => {
  for (const [what, raw, taken] of CASES) {
    it(`${taken ? 'reads' : 'leaves to mailparser'}: ${what}`, async () => {
      const plain = fast(raw);
      assert.equal(plain !== null, taken, `fast path ${plain ? 'took' : 'left'} it`);
      const ref = await viaMailparser(raw);
      const got = await parseMessage(raw);
      // Whichever path read it, parseMessage answers what mailparser answers (which dates an unreadable Date "now",
      // a moment later on the second reading).
      const date = (d: string | null) => (what === 'unreadable date' ? typeof d : d);
      assert.deepEqual({ from: got.from, subject: got.subject, date: date(got.date), text: got.text, attachments: got.attachments.length }, { ...ref, date: date(ref.date) });
      if (plain) assert.deepEqual({ ...plain, attachments: 0 }, ref);
    });
  }

  it('reads every fixture mail it takes as mailparser does', async () => {
    const files = [
      ...fs.readdirSync(path.join(FIXTURES, 'series')).filter((f) => f.endsWith('.mbox')).map((f) => path.join(FIXTURES, 'series', f)),
      ...fs.readdirSync(path.join(FIXTURES, 'patches')).filter((f) => /\.(patch|mbox)$/.test(f)).map((f) => path.join(FIXTURES, 'patches', f)),
    ];
    let taken = 0;
    for (const file of files) {
      for await (const m of splitMbox(openMbox(file).stream, 'mboxrd')) {
        const plain = fast(m.raw);
        if (!plain) continue;
        taken++;
        assert.deepEqual({ ...plain, attachments: 0 }, await viaMailparser(m.raw), file);
      }
    }
    assert.ok(taken > 0, 'some fixture mail is plain');
  });
});

// A parsed mail as the series core's input: In-Reply-To and References from the header block, and the author line
// git send-email puts first in the body.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authorOf, toMailInput } from '../../src/series/mail-input.js';
import { MAX_REFERENCES } from '../../src/series/limits.js';
import type { MailInput } from '../../src/series/classify.js';

const sender = { name: 'Sender', email: 'sender@x.org' };
const input = (text: string): MailInput => ({ msgid: 'm@x', inReplyTo: null, references: [], date: '2026-11-20T10:00:00Z', from: sender, subject: 's', text, patchAttachments: [] });

describe('authorOf', () => {
  it('takes the author from a From: line first in the body, after blank lines', () => {
    assert.deepEqual(authorOf(input('\n \nFrom: "Zoé Étudiante" <Zoe@Students.Example.org>\n\nmsg\n')), { name: 'Zoé Étudiante', email: 'zoe@students.example.org' });
  });

  it('keeps the sender when the first line is no author line', () => {
    for (const text of ['msg\nFrom: A <a@x.org>\n', 'From: A <a@x.org>', '  From: A <a@x.org>\n', 'From: A a@x.org\n']) {
      assert.deepEqual(authorOf(input(text)), sender, JSON.stringify(text));
    }
  });

  // Issue 11: 4 s on "From:" and 2,500 spaces (the old regex was of the fourth degree).
  it('reads "From:" and 2,500 spaces as no author line, in linear time', { timeout: 5000 }, () => {
    assert.deepEqual(authorOf(input(`From:${' '.repeat(2500)}\nmsg\n`)), sender);
    assert.deepEqual(authorOf(input(`From:${' '.repeat(100_000)}A <a@x.org>\n`)), sender);
  });
});

describe('toMailInput', () => {
  it('reads In-Reply-To and folded References from the header block', () => {
    const header = 'From: A <a@x.org>\nIn-Reply-To: <p@x>\nreferences: <r1@x>\n\t<r2@x>\n <p@x>\nSubject: s\n';
    const m = toMailInput({ msgid: 'm@x', header, parts: { text: 'body\r\n', attachments: [] }, from: null, subject: 's', date: null, fallbackDate: 'd' });
    assert.equal(m.inReplyTo, 'p@x');
    assert.deepEqual(m.references, ['r1@x', 'r2@x', 'p@x']);
    assert.equal(m.text, 'body\n');
  });

  it('keeps the thread root and the nearest references, and no Message-ID longer than a mail line', () => {
    const refs = Array.from({ length: 1000 }, (_, i) => `<r${i}@x>`).join('\n ');
    const header = `References: ${refs} <${'a'.repeat(999)}@x>\nIn-Reply-To: <${'b'.repeat(999)}@x>\n`;
    const m = toMailInput({ msgid: 'm@x', header, parts: { text: '', attachments: [] }, from: null, subject: 's', date: null, fallbackDate: 'd' });
    assert.equal(m.references.length, MAX_REFERENCES);
    assert.deepEqual([m.references[0], m.references[1], m.references.at(-1)], ['r0@x', `r${1000 - MAX_REFERENCES + 1}@x`, 'r999@x']);
    assert.equal(m.inReplyTo, null);
  });
});

// Mbox splitting: separators, mboxo/mboxrd unquoting, CRLF, a missing final newline, gzip, and any chunking.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, it } from 'node:test';
import { countMbox, isSeparatorLine, MboxSplitter, openMbox, splitMbox, type MboxFormat } from '../../src/smtp/mbox.js';
import { tempDir } from '../helpers/dirs.js';

/** Splits `text` fed in chunks of `size` bytes (Infinity: one chunk) and returns each message as a string. */
function split(text: string | Buffer, format: MboxFormat = 'mboxrd', size = Infinity): string[] {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  const splitter = new MboxSplitter(format);
  const out = [];
  const step = Number.isFinite(size) ? size : bytes.length || 1;
  for (let i = 0; i < bytes.length; i += step) out.push(...splitter.push(bytes.subarray(i, i + step)));
  out.push(...splitter.end());
  return out.map((m) => m.raw.toString('latin1'));
}

const GIT = 'From 2b9c4e1f0a3d Mon Sep 17 00:00:00 2001\n';
const msg = (id: string, body: string) => `From: Zoe <zoe@example.org>\nSubject: ${id}\nMessage-ID: <${id}@example.org>\n\n${body}`;

describe('mbox splitting', () => {
  it('recognizes separators by their asctime date, as git mailsplit does', () => {
    const cases: [string, boolean][] = [
      ['From 2b9c4e1f0a3d Mon Sep 17 00:00:00 2001', true], // git format-patch
      ['From mboxrd@z Thu Jan  1 00:00:00 1970', true], // public-inbox
      ['From zoe@example.org Thu Nov 26 10:00:00 2026\r\n', true], // mutt, CRLF file
      ['From the manual: this is not a separator', false],
      ['From 12:00:00 to 13:00:00 I was away', false],
      ['From x Mon Sep 17 00:00:00 19', false], // a two-digit year up to 90 is no year
      ['>From zoe@example.org Thu Nov 26 10:00:00 2026', false],
    ];
    for (const [line, want] of cases) assert.equal(isSeparatorLine(line), want, line);
  });

  it('splits on separator lines and drops the blank line that ends each message (RFC 4155)', () => {
    const mbox = `${GIT}${msg('a', 'first\n')}\n${GIT}${msg('b', 'second\n')}\n`;
    assert.deepEqual(split(mbox), [msg('a', 'first\n'), msg('b', 'second\n')]);
  });

  it('keeps a body line that starts with "From " but is no separator inside its message', () => {
    const body = 'From the manual:\nFrom 3 to 4 items.\n';
    assert.deepEqual(split(`${GIT}${msg('a', body)}\n`), [msg('a', body)]);
  });

  it('mboxrd: removes one ">" from every line matching ^>+From ', () => {
    const quoted = 'hi\n>From zoe Thu Nov 26 10:00:00 2026\n>>From here\n>>>From there\n> From not quoted\n>Fromage\n';
    const plain = 'hi\nFrom zoe Thu Nov 26 10:00:00 2026\n>From here\n>>From there\n> From not quoted\n>Fromage\n';
    assert.deepEqual(split(`${GIT}${msg('a', quoted)}\n`, 'mboxrd'), [msg('a', plain)]);
  });

  it('mboxo: removes the ">" only from ^>From  and leaves deeper quoting alone', () => {
    const quoted = 'hi\n>From zoe Thu Nov 26 10:00:00 2026\n>>From here\n';
    const plain = 'hi\nFrom zoe Thu Nov 26 10:00:00 2026\n>>From here\n';
    assert.deepEqual(split(`${GIT}${msg('a', quoted)}\n`, 'mboxo'), [msg('a', plain)]);
  });

  it('reads a CRLF file, unquoting and dropping the ending blank line in CRLF', () => {
    const crlf = (s: string) => s.replace(/\n/g, '\r\n');
    const mbox = crlf(`${GIT}${msg('a', 'one\n>From me\n')}\n${GIT}${msg('b', 'two\n')}\n`);
    assert.deepEqual(split(mbox), [crlf(msg('a', 'one\nFrom me\n')), crlf(msg('b', 'two\n'))]);
  });

  it('keeps the last message of a file that does not end with a newline, even on a quoted last line', () => {
    assert.deepEqual(split(`${GIT}${msg('a', 'one\n')}\n${GIT}${msg('b', 'last line')}`), [msg('a', 'one\n'), msg('b', 'last line')]);
    assert.deepEqual(split(`${GIT}${msg('a', 'x\n>From y')}`), [msg('a', 'x\nFrom y')]);
  });

  it('takes text before the first separator as a message (a bare patch file), but not blank lines', () => {
    assert.deepEqual(split(`${msg('a', 'one\n')}\n${GIT}${msg('b', 'two\n')}`), [msg('a', 'one\n'), msg('b', 'two\n')]);
    assert.deepEqual(split(`\n\n${GIT}${msg('b', 'two\n')}`), [msg('b', 'two\n')]);
    assert.deepEqual(split(''), []);
  });

  it('gives the same messages whatever the chunk boundaries (separators and quoted lines cut anywhere)', () => {
    const long = 'y'.repeat(5000);
    const mbox = `${GIT}${msg('a', `>From q\n>>From r\n${long}\nFrom no\n`)}\n${GIT}${msg('b', `F\n>\n>>\n${long}>From mid\n`)}\n${GIT}${msg('c', 'end')}`;
    const whole = split(mbox);
    assert.equal(whole.length, 3);
    assert.equal(whole[0], msg('a', `From q\n>From r\n${long}\nFrom no\n`));
    assert.equal(whole[1], msg('b', `F\n>\n>>\n${long}>From mid\n`));
    for (const size of [1, 2, 3, 5, 7, 64, 999, 1001, 4096]) assert.deepEqual(split(mbox, 'mboxrd', size), whole, `chunks of ${size}`);
  });

  it('keeps a very long line that starts like a separator or a quoted one as text, however it is cut', () => {
    const line = `From ${'z'.repeat(3000)} Mon Sep 17 00:00:00 2001\n${'>'.repeat(3000)}From x\n`;
    const mbox = `${GIT}${msg('a', line)}`;
    for (const size of [100, Infinity]) assert.deepEqual(split(mbox, 'mboxrd', size), [msg('a', line)]);
  });

  it('streams a gzip file (public-inbox t.mbox.gz) and counts its messages without keeping them', async () => {
    const dir = tempDir();
    const mbox = `${GIT}${msg('a', '>From q\n')}\n${GIT}${msg('b', 'two\n')}\n`;
    const file = path.join(dir, 't.mbox.gz');
    fs.writeFileSync(file, zlib.gzipSync(Buffer.from(mbox)));
    const opened = openMbox(file);
    assert.equal(opened.gzip, true);
    const got: string[] = [];
    for await (const m of splitMbox(opened.stream)) got.push(m.raw.toString('latin1'));
    assert.deepEqual(got, [msg('a', 'From q\n'), msg('b', 'two\n')]);
    assert.equal(opened.bytesRead(), opened.size);
    assert.equal(await countMbox(openMbox(file).stream), 2);

    const plain = path.join(dir, 'plain.mbox');
    fs.writeFileSync(plain, mbox);
    assert.equal(openMbox(plain).gzip, false);
    assert.equal(await countMbox(openMbox(plain).stream), 2);
  });
});

// Byte-level header helpers: the body and the subject must come out byte-identical.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extractMsgid, headerText, headerValues, normalizeNewlines, prependHeaders, removeHeaders, splitHeader } from '../../src/mail/raw.js';

const crlf = Buffer.from('From: a@b.c\r\nSubject: [PATCH 1/2] x:\r\n y\r\nList-Id: <other.example>\r\n\r\nbody\r\nList-Id: not a header\r\n', 'latin1');

describe('raw mail helpers', () => {
  it('finds the end of the header block with CRLF and LF newlines', () => {
    const blank = crlf.indexOf('\r\n\r\n');
    assert.deepEqual(splitHeader(crlf), { headerEnd: blank + 2, bodyStart: blank + 4 });
    assert.equal(crlf.subarray(blank + 4).toString(), 'body\r\nList-Id: not a header\r\n');
    assert.deepEqual(splitHeader(Buffer.from('A: b\n\nbody')), { headerEnd: 5, bodyStart: 6 });
    assert.deepEqual(splitHeader(Buffer.from('A: b\n')), { headerEnd: 5, bodyStart: 5 });
  });

  it('unfolds header values (RFC 5322 §2.2.3)', () => {
    assert.deepEqual(headerValues(headerText(crlf), 'subject'), ['[PATCH 1/2] x: y']);
    assert.deepEqual(headerValues(headerText(crlf), 'List-ID'), ['<other.example>']);
  });

  it('reads a Message-ID with or without angle brackets, and none from a damaged one', () => {
    const cases: [string | undefined, string | undefined][] = [
      ['<20261126.1@example.com>', '20261126.1@example.com'],
      ['  <a@b> (comment)', 'a@b'],
      ['bare@host', 'bare@host'],
      ['', undefined],
      [undefined, undefined],
      ['<fuzz-20261', undefined],
      ['cut-short', undefined],
      ['<a@b', undefined],
    ];
    for (const [input, want] of cases) assert.equal(extractMsgid(input), want, String(input));
  });

  it('normalizes CRLF and lone CR to LF', () => {
    assert.equal(normalizeNewlines(Buffer.from('a\r\nb\rc\n')).toString(), 'a\nb\nc\n');
  });

  it('prepends header lines with the newline the message uses, leaving the rest identical', () => {
    const out = prependHeaders(crlf, ['X-Loop: l@x']);
    assert.equal(out.subarray(0, 13).toString(), 'X-Loop: l@x\r\n');
    assert.ok(out.subarray(13).equals(crlf));
  });

  it('removes named header fields with their continuations but never touches the body', () => {
    const out = removeHeaders(crlf, ['list-id', 'subject']).toString('latin1');
    assert.equal(out, 'From: a@b.c\r\n\r\nbody\r\nList-Id: not a header\r\n');
  });
});

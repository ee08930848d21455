// The archive's URL layout (reserved roots, Message-IDs in paths) and what the index takes from a post.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { archiveEntry } from '../../src/mail/archive-entry.js';
import { archiveRoot, msgidSegment, RESERVED_ROOTS } from '../../src/mail/archive-layout.js';
import { listHeaders } from '../../src/mail/list-headers.js';
import { parseMessage } from '../../src/mail/parse.js';

describe('archive layout', () => {
  const segments: [string, string][] = [
    ['20261120100000.1-zoe@students.example.org', '20261120100000.1-zoe@students.example.org'],
    ['a/b@x', 'a%2Fb@x'], // models.py encoded_msgid and public-inbox both escape the slash
    ['a+b@x', 'a+b@x'],
    ['50%@x', '50%25@x'],
    ['q?#x@y', 'q%3F%23x@y'],
    ['sp ace@x', 'sp%20ace@x'],
    ["!$&'()*,;=:@x", "!$&'()*,;=:@x"],
    ['é@x', '%C3%A9@x'],
  ];
  for (const [msgid, want] of segments) {
    it(`writes <${msgid}> in a path as ${want}, which decodes back`, () => {
      assert.equal(msgidSegment(msgid), want);
      assert.equal(decodeURIComponent(msgidSegment(msgid)), msgid);
    });
  }

  it('serves a list under its own name unless the name is a root of another page, then under /all/', () => {
    assert.equal(archiveRoot('proctree'), 'proctree');
    for (const name of ['api', 'lists', 'healthz', 'patch', 'series', 'cover', 'project', 'bundle', 'all']) {
      assert.ok(RESERVED_ROOTS.has(name), name);
      assert.equal(archiveRoot(name), 'all');
    }
  });

  it('points List-Archive at /all/ for a list named like a reserved root', () => {
    const lines = listHeaders({ name: 'Series', slug: 'series', list: 'series@lists.example.org', request: 'series-request@lists.example.org', baseUrl: 'https://p.example.org' }, 't');
    assert.ok(lines.includes('List-Archive: <https://p.example.org/all/>'), lines.join('\n'));
  });
});

describe('archiveEntry', () => {
  it('takes thread links from In-Reply-To and References, and splits written from quoted text', async () => {
    const raw = Buffer.from(
      [
        'From: =?UTF-8?q?Tom=20T=C3=A9acher?= <teacher@example.org>',
        'To: proctree@lists.example.org',
        'Cc: Zoe <zoe@students.example.org>',
        'Subject: Re: [PATCH 1/3] proctree: take the pid',
        'Date: Fri, 20 Nov 2026 11:00:00 +0000',
        'Message-ID: <reply@example.org>',
        'In-Reply-To: <p1@x> (Zoe\'s message of Fri)',
        'References: <cover@x>',
        ' <p1@x> <reply@example.org>',
        '',
        'On Fri, Zoe wrote:',
        '> change-id: 123',
        '',
        'Reviewed-by: Tom',
        '',
      ].join('\r\n'),
    );
    const e = archiveEntry({ msgid: 'reply@example.org', receivedAt: '2026-11-20T11:00:05.000Z' }, await parseMessage(raw));
    assert.deepEqual(e.refs, ['p1@x', 'cover@x']);
    assert.equal(e.date, '2026-11-20T11:00:00.000Z');
    assert.equal(e.subject, 'Re: [PATCH 1/3] proctree: take the pid');
    assert.equal(e.sender, 'Tom Téacher <teacher@example.org>');
    assert.equal(e.recipients, 'proctree@lists.example.org, Zoe <zoe@students.example.org>');
    assert.match(e.body, /Reviewed-by: Tom/);
    assert.doesNotMatch(e.body, /change-id/);
    assert.match(e.quoted, /^> change-id: 123$/m);
  });

  it('dates a mail without Date by its arrival', async () => {
    const e = archiveEntry({ msgid: 'x@y', receivedAt: '2026-11-20T11:00:05.000Z' }, await parseMessage(Buffer.from('From: a@b\nSubject: s\n\nbody\n')));
    assert.equal(e.date, '2026-11-20T11:00:05.000Z');
    assert.deepEqual(e.refs, []);
  });
});

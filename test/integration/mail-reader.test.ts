// The mail reader: mail read in a worker thread comes back as read on this thread; a mail that runs past the time
// budget fails alone (its worker stopped), and the other mails of its batch are read.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createMailReader } from '../../src/smtp/mail-reader.js';
import { readInThread, type MailJob } from '../../src/smtp/mail-reading.js';
import { readMboxFile } from '../helpers/ingest-harness.js';

const job = (raw: Buffer, n: number): MailJob => ({ raw, route: 'list', projectSlug: 'proctree', msgid: `m${n}@example.org`, receivedAt: '2026-11-20T10:00:00.000Z' });

/** A plain mail whose 15 MB base64 body takes mailparser about two seconds to decode on this machine. */
function slowMail(): Buffer {
  const body = Buffer.alloc(11e6, 7).toString('base64').replace(/.{76}/g, '$&\n');
  const header = 'From: Big <big@example.org>\nSubject: [PATCH] big\nDate: Fri, 20 Nov 2026 10:00:00 +0000\nMessage-ID: <big@example.org>\nMIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n';
  return Buffer.from(`${header}\n${body}`);
}

const small = (n: number) => Buffer.from(`From: A <a@example.org>\nSubject: [PATCH ${n}/3] small\nDate: Fri, 20 Nov 2026 10:00:00 +0000\nMessage-ID: <s${n}@example.org>\n\nhello ${n}\n`);

describe('mail reader', () => {
  it('reads in a worker thread what this thread reads: attachments, defects, classification and archive entry', async () => {
    const raws = [
      ...(await readMboxFile(path.resolve('test/fixtures/series/attachment.mbox'))),
      ...(await readMboxFile(path.resolve('test/fixtures/series/base64.mbox'))),
      Buffer.from('Subject: no sender\r\n\r\nbody\0with a NUL\r\n'),
    ];
    const jobs = raws.map(job);
    const reader = createMailReader({ threads: 1, budgetMs: 10_000 });
    try {
      const inWorker = await reader.read(jobs);
      const here = await readInThread(jobs);
      assert.deepEqual(inWorker, here);
      const mails = inWorker.map((o) => (o.ok ? o.mail : assert.fail(`not read: ${JSON.stringify(o)}`)));
      const attached = mails[0]!.post?.filing.classified;
      assert.ok(attached?.kind === 'patch' && attached.diff.startsWith('diff --git'), 'the patch sent as an attachment is decoded and classified');
      assert.deepEqual(mails[mails.length - 1]!.defects.slice(0, 1), ['nul-bytes']);
      assert.equal(mails[mails.length - 1]!.post, null, 'malformed mail is not read as a post');
    } finally {
      await reader.destroy();
    }
  });

  it('gives each mail its own outcome: one whose reading throws fails alone, the others of its batch are read', async () => {
    const reader = createMailReader({ threads: 1, budgetMs: 10_000 });
    try {
      // Not bytes at all: readMail throws on it, in the worker as it would on any mail it cannot handle.
      const broken = { ...job(small(2), 2), raw: 42 as unknown as Uint8Array };
      const out = await reader.read([job(small(1), 1), broken, job(small(3), 3)]);
      assert.deepEqual(
        out.map((o) => (o.ok ? 'ok' : o.failure)),
        ['ok', 'threw', 'ok'],
      );
      assert.match(out[1]!.ok ? '' : out[1]!.error, /TypeError/);
    } finally {
      await reader.destroy();
    }
  });

  it('stops the worker on a mail past the time budget and reads the mails before and after it in its batch', async () => {
    const reader = createMailReader({ threads: 1, budgetMs: 300 });
    try {
      const out = await reader.read([job(small(1), 1), job(slowMail(), 2), job(small(3), 3)]);
      assert.deepEqual(
        out.map((o) => (o.ok ? 'ok' : o.failure)),
        ['ok', 'timeout', 'ok'],
      );
      assert.match(out[1]!.ok ? '' : out[1]!.error, /time budget \(0\.3 s\)/);
      assert.equal(out[2]!.ok && out[2]!.mail.subject, '[PATCH 3/3] small');
      // The pool goes on with a fresh worker.
      const again = await reader.read([job(small(4), 4)]);
      assert.equal(again[0]!.ok, true);
    } finally {
      await reader.destroy();
    }
  });
});

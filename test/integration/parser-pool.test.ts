// The parser pool: mail parsed in a worker thread comes back exactly as parsed on this thread.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseMessage } from '../../src/mail/parse.js';
import { createParserPool } from '../../src/mail/parser-pool.js';
import { readMboxFile } from '../helpers/ingest-harness.js';

describe('parser pool', () => {
  it('parses in a worker thread what this thread parses, attachments and defects included', async () => {
    const raws = [
      ...(await readMboxFile(path.resolve('test/fixtures/series/attachment.mbox'))),
      ...(await readMboxFile(path.resolve('test/fixtures/series/base64.mbox'))),
      Buffer.from('Subject: no sender\r\n\r\nbody\0with a NUL\r\n'),
    ];
    const pool = createParserPool(1);
    try {
      const inWorker = await pool.parse(raws);
      const here = await Promise.all(raws.map(parseMessage));
      assert.deepEqual(inWorker, here);
      assert.ok(inWorker.some((p) => p.attachments.some((a) => a.text?.includes('diff --git'))), 'a patch attachment decoded as text');
      assert.deepEqual(inWorker[inWorker.length - 1]!.defects.slice(0, 1), ['nul-bytes']);
    } finally {
      await pool.destroy();
    }
  });
});

// Hostile input over SMTP: each bad mail is acknowledged, stored, marked with its defect, and the server keeps serving.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { withDb } from '../helpers/seed.js';
import { ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const LIST = DEMO.list;
const fixture = (name: string) => fs.readFileSync(path.join(ROOT, 'test/fixtures/eml', name));

/** 50,000 header lines: a Message-ID, then "X-Filler-N: ..." fields (about 1.6 MB of header, under the size limit). */
function hugeHeader(): Buffer {
  const lines = ['From: Filler <filler@example.net>', `To: ${LIST}`, 'Subject: huge header', 'Date: Fri, 20 Nov 2026 10:00:00 +0000', 'Message-ID: <hostile-huge-header@example.net>'];
  for (let i = lines.length; i < 50_000; i++) lines.push(`X-Filler-${i}: ${'f'.repeat(20)}`);
  return Buffer.from(lines.join('\n') + '\n\nbody\n');
}

/** multipart/mixed nested 200 deep: each level's only part is the next multipart, the innermost is a text part. */
function deepMultipart(): Buffer {
  const depth = 200;
  let inner = 'Content-Type: text/plain\n\nthe bottom\n';
  for (let level = depth; level >= 1; level--) {
    const b = `b${level}`;
    inner = `Content-Type: multipart/mixed; boundary="${b}"\n\n--${b}\n${inner}\n--${b}--\n`;
  }
  const header = `From: Matryoshka <doll@example.net>\nTo: ${LIST}\nSubject: nested 200 deep\nDate: Fri, 20 Nov 2026 10:00:00 +0000\nMessage-ID: <hostile-deep@example.net>\nMIME-Version: 1.0\n`;
  return Buffer.from(header + inner);
}

interface Case {
  name: string;
  raw: () => Buffer;
  msgid: string;
  defect: string;
  state: 'malformed' | 'processed';
}

const CASES: Case[] = [
  { name: 'NUL bytes', raw: () => fixture('hostile-nul-bytes.eml'), msgid: 'hostile-nul@example.net', defect: 'nul-bytes', state: 'malformed' },
  { name: '8-bit garbage headers', raw: () => fixture('hostile-eight-bit-header.eml'), msgid: 'hostile-8bit@example.net', defect: 'eight-bit-header', state: 'processed' },
  { name: 'a 50,000-line header block', raw: hugeHeader, msgid: 'hostile-huge-header@example.net', defect: 'header-too-large', state: 'malformed' },
  { name: 'multipart nested 200 deep', raw: deepMultipart, msgid: 'hostile-deep@example.net', defect: 'mime-too-deep', state: 'malformed' },
  { name: 'unknown charsets', raw: () => fixture('hostile-unknown-charset.eml'), msgid: 'hostile-charset@example.net', defect: 'unknown-charset', state: 'processed' },
  { name: 'a missing From', raw: () => fixture('hostile-missing-from.eml'), msgid: 'hostile-no-from@example.net', defect: 'missing-from', state: 'malformed' },
  { name: 'a missing Date', raw: () => fixture('hostile-missing-date.eml'), msgid: 'hostile-no-date@example.net', defect: 'missing-date', state: 'processed' },
];

describe('hostile input', () => {
  let server: ServerProcess;
  let data: string;
  before(async () => {
    data = tempDir();
    server = await startServer(['--data', data, '--projects', projectsDir([DEMO]), '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0']);
  });
  after(async () => {
    assert.equal(await server.stop(), 0, 'the server stops cleanly after all of it');
  });

  const row = (msgid: string) =>
    withDb(data, (db) => db.selectFrom('mails').select(['state', 'reason', 'defects', 'size']).where('msgid', '=', msgid).execute());

  for (const [i, c] of CASES.entries()) {
    it(`stores a mail with ${c.name}, marks it ${c.defect} (${c.state}), and then serves the next client normally`, async () => {
      const raw = c.raw();
      const { final } = await sendMessage(server.smtpPort, 'sender@example.net', [LIST], raw);
      assert.match(final, /^250 /);

      // The next client: a plain mail, answered and processed as always.
      const next = `From: Alice <alice@example.com>\nTo: ${LIST}\nSubject: after ${c.defect}\nDate: Fri, 20 Nov 2026 10:00:00 +0000\nMessage-ID: <after-${i}@example.com>\n\nstill there?\n`;
      assert.match((await sendMessage(server.smtpPort, 'alice@example.com', [LIST], next)).final, /^250 /);
      const after = await waitFor(`the mail after ${c.name} to be processed`, async () => {
        const r = (await row(`after-${i}@example.com`))[0];
        return r && r.state !== 'stored' && r;
      });
      assert.deepEqual({ state: after.state, defects: after.defects }, { state: 'processed', defects: null });

      const rows = await waitFor(`the ${c.name} mail to be processed`, async () => {
        const r = await row(c.msgid);
        return r.length > 0 && r[0]!.state !== 'stored' && r;
      });
      assert.equal(rows.length, 1, 'stored once');
      assert.ok(rows[0]!.size >= raw.length, 'stored whole');
      assert.equal(rows[0]!.state, c.state);
      assert.ok((JSON.parse(rows[0]!.defects ?? '[]') as string[]).includes(c.defect), `defects ${rows[0]!.defects} include ${c.defect}`);
    });
  }
});

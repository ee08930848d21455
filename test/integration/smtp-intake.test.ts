// SMTP intake through a real socket against the server as a process: recipients, limits, storage, duplicates.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/db/database.js';
import { listMails } from '../../src/db/mail.repository.js';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { openDialog, sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const LIST = DEMO.list;
const mail = (id: string, subject = 'hello') =>
  `From: Alice <alice@example.com>\r\nTo: ${LIST}\r\nSubject: ${subject}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${id}>\r\n\r\nbody of ${id}\r\n`;

describe('SMTP intake', () => {
  let server: ServerProcess;
  let data: string;
  before(async () => {
    data = tempDir();
    server = await startServer(['--data', data, '--projects', projectsDir([DEMO]), '--smtp-max-size', '65536', '--smtp-max-recipients', '3']);
  });
  after(async () => {
    assert.equal(await server.stop(), 0, 'a SIGTERM stop exits 0');
  });

  async function stored() {
    const { db } = openDatabase(path.join(data, 'patchbay.sqlite'));
    try {
      return await listMails(db, {});
    } finally {
      await db.destroy();
    }
  }

  it('answers 250 only after the message is stored, and stores a duplicate Message-ID once', async () => {
    const first = await sendMessage(server.smtpPort, 'alice@example.com', [LIST], mail('one@example.com'));
    assert.match(first.final, /^250 /);
    const again = await sendMessage(server.smtpPort, 'alice@example.com', [LIST], mail('one@example.com'));
    assert.match(again.final, /^250 /);
    const rows = (await stored()).filter((m) => m.msgid === 'one@example.com');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.route, 'list');
  });

  it('refuses an unknown mailbox in our domain with 550 5.1.1', async () => {
    const d = await openDialog(server.smtpPort);
    await d.send('EHLO t');
    await d.send('MAIL FROM:<alice@example.com>');
    assert.match(await d.send('RCPT TO:<nobody@lists.example.org>'), /^550 5\.1\.1 /);
    d.close();
  });

  it('refuses to relay to an outside domain', async () => {
    const d = await openDialog(server.smtpPort);
    await d.send('EHLO t');
    await d.send('MAIL FROM:<alice@example.com>');
    assert.match(await d.send('RCPT TO:<victim@gmail.example>'), /^550 5\.7\.1 /);
    d.close();
  });

  it('logs each refused recipient at warn with the client address, sender, recipient and reason', async () => {
    const d = await openDialog(server.smtpPort);
    await d.send('EHLO t');
    await d.send('MAIL FROM:<mallory@example.com>');
    assert.match(await d.send('RCPT TO:<target@elsewhere.example>'), /^550 5\.7\.1 .*Relay access denied/);
    assert.match(await d.send('RCPT TO:<ghost@lists.example.org>'), /^550 5\.1\.1 /);
    d.close();
    const refusals = () => server
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; remote?: string; from?: string; rcpt?: string; reason?: string })
      .filter((l) => l.from === 'mallory@example.com');
    const refused = await waitFor('both refusals logged', () => (refusals().length >= 2 ? refusals() : undefined));
    assert.deepEqual(
      refused.map((l) => [l.level, l.remote, l.rcpt, l.reason]),
      [
        [40, '127.0.0.1', 'target@elsewhere.example', 'relay_denied'],
        [40, '127.0.0.1', 'ghost@lists.example.org', 'no_such_user'],
      ],
    );
  });

  it('takes an outside Cc named after the list, files the post once and relays it to no one', async () => {
    const { replies, final } = await sendMessage(server.smtpPort, 'alice@example.com', [LIST, 'teacher@university.example'], mail('cc-outside@example.com'));
    assert.match(replies[3]!, /^250 /, 'the outside Cc is accepted');
    assert.match(final, /^250 /);
    const rows = (await stored()).filter((m) => m.msgid === 'cc-outside@example.com');
    assert.deepEqual(rows.map((r) => r.route), ['list']);
    const outbox = path.join(data, 'outbox');
    const queued = fs.existsSync(outbox) ? fs.readdirSync(outbox).map((f) => fs.readFileSync(path.join(outbox, f), 'latin1')) : [];
    assert.equal(queued.filter((m) => m.includes('teacher@university.example')).length, 0, 'no copy goes to the outside address');
  });

  it('refuses an outside address beside a -request address only, as a relay attempt', async () => {
    const d = await openDialog(server.smtpPort);
    await d.send('EHLO t');
    await d.send('MAIL FROM:<alice@example.com>');
    assert.match(await d.send('RCPT TO:<proctree-request@lists.example.org>'), /^250 /);
    assert.match(await d.send('RCPT TO:<victim@gmail.example>'), /^550 5\.7\.1 /);
    d.close();
  });

  it('accepts the -request, -bounces (with VERP) and bot addresses', async () => {
    const d = await openDialog(server.smtpPort);
    await d.send('EHLO t');
    await d.send('MAIL FROM:<alice@example.com>');
    assert.match(await d.send('RCPT TO:<proctree-request@lists.example.org>'), /^250 /);
    assert.match(await d.send('RCPT TO:<proctree-bounces+bob=example.net@lists.example.org>'), /^250 /);
    assert.match(await d.send('RCPT TO:<proctree-bot@lists.example.org>'), /^250 /);
    d.close();
  });

  it('advertises SIZE, PIPELINING, 8BITMIME and SMTPUTF8, and refuses STARTTLS without a certificate', async () => {
    const d = await openDialog(server.smtpPort);
    const ehlo = await d.send('EHLO t');
    assert.match(ehlo, /SIZE 65536/);
    assert.match(ehlo, /PIPELINING/);
    assert.match(ehlo, /8BITMIME/);
    assert.match(ehlo, /SMTPUTF8/);
    assert.doesNotMatch(ehlo, /STARTTLS/);
    d.close();
  });

  it('refuses a message over the size limit with 552 5.3.4', async () => {
    const big = mail('big@example.com') + 'x'.repeat(80) .concat('\r\n').repeat(1000);
    const { final } = await sendMessage(server.smtpPort, 'alice@example.com', [LIST], big);
    assert.match(final, /^552 5\.3\.4 /);
    assert.equal((await stored()).filter((m) => m.msgid === 'big@example.com').length, 0);
  });

  it('refuses recipients past the limit with 452 4.5.3', async () => {
    const d = await openDialog(server.smtpPort);
    await d.send('EHLO t');
    await d.send('MAIL FROM:<alice@example.com>');
    for (const r of ['proctree', 'proctree-request', 'proctree-bot']) assert.match(await d.send(`RCPT TO:<${r}@lists.example.org>`), /^250 /);
    assert.match(await d.send('RCPT TO:<proctree-bounces@lists.example.org>'), /^452 4\.5\.3 /);
    d.close();
  });

  it('gives a mail without Message-ID one of its own', async () => {
    const noId = `From: alice@example.com\r\nTo: ${LIST}\r\nSubject: no id here\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nhi\r\n`;
    assert.match((await sendMessage(server.smtpPort, 'alice@example.com', [LIST], noId)).final, /^250 /);
    const row = (await stored()).find((m) => m.subject === 'no id here' || m.msgid.includes('@'));
    assert.ok(row);
    const generated = (await stored()).filter((m) => !m.msgid.endsWith('example.com'));
    assert.equal(generated.length, 1);
  });
});

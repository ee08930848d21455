// SMTP limits and STARTTLS against the server as a process: per-address connections and messages, idle timeout, TLS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { withDb } from '../helpers/seed.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { openDialog } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const LIST = DEMO.list;

describe('SMTP limits and STARTTLS', () => {
  const servers: ServerProcess[] = [];
  const start = async (args: string[]) => {
    const data = tempDir();
    const server = await startServer(['--data', data, '--projects', projectsDir([DEMO]), ...args]);
    servers.push(server);
    return { server, data };
  };
  after(async () => {
    for (const s of servers) assert.equal(await s.stop(), 0);
  });

  it('answers 450 4.7.1 to MAIL FROM past the per-address message limit, and 421 4.7.0 on connect past the connection limit', async () => {
    const { server } = await start(['--smtp-conn-per-min', '3', '--smtp-msg-per-min', '2']);
    // Messages: two MAIL FROM commands a minute from this address, the third is refused (temporarily).
    const first = await openDialog(server.smtpPort);
    assert.match(first.greeting, /^220 /);
    await first.send('EHLO client.example.org');
    assert.match(await first.send('MAIL FROM:<alice@example.com>'), /^250 /);
    assert.match(await first.send('RSET'), /^250 /);
    assert.match(await first.send('MAIL FROM:<alice@example.com>'), /^250 /);
    assert.match(await first.send('RSET'), /^250 /);
    assert.match(await first.send('MAIL FROM:<alice@example.com>'), /^450 4\.7\.1 /);

    // Connections: this one was the first of three a minute; two more are greeted, the fourth is turned away.
    const second = await openDialog(server.smtpPort);
    const third = await openDialog(server.smtpPort);
    assert.match(second.greeting, /^220 /);
    assert.match(third.greeting, /^220 /);
    const fourth = await openDialog(server.smtpPort);
    assert.match(fourth.greeting, /^421 4\.7\.0 /);
    for (const d of [first, second, third, fourth]) d.close();
  });

  it('drops a client that stays idle past --smtp-idle-timeout, with a 421', async () => {
    const { server } = await start(['--smtp-idle-timeout', '1']);
    const socket = net.connect(server.smtpPort, '127.0.0.1');
    let text = '';
    let greeted = false;
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (!greeted && /^220 /m.test(text)) {
        greeted = true;
        socket.write('EHLO idle.example.org\r\n'); // then nothing more
      }
    });
    const closed = await new Promise<boolean>((resolve) => {
      const guard = setTimeout(() => resolve(false), 30_000);
      socket.on('close', () => {
        clearTimeout(guard);
        resolve(true);
      });
    });
    assert.ok(closed, 'the server closed the idle connection');
    assert.match(text, /^250[ -]/m, 'the session was open');
    assert.match(text, /^421 /m);
  });

  it('offers STARTTLS with a certificate and takes a mail over TLS from nodemailer (requireTLS)', async () => {
    const dir = tempDir();
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' });
    const { server, data } = await start(['--tls-cert', cert, '--tls-key', key]);

    const d = await openDialog(server.smtpPort);
    assert.match(await d.send('EHLO client.example.org'), /^250[ -]STARTTLS$/m);
    d.close();

    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, requireTLS: true, tls: { rejectUnauthorized: false } });
    const info = await transport.sendMail({
      envelope: { from: 'alice@example.com', to: [LIST] },
      raw: `From: Alice <alice@example.com>\r\nTo: ${LIST}\r\nSubject: over TLS\r\nDate: Fri, 20 Nov 2026 10:00:00 +0000\r\nMessage-ID: <tls-1@example.com>\r\n\r\nencrypted\r\n`,
    });
    transport.close();
    assert.match(info.response, /^250 /);
    const row = await withDb(data, (db) =>
      waitFor('the TLS mail to be processed', async () => {
        const r = await db.selectFrom('mails').select(['state', 'subject']).where('msgid', '=', 'tls-1@example.com').executeTakeFirst();
        return r && r.state !== 'stored' && r;
      }),
    );
    assert.deepEqual(row, { state: 'processed', subject: 'over TLS' });
  });
});

// SMTP limits and STARTTLS against the server as a process: per-address connections and messages, idle timeout, TLS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
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
    const { cert, key } = selfSigned();
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

  it('gives a TLS session its slot back when it ends, and tells a client that waited after a refused DATA from one that did not', async () => {
    const { cert, key } = selfSigned();
    const { server } = await start(['--tls-cert', cert, '--tls-key', key, '--smtp-max-per-address', '1', '--smtp-reserved-slots', '0']);
    // One slot for this address: each session over TLS must have given it back for the next to be greeted.
    for (let i = 0; i < 3; i++) {
      // The server gives the slot back once its side of the last session has closed: a moment after ours.
      const t = await waitFor(`session ${i + 1} to be greeted`, () => startTls(server.smtpPort), 5000);
      assert.match(await t.send('EHLO tls.example.org'), /^250 /m);
      assert.match(await t.send('MAIL FROM:<alice@example.com>'), /^250 /);
      assert.match(await t.send('RCPT TO:<nobody@lists.example.org>'), /^550 5\.1\.1 /);
      assert.match(await t.send('DATA'), /^503 /);
      // Sent after the 503 arrived: a command, not early data (the guard counts the TLS socket's input).
      assert.match(await t.send('RSET'), /^250 /);
      assert.match(await t.send('QUIT'), /^221 /);
      await t.closed;
    }
  });
});

function selfSigned(): { cert: string; key: string } {
  const dir = tempDir();
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' });
  return { cert, key };
}

/** A session upgraded with STARTTLS (RFC 3207): send() writes a command and resolves with its complete reply. */
async function startTls(port: number): Promise<{ send(line: string): Promise<string>; closed: Promise<void> } | null> {
  const plain = net.connect(port, '127.0.0.1');
  const readReply = (socket: net.Socket) =>
    new Promise<string>((resolve, reject) => {
      let text = '';
      const onData = (d: Buffer) => {
        text += d.toString('latin1');
        if (/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(text)) {
          socket.off('data', onData);
          resolve(text.trimEnd());
        }
      };
      socket.on('data', onData);
      socket.once('close', () => reject(new Error(`closed after: ${text}`)));
    });
  if (!(await readReply(plain).catch(() => '')).startsWith('220 ')) {
    plain.destroy();
    return null; // not greeted (no slot)
  }
  plain.write('EHLO tls.example.org\r\n');
  assert.match(await readReply(plain), /STARTTLS/);
  plain.write('STARTTLS\r\n');
  assert.match(await readReply(plain), /^220 /);
  const secure = tls.connect({ socket: plain, rejectUnauthorized: false });
  await new Promise<void>((resolve) => secure.once('secureConnect', () => resolve()));
  const closed = new Promise<void>((resolve) => secure.once('close', () => resolve()));
  return {
    send: (line) => {
      const reply = readReply(secure);
      secure.write(line + '\r\n');
      return reply;
    },
    closed,
  };
}

// Message data sent out of turn (RFC 2920 §3.1, RFC 5321 §3.3): taken when DATA was accepted, otherwise the session
// is closed at once with 421 4.5.0; never read as commands, never left waiting for the idle timeout.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { withDb } from '../helpers/seed.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const LIST = DEMO.list;

function message(id: string): string {
  return `From: Alice <alice@example.org>\r\nTo: ${LIST}\r\nSubject: ${id}\r\nDate: Fri, 20 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${id}@example.org>\r\n\r\nbody of ${id}\r\n.\r\n`;
}

/**
 * Speaks to the server in the given writes, each sent once the server has gone quiet after the one before (so the
 * only data sent ahead of a reply is what one write itself holds); resolves with every reply line and whether, and
 * how soon after the last write, the server closed the connection.
 */
async function converse(port: number, writes: string[]): Promise<{ lines: string[]; closedAfterMs: number | null }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let text = '';
  let closedAt: number | null = null;
  let lastInput = Date.now();
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
    lastInput = Date.now();
  });
  socket.on('close', () => (closedAt = Date.now()));
  // Quiet: nothing new from the server for 300 ms (or the connection closed, or `ms` passed).
  const quiet = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (closedAt === null && Date.now() < deadline && (text === '' || Date.now() - lastInput < 300)) {
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await quiet(5000); // the greeting
  let lastWriteAt = Date.now();
  for (const w of writes) {
    if (closedAt !== null) break;
    socket.write(w);
    lastWriteAt = Date.now();
    lastInput = Date.now();
    await quiet(3000);
  }
  const deadline = Date.now() + 6000; // closed by the server, or not within 6 s
  while (closedAt === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  socket.destroy();
  return { lines: text.split('\r\n').filter(Boolean), closedAfterMs: closedAt === null ? null : closedAt - lastWriteAt };
}

describe('message data sent before its turn', () => {
  let server: ServerProcess;
  let data: string;
  before(async () => {
    data = tempDir();
    // An idle timeout of 20 s: a session left waiting for data would still be open when each case ends.
    server = await startServer(['--data', data, '--projects', projectsDir([DEMO]), '--smtp-idle-timeout', '20']);
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });
  const stored = (id: string) => withDb(data, (db) => db.selectFrom('mails').select('id').where('msgid', '=', `${id}@example.org`).execute());

  it('takes a message sent together with DATA when DATA is accepted, and the session goes on', async () => {
    const { lines, closedAfterMs } = await converse(server.smtpPort, [
      'EHLO early.example\r\n',
      `MAIL FROM:<alice@example.org>\r\nRCPT TO:<${LIST}>\r\nDATA\r\n${message('early-ok-1')}`,
      `MAIL FROM:<alice@example.org>\r\nRCPT TO:<${LIST}>\r\nDATA\r\n`,
      message('early-ok-2'),
      'QUIT\r\n',
    ]);
    assert.deepEqual(
      lines.filter((l) => /^(250 2\.0\.0|354|221)/.test(l)).map((l) => l.slice(0, 3)),
      ['354', '250', '354', '250', '221'],
    );
    assert.ok(closedAfterMs !== null, 'closed after QUIT');
    await waitFor('both mails stored', async () => (await stored('early-ok-1')).length === 1 && (await stored('early-ok-2')).length === 1);
  });

  it('closes with 421 4.5.0 when the message comes before DATA, instead of waiting for data it already had', async () => {
    const { lines, closedAfterMs } = await converse(server.smtpPort, [
      'EHLO early.example\r\n',
      `MAIL FROM:<alice@example.org>\r\nRCPT TO:<${LIST}>\r\n`,
      message('early-before-data'),
      'DATA\r\n',
    ]);
    assert.match(lines.at(-1)!, /^421 4\.5\.0 Message content sent without DATA/);
    assert.ok(closedAfterMs !== null && closedAfterMs < 3000, `closed at once, not after the idle timeout (${closedAfterMs} ms)`);
    assert.ok(!lines.some((l) => l.startsWith('354')), 'no data phase was opened');
    assert.deepEqual(await stored('early-before-data'), []);
  });

  it('closes with 421 4.5.0 when data follows a refused DATA, and runs none of it as commands', async () => {
    // The data holds a whole second transaction: read as commands it would be a message accepted (SMTP smuggling).
    const smuggled = `MAIL FROM:<mallory@example.org>\r\nRCPT TO:<${LIST}>\r\nDATA\r\n${message('early-smuggled')}`;
    const { lines, closedAfterMs } = await converse(server.smtpPort, [
      'EHLO early.example\r\n',
      `MAIL FROM:<alice@example.org>\r\nRCPT TO:<nobody@lists.example.org>\r\nDATA\r\n${smuggled}`,
    ]);
    assert.deepEqual(
      lines.slice(-3).map((l) => l.slice(0, 9)),
      ['550 5.1.1', '503 Error', '421 4.5.0'],
      'the recipient and DATA refused, then the session closed',
    );
    assert.match(lines.at(-1)!, /before a 354 reply to DATA/);
    assert.ok(closedAfterMs !== null && closedAfterMs < 3000);
    assert.deepEqual(await stored('early-smuggled'), []);
  });

  it('lets a client that waited for the refusal of DATA go on with RSET and a new transaction', async () => {
    const { lines } = await converse(server.smtpPort, [
      'EHLO early.example\r\n',
      `MAIL FROM:<alice@example.org>\r\nRCPT TO:<nobody@lists.example.org>\r\nDATA\r\n`,
      'RSET\r\n',
      `MAIL FROM:<alice@example.org>\r\nRCPT TO:<${LIST}>\r\nDATA\r\n`,
      message('early-after-rset'),
      'QUIT\r\n',
    ]);
    assert.deepEqual(
      lines.slice(-9).map((l) => l.slice(0, 3)),
      ['250', '550', '503', '250', '250', '250', '354', '250', '221'],
    );
    await waitFor('the mail stored', async () => (await stored('early-after-rset')).length === 1);
  });
});

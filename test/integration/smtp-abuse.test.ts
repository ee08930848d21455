// SMTP under abuse, against the server as a process: one address's 200 connections (NOOP-holding, 1 byte/s) or a few
// addresses filling the pool leave another address its slot; trickling sessions are closed with 421 4.4.2.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { withDb } from '../helpers/seed.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { abuse, type Abuse, type Kind } from '../helpers/smtp-abuser.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const ABUSER = '127.0.0.1';
const HONEST = '127.0.0.2';

function patchMail(n: number): string {
  return `From: Honest <honest@example.org>\r\nTo: ${DEMO.list}\r\nSubject: [PATCH ${n}/31] honest work\r\nDate: Fri, 20 Nov 2026 10:00:00 +0000\r\nMessage-ID: <honest-${n}@example.org>\r\n\r\nA patch from an honest client.\r\n`;
}

describe('SMTP under abuse', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const s of servers) assert.equal(await s.stop(), 0);
  });
  const start = async (args: string[]) => {
    const data = tempDir();
    const server = await startServer(['--data', data, '--projects', projectsDir([DEMO]), '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0', ...args]);
    servers.push(server);
    return { server, data };
  };

  it('delivers all 31 mails of a second address while one address holds 200 abusive connections, and closes the abusers with 421 4.4.2', async () => {
    // Short clocks so the test is quick: a session gets 4 s per message, DATA must average 100 bytes/s after 2 s.
    const { server, data } = await start(['--smtp-max-per-address', '20', '--smtp-command-time', '4', '--smtp-idle-timeout', '2', '--smtp-min-rate', '100']);
    const kinds: Kind[] = ['noop', 'trickle-command', 'trickle-data'];
    const wave = Array.from({ length: 200 }, (_, i) => abuse(server.smtpPort, ABUSER, kinds[i % 3]!));
    const firsts = await Promise.all(wave.map((a) => a.first));
    const greeted = wave.filter((_, i) => firsts[i]!.startsWith('220 '));
    assert.equal(greeted.length, 20, 'the abusing address got its share of 20 slots, no more');
    assert.deepEqual(
      firsts.filter((l) => !l.startsWith('220 ')).map((l) => l.slice(0, 9)),
      Array<string>(180).fill('421 4.7.0'),
      'the other 180 connections were refused at once with 421 4.7.0',
    );

    // The abuser keeps it up: every connection that ends is opened again, until the honest client is done.
    let abusing = true;
    const refill: Abuse[] = [];
    const keepUp = (a: Abuse) =>
      void a.ended.then(() => {
        if (!abusing) return;
        const next = abuse(server.smtpPort, ABUSER, a.kind);
        refill.push(next);
        keepUp(next);
      });
    wave.forEach(keepUp);

    const finals: string[] = [];
    for (let n = 1; n <= 31; n++) {
      finals.push((await sendMessage(server.smtpPort, 'honest@example.org', [DEMO.list], patchMail(n), HONEST)).final);
    }
    abusing = false;
    assert.deepEqual(
      finals.map((f) => f.slice(0, 4)),
      Array<string>(31).fill('250 '),
      'every mail of the honest address was acknowledged',
    );

    // Each greeted abusive session was closed by the server with 421 4.4.2, once its clock ran out.
    const ends = await Promise.all(greeted.map((a) => a.ended));
    for (const [i, end] of ends.entries()) {
      assert.match(end.last, /^421 4\.4\.2 /, `${greeted[i]!.kind} session ended with 421 4.4.2`);
      // The clocks are 4 s (commands) and 2 s + 1 s per 100 bytes (DATA); the bound only says "not never".
      assert.ok(end.afterGreetingMs! < 20_000, `${greeted[i]!.kind} session closed within 20 s (${end.afterGreetingMs} ms)`);
    }
    const byKind = new Map(kinds.map((k) => [k, ends.filter((_, i) => greeted[i]!.kind === k).map((e) => e.last.slice(0, 60))]));
    assert.ok(byKind.get('noop')!.every((l) => /no message delivered/.test(l)));
    assert.ok(byKind.get('trickle-command')!.every((l) => /no message delivered/.test(l)));
    assert.ok(byKind.get('trickle-data')!.every((l) => /slower than 100 bytes\/s/.test(l)));

    for (const a of [...wave, ...refill]) a.stop();
    const stored = await withDb(data, (db) =>
      waitFor('the honest mails to be processed', async () => {
        const rows = await db.selectFrom('mails').select(['msgid', 'state', 'remote_addr']).where('msgid', 'like', 'honest-%').execute();
        return rows.length === 31 && rows.every((r) => r.state !== 'stored') && rows;
      }),
    );
    assert.deepEqual(new Set(stored.map((r) => r.remote_addr)), new Set([HONEST]));
    assert.equal(await withDb(data, (db) => db.selectFrom('mails').select('id').where('envelope_from', '=', 'slow@example.net').execute()).then((r) => r.length), 0);
  });

  it('cuts a DATA phase at --smtp-data-time, and takes a slow message that keeps above --smtp-min-rate', async () => {
    const { server, data } = await start(['--smtp-idle-timeout', '2', '--smtp-min-rate', '100', '--smtp-data-time', '4']);
    /** Sends a message of `lines` 60-byte lines, one every `everyMs`, after a 354; resolves with the last reply. */
    const dribble = (id: string, lines: number, everyMs: number) =>
      new Promise<{ last: string; ms: number }>((resolve) => {
        const socket = net.connect({ port: server.smtpPort, host: '127.0.0.1', localAddress: HONEST });
        let text = '';
        let started = 0;
        let timer: NodeJS.Timeout | null = null;
        socket.on('error', () => {});
        socket.on('data', (d: Buffer) => {
          text += d.toString('latin1');
          if (/^220 /m.test(text) && !text.includes('EHLO-SENT')) {
            text += 'EHLO-SENT';
            socket.write(`EHLO slow.example\r\nMAIL FROM:<slow@example.org>\r\nRCPT TO:<${DEMO.list}>\r\n`);
          }
          if (/^250 Accepted\r\n250 Accepted/m.test(text) && !started) {
            started = Date.now();
            socket.write('DATA\r\n');
          }
          if (/^354 /m.test(text) && !timer) {
            socket.write(`From: Slow <slow@example.org>\r\nSubject: ${id}\r\nMessage-ID: <${id}@example.org>\r\n\r\n`);
            let sent = 0;
            timer = setInterval(() => {
              if (sent++ < lines) socket.write(`${'x'.repeat(58)}\r\n`);
              else {
                clearInterval(timer!);
                socket.write('.\r\nQUIT\r\n');
              }
            }, everyMs);
          }
        });
        socket.on('close', () => {
          if (timer) clearInterval(timer);
          const replies = text.split('\r\n').filter((l) => /^\d{3} /.test(l));
          resolve({ last: replies.filter((l) => !l.startsWith('221')).at(-1) ?? '(none)', ms: Date.now() - started });
        });
      });
    // 60 bytes every 300 ms is 200 bytes/s: above the minimum, so only the 4 s limit ends it (it would take 6 s).
    // 60 bytes every 300 ms for 2.4 s (8 lines) is done within the limits and stored.
    const [long, short] = await Promise.all([dribble('slow-long', 20, 300), dribble('slow-short', 8, 300)]);
    assert.match(long.last, /^421 4\.4\.2 Timeout: message data took longer than 4 s/);
    assert.ok(long.ms < 10_000, `cut near the limit (${long.ms} ms)`);
    assert.match(short.last, /^250 /);
    const stored = await withDb(data, (db) => db.selectFrom('mails').select('msgid').where('msgid', 'like', 'slow-%').execute());
    assert.deepEqual(stored, [{ msgid: 'slow-short@example.org' }]);
  });

  it('keeps the reserved slots one per address, so an address holding nothing gets in while a few addresses fill the pool', async () => {
    // 34 slots: 24 open to all, the last 10 one per address. Three addresses take 8 each (their share), three more
    // one each from the reserve; the honest address still gets one; past the pool, 421 4.4.5.
    const { server } = await start(['--smtp-max-clients', '34', '--smtp-max-per-address', '8', '--smtp-reserved-slots', '10']);
    const held: Abuse[] = [];
    const firstReplies = new Map<string, string[]>();
    for (const from of ['127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15']) {
      const replies: string[] = [];
      for (let i = 0; i < 9; i++) {
        const a = abuse(server.smtpPort, from, 'noop');
        held.push(a);
        replies.push((await a.first).slice(0, 9));
      }
      firstReplies.set(from, replies);
    }
    const greetedPer = [...firstReplies.values()].map((r) => r.filter((l) => l.startsWith('220 ')).length);
    assert.deepEqual(greetedPer, [8, 8, 8, 1, 1, 1]);
    assert.ok([...firstReplies.values()].flat().every((l) => l.startsWith('220 ') || l === '421 4.7.0'));

    const honest = await sendMessage(server.smtpPort, 'honest@example.org', [DEMO.list], patchMail(1), HONEST);
    assert.match(honest.final, /^250 /, 'the honest address got a reserved slot');

    // The pool is 34 and 27 are held (the honest session has ended): seven more addresses holding nothing get in, one
    // each, and the next is told the server is busy.
    await new Promise((r) => setTimeout(r, 300));
    const more: string[] = [];
    for (let i = 1; i <= 8; i++) {
      const a = abuse(server.smtpPort, `127.0.1.${i}`, 'noop');
      held.push(a);
      more.push((await a.first).slice(0, 9));
    }
    assert.deepEqual(
      more.map((l) => (l.startsWith('220 ') ? '220' : l)),
      [...Array<string>(7).fill('220'), '421 4.4.5'],
    );
    for (const a of held) a.stop();
  });
});

// Crash safety: the server is SIGKILLed under load from 20 clients; nothing acknowledged is lost, nothing is doubled.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEMO, projectsDir, tempDir } from '../helpers/dirs.js';
import { withDb } from '../helpers/seed.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { ConnectionLost, dataPayload, SmtpSession } from '../helpers/smtp-client.js';
import { waitFor } from '../helpers/wait.js';

const CLIENTS = 20;
const PER_CLIENT = 25; // 500 messages
const KILL_AFTER = 200; // acknowledgements

function message(client: number, n: number): { msgid: string; payload: Buffer } {
  const msgid = `crash-${client}-${n}@clients.example.org`;
  const body = Array.from({ length: 20 }, (_, i) => `line ${i} of message ${n} from client ${client}, some text to make it a mail`).join('\n');
  const raw = `From: Client ${client} <client${client}@example.org>\nTo: ${DEMO.list}\nSubject: [PATCH ${n}/${PER_CLIENT}] crash test ${client}.${n}\nDate: Fri, 20 Nov 2026 10:00:00 +0000\nMessage-ID: <${msgid}>\n\n${body}\n`;
  return { msgid, payload: dataPayload(Buffer.from(raw)) };
}

describe('crash safety', () => {
  it('keeps every acknowledged message exactly once and processes it after a SIGKILL and restart', async (t) => {
    const data = tempDir();
    const projects = projectsDir([DEMO]);
    const args = ['--data', data, '--projects', projects, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0'];
    let server: ServerProcess = await startServer(args);
    // Where the clients connect: the restarted server listens on another free port.
    let port = server.smtpPort;

    const acked = new Set<string>();
    let resent = 0;
    const run: { crash: Promise<{ ackedBeforeKill: Set<string>; storedAtCrash: { msgid: string; state: string }[] }> | null } = { crash: null };

    const killAndRestart = async () => {
      await server.kill();
      // Every 250 the clients saw came from a process that is now gone: what it acknowledged must be on disk.
      const ackedBeforeKill = new Set(acked);
      const storedAtCrash = await withDb(data, (db) => db.selectFrom('mails').select(['msgid', 'state']).execute());
      server = await startServer(args);
      port = server.smtpPort;
      return { ackedBeforeKill, storedAtCrash };
    };

    // One client behaves as an MTA: a persistent session; a message without a 250 is sent again on a new connection.
    const client = async (c: number) => {
      const queue = Array.from({ length: PER_CLIENT }, (_, n) => message(c, n + 1));
      let session: SmtpSession | null = null;
      const deadline = Date.now() + 120_000;
      while (queue.length) {
        if (Date.now() > deadline) throw new Error(`client ${c}: ${queue.length} messages still unacknowledged`);
        try {
          if (!session?.alive) {
            session?.close();
            session = await SmtpSession.open(port);
            if (!session.alive) throw new ConnectionLost(`greeting ${session.greeting?.text}`);
          }
          const m = queue[0]!;
          const reply = await session.send(`client${c}@example.org`, [DEMO.list], m.payload);
          if (reply.code === 250) {
            acked.add(m.msgid);
            queue.shift();
            if (acked.size === KILL_AFTER) run.crash ??= killAndRestart();
          } else if (reply.code >= 500) {
            throw new Error(`client ${c}: ${m.msgid} refused: ${reply.text}`);
          } else {
            await new Promise((r) => setTimeout(r, 100)); // 4xx: try again later, as an MTA would
          }
        } catch (e) {
          if (!(e instanceof ConnectionLost)) throw e;
          resent++;
          session = null;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await session?.quit();
    };

    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    assert.ok(run.crash, 'the server was killed part-way');
    const { ackedBeforeKill, storedAtCrash } = await run.crash;
    try {
      assert.ok(ackedBeforeKill.size >= KILL_AFTER && ackedBeforeKill.size < CLIENTS * PER_CLIENT, `killed part-way (${ackedBeforeKill.size} acknowledged)`);
      const atCrash = new Set(storedAtCrash.map((r) => r.msgid));
      const missing = [...ackedBeforeKill].filter((id) => !atCrash.has(id));
      assert.deepEqual(missing, [], 'every message acknowledged before the kill was on disk');
      const unacked = storedAtCrash.filter((r) => !ackedBeforeKill.has(r.msgid)).length;
      const unprocessed = storedAtCrash.filter((r) => r.state === 'stored').length;
      t.diagnostic(`at the kill: ${ackedBeforeKill.size} acknowledged, ${storedAtCrash.length} stored (${unacked} whose 250 was lost), ${unprocessed} not yet processed; ${resent} sends or connections retried`);

      assert.equal(acked.size, CLIENTS * PER_CLIENT, 'every message was acknowledged in the end');
      const rows = await withDb(data, (db) =>
        waitFor(
          'processing to finish after the restart',
          async () => {
            const all = await db.selectFrom('mails').select(['msgid', 'state', 'reason']).execute();
            return all.length >= acked.size && all.every((r) => r.state !== 'stored') && all;
          },
          60_000,
        ),
      );
      // Stored rows = the acknowledged Message-IDs; a message stored whose 250 was lost was resent and found stored.
      assert.equal(rows.length, acked.size);
      assert.deepEqual(new Set(rows.map((r) => r.msgid)), acked);
      assert.deepEqual(rows.filter((r) => r.state !== 'processed' || r.reason !== 'distributed'), []);
    } finally {
      await server.stop();
    }
  });
});

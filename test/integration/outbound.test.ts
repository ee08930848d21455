// The outbound worker in-process against a real SMTP sink: parallel sends, a stop that drains, an unreachable
// smarthost retried then given up, and a 5xx on a mail of our own.
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { migrate, openDatabase, type Db } from '../../src/db/database.js';
import { enqueueOutbound, listOutbound } from '../../src/db/outbound.repository.js';
import { createLogger } from '../../src/log.js';
import { OutboundService } from '../../src/mail/outbound.service.js';
import { startSink, type Sink } from '../helpers/sink-smtp.js';
import { tempDir } from '../helpers/dirs.js';
import { waitFor } from '../helpers/wait.js';

const log = createLogger('silent');
const mail = (n: number) =>
  Buffer.from(`From: proctree-request@lists.example.org\r\nTo: r${n}@example.net\r\nSubject: notice ${n}\r\nMessage-ID: <n${n}@patchbay.test>\r\n\r\nhello ${n}\r\n`);

async function freshDb(): Promise<Db> {
  const { db } = openDatabase(':memory:');
  await migrate(db);
  return db;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const slow = { baseMs: 60_000, maxMs: 60_000, giveUpMs: 3_600_000 };

describe('outbound worker', () => {
  let sink: Sink;
  before(async () => {
    sink = await startSink();
  });
  after(async () => {
    await sink.close();
  });

  it('sends four at once, and stop() waits for the sends under way but starts no new ones', async () => {
    const db = await freshDb();
    await enqueueOutbound(
      db,
      Array.from({ length: 8 }, (_, i) => ({ projectId: null, kind: 'notice', envelopeFrom: 'proctree-bounces@lists.example.org', rcpt: `r${i}@example.net`, raw: mail(i) })),
    );
    const svc = new OutboundService({
      db,
      mode: { kind: 'smtp', host: '127.0.0.1', port: sink.port, url: sink.url },
      dataDir: tempDir(),
      retry: slow,
      bounceThreshold: 5,
      hostname: 'patchbay.test',
      log,
      concurrency: 4,
      pollMs: 60_000,
    });
    const before = sink.mails.length;
    await svc.start();
    await waitFor('sends under way', () => svc.sending > 0, 10_000);
    assert.equal(svc.sending, 4);
    await svc.stop();

    const rows = await listOutbound(db);
    assert.equal(rows.filter((r) => r.state === 'sent').length, 4, 'the four under way finished');
    assert.equal(rows.filter((r) => r.state === 'queued').length, 4, 'nothing new started after stop()');
    assert.equal(sink.mails.length - before, 4);
    assert.ok(sink.peakSessions() > 1, `parallel smarthost sessions (peak ${sink.peakSessions()})`);
    const got = sink.mails.find((m) => m.rcptTo[0] === 'r0@example.net');
    assert.equal(got?.mailFrom, 'proctree-bounces@lists.example.org');
    assert.equal(got?.raw.toString(), mail(0).toString(), 'our own mail goes out as queued');
    await db.destroy();
  });

  it('retries with backoff while the smarthost cannot be reached, then gives up as failed', async () => {
    const db = await freshDb();
    const port = await closedPort();
    await enqueueOutbound(db, [{ projectId: null, kind: 'notice', envelopeFrom: 'proctree-bounces@lists.example.org', rcpt: 'r@example.net', raw: mail(1) }]);
    const svc = new OutboundService({
      db,
      mode: { kind: 'smtp', host: '127.0.0.1', port, url: `smtp://127.0.0.1:${port}` },
      dataDir: tempDir(),
      retry: { baseMs: 100, maxMs: 200, giveUpMs: 5_000 }, // wide enough that a loaded machine still fits several attempts
      bounceThreshold: 5,
      hostname: 'patchbay.test',
      log,
      pollMs: 50,
    });
    await svc.start();
    const failed = await waitFor('given up', async () => (await listOutbound(db, { state: 'failed' }))[0], 20_000);
    await svc.stop();
    assert.ok(failed.attempts >= 3, `retried before giving up (${failed.attempts} attempts)`);
    assert.match(failed.last_error ?? '', /ECONNREFUSED|connect/i);
    await db.destroy();
  });

  it('marks a mail of our own refused with 5xx bounced, and scores no subscriber', async () => {
    const db = await freshDb();
    sink.rejectRcpt('gone@example.net', 550, '5.1.1 <gone@example.net>: Recipient address rejected: User unknown');
    await enqueueOutbound(db, [{ projectId: null, kind: 'notice', envelopeFrom: 'proctree-bounces@lists.example.org', rcpt: 'gone@example.net', raw: mail(2) }]);
    const svc = new OutboundService({
      db,
      mode: { kind: 'smtp', host: '127.0.0.1', port: sink.port, url: sink.url },
      dataDir: tempDir(),
      retry: slow,
      bounceThreshold: 1,
      hostname: 'patchbay.test',
      log,
    });
    await svc.start();
    const bounced = await waitFor('bounced', async () => (await listOutbound(db, { state: 'bounced' }))[0], 10_000);
    await svc.stop();
    assert.equal(bounced.attempts, 1);
    assert.match(bounced.last_error ?? '', /^550 /);
    assert.deepEqual(await db.selectFrom('bounces').selectAll().execute(), []);
    await db.destroy();
  });
});

// Worker-thread entry of the smarthost sender (outbound-sender.ts): sends each copy and journals it on the 250.
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import nodemailer from 'nodemailer';
import type { SendReply, SendRequest, SenderSettings } from './outbound-sender.js';

const settings = workerData as SenderSettings;
const port = parentPort!;
// Opportunistic STARTTLS (used when offered, never required); a smarthost's self-signed certificate is accepted.
const transport = nodemailer.createTransport({
  host: settings.host,
  port: settings.port,
  secure: false,
  name: settings.hostname,
  tls: { rejectUnauthorized: false },
  pool: true,
  maxConnections: settings.concurrency,
  connectionTimeout: 30_000,
  greetingTimeout: 30_000,
  socketTimeout: 120_000,
});
// O_APPEND: the main thread empties the file with ftruncate while no send is under way; lines then start at 0 again.
const journal = fs.openSync(settings.journal, 'a');

port.on('message', (m: SendRequest | { type: 'close' }) => {
  if ('type' in m) {
    transport.close();
    fs.closeSync(journal);
    port.close();
    return;
  }
  transport.sendMail({ envelope: m.envelope, raw: Buffer.from(m.raw.buffer, m.raw.byteOffset, m.raw.byteLength) }).then(
    () => {
      // Here, not on the main thread: this thread is never blocked by the database (an fsync, a processing batch), so
      // the line is down microseconds after the smarthost's 250, and a crash after it cannot send the copy again.
      fs.writeSync(journal, `${m.id} sent\n`);
      port.postMessage({ id: m.id, ok: true } satisfies SendReply);
    },
    (e: unknown) => {
      const err = (e ?? {}) as { responseCode?: number; response?: string; code?: string; message?: string };
      port.postMessage({
        id: m.id,
        ok: false,
        error: { responseCode: err.responseCode, response: err.response, code: err.code, message: err.message },
      } satisfies SendReply);
    },
  );
});

// A real SMTP server standing in for the outside world (the smarthost): it keeps every message it is given.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface SunkMail {
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
}

export interface Sink {
  port: number;
  url: string;
  mails: SunkMail[];
  /** Resolves when at least n messages have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<SunkMail[]>;
  /** Makes RCPT TO for this address fail with the given code: the next `times` ones (default: every one from now on). */
  rejectRcpt(address: string, code: number, message: string, times?: number): void;
  /** The most SMTP sessions that were open at the same time. */
  peakSessions(): number;
  /**
   * From now on a message is held, neither kept nor answered: its sender waits for the 250 (a smarthost that hangs),
   * until release() or resume().
   */
  hang(): void;
  /** Resolves once n messages are held. */
  held(n: number, timeoutMs?: number): Promise<void>;
  /** Keeps and acknowledges the first n held messages. */
  release(n: number): void;
  /** Drops the messages still held, never acknowledged (their senders are gone), and stops holding. */
  resume(): void;
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const mails: SunkMail[] = [];
  const rejections = new Map<string, { code: number; message: string; left: number }>();
  let open = 0;
  let peak = 0;
  const waiters: (() => void)[] = [];
  let hanging = false;
  const holding: { mail: SunkMail; ack: () => void }[] = [];
  const keep = (mail: SunkMail, ack: () => void) => {
    mails.push(mail);
    waiters.splice(0).forEach((w) => w());
    ack();
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onConnect(_session, cb) {
      peak = Math.max(peak, ++open);
      cb();
    },
    onClose() {
      open--;
    },
    onRcptTo(address, _session, cb) {
      const r = rejections.get(address.address.toLowerCase());
      if (r && r.left-- > 0) {
        const err = new Error(r.message) as Error & { responseCode: number };
        err.responseCode = r.code;
        return cb(err);
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const mail = {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        };
        if (hanging) holding.push({ mail, ack: () => cb() });
        else keep(mail, () => cb());
      });
    },
  });
  // A sender killed mid-session (the crash tests) resets its connections: that is not the sink's failure.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    mails,
    hang: () => (hanging = true),
    held: async (n, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      while (holding.length < n) {
        if (Date.now() > deadline) throw new Error(`sink holds ${holding.length} of ${n} mails after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    release: (n) => {
      for (const h of holding.splice(0, n)) keep(h.mail, h.ack);
    },
    resume: () => {
      holding.length = 0;
      hanging = false;
    },
    rejectRcpt: (address, code, message, times = Infinity) => rejections.set(address.toLowerCase(), { code, message, left: times }),
    peakSessions: () => peak,
    waitFor: async (n, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      while (mails.length < n) {
        if (Date.now() > deadline) throw new Error(`sink got ${mails.length} of ${n} mails in ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
      return mails;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

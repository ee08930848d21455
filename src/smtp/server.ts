// The SMTP edge: checks recipients and limits as the client speaks, stores the raw message, then answers 250.
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { SmtpLimits } from '../config/config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { IntakeService } from './intake.service.js';
import { RateLimiter } from './rate-limit.js';
import { resolveRecipient, type Mailbox, type RecipientTable } from './recipients.js';
import { toSmtpError } from './reply-codes.js';

export interface SmtpEdgeOptions {
  host: string;
  port: number;
  hostname: string;
  limits: SmtpLimits;
  tls: { cert: string; key: string } | null;
  recipients: RecipientTable;
  intake: IntakeService;
  log: Logger;
}

type Session = SMTPServerSession & { patchbay?: { mailboxes: { mailbox: Mailbox; address: string }[] } };

export class SmtpEdge {
  private server: SMTPServer;
  private connections: RateLimiter;
  private messages: RateLimiter;
  private closing = false;

  constructor(private readonly opts: SmtpEdgeOptions) {
    this.connections = new RateLimiter(opts.limits.connectionsPerMinute);
    this.messages = new RateLimiter(opts.limits.messagesPerMinute);
    const tls = opts.tls ? { key: fs.readFileSync(opts.tls.key), cert: fs.readFileSync(opts.tls.cert) } : {};
    this.server = new SMTPServer({
      ...tls,
      name: opts.hostname,
      banner: 'patchbay ESMTP',
      size: opts.limits.maxMessageBytes,
      authOptional: true,
      disabledCommands: opts.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
      maxClients: opts.limits.maxClients,
      socketTimeout: opts.limits.idleTimeoutMs,
      closeTimeout: 10_000,
      logger: false,
      onConnect: (session, cb) => this.onConnect(session, cb),
      onMailFrom: (_address, session, cb) => this.onMailFrom(session, cb),
      onRcptTo: (address, session, cb) => this.onRcptTo(address.address, session as Session, cb),
      onData: (stream, session, cb) => this.onData(stream, session as Session, cb),
    });
    this.server.on('error', (err) => opts.log.warn({ err }, 'smtp connection error'));
  }

  async start(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    return this.server.server.address() as AddressInfo;
  }

  /** Stops accepting connections and waits for open sessions to finish (or the close timeout). */
  async stop(): Promise<void> {
    this.closing = true;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnect(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    if (this.closing) return cb(toSmtpError(new AppError('unavailable', 'shutting_down', 'Service shutting down')));
    if (!this.connections.hit(session.remoteAddress)) {
      return cb(toSmtpError(new AppError('rate_limited', 'too_many_connections', 'Too many connections from your address, try again later')));
    }
    cb();
  }

  private onMailFrom(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    if (!this.messages.hit(session.remoteAddress)) {
      return cb(toSmtpError(new AppError('rate_limited', 'too_many_messages', 'Too many messages from your address, try again later')));
    }
    (session as Session).patchbay = { mailboxes: [] };
    cb();
  }

  private onRcptTo(address: string, session: Session, cb: (err?: Error | null) => void): void {
    const state = (session.patchbay ??= { mailboxes: [] });
    if (session.envelope.rcptTo.length >= this.opts.limits.maxRecipients) {
      return cb(toSmtpError(new AppError('rate_limited', 'too_many_recipients', 'Too many recipients')));
    }
    const r = resolveRecipient(address, this.opts.recipients);
    if (r.kind === 'relay') return cb(toSmtpError(new AppError('forbidden', 'relay_denied', `<${address}>: Relay access denied`)));
    if (r.kind === 'unknown') return cb(toSmtpError(new AppError('not_found', 'no_such_user', `<${address}>: Recipient address rejected: no such mailbox`)));
    state.mailboxes.push({ mailbox: r.mailbox, address: r.recipient });
    cb();
  }

  private onData(stream: SMTPServerDataStream, session: Session, cb: (err?: Error | null, message?: string) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      // Past the limit we stop keeping bytes but let the stream run to its end, as RFC 1870 §6.1 asks.
      if (size <= this.opts.limits.maxMessageBytes) chunks.push(chunk);
      size += chunk.length;
    });
    stream.on('end', () => {
      if (stream.sizeExceeded) {
        return cb(toSmtpError(new AppError('too_large', 'message_too_big', `Message size exceeds fixed limit of ${this.opts.limits.maxMessageBytes} bytes`)));
      }
      const mailboxes = session.patchbay?.mailboxes ?? [];
      this.opts.intake
        .accept({
          raw: Buffer.concat(chunks, size),
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          recipients: mailboxes,
          envelopeTo: session.envelope.rcptTo.map((r) => r.address),
          remoteAddr: session.remoteAddress,
          source: 'smtp',
        })
        .then(
          (stored) => cb(null, `2.0.0 Ok: queued as ${stored.mails.map((m) => m.id).join(',')}`),
          (e: unknown) => cb(toSmtpError(e)),
        );
    });
  }
}

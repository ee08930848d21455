// The SMTP edge: admits connections by address, checks recipients and limits as the client speaks, stores the raw
// message, then answers 250.
import fs from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { SmtpLimits } from '../config/config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { addressKey, ConnectionSlots } from './connection-slots.js';
import type { IntakeService } from './intake.service.js';
import { RateLimiter } from './rate-limit.js';
import { acceptsOutsideBeside, resolveRecipient, type Mailbox, type RecipientTable } from './recipients.js';
import { toSmtpError, type SmtpReplyError } from './reply-codes.js';
import { SessionGuard } from './session-guard.js';

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

/**
 * smtp-server 3.x runs every command line through the connection's _onCommand (smtp-connection.js); the edge wraps it
 * to see each line in order, as the parser hands it over. Checked at start: an smtp-server without it fails loudly.
 */
interface CommandDispatch {
  _onCommand(command: Buffer, callback?: () => void): void;
}

/**
 * smtp-server hands every accepted socket to its public connect(); this subclass asks the edge first, so a refused
 * client costs one reply and never reaches the session machinery (the greeting delay, the reverse lookup).
 */
class GatedSmtpServer extends SMTPServer {
  constructor(
    options: SMTPServerOptions,
    private readonly gate: (socket: Socket, open: () => SMTPConnection | undefined) => void,
  ) {
    super(options);
  }

  override connect(socket: Socket, socketOptions?: Parameters<SMTPServer['connect']>[1]): void {
    this.gate(socket, () => {
      super.connect(socket, socketOptions ?? {});
      let last: SMTPConnection | undefined;
      for (const c of this.connections) last = c; // a Set keeps insertion order: the one just added is last
      return last;
    });
  }
}

interface Admitted {
  guard: SessionGuard;
  release: () => void;
}

export class SmtpEdge {
  private server: SMTPServer;
  private connections: RateLimiter;
  private messages: RateLimiter;
  private slots: ConnectionSlots;
  /** Admitted connections by session id (smtp-server's connection id). */
  private admitted = new Map<string, Admitted>();
  private closing = false;

  constructor(private readonly opts: SmtpEdgeOptions) {
    const { limits } = opts;
    this.connections = new RateLimiter(limits.connectionsPerMinute);
    this.messages = new RateLimiter(limits.messagesPerMinute);
    this.slots = new ConnectionSlots(limits);
    if (typeof (SMTPConnection.prototype as unknown as Partial<CommandDispatch>)._onCommand !== 'function') {
      throw new Error('smtp-server: SMTPConnection has no _onCommand to guard (a new major version?)');
    }
    const tls = opts.tls ? { key: fs.readFileSync(opts.tls.key), cert: fs.readFileSync(opts.tls.cert) } : {};
    this.server = new GatedSmtpServer(
      {
        ...tls,
        name: opts.hostname,
        banner: 'patchbay ESMTP',
        size: limits.maxMessageBytes,
        authOptional: true,
        disabledCommands: opts.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
        // The edge admits by address first (admit()); smtp-server's own count stays as a backstop.
        maxClients: limits.maxClients,
        socketTimeout: limits.idleTimeoutMs,
        closeTimeout: 10_000,
        logger: false,
        onConnect: (session, cb) => this.onConnect(session, cb),
        onSecure: (socket, session, cb) => this.onSecure(socket, session, cb),
        onMailFrom: (_address, session, cb) => this.onMailFrom(session, cb),
        onRcptTo: (address, session, cb) => this.onRcptTo(address.address, session as Session, cb),
        onData: (stream, session, cb) => this.onData(stream, session as Session, cb),
        onClose: (session) => this.admitted.get(session.id)?.release(),
      },
      (socket, open) => this.admit(socket, open),
    );
    this.server.on('error', (err) => opts.log.warn({ err }, 'smtp connection error'));
  }

  /** Connections open now (admitted and not yet closed). */
  get openConnections(): number {
    return this.slots.total;
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

  /**
   * A new socket: refused with one 421 line when the server is closing, the address opened too many connections this
   * minute, or taking a slot would pass the pool, the address's share or the reserve (connection-slots.ts). Admitted,
   * it holds its slot until the socket closes, and its session runs under a SessionGuard.
   */
  private admit(socket: Socket, open: () => SMTPConnection | undefined): void {
    const key = addressKey(socket.remoteAddress ?? '');
    const refusal = this.takeSlot(key);
    if (refusal) return refuse(socket, refusal);
    this.connections.hit(key);
    const conn = open();
    if (!conn || conn.remotePort !== socket.remotePort) {
      this.opts.log.error({ remote: key }, 'smtp-server did not register the connection; closing it');
      this.slots.release(key);
      socket.destroy();
      return;
    }
    const guard = new SessionGuard(conn, this.opts.limits, (code, message) =>
      this.opts.log.info({ remote: key, sessionId: conn.id, code }, `closing session: ${message}`),
    );
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.slots.release(key);
      guard.stop();
      this.admitted.delete(conn.id);
    };
    this.admitted.set(conn.id, { guard, release });
    // Closing the socket gives the slot back; so does smtp-server's onClose (STARTTLS drops this socket's listeners).
    socket.once('close', release);
    // Counted before the parser reads the chunk (prepended): how the guard tells data sent ahead of a reply.
    socket.prependListener('data', () => {
      guard.arrived();
      corkForTurn(socket);
    });
    const dispatch = conn as unknown as CommandDispatch;
    const run = dispatch._onCommand.bind(conn);
    dispatch._onCommand = (command, callback) => {
      if (!guard.beforeCommand(command)) return;
      run(command, callback);
      guard.afterCommand(command);
    };
  }

  /** Takes a slot for the address, or says in a 421 why not. */
  private takeSlot(key: string): SmtpReplyError | null {
    if (this.closing) return toSmtpError(new AppError('unavailable', 'shutting_down', 'Service shutting down'));
    if (this.connections.blocked(key)) {
      return toSmtpError(new AppError('rate_limited', 'too_many_connections', 'Too many connections from your address, try again later'));
    }
    const full = this.slots.take(key);
    if (full === 'server_busy') return toSmtpError(new AppError('unavailable', 'server_busy', 'Too many connected clients, try again later'));
    if (full === 'too_many_connections') {
      return toSmtpError(new AppError('rate_limited', 'too_many_connections', 'Too many connections from your address at once, try again later'));
    }
    return null;
  }

  private onConnect(_session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    if (this.closing) return cb(toSmtpError(new AppError('unavailable', 'shutting_down', 'Service shutting down')));
    cb();
  }

  /** After STARTTLS the session reads from the TLS socket: its chunks are the ones the guard counts from now on. */
  private onSecure(socket: Socket, session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const admitted = this.admitted.get(session.id);
    if (admitted) socket.prependListener('data', () => admitted.guard.arrived());
    cb();
  }

  private onMailFrom(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    if (!this.messages.hit(addressKey(session.remoteAddress))) {
      return cb(toSmtpError(new AppError('rate_limited', 'too_many_messages', 'Too many messages from your address, try again later')));
    }
    (session as Session).patchbay = { mailboxes: [] };
    cb();
  }

  private onRcptTo(address: string, session: Session, cb: (err?: Error | null) => void): void {
    const state = (session.patchbay ??= { mailboxes: [] });
    const refuse = (e: AppError) => {
      // Every refused recipient is logged with its reason: a sender's client often shows only "send failed".
      this.opts.log.warn(
        { remote: session.remoteAddress, sessionId: session.id, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', rcpt: address, reason: e.code },
        `recipient refused: ${e.message}`,
      );
      cb(toSmtpError(e));
    };
    if (session.envelope.rcptTo.length >= this.opts.limits.maxRecipients) {
      return refuse(new AppError('rate_limited', 'too_many_recipients', 'Too many recipients'));
    }
    const r = resolveRecipient(address, this.opts.recipients);
    if (r.kind === 'relay') {
      const taken = state.mailboxes.map((m) => m.mailbox);
      if (!acceptsOutsideBeside(taken)) {
        return refuse(new AppError('forbidden', 'relay_denied', `<${address}>: Relay access denied (patchbay takes mail only for its lists; name a list first)`));
      }
      // Taken beside the list post and relayed to no one (recipients.ts, acceptsOutsideBeside): never an open relay.
      this.opts.log.info(
        { remote: session.remoteAddress, sessionId: session.id, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', rcpt: address, beside: taken.map((m) => m.slug) },
        'outside recipient accepted beside a list post, not relayed',
      );
      return cb();
    }
    if (r.kind === 'unknown') return refuse(new AppError('not_found', 'no_such_user', `<${address}>: Recipient address rejected: no such mailbox`));
    state.mailboxes.push({ mailbox: r.mailbox, address: r.recipient });
    cb();
  }

  private onData(stream: SMTPServerDataStream, session: Session, done: (err?: Error | null, message?: string) => void): void {
    const guard = this.admitted.get(session.id)?.guard;
    guard?.dataStarted();
    const cb = (err?: Error | null, message?: string) => {
      done(err, message);
      guard?.replied();
    };
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      // Past the limit we stop keeping bytes but let the stream run to its end, as RFC 1870 §6.1 asks.
      if (size <= this.opts.limits.maxMessageBytes) chunks.push(chunk);
      size += chunk.length;
      guard?.dataReceived(chunk.length);
    });
    stream.on('end', () => {
      guard?.dataEnded();
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

/**
 * One reply line, then the socket goes: input is read and dropped (so closing sends no RST that could cost the client
 * the reply), and the socket is destroyed 250 ms later, so that a flood of refused connections holds few descriptors.
 */
function refuse(socket: Socket, err: SmtpReplyError): void {
  socket.on('error', () => {});
  socket.end(`${err.responseCode} ${err.message}\r\n`);
  socket.resume();
  setTimeout(() => socket.destroy(), 250).unref();
}

/**
 * The replies to one chunk of pipelined commands (MAIL, RCPT, DATA's 354) leave in one write: the socket is corked as
 * the chunk arrives and flushed once the loop has handled it. A write per reply was a sixth of intake's main thread.
 */
function corkForTurn(socket: Socket): void {
  if (socket.writableCorked) return;
  socket.cork();
  setImmediate(() => socket.uncork());
}

// A small SMTP client that keeps one session open for many messages, as an MTA does; for load and crash tests.
import net from 'node:net';

/** The connection closed or failed before the reply came: the message may or may not have been stored. */
export class ConnectionLost extends Error {
  constructor(cause: string) {
    super(`SMTP connection lost: ${cause}`);
    this.name = 'ConnectionLost';
  }
}

export interface Reply {
  code: number;
  text: string;
}

export interface SendResult extends Reply {
  /** Milliseconds from writing the final CRLF.CRLF to reading the reply. */
  dataMs: number;
}

/** The DATA payload for raw message bytes: CRLF newlines, dot-stuffed (RFC 5321 §4.5.2), ending in CRLF.CRLF. */
export function dataPayload(raw: Buffer): Buffer {
  let text = raw.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
  if (!text.endsWith('\r\n')) text += '\r\n';
  return Buffer.from(text + '.\r\n', 'latin1');
}

export class SmtpSession {
  private buffer = '';
  private replies: Reply[] = [];
  private waiters: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private lost: ConnectionLost | null = null;
  greeting: Reply | null = null;
  ehlo: Reply | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    const fail = (why: string) => {
      this.lost ??= new ConnectionLost(why);
      for (const w of this.waiters.splice(0)) w.reject(this.lost);
    };
    socket.on('error', (e) => fail(e.message));
    socket.on('close', () => fail('closed'));
  }

  /** Connects, reads the greeting and says EHLO; rejects with ConnectionLost if the server is not there. */
  static async open(port: number, host = '127.0.0.1'): Promise<SmtpSession> {
    const socket = net.connect(port, host);
    const session = new SmtpSession(socket);
    session.greeting = await session.next();
    if (session.greeting.code !== 220) {
      session.close();
      return session;
    }
    socket.write('EHLO client.example.org\r\n');
    session.ehlo = await session.next();
    return session;
  }

  get alive(): boolean {
    return this.lost === null && this.greeting?.code === 220;
  }

  /**
   * One transaction; MAIL, RCPT and DATA are pipelined (RFC 2920). Returns the first refusal, or the reply to the
   * message. After a refusal the transaction is reset with RSET so that the session can carry the next message.
   */
  async send(from: string, to: string[], payload: Buffer): Promise<SendResult> {
    const commands = [`MAIL FROM:<${from}>`, ...to.map((r) => `RCPT TO:<${r}>`), 'DATA'];
    this.socket.write(commands.map((c) => c + '\r\n').join(''));
    const replies: Reply[] = [];
    for (let i = 0; i < commands.length; i++) replies.push(await this.next());
    const refused = replies.find((r, i) => (i < commands.length - 1 ? r.code >= 400 : r.code !== 354));
    if (refused) {
      if (replies[replies.length - 1]!.code === 354) {
        // DATA was accepted although a recipient was not: send an empty message to end it, then reset.
        this.socket.write('.\r\n');
        await this.next();
      }
      await this.command('RSET');
      return { ...refused, dataMs: 0 };
    }
    const started = performance.now();
    this.socket.write(payload);
    const reply = await this.next();
    return { ...reply, dataMs: performance.now() - started };
  }

  async command(line: string): Promise<Reply> {
    this.socket.write(line + '\r\n');
    return this.next();
  }

  async quit(): Promise<void> {
    await this.command('QUIT').catch(() => undefined);
    this.close();
  }

  close(): void {
    this.socket.destroy();
  }

  private next(): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.lost) return Promise.reject(this.lost);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private onData(d: Buffer): void {
    this.buffer += d.toString('latin1');
    // A reply ends with a line "NNN text": a space (or nothing) after the code, RFC 5321 §4.2.1.
    for (;;) {
      const m = /(?:^|\r\n)(\d{3})(?: [^\r\n]*)?\r\n/.exec(this.buffer);
      if (!m) return;
      const end = m.index + m[0].length;
      const reply = { code: Number(m[1]), text: this.buffer.slice(0, end).replace(/^\r\n/, '').trimEnd() };
      this.buffer = this.buffer.slice(end);
      const w = this.waiters.shift();
      if (w) w.resolve(reply);
      else this.replies.push(reply);
    }
  }
}

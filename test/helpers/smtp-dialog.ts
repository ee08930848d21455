// A line-level SMTP client for tests that must see each reply code: sends commands one by one and collects replies.
import net from 'node:net';

export interface SmtpDialog {
  /** Sends a line (CRLF added) and resolves with the complete (possibly multi-line) reply. */
  send(line: string): Promise<string>;
  /** Sends raw bytes (a message body ending in CRLF.CRLF) and resolves with the reply. */
  sendRaw(data: Buffer | string): Promise<string>;
  greeting: string;
  close(): void;
}

/** localAddress: the client's own address (any of 127/8 on Linux), to speak as another client host. */
export async function openDialog(port: number, host = '127.0.0.1', localAddress?: string): Promise<SmtpDialog> {
  const socket = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
  let buffer = '';
  let waiting: ((reply: string) => void) | null = null;
  const queue: string[] = [];
  socket.on('data', (d: Buffer) => {
    buffer += d.toString('latin1');
    // A reply ends with a line "NNN text" (space after the code), RFC 5321 §4.2.1.
    for (;;) {
      const m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffer);
      if (!m) break;
      const end = m.index + m[0].length;
      const reply = buffer.slice(0, end).replace(/^\r\n/, '');
      buffer = buffer.slice(end);
      if (waiting) {
        const w = waiting;
        waiting = null;
        w(reply.trimEnd());
      } else queue.push(reply.trimEnd());
    }
  });
  socket.on('error', () => {});
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const q = queue.shift();
      if (q !== undefined) return resolve(q);
      const timer = setTimeout(() => reject(new Error('no SMTP reply in 15 s')), 15_000);
      waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      socket.once('close', () => resolve(queue.shift() ?? '(closed)'));
    });
  const greeting = await next();
  return {
    greeting,
    send: (line) => {
      socket.write(line + '\r\n');
      return next();
    },
    sendRaw: (data) => {
      socket.write(data);
      return next();
    },
    close: () => socket.destroy(),
  };
}

/** Runs a whole transaction; returns the reply to each step (stops at the first refusal). */
export async function sendMessage(
  port: number,
  from: string,
  to: string[],
  message: Buffer | string,
  localAddress?: string,
): Promise<{ replies: string[]; final: string }> {
  const d = await openDialog(port, '127.0.0.1', localAddress);
  const replies = [await d.send('EHLO test.example.org'), await d.send(`MAIL FROM:<${from}>`)];
  for (const r of to) replies.push(await d.send(`RCPT TO:<${r}>`));
  replies.push(await d.send('DATA'));
  const body = Buffer.isBuffer(message) ? message : Buffer.from(message, 'utf8');
  const stuffed = body.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
  const final = await d.sendRaw(Buffer.from(stuffed + (stuffed.endsWith('\r\n') ? '' : '\r\n') + '.\r\n', 'latin1'));
  replies.push(final);
  await d.send('QUIT').catch(() => '');
  d.close();
  return { replies, final };
}

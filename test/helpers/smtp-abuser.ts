// An abusive SMTP client for tests and benchmarks: holds a connection with NOOP, or trickles bytes one a second.
import net from 'node:net';
import { DEMO } from './dirs.js';

export type Kind = 'noop' | 'trickle-command' | 'trickle-data';

/** One abusive connection: what it was answered first, and how (and when) the server ended it. */
export interface Abuse {
  kind: Kind;
  first: Promise<string>;
  ended: Promise<{ last: string; afterGreetingMs: number | null }>;
  stop(): void;
}

/**
 * Opens a connection from `from` and, once greeted, misbehaves: NOOP every 300 ms; or "NOOP\r\n" one byte a second;
 * or a transaction whose message comes one byte a second. Every byte resets smtp-server's idle timeout.
 */
export function abuse(port: number, from: string, kind: Kind): Abuse {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
  let text = '';
  let greetedAt: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  let resolveFirst: (line: string) => void = () => {};
  const first = new Promise<string>((r) => (resolveFirst = r));
  const every = (ms: number, fn: () => void) => {
    timer = setInterval(() => {
      if (!socket.destroyed) fn();
    }, ms);
  };
  socket.on('error', () => {});
  socket.on('data', (d: Buffer) => {
    const before = text;
    text += d.toString('latin1');
    if (before.includes('\r\n') || !text.includes('\r\n')) return;
    const line = text.slice(0, text.indexOf('\r\n'));
    resolveFirst(line);
    if (!line.startsWith('220 ')) return;
    greetedAt = Date.now();
    if (kind === 'noop') {
      socket.write('EHLO noop.example\r\n');
      every(300, () => socket.write('NOOP\r\n'));
    } else if (kind === 'trickle-command') {
      const bytes = Buffer.from('NOOP\r\n');
      let i = 0;
      every(1000, () => socket.write(bytes.subarray(i % bytes.length, (i++ % bytes.length) + 1)));
    } else {
      socket.write(`EHLO slow.example\r\nMAIL FROM:<slow@example.net>\r\nRCPT TO:<${DEMO.list}>\r\n`);
      setTimeout(() => {
        socket.write('DATA\r\n');
        every(1000, () => socket.write('x'));
      }, 200);
    }
  });
  const ended = new Promise<{ last: string; afterGreetingMs: number | null }>((resolve) =>
    socket.on('close', () => {
      if (timer) clearInterval(timer);
      resolveFirst('(closed)');
      const lines = text.split('\r\n').filter(Boolean);
      resolve({ last: lines.at(-1) ?? '(none)', afterGreetingMs: greetedAt === null ? null : Date.now() - greetedAt });
    }),
  );
  return {
    kind,
    first,
    ended,
    stop: () => {
      if (timer) clearInterval(timer);
      socket.destroy();
    },
  };
}


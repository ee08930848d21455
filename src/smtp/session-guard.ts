// One SMTP session's clock and manners: time without a delivery, DATA time and rate, message data sent out of turn.
import { AppError } from '../errors.js';
import { toSmtpError } from './reply-codes.js';

export interface GuardLimits {
  /** Longest a session may go without delivering a message: from connect, or from the reply to its last DATA. */
  commandTimeMs: number;
  /** Longest one DATA phase may take. */
  dataTimeMs: number;
  /** Bytes per second a DATA phase must average; 0 = no minimum. */
  minDataRate: number;
  /** The DATA phase's first allowance before the rate counts (the idle timeout: as long as we wait for one byte). */
  idleTimeoutMs: number;
}

/** The smtp-server connection as the guard uses it: its id, its session, and its reply (a 421 also closes it). */
export interface GuardedConnection {
  id: string;
  session: { envelope?: { mailFrom?: unknown } };
  send(code: number, data?: string): void;
}

export type AbortCode = 'session_timeout' | 'data_timeout' | 'data_too_slow' | 'early_data';

type Phase = 'command' | 'data' | 'reply' | 'closed';

/**
 * The clock runs in two phases. Commands: the session must reach the end of a message within commandTimeMs, NOOP,
 * RSET and bytes trickled one by one do not extend it (each byte resets smtp-server's idle timeout, this does not).
 * DATA: the deadline is idleTimeoutMs plus one second per minDataRate bytes received (Postfix's smtpd_min_data_rate
 * deadline), and never past dataTimeMs. While the server stores a message (after the final dot, before the reply) no
 * clock runs: the client is waiting for us. Past a deadline the session is closed with 421 4.4.2.
 */
export class SessionGuard {
  private phase: Phase = 'command';
  private phaseStart = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private dataBytes = 0;
  /** Chunks of input that have arrived; counted before smtp-server's parser sees them. */
  private arrivals = 0;
  /** After a refused DATA: the arrival count at that moment, to tell a line already sent from one sent after the reply. */
  private refusedDataAt: number | null = null;

  constructor(
    private readonly conn: GuardedConnection,
    private readonly limits: GuardLimits,
    private readonly onAbort: (code: AbortCode, message: string) => void,
  ) {
    this.arm(this.phaseStart + limits.commandTimeMs);
  }

  /** A chunk of input arrived on the connection's socket. */
  arrived(): void {
    this.arrivals++;
  }

  /**
   * Called before smtp-server runs a command line; false when the line must not run (the session is closed). A line
   * that arrived together with a DATA that was refused is message data sent before the reply (RFC 2920 §3.1: DATA
   * ends a group; RFC 5321 §3.3: no data without a 354), and a header field inside a transaction is message content
   * sent without DATA: read as commands, such bytes would run as commands (or make the client wait for a reply to a
   * message we never saw until the idle timeout), so the session is closed with 421 4.5.0 instead.
   */
  beforeCommand(line: Buffer): boolean {
    if (this.phase === 'closed') return false;
    const refusedAt = this.refusedDataAt;
    this.refusedDataAt = null;
    if (refusedAt !== null && refusedAt === this.arrivals) {
      this.abort('early_data', 'Message data sent before a 354 reply to DATA, closing connection');
      return false;
    }
    if (this.conn.session.envelope?.mailFrom && isHeaderField(line)) {
      this.abort('early_data', 'Message content sent without DATA, closing connection');
      return false;
    }
    return true;
  }

  /** Called after smtp-server ran a command line: a DATA that did not start the data phase was refused. */
  afterCommand(line: Buffer): void {
    if (this.phase !== 'data' && commandName(line) === 'DATA') this.refusedDataAt = this.arrivals;
  }

  /** The 354 went out: the data clock starts. */
  dataStarted(): void {
    this.enter('data');
    this.dataBytes = 0;
    this.arm(this.phaseStart + this.dataDeadline());
  }

  dataReceived(bytes: number): void {
    this.dataBytes += bytes;
  }

  /** The final dot arrived: the server decides now, no clock runs. */
  dataEnded(): void {
    this.enter('reply');
  }

  /** The reply to the message went out: the next message's time starts. */
  replied(): void {
    if (this.phase === 'closed') return;
    this.enter('command');
    this.arm(this.phaseStart + this.limits.commandTimeMs);
  }

  /** The connection closed: no more timers. */
  stop(): void {
    this.enter('closed');
  }

  private enter(phase: Phase): void {
    if (this.phase === 'closed') return;
    this.phase = phase;
    this.phaseStart = Date.now();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private dataDeadline(): number {
    const { dataTimeMs, minDataRate, idleTimeoutMs } = this.limits;
    if (minDataRate <= 0) return dataTimeMs;
    return Math.min(dataTimeMs, idleTimeoutMs + (this.dataBytes * 1000) / minDataRate);
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private check(): void {
    this.timer = null;
    const elapsed = Date.now() - this.phaseStart;
    if (this.phase === 'command') {
      if (elapsed < this.limits.commandTimeMs) return this.arm(this.phaseStart + this.limits.commandTimeMs);
      return this.abort('session_timeout', `Timeout: no message delivered within ${seconds(this.limits.commandTimeMs)}, closing connection`);
    }
    if (this.phase !== 'data') return;
    const deadline = this.dataDeadline();
    if (elapsed < deadline) return this.arm(this.phaseStart + deadline);
    if (deadline >= this.limits.dataTimeMs) {
      return this.abort('data_timeout', `Timeout: message data took longer than ${seconds(this.limits.dataTimeMs)}, closing connection`);
    }
    this.abort('data_too_slow', `Message data slower than ${this.limits.minDataRate} bytes/s, closing connection`);
  }

  private abort(code: AbortCode, message: string): void {
    this.enter('closed');
    const err = toSmtpError(new AppError(code === 'early_data' ? 'invalid' : 'unavailable', code, message));
    this.onAbort(code, message);
    this.conn.send(err.responseCode, err.message); // a 421: smtp-server closes the connection after writing it
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** The command word as smtp-server reads it: up to the first space, upper-cased. */
function commandName(line: Buffer): string {
  const space = line.indexOf(0x20);
  return line.subarray(0, space < 0 ? Math.min(line.length, 16) : Math.min(space, 16)).toString('latin1').toUpperCase();
}

/**
 * Whether the line starts like a header field (RFC 5322 §2.2: printable characters but colon, then a colon), which no
 * SMTP command does: "MAIL FROM:" and "RCPT TO:" have a space before their colon.
 */
function isHeaderField(line: Buffer): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === 0x3a) return i > 0;
    if (c < 0x21 || c > 0x7e) return false;
  }
  return false;
}

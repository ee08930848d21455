// The outbound journal: a line per copy that left, written the moment the smarthost took it, before the database knows.
import fs from 'node:fs';

export type Departure = 'sent' | 'kept';

/**
 * Why: the database records a sent copy only when its connection is free, and during a burst processing holds it for
 * tens or hundreds of milliseconds; a crash in that window left the copy 'queued' and the next start sent it again.
 * A line appended with write(2) is in the kernel the moment the call returns, so it survives the process being
 * killed (not a power cut: no fsync, which would stall the sender once per copy). The smarthost sender's thread
 * writes the lines of sent copies (outbound-sender.ts), this thread those of copies kept in the outbox. At start the
 * lines are folded into the database before anything is sent. What remains possible is RFC 1047's window: the
 * smarthost has the copy but its 250 has not reached us; such a copy is sent again, as by any MTA.
 */
export class OutboundJournal {
  private fd: number | null = null;
  private written = false;
  /** On record here, not yet committed in the database. */
  private readonly pending = new Map<number, Departure>();

  constructor(readonly file: string) {}

  /** What a previous run wrote; a line cut short by the crash is ignored (its copy is sent again). */
  static read(file: string): Map<number, Departure> {
    let text: string;
    try {
      text = fs.readFileSync(file, 'latin1');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw e;
    }
    const out = new Map<number, Departure>();
    for (const line of text.split('\n').slice(0, -1)) {
      const [id, state] = line.split(' ');
      if (/^\d{1,15}$/.test(id ?? '') && (state === 'sent' || state === 'kept')) out.set(Number(id), state);
    }
    return out;
  }

  /** Starts an empty journal (call once what read() returned is in the database). */
  open(): void {
    // O_APPEND: every line goes to the end, also after ftruncate (a plain fd would write at its old offset).
    const { O_WRONLY, O_CREAT, O_TRUNC, O_APPEND } = fs.constants;
    this.fd = fs.openSync(this.file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  /** The copy left: on record before anything else happens. */
  record(id: number, state: Departure): void {
    if (this.fd === null) throw new Error('outbound journal is not open');
    fs.writeSync(this.fd, `${id} ${state}\n`);
    this.noted(id, state);
  }

  /** Another thread wrote the copy's line (the smarthost sender). */
  noted(id: number, state: Departure): void {
    this.written = true;
    this.pending.set(id, state);
  }

  /** The database has it now. */
  committed(id: number): void {
    this.pending.delete(id);
  }

  /** Left already, but not yet committed: its row must be finished, never sent again. */
  departed(id: number): Departure | undefined {
    return this.pending.get(id);
  }

  /**
   * Empties the file once the database has every line. The caller says nothing is being sent (no other thread is
   * about to write a line), so nothing on record can be lost.
   */
  settle(): void {
    if (this.fd === null || this.pending.size || !this.written) return;
    fs.ftruncateSync(this.fd, 0);
    this.written = false;
  }
}

// The outbound journal: a line per copy that left, written the moment the smarthost took it, before the database knows.
import fs from 'node:fs';

export type Departure = 'sent' | 'kept';

/** Past this size the journal is rewritten with only the lines the database does not have yet. */
const COMPACT_BYTES = 1024 * 1024;

/**
 * Why: the database records a sent copy only when its connection is free, and during a burst processing holds it for
 * tens or hundreds of milliseconds; a crash in that window left the copy 'queued' and the next start sent it again.
 * A line appended with write(2) is in the kernel the moment the call returns, so it survives the process being
 * killed (not a power cut: no fsync, which would stall the event loop once per copy). At start the lines are folded
 * into the database before anything is sent. What remains possible is RFC 1047's window: the smarthost has the copy
 * but its 250 has not reached us; such a copy is sent again, as any MTA would.
 */
export class OutboundJournal {
  private fd: number | null = null;
  private size = 0;
  /** Written here, not yet committed in the database. */
  private readonly pending = new Map<number, Departure>();

  constructor(private readonly file: string) {}

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
    this.size = 0;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  /** The copy left: on record before anything else happens. */
  record(id: number, state: Departure): void {
    if (this.fd === null) throw new Error('outbound journal is not open');
    const line = `${id} ${state}\n`;
    fs.writeSync(this.fd, line);
    this.size += line.length;
    this.pending.set(id, state);
  }

  /** The database has it now. */
  committed(id: number): void {
    this.pending.delete(id);
    if (this.fd === null || this.size === 0) return;
    if (this.pending.size === 0) {
      fs.ftruncateSync(this.fd, 0);
      this.size = 0;
    } else if (this.size > COMPACT_BYTES) {
      this.compact();
    }
  }

  /** Left already, but not yet committed: its row must be finished, never sent again. */
  departed(id: number): Departure | undefined {
    return this.pending.get(id);
  }

  /** Rewrites the journal with the pending lines only; the rename replaces it whole, so a crash leaves one or the other. */
  private compact(): void {
    const text = [...this.pending].map(([id, state]) => `${id} ${state}\n`).join('');
    fs.writeFileSync(`${this.file}.tmp`, text);
    fs.renameSync(`${this.file}.tmp`, this.file);
    fs.closeSync(this.fd!);
    this.fd = fs.openSync(this.file, 'a');
    this.size = text.length;
  }
}

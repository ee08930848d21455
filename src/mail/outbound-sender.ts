// The smarthost sender: a worker thread that keeps the pooled SMTP connections and journals each copy on its 250.
import { Worker } from 'node:worker_threads';

export interface SenderSettings {
  host: string;
  port: number;
  /** Our name in EHLO. */
  hostname: string;
  /** Connections to the smarthost at once. */
  concurrency: number;
  /** The outbound journal (outbound-journal.ts), opened by the main thread first. */
  journal: string;
}

export interface SendRequest {
  id: number;
  envelope: { from: string; to: string[] };
  raw: Uint8Array;
}

export interface SendError {
  responseCode?: number;
  response?: string;
  code?: string;
  message?: string;
}

export type SendReply = { id: number; ok: true } | { id: number; ok: false; error: SendError };

/**
 * Why a thread: the copy is on record only once its journal line is written, and the main thread can be busy for
 * tens of milliseconds at a time (an fsync on commit, a processing batch), during which a 250 already in our socket
 * waits unread; a crash then sends the copy again. The worker's event loop only sends mail, so it reads the 250 and
 * writes the line at once. The main thread still owns the database: it learns each result by message.
 */
export class SmarthostSender {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, { resolve: (r: SendReply) => void }>();

  constructor(private readonly settings: SenderSettings) {}

  /** Starts the thread now, so that the first copy does not wait for it to load (it is restarted if it dies). */
  start(): void {
    this.worker ??= this.spawn();
  }

  /** Sends one copy; resolves with the outcome (never rejects: a dead worker is a transient failure). */
  send(id: number, envelope: { from: string; to: string[] }, raw: Buffer): Promise<SendReply> {
    const worker = (this.worker ??= this.spawn());
    return new Promise<SendReply>((resolve) => {
      this.waiting.set(id, { resolve });
      worker.postMessage({ id, envelope, raw } satisfies SendRequest);
    });
  }

  /** Closes the smarthost connections and ends the thread (after the sends under way: the caller waits for them). */
  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' });
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  private spawn(): Worker {
    // The sources are TypeScript: the thread registers tsx before loading its entry, as bin/patchbay.js does.
    const entry = new URL('./outbound-sender.worker.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const worker = new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, {
      eval: true,
      workerData: this.settings,
    });
    worker.on('message', (r: SendReply) => {
      const w = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      w?.resolve(r);
    });
    const lost = (why: string) => {
      if (this.worker === worker) this.worker = null;
      for (const [id, w] of this.waiting) w.resolve({ id, ok: false, error: { code: 'ESENDER', message: why } });
      this.waiting.clear();
    };
    worker.on('error', (err) => lost(`sender thread failed: ${err.message}`));
    worker.on('exit', (code) => lost(`sender thread exited (${code})`));
    return worker;
  }
}

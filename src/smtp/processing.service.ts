// Processing: reads stored mail back from the database, parses it, and hands it to the handler for its route, in order.
import type { Db, DbOrTx } from '../db/database.js';
import { nowIso } from '../db/database.js';
import { deferWrite, withDeferredWrites } from '../db/deferred-writes.js';
import { getMails, idsInState, mailStates, recordOutcomes } from '../db/mail.repository.js';
import type { MailRoute, MailRow, MailState } from '../db/schema.js';
import type { Logger } from '../log.js';
import { parseMessage, type ParsedMessage } from '../mail/parse.js';
import type { Parse } from '../mail/parser-pool.js';

export interface Outcome {
  state: MailState;
  reason: string | null;
}

/** A route's handler writes what the mail means inside the processing transaction and says what became of it. */
export interface RouteHandler {
  handle(tx: DbOrTx, mail: MailRow, parsed: ParsedMessage): Promise<Outcome>;
}

/**
 * Mail imported from an archive (`patchbay import`) is history: a list post is filed into the series engine like any
 * accepted post, but never relayed to subscribers, held for moderation, or taken as a -request command or a bounce,
 * whichever process (the import, or a server resuming an interrupted import at start) processes it.
 */
export function createBackfillHandler(file: (tx: DbOrTx, mail: MailRow, parsed: ParsedMessage) => Promise<unknown>): RouteHandler {
  return {
    async handle(tx, mail, parsed) {
      if (mail.route === 'list') await file(tx, mail, parsed);
      return { state: 'processed', reason: 'imported' };
    },
  };
}

export interface ProcessingOptions {
  /** Handles every mail whose source is 'import', whatever its route (createBackfillHandler). */
  backfill: RouteHandler;
  /** How mail is parsed: in worker threads (parser-pool.ts) or on this thread (the default). */
  parse?: Parse;
  /** Mails per transaction; BATCH_SIZE unless told (an import, with no SMTP client waiting, files more at once). */
  batchSize?: number;
  /** Told about every id taken from the queue: its new state, or null if it was not processed now (error: it failed). */
  onProcessed?: (id: number, state: MailState | null, error?: unknown) => void;
}

/**
 * Mails filed per transaction. One commit (one fsync) serves the batch; intake shares the one connection, so a batch
 * also bounds how long a 250 can wait behind processing (about a millisecond of SQL per mail).
 */
export const BATCH_SIZE = 32;

interface Loaded {
  ids: number[];
  mails: MailRow[];
  parsed: Promise<ParsedMessage[]>;
}

export class ProcessingService {
  private queue: number[] = [];
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly handlers: Record<MailRoute, RouteHandler>,
    private readonly log: Logger,
    /** Called after each commit, to wake whatever the handlers queued (outbound mail, later the pipeline). */
    private readonly afterCommit: () => void,
    private readonly options: ProcessingOptions,
  ) {}

  enqueue(ids: number[]): void {
    if (this.stopped) return; // left in state 'stored': the next start resumes them
    this.queue.push(...ids);
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
  }

  /** At start: every message stored but not processed (a crash between 250 and processing) is processed now. */
  async resume(): Promise<number> {
    const ids = await idsInState(this.db, 'stored', Number.MAX_SAFE_INTEGER);
    if (ids.length) this.log.info({ count: ids.length }, 'resuming stored mail');
    this.enqueue(ids);
    return ids.length;
  }

  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue = [];
    await this.drain();
  }

  private async run(): Promise<void> {
    // Pipelined: the next batch is read and handed to the parser before this one is filed, so that parsing (in
    // worker threads) overlaps the database work of the main thread.
    // Mail enqueued while a batch is filed is picked up by the loop's own check of the queue.
    const size = this.options.batchSize ?? BATCH_SIZE;
    let next: Loaded | null = null;
    while (next || this.queue.length) {
      const current: Loaded = next ?? (await this.load(this.queue.splice(0, size)));
      next = this.queue.length ? await this.load(this.queue.splice(0, size)) : null;
      for (const [id, result] of await this.fileBatch(current)) {
        if (result.error !== undefined) this.log.error({ err: result.error, mailId: id }, 'processing failed');
        this.options.onProcessed?.(id, result.state, result.error);
      }
    }
  }

  /** Processes one stored mail; returns its new state, or null when it was not (or no longer) in state 'stored'. */
  async processOne(id: number): Promise<MailState | null> {
    const result = (await this.fileBatch(await this.load([id]))).get(id)!;
    if (result.error !== undefined) throw result.error;
    return result.state;
  }

  /** Reads the rows now and starts parsing them; the parse is awaited when the batch is filed. */
  private async load(ids: number[]): Promise<Loaded> {
    const mails = (await getMails(this.db, ids)).filter((m) => m.state === 'stored');
    const raws = mails.map((m) => m.raw);
    const parsed = this.options.parse ? this.options.parse(raws) : Promise.all(raws.map(parseMessage));
    parsed.catch(() => {}); // awaited in fileBatch; this only keeps an early failure from being reported as unhandled
    return { ids, mails, parsed };
  }

  /**
   * Files the batch in one transaction: one fsync for all of it. Should that transaction fail, each mail is tried
   * alone, so one bad mail holds back no other; a mail that still fails stays 'stored' and is retried at the next
   * start, and the server keeps serving.
   */
  private async fileBatch(batch: Loaded): Promise<Map<number, { state: MailState | null; error?: unknown }>> {
    const results = new Map<number, { state: MailState | null; error?: unknown }>(batch.ids.map((id) => [id, { state: null }]));
    if (!batch.mails.length) return results;
    let parsed: ParsedMessage[];
    try {
      parsed = await batch.parsed;
    } catch (error) {
      for (const m of batch.mails) results.set(m.id, { state: null, error });
      return results;
    }
    const items = batch.mails.map((mail, i) => ({ mail, parsed: parsed[i]! }));
    try {
      const states = await this.db.transaction().execute((tx) =>
        // Rows every mail adds to the same tables (the archive's index, events, outcomes) go in at the batch's end.
        withDeferredWrites(tx, async () => {
          // Another process (an import beside the server) may have processed some meanwhile; transactions are serialized.
          const current = await mailStates(tx, items.map((i) => i.mail.id));
          const out: (MailState | null)[] = [];
          for (const item of items) out.push(current.get(item.mail.id) === 'stored' ? await this.apply(tx, item.mail, item.parsed) : null);
          return out;
        }),
      );
      items.forEach((item, i) => results.set(item.mail.id, { state: states[i]! }));
    } catch {
      for (const item of items) {
        try {
          const state = await this.db.transaction().execute((tx) =>
            withDeferredWrites(tx, async () => ((await mailStates(tx, [item.mail.id])).get(item.mail.id) === 'stored' ? this.apply(tx, item.mail, item.parsed) : null)),
          );
          results.set(item.mail.id, { state });
        } catch (error) {
          results.set(item.mail.id, { state: null, error });
        }
      }
    }
    if ([...results.values()].some((r) => r.state !== null)) this.afterCommit();
    return results;
  }

  private async apply(tx: DbOrTx, mail: MailRow, parsed: ParsedMessage): Promise<MailState | null> {
    const handler = mail.source === 'import' ? this.options.backfill : this.handlers[mail.route];
    const outcome: Outcome = parsed.fatal
      ? { state: 'malformed', reason: parsed.defects.filter((d) => d !== 'missing-date').join(',') }
      : await handler.handle(tx, mail, parsed);
    // Written with the rest of the batch's outcomes, in one statement at its end.
    await deferWrite(tx, recordOutcomes, {
      id: mail.id,
      ...outcome,
      defects: parsed.defects,
      fromAddr: parsed.from?.address ?? null,
      subject: parsed.subject,
      date: parsed.date,
      processedAt: nowIso(),
    });
    this.log.debug({ mailId: mail.id, route: mail.route }, 'processed');
    return outcome.state;
  }
}

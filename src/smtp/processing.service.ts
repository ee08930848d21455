// Processing: reads stored mail back (in the mail reader's workers), hands each to the handler for its route, in
// order; counts every attempt before it starts and quarantines a mail whose attempts all fail.
import type { Db, DbOrTx } from '../db/database.js';
import { nowIso, transactionWithoutSync } from '../db/database.js';
import { deferWrite, withDeferredWrites } from '../db/deferred-writes.js';
import { bumpAttempts, mailsForProcessing, recordAttemptError, unbumpAttempt, type MailForProcessing } from '../db/mail-attempts.repository.js';
import { idsInState, mailStates, recordOutcomes, type MailOutcome } from '../db/mail.repository.js';
import type { MailRoute, MailRow, MailState } from '../db/schema.js';
import type { Logger } from '../log.js';
import type { ParsedMessage } from '../mail/parse.js';
import { BUSY_BATCH_SIZE, type IntakeFirst } from './intake-first.js';
import { errorText, readInThread, type ReadMail, type ReadMails, type ReadOutcome } from './mail-reading.js';

export interface Outcome {
  state: MailState;
  reason: string | null;
}

/** A route's handler writes what the mail means inside the processing transaction and says what became of it. */
export interface RouteHandler {
  handle(tx: DbOrTx, mail: MailRow, read: ReadMail): Promise<Outcome>;
}

/**
 * Mail imported from an archive (`patchbay import`) is history: a list post is filed into the series engine like any
 * accepted post, but never relayed to subscribers, held for moderation, or taken as a -request command or a bounce,
 * whichever process (the import, or a server resuming an interrupted import at start) processes it.
 */
export function createBackfillHandler(file: (tx: DbOrTx, mail: MailRow, read: ReadMail) => Promise<unknown>): RouteHandler {
  return {
    async handle(tx, mail, read) {
      if (mail.route === 'list') await file(tx, mail, read);
      return { state: 'processed', reason: 'imported' };
    },
  };
}

/**
 * Attempts per mail before it is quarantined. An attempt is counted (committed) before it starts, so one that the
 * process does not survive counts too: a mail that kills the server is quarantined at its third start, and no
 * restart loops on it. Three, so that a mail caught in an unrelated crash or a passing failure (SQLITE_BUSY beside
 * an import) still goes through on a later try.
 */
export const MAX_ATTEMPTS = 3;

/** Delay before a failed attempt is retried, doubled after each (1 s, 2 s …), at most a minute. */
export const RETRY_DELAY_MS = 1000;

export interface ProcessingOptions {
  /** Handles every mail whose source is 'import', whatever its route (createBackfillHandler). */
  backfill: RouteHandler;
  /** Each project's slug by id: a patch's name drops subject prefixes naming its project. */
  slugs: ReadonlyMap<number, string>;
  /** How mail is read: the mail reader's worker threads with a time budget (mail-reader.ts), or this thread. */
  read?: ReadMails;
  /** Mails per transaction; BATCH_SIZE unless told (an import, with no SMTP client waiting, files more at once). */
  batchSize?: number;
  /** MAX_ATTEMPTS unless told. */
  maxAttempts?: number;
  /** RETRY_DELAY_MS unless told. */
  retryDelayMs?: number;
  /**
   * The server's SMTP intake, which goes first: while it is busy, batches are smaller and filing keeps to its share
   * of the time (intake-first.ts), so acknowledging mail never waits for processing to keep up. None for an import.
   */
  intakeFirst?: IntakeFirst;
  /**
   * Told once about every id taken from the queue: its final state ('quarantined' with the error), or null when it
   * was not (or no longer) in state 'stored', or could not be read for a reason not its own (error: why).
   */
  onProcessed?: (id: number, state: MailState | null, error?: unknown) => void;
}

/**
 * Mails filed per transaction. One commit (one fsync) serves the batch; intake shares the one connection, so a batch
 * also bounds how long a 250 can wait behind processing (about a millisecond of SQL per mail).
 */
export const BATCH_SIZE = 32;

interface Loaded {
  /** Every id taken from the queue for this batch, stored or not. */
  ids: number[];
  /** The ones in state 'stored', each with the attempts started on it before this one. */
  mails: MailForProcessing[];
  /** A batch of one mail attempted before: nothing else is counted or read while it is. */
  alone: boolean;
  /** Mails whose attempts were all used up before this batch: not attempted again, quarantined. */
  usedUp: Set<number>;
  /** One outcome per mail, in order (null for a mail whose attempts are used up: it is not read again); set once
   *  reading starts, which is only after the attempt is counted. */
  reads: Promise<(ReadOutcome | null)[]> | null;
  /** This attempt is counted (committed). */
  counted: boolean;
  /** Reading the rows failed (the database): the batch's mails stay stored for the next start. */
  error?: unknown;
}

/** What became of one mail in a batch: a final state, 'stored' when its attempt failed and it will be retried. */
interface Result {
  state: MailState | null;
  error?: unknown;
}

export class ProcessingService {
  private queue: number[] = [];
  /** Mails attempted before without an outcome (a crash, a failed attempt): each is filed in a batch of its own. */
  private alone: MailForProcessing[] = [];
  /** Batches counted and being read, oldest first. */
  private inflight: Loaded[] = [];
  private retries = new Map<number, NodeJS.Timeout>();
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly maxAttempts: number;
  /** The last filing transaction: how long it took and when it ended (performance.now()), for intakeFirst's pause. */
  private lastFiling = { spentMs: 0, endedAt: 0 };

  constructor(
    private readonly db: Db,
    private readonly handlers: Record<MailRoute, RouteHandler>,
    private readonly log: Logger,
    /** Called after each commit, to wake whatever the handlers queued (outbound mail, later the pipeline). */
    private readonly afterCommit: () => void,
    private readonly options: ProcessingOptions,
  ) {
    this.maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS;
  }

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

  /** Resolves once the queue is empty and no failed attempt waits for its retry. */
  async drain(): Promise<void> {
    for (;;) {
      if (this.running) await this.running;
      else if (this.retries.size) await new Promise((r) => setTimeout(r, 20));
      else return;
    }
  }

  /** Stops taking mail; what is left (queued, waiting for a retry) stays 'stored' for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue = [];
    this.alone = [];
    for (const t of this.retries.values()) clearTimeout(t);
    this.retries.clear();
    // Batches already counted and being read are filed: a graceful stop leaves no attempt without an outcome.
    while (this.running) await this.running;
  }

  /** Processes one stored mail now, whatever the queue holds (an admin's retry); returns its state afterwards. */
  async processOne(id: number): Promise<MailState | null> {
    const mails = (await mailsForProcessing(this.db, [id])).filter((m) => m.state === 'stored');
    const batch = this.batch([id], mails, true);
    await this.count([batch]);
    const result = (await this.fileBatch(batch, null)).get(id)!;
    if (result.state === null && result.error !== undefined) throw result.error;
    return result.state;
  }

  /**
   * Pipelined: while one batch is filed on this thread, the next is read in the reader's workers. A mail is read
   * only once its attempt is counted, since reading is where an unforeseen mail may take the process down (a worker
   * past its heap limit can): so each filing transaction also counts the batch that will be read after it, and two
   * batches are counted ahead when the loop starts. Mail enqueued meanwhile is picked up by the loop's own checks.
   */
  private async run(): Promise<void> {
    for (;;) {
      if (!this.inflight.length) {
        const ahead = [await this.take()].filter((b): b is Loaded => b !== null);
        if (ahead[0] && !ahead[0].alone) {
          const second = await this.take(false);
          if (second) ahead.push(second);
        }
        if (!ahead.length) return;
        await this.countAndRead(ahead);
      }
      const current = this.inflight.shift()!;
      await this.giveWay();
      // A mail attempted before is filed with nothing else counted or in flight beside it.
      const more = current.alone ? null : await this.take(false);
      let results: Map<number, Result>;
      try {
        results = await this.fileBatch(current, more);
      } catch (error) {
        // The database failed outside any one mail's transaction: the mails stay stored for the next start.
        this.log.error({ err: error, mailIds: current.ids }, 'processing a batch failed');
        results = new Map(current.ids.map((id) => [id, { state: null, error }]));
      }
      if (more) await this.countAndRead([more]);
      for (const [id, result] of results) {
        if (result.state === 'stored') continue; // retried later: told when it ends
        if (result.error !== undefined && result.state === null) this.log.error({ err: result.error, mailId: id }, 'processing failed');
        this.options.onProcessed?.(id, result.state, result.error);
      }
    }
  }

  /**
   * The next batch, its rows read but its attempt not yet counted. A mail attempted before goes alone, so that a
   * mail which took the process down is charged alone and its neighbours go through at their next try; it is taken
   * only when nothing else is in flight (`alone` false: the caller wants a batch to run beside others).
   */
  private async take(alone = true): Promise<Loaded | null> {
    if (this.stopped && !this.queue.length) return null;
    if (this.alone.length) {
      if (!alone || this.inflight.length) return null;
      const single = this.alone.shift()!;
      return this.batch([single.id], [single], true);
    }
    if (!this.queue.length) return null;
    const size = this.options.batchSize ?? BATCH_SIZE;
    const ids = this.queue.splice(0, this.options.intakeFirst?.busy() ? Math.min(size, BUSY_BATCH_SIZE) : size);
    let rows: MailForProcessing[];
    try {
      rows = (await mailsForProcessing(this.db, ids)).filter((m) => m.state === 'stored');
    } catch (error) {
      return { ...this.batch(ids, [], false), reads: Promise.resolve([]), counted: true, error };
    }
    const attempted = new Set(rows.filter((m) => m.attempts > 0).map((m) => m.id));
    for (const m of rows) if (attempted.has(m.id)) this.alone.push(m);
    return this.batch(
      ids.filter((id) => !attempted.has(id)),
      rows.filter((m) => !attempted.has(m.id)),
      false,
    );
  }

  private batch(ids: number[], mails: MailForProcessing[], alone: boolean): Loaded {
    const usedUp = new Set(mails.filter((m) => m.attempts >= this.maxAttempts).map((m) => m.id));
    return { ids, mails, alone, usedUp, reads: null, counted: false };
  }

  /** Counts the batches' attempts (in a commit of their own unless a filing counted them) and starts reading them. */
  private async countAndRead(batches: Loaded[]): Promise<void> {
    try {
      await this.count(batches.filter((b) => !b.counted));
    } catch (error) {
      // Not counted, so not read: the mails stay stored for the next start.
      for (const b of batches) if (!b.counted) Object.assign(b, { counted: true, mails: [], error });
    }
    for (const b of batches) {
      this.read(b);
      this.inflight.push(b);
    }
  }

  /** Starts reading the batch's mails (in the reader's workers); the outcomes are awaited when it is filed. */
  private read(batch: Loaded): void {
    if (batch.reads) return;
    const toRead = batch.mails.filter((m) => !batch.usedUp.has(m.id));
    const read = this.options.read ?? readInThread;
    const jobs = toRead.map((m) => ({ raw: m.raw, route: m.route, projectSlug: this.options.slugs.get(m.project_id) ?? '', msgid: m.msgid, receivedAt: m.received_at }));
    batch.reads = read(jobs).then((outcomes) => {
      const byId = new Map(toRead.map((m, i) => [m.id, outcomes[i]!]));
      return batch.mails.map((m) => byId.get(m.id) ?? null);
    });
    batch.reads.catch(() => {}); // awaited in fileBatch; this only keeps an early failure from being reported as unhandled
  }

  /**
   * Files the batch in one transaction: one fsync for all of it. Should that transaction fail, each mail is tried
   * alone, so one bad mail holds back no other. A mail whose reading or filing failed is retried after a delay, and
   * quarantined once its attempts are used up. `more`'s attempt is counted in the same commit.
   */
  private async fileBatch(batch: Loaded, more: Loaded | null): Promise<Map<number, Result>> {
    const results = new Map<number, Result>(batch.ids.map((id) => [id, { state: null, ...(batch.error === undefined ? {} : { error: batch.error }) }]));
    const bumpMore = more && !more.counted && more.mails.length ? more : null;
    if (!batch.mails.length) {
      // Nothing to file: the next batch is counted in a commit of its own (countAndRead).
      return results;
    }
    this.read(batch);
    const reads = await batch.reads!;
    const items = batch.mails.map((mail, i): { mail: MailForProcessing; outcome: ReadOutcome | 'used-up' } => ({
      mail,
      outcome: batch.usedUp.has(mail.id) ? 'used-up' : (reads[i] ?? { ok: false, failure: 'unavailable', error: 'the mail reader gave no outcome for this mail' }),
    }));
    let filedAny = false;
    const started = performance.now();
    try {
      const states = await this.db.transaction().execute((tx) =>
        // Rows every mail adds to the same tables (the archive's index, events, outcomes) go in at the batch's end.
        withDeferredWrites(tx, async () => {
          // Another process (an import beside the server) may have processed some meanwhile; transactions are serialized.
          const current = await mailStates(tx, batch.mails.map((m) => m.id));
          const out: Result[] = [];
          for (const { mail, outcome } of items) {
            if (current.get(mail.id) !== 'stored') out.push({ state: null });
            else out.push(await this.settle(tx, mail, outcome));
          }
          if (bumpMore) await bumpAttempts(tx, this.attempted(bumpMore), nowIso());
          return out;
        }),
      );
      if (bumpMore) this.counted(bumpMore);
      items.forEach((item, i) => results.set(item.mail.id, states[i]!));
    } catch {
      for (const { mail, outcome } of items) {
        try {
          const result = await this.db.transaction().execute((tx) =>
            withDeferredWrites(tx, async () => ((await mailStates(tx, [mail.id])).get(mail.id) === 'stored' ? this.settle(tx, mail, outcome) : { state: null })),
          );
          results.set(mail.id, result);
        } catch (error) {
          results.set(mail.id, await this.failed(mail, outcome !== 'used-up' && outcome.ok ? outcome.mail : null, errorText(error)));
        }
      }
    }
    const ended = performance.now();
    this.lastFiling = { spentMs: ended - started, endedAt: ended };
    for (const [id, r] of results) {
      if (r.state === 'stored') this.retryLater(id, batch.mails.find((m) => m.id === id)!.attempts);
      else if (r.state !== null) filedAny = true;
    }
    if (filedAny) this.afterCommit();
    return results;
  }

  /** While SMTP intake is busy, waits out the pause that keeps filing to its share of the time (none when it is quiet). */
  private async giveWay(): Promise<void> {
    const first = this.options.intakeFirst;
    if (!first) return;
    for (let ms = first.pauseMs(this.lastFiling.spentMs, this.lastFiling.endedAt); ms > 0 && !this.stopped; ms = first.pauseMs(this.lastFiling.spentMs, this.lastFiling.endedAt)) {
      await new Promise((r) => setTimeout(r, ms));
    }
  }

  /** The mails whose attempt this batch starts: those not used up. */
  private attempted(batch: Loaded): number[] {
    return batch.mails.filter((m) => !batch.usedUp.has(m.id)).map((m) => m.id);
  }

  private counted(batch: Loaded): void {
    batch.counted = true;
    for (const m of batch.mails) if (!batch.usedUp.has(m.id)) m.attempts++;
  }

  /** Counts the batches' attempts in a commit of their own (when no filing transaction could carry them). */
  private async count(batches: Loaded[]): Promise<void> {
    const ids = batches.flatMap((b) => this.attempted(b));
    // Not fsynced: the count guards against the process dying, and costs no second fsync per batch of mail.
    if (ids.length) await transactionWithoutSync(this.db, (tx) => bumpAttempts(tx, ids, nowIso()));
    for (const b of batches) this.counted(b);
  }

  /** Inside the batch's transaction: files a mail read well, or records why it could not be. */
  private async settle(tx: DbOrTx, mail: MailForProcessing, outcome: ReadOutcome | 'used-up'): Promise<Result> {
    if (outcome === 'used-up') {
      const reason = `processing was interrupted on each of its ${mail.attempts} attempts (the process died or was stopped while reading or filing it)`;
      return this.record(tx, mail, null, reason);
    }
    if (!outcome.ok) {
      if (outcome.failure === 'unavailable') {
        // Not the mail's doing: the attempt is taken back and the mail stays stored for the next start.
        await unbumpAttempt(tx, mail.id);
        return { state: null, error: new Error(outcome.error) };
      }
      return this.record(tx, mail, null, outcome.error);
    }
    return { state: await this.apply(tx, mail, outcome.mail) };
  }

  /** A failed attempt, in the caller's transaction: quarantined once the attempts are used up, else retried later. */
  private async record(tx: DbOrTx, mail: MailForProcessing, read: ParsedMessage | null, error: string): Promise<Result> {
    if (mail.attempts < this.maxAttempts) {
      await recordAttemptError(tx, mail.id, error);
      this.log.warn({ mailId: mail.id, attempts: mail.attempts, error }, 'processing a mail failed: it is tried again');
      return { state: 'stored' };
    }
    await recordAttemptError(tx, mail.id, error);
    await recordOutcomes(tx, [{ id: mail.id, ...this.outcomeOf(read, 'quarantined', error) }]);
    this.log.error({ mailId: mail.id, attempts: mail.attempts, error }, 'mail quarantined');
    return { state: 'quarantined', error: new Error(error) };
  }

  /** The filing of one mail threw in a transaction of its own: its failure is recorded in another. */
  private async failed(mail: MailForProcessing, read: ParsedMessage | null, error: string): Promise<Result> {
    try {
      return await this.db.transaction().execute((tx) => this.record(tx, mail, read, error));
    } catch (e) {
      // The database itself fails: nothing can be recorded; the mail stays stored for the next start.
      return { state: null, error: e };
    }
  }

  private retryLater(id: number, attempts: number): void {
    if (this.stopped || this.retries.has(id)) return;
    const delay = Math.min(60_000, (this.options.retryDelayMs ?? RETRY_DELAY_MS) * 2 ** Math.max(0, attempts - 1));
    const timer = setTimeout(() => {
      this.retries.delete(id);
      this.enqueue([id]);
    }, delay);
    timer.unref();
    this.retries.set(id, timer);
  }

  private outcomeOf(read: ParsedMessage | null, state: MailState, reason: string | null): MailOutcome {
    return {
      state,
      reason,
      defects: read?.defects ?? [],
      fromAddr: read?.from?.address ?? null,
      subject: read?.subject ?? null,
      date: read?.date ?? null,
      processedAt: nowIso(),
    };
  }

  private async apply(tx: DbOrTx, mail: MailRow, read: ReadMail): Promise<MailState | null> {
    const handler = mail.source === 'import' ? this.options.backfill : this.handlers[mail.route];
    const outcome: Outcome = read.fatal
      ? { state: 'malformed', reason: read.defects.filter((d) => d !== 'missing-date').join(',') }
      : await handler.handle(tx, mail, read);
    // Written with the rest of the batch's outcomes, in one statement at its end.
    await deferWrite(tx, recordOutcomes, { id: mail.id, ...this.outcomeOf(read, outcome.state, outcome.reason) });
    this.log.debug({ mailId: mail.id, route: mail.route }, 'processed');
    return outcome.state;
  }
}

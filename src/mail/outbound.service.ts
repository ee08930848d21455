// The outbound worker: sends the durable queue through the smarthost (or keeps it in the outbox), with retries and bounces.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { OutboundMode, RetrySchedule } from '../config/config.js';
import type { Db } from '../db/database.js';
import { nowIso } from '../db/database.js';
import { dueOutbound, finishOutbound, outboundMessage, retryOutbound, settleOutbound } from '../db/outbound.repository.js';
import type { OutboundRow } from '../db/schema.js';
import { findSubscriber, recordBounce, setSubscriberState } from '../db/subscriber.repository.js';
import type { Logger } from '../log.js';
import { deliveryFailure } from '../smtp/reply-codes.js';
import { OutboundJournal, type Departure } from './outbound-journal.js';
import { SmarthostSender, type SendError } from './outbound-sender.js';

export interface OutboundOptions {
  db: Db;
  mode: OutboundMode;
  /** DATA: outbox mode writes DATA/outbox/<id>.eml. */
  dataDir: string;
  retry: RetrySchedule;
  bounceThreshold: number;
  /** Our name in EHLO. */
  hostname: string;
  log: Logger;
  /** Sends at once (and pooled smarthost connections). */
  concurrency?: number;
  pollMs?: number;
}

/** The wait before the next attempt after `attempts` failed ones: base × 2^attempts, at most max. */
export function retryDelay(attempts: number, schedule: RetrySchedule): number {
  return Math.min(schedule.baseMs * 2 ** Math.min(attempts, 40), schedule.maxMs);
}

export class OutboundService {
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly inFlight = new Map<number, Promise<void>>();
  private sender: SmarthostSender | null = null;
  private journal: OutboundJournal | null = null;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private again = false;
  private stopped = true;

  constructor(private readonly opts: OutboundOptions) {
    this.concurrency = opts.concurrency ?? 4;
    this.pollMs = opts.pollMs ?? 1000;
  }

  /** How many sends are under way now. */
  get sending(): number {
    return this.inFlight.size;
  }

  /**
   * Copies the last run sent but did not record (a crash between the smarthost's 250 and the commit) are marked sent
   * from the journal before anything is sent (outbound-journal.ts).
   */
  async start(): Promise<void> {
    const { mode } = this.opts;
    await fs.mkdir(this.opts.dataDir, { recursive: true });
    const file = path.join(this.opts.dataDir, 'outbound.journal');
    const left = OutboundJournal.read(file);
    const settled = await settleOutbound(this.opts.db, left);
    if (left.size) this.opts.log.info({ journaled: left.size, settled }, 'copies sent before a crash marked sent, not sent again');
    this.journal = new OutboundJournal(file);
    this.journal.open();
    if (mode.kind === 'outbox') {
      await fs.mkdir(this.outboxDir(), { recursive: true });
    } else {
      this.sender = new SmarthostSender({ host: mode.host, port: mode.port, hostname: this.opts.hostname, concurrency: this.concurrency, journal: file });
      this.sender.start();
    }
    this.stopped = false;
    // Polling finds what other processes queued (the CLI approving a held post) and retries that came due.
    this.timer = setInterval(() => this.kick(), this.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Looks for due mail now (after a commit that queued some). */
  kick(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.tick()
      .catch((err: unknown) => this.opts.log.error({ err }, 'reading the outbound queue failed'))
      .finally(() => {
        this.ticking = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Takes no new mail, waits for the sends under way, then closes the smarthost connections. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
    await Promise.all(this.inFlight.values());
    await this.sender?.stop();
    this.sender = null;
    this.journal?.close();
    this.journal = null;
  }

  private outboxDir(): string {
    return path.join(this.opts.dataDir, 'outbox');
  }

  private async tick(): Promise<void> {
    const free = this.concurrency - this.inFlight.size;
    if (free <= 0) return;
    const due = await dueOutbound(this.opts.db, nowIso(), free + this.inFlight.size);
    if (this.stopped) return;
    for (const row of due.filter((r) => !this.inFlight.has(r.id)).slice(0, free)) {
      const log = this.opts.log.child({ outboundId: row.id, kind: row.kind, mailId: row.mail_id });
      // A copy that left but whose row could not be updated (the database was busy) is finished, never sent again.
      const departed = this.journal?.departed(row.id);
      const done = (departed ? this.finish(row.id, departed) : this.deliver(row, log))
        .catch((err: unknown) => log.error({ err }, 'recording a delivery failed'))
        .finally(() => {
          this.inFlight.delete(row.id);
          // Nothing under way: no thread is about to write a journal line, and the ones written are committed.
          if (!this.inFlight.size) this.journal?.settle();
          this.kick();
        });
      this.inFlight.set(row.id, done);
    }
  }

  private async deliver(row: OutboundRow, log: Logger): Promise<void> {
    const { db, mode } = this.opts;
    let failure: SendError | null = null;
    try {
      const raw = await outboundMessage(db, row);
      if (mode.kind === 'outbox') {
        // Written whole then renamed: a reader never sees half a mail.
        const file = path.join(this.outboxDir(), `${row.id}.eml`);
        await fs.writeFile(`${file}.tmp`, raw);
        await fs.rename(`${file}.tmp`, file);
        // On record at once, before waiting for the database: see outbound-journal.ts.
        this.journal!.record(row.id, 'kept');
      } else {
        // The sender's thread journals the copy on the smarthost's 250, before this thread hears of it.
        const reply = await this.sender!.send(row.id, { from: row.envelope_from, to: [row.rcpt] }, raw);
        if (reply.ok) this.journal!.noted(row.id, 'sent');
        else failure = reply.error;
      }
    } catch (e) {
      failure = (e ?? {}) as SendError;
    }
    if (!failure) {
      const state: Departure = mode.kind === 'outbox' ? 'kept' : 'sent';
      await this.finish(row.id, state);
      log.debug({ rcpt: row.rcpt }, mode.kind === 'outbox' ? 'kept in the outbox' : 'sent');
      return;
    }

    const detail = String(failure.response ?? failure.message ?? failure.code ?? 'unknown error').slice(0, 1000);
    if (deliveryFailure(failure.responseCode) === 'permanent') {
      await this.bounced(row, detail, log);
      return;
    }
    const age = Date.now() - Date.parse(row.created_at);
    if (age >= this.opts.retry.giveUpMs) {
      await finishOutbound(db, row.id, 'failed', detail);
      log.warn({ rcpt: row.rcpt, attempts: row.attempts + 1, detail }, 'delivery given up');
      return;
    }
    const next = new Date(Date.now() + retryDelay(row.attempts, this.opts.retry)).toISOString();
    await retryOutbound(db, row.id, next, detail);
    log.info({ rcpt: row.rcpt, next, detail }, 'delivery deferred');
  }

  private async finish(id: number, state: Departure): Promise<void> {
    await finishOutbound(this.opts.db, id, state, null);
    this.journal?.committed(id);
  }

  /** A 5xx from the smarthost: the copy is bounced; a subscriber's score rises and past the threshold they are disabled. */
  private async bounced(row: OutboundRow, detail: string, log: Logger): Promise<void> {
    await this.opts.db.transaction().execute(async (tx) => {
      await finishOutbound(tx, row.id, 'bounced', detail);
      if (row.subscriber_id === null || row.project_id === null) return;
      const score = await recordBounce(tx, { subscriberId: row.subscriber_id, outboundId: row.id, mailId: row.mail_id, kind: 'smtp', detail });
      const sub = await findSubscriber(tx, row.project_id, row.rcpt);
      if (sub?.id === row.subscriber_id && sub.state === 'active' && score >= this.opts.bounceThreshold) {
        await setSubscriberState(tx, sub.id, 'disabled');
        log.info({ subscriberId: sub.id, score }, 'subscriber disabled after bounces');
      }
    });
    log.warn({ rcpt: row.rcpt, detail }, 'bounced');
  }
}

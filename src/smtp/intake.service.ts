// Intake: stores each accepted message (raw bytes + envelope) durably, several per transaction, before it is acknowledged.
import crypto from 'node:crypto';
import type { Db } from '../db/database.js';
import { nowIso, transactionSyncedAside } from '../db/database.js';
import { insertMails } from '../db/mail.repository.js';
import type { MailRoute, NewMail } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { extractMsgid, headerText, headerValue, prependHeaders } from '../mail/raw.js';
import type { Mailbox } from './recipients.js';

export interface Delivery {
  raw: Buffer;
  mailFrom: string;
  /** The resolved local recipients of this message. */
  recipients: { mailbox: Mailbox; address: string }[];
  /** Every RCPT TO of the transaction, as given. */
  envelopeTo: string[];
  remoteAddr: string | null;
  source: 'smtp' | 'import';
}

export interface StoredDelivery {
  msgid: string;
  mails: { id: number; projectId: number; route: MailRoute; duplicate: boolean }[];
}

interface Pending {
  rows: NewMail[];
  msgid: string;
  resolve: (r: StoredDelivery) => void;
  reject: (e: unknown) => void;
}

export class IntakeService {
  private pending: Pending[] = [];
  private scheduled = false;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly hostname: string,
    private readonly log: Logger,
    private readonly onStored: (mailIds: number[]) => void,
    /** Told of every message as it arrives, before its commit (intake-first.ts: processing gives way meanwhile). */
    private readonly onArrival: () => void = () => {},
  ) {}

  /** Resolves once the message is committed to disk; duplicates (same Message-ID for the same mailbox) resolve too. */
  accept(delivery: Delivery): Promise<StoredDelivery> {
    this.onArrival();
    let raw = delivery.raw;
    let msgid = extractMsgid(headerValue(headerText(raw), 'message-id'));
    const generated = !msgid;
    if (!msgid) {
      // RFC 5321 §6.4: a server may add a missing Message-ID; the archive and threading need one. An imported mail's
      // is derived from its bytes, so that importing the same archive again finds it stored.
      msgid =
        delivery.source === 'import'
          ? `${crypto.createHash('sha256').update(raw).digest('hex').slice(0, 32)}@import.invalid`
          : `${Date.now()}.${crypto.randomBytes(8).toString('hex')}@${this.hostname}`;
      raw = prependHeaders(raw, [`Message-ID: <${msgid}>`]);
    }
    const receivedAt = nowIso();
    const seen = new Set<string>();
    const rows: NewMail[] = [];
    for (const r of delivery.recipients) {
      const key = `${r.mailbox.projectId}/${r.mailbox.route}`;
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push({
        project_id: r.mailbox.projectId,
        route: r.mailbox.route,
        recipient: r.address,
        msgid,
        msgid_generated: generated ? 1 : 0,
        envelope_from: delivery.mailFrom,
        envelope_to: JSON.stringify(delivery.envelopeTo),
        remote_addr: delivery.remoteAddr,
        source: delivery.source,
        raw,
        size: raw.length,
        received_at: receivedAt,
      });
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ rows, msgid: msgid!, resolve, reject });
      this.schedule();
    });
  }

  /** Waits until everything accepted so far is committed. */
  async drain(): Promise<void> {
    while (this.pending.length || this.flushing || this.scheduled) {
      if (this.flushing) await this.flushing;
      else await new Promise((r) => setImmediate(r));
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.flushing) {
        void this.flushing.then(() => this.schedule());
        return;
      }
      this.flushing = this.flush().finally(() => {
        this.flushing = null;
        if (this.pending.length) this.schedule();
      });
    });
  }

  /** Group commit: every message that arrived since the last commit goes into one transaction (one fsync, off the main thread). */
  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (!batch.length) return;
    let results: { id: number; duplicate: boolean }[][];
    try {
      results = await transactionSyncedAside(this.db, async (tx) => {
        const all: { id: number; duplicate: boolean }[][] = [];
        for (const p of batch) all.push(await insertMails(tx, p.rows));
        return all;
      });
    } catch (e) {
      this.log.error({ err: e, count: batch.length }, 'storing accepted mail failed');
      const err = new AppError('unavailable', 'store_failed', 'mail store unavailable, try again later');
      for (const p of batch) p.reject(err);
      return;
    }
    const fresh: number[] = [];
    batch.forEach((p, i) => {
      const res = results[i]!;
      p.resolve({
        msgid: p.msgid,
        mails: res.map((r, j) => ({ id: r.id, projectId: p.rows[j]!.project_id, route: p.rows[j]!.route, duplicate: r.duplicate })),
      });
      for (const r of res) if (!r.duplicate) fresh.push(r.id);
    });
    if (fresh.length) this.onStored(fresh);
  }
}

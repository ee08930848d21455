// Route 'bounces': reads delivery status notifications, scores the subscriber they concern, disables past the threshold.
import type { DbOrTx } from '../db/database.js';
import type { MailRow, SubscriberRow } from '../db/schema.js';
import { findSubscriber, recordBounce, setSubscriberState } from '../db/subscriber.repository.js';
import type { Logger } from '../log.js';
import { parseDsn, type DsnRecipient, type DsnSeverity } from '../mail/dsn.js';
import type { ReadMail } from './mail-reading.js';
import type { Outcome, RouteHandler } from './processing.service.js';

/**
 * The subscriber a VERP return path names: "list-bounces+alice=example.com@lists.example.org" → alice@example.com.
 * The tag is the address we sent to, whatever the remote MTA writes in Final-Recipient after forwarding.
 */
export function verpSubscriber(recipient: string): string | null {
  const at = recipient.lastIndexOf('@');
  const local = at > 0 ? recipient.slice(0, at) : recipient;
  const plus = local.indexOf('+');
  if (plus < 0) return null;
  const tag = local.slice(plus + 1);
  const eq = tag.lastIndexOf('=');
  return eq > 0 && eq < tag.length - 1 ? `${tag.slice(0, eq)}@${tag.slice(eq + 1)}`.toLowerCase() : null;
}

const RANK: Record<DsnSeverity, number> = { permanent: 2, transient: 1, success: 0 };

function worst(recipients: DsnRecipient[]): DsnRecipient {
  return recipients.reduce((a, b) => (RANK[b.severity] > RANK[a.severity] ? b : a));
}

function detailOf(r: DsnRecipient): string {
  return [r.action, r.status ?? '-', r.finalRecipient ?? '-', r.diagnostic ?? ''].join(' ').trim().slice(0, 1000);
}

export function createBounceHandler(deps: { bounceThreshold: number; log?: Logger }): RouteHandler {
  /** One recipient's outcome on one subscriber; returns what it did to them. */
  async function apply(tx: DbOrTx, mail: MailRow, sub: SubscriberRow, r: DsnRecipient): Promise<'disabled' | 'permanent' | 'transient' | 'delivered'> {
    if (r.severity === 'success') return 'delivered';
    // RFC 3463 §3.1: a 4.x.x status (or Action: delayed) may still succeed; it is kept for the record, unscored.
    const permanent = r.severity === 'permanent';
    const score = await recordBounce(tx, { subscriberId: sub.id, mailId: mail.id, kind: 'dsn', detail: detailOf(r), raiseScore: permanent });
    if (!permanent) return 'transient';
    if (score >= deps.bounceThreshold && sub.state === 'active') {
      await setSubscriberState(tx, sub.id, 'disabled');
      deps.log?.info({ subscriberId: sub.id, score, mailId: mail.id }, 'subscriber disabled after bounces');
      return 'disabled';
    }
    return 'permanent';
  }

  return {
    async handle(tx: DbOrTx, mail: MailRow, read: ReadMail): Promise<Outcome> {
      // Read off this thread by the mail reader (mail-reading.ts); parsed here only for a caller that did not.
      const dsn = read.dsn !== undefined ? read.dsn : await parseDsn(mail.raw);
      if (!dsn) return { state: 'processed', reason: 'not-a-bounce' };

      const verp = verpSubscriber(mail.recipient);
      const targets: { sub: SubscriberRow; r: DsnRecipient }[] = [];
      if (verp) {
        // With VERP each copy had one recipient; the DSN's worst verdict is that subscriber's.
        const sub = await findSubscriber(tx, mail.project_id, verp);
        if (sub) targets.push({ sub, r: worst(dsn.recipients) });
      } else {
        for (const r of dsn.recipients) {
          for (const address of new Set([r.finalRecipient, r.originalRecipient])) {
            const sub = address ? await findSubscriber(tx, mail.project_id, address) : undefined;
            if (sub) {
              targets.push({ sub, r });
              break;
            }
          }
        }
      }
      if (!targets.length) return { state: 'processed', reason: 'bounce:unknown-subscriber' };

      const results: Awaited<ReturnType<typeof apply>>[] = [];
      for (const { sub, r } of targets) results.push(await apply(tx, mail, sub, r));
      const order = ['disabled', 'permanent', 'transient', 'delivered'] as const;
      return { state: 'processed', reason: `bounce:${order.find((o) => results.includes(o))}` };
    },
  };
}

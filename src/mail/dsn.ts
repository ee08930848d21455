// Reads delivery status notifications (RFC 3464 multipart/report) into per-recipient outcomes: pure.
import { simpleParser } from 'mailparser';
import { normalizeNewlines } from './raw.js';

export type DsnSeverity = 'permanent' | 'transient' | 'success';

export interface DsnRecipient {
  /** Final-Recipient address (RFC 3464 §2.3.2), lowercased, without the address-type. */
  finalRecipient: string | null;
  originalRecipient: string | null;
  /** failed | delayed | delivered | relayed | expanded (RFC 3464 §2.3.3). */
  action: string;
  /** Status code "class.subject.detail" (RFC 3463), or null when the MTA gave none. */
  status: string | null;
  diagnostic: string | null;
  severity: DsnSeverity;
}

export interface Dsn {
  reportingMta: string | null;
  recipients: DsnRecipient[];
}

type Fields = Map<string, string>;

/** Splits a delivery-status body into its field groups (one per-message group, then one per recipient), unfolded. */
export function parseFieldGroups(text: string): Fields[] {
  const groups: Fields[] = [];
  let current: Fields | null = null;
  let last: string | null = null;
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    if (line.trim() === '') {
      current = null;
      last = null;
      continue;
    }
    if (/^[ \t]/.test(line) && current && last) {
      current.set(last, `${current.get(last)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    if (!current) groups.push((current = new Map()));
    last = line.slice(0, colon).trim().toLowerCase();
    // A field repeated in one group keeps its first value.
    if (!current.has(last)) current.set(last, line.slice(colon + 1).trim());
  }
  return groups;
}

/** "rfc822; Alice@Example.com" → "alice@example.com" (RFC 3464 §2.3.2: address-type ";" generic-address). */
function addressOf(value: string | undefined): string | null {
  if (!value) return null;
  const semi = value.indexOf(';');
  const address = (semi >= 0 ? value.slice(semi + 1) : value).trim().replace(/^<|>$/g, '').toLowerCase();
  return address.includes('@') ? address : null;
}

/**
 * RFC 3463 §3.1: class 5 is a permanent failure, class 4 a transient one, class 2 success. Without a usable status,
 * the action decides: `failed` is permanent, `delayed` transient (RFC 3464 §2.3.3).
 */
export function severityOf(action: string, status: string | null): DsnSeverity {
  const cls = status?.[0];
  if (cls === '5') return 'permanent';
  if (cls === '4') return 'transient';
  if (cls === '2') return 'success';
  if (action === 'failed') return 'permanent';
  if (action === 'delayed') return 'transient';
  return 'success';
}

/** The per-recipient groups of a message/delivery-status body; a group without an Action is not a recipient. */
export function parseDeliveryStatus(text: string): Dsn {
  const groups = parseFieldGroups(text);
  const perMessage = groups[0] && !groups[0].has('action') ? groups[0] : undefined;
  const recipients: DsnRecipient[] = [];
  for (const g of groups) {
    const action = g.get('action')?.toLowerCase().split(/[\s(]/)[0];
    if (!action) continue;
    const status = /^([245])\.(\d{1,3})\.(\d{1,3})/.exec(g.get('status') ?? '')?.[0] ?? null;
    recipients.push({
      finalRecipient: addressOf(g.get('final-recipient')),
      originalRecipient: addressOf(g.get('original-recipient')),
      action,
      status,
      diagnostic: g.get('diagnostic-code') ?? null,
      severity: severityOf(action, status),
    });
  }
  return { reportingMta: perMessage?.get('reporting-mta') ?? null, recipients };
}

/**
 * A DSN is a multipart/report with report-type=delivery-status (RFC 3462 §1, RFC 3464 §2) holding a
 * message/delivery-status part. Anything else (a vacation reply, a human, spam) is not one: null.
 */
export async function parseDsn(raw: Buffer): Promise<Dsn | null> {
  const mail = await simpleParser(normalizeNewlines(raw), {
    keepDeliveryStatus: true,
    skipHtmlToText: true,
    skipTextToHtml: true,
    skipImageLinks: true,
    skipTextLinks: true,
  });
  const ct = mail.headers.get('content-type') as { value?: string; params?: Record<string, string> } | undefined;
  if (ct?.value?.toLowerCase() !== 'multipart/report') return null;
  if (ct.params?.['report-type']?.toLowerCase() !== 'delivery-status') return null;
  const part = mail.attachments.find((a) => a.contentType.toLowerCase() === 'message/delivery-status');
  if (!part) return null;
  const dsn = parseDeliveryStatus(part.content.toString('utf8'));
  return dsn.recipients.length ? dsn : null;
}

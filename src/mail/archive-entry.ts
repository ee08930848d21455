// Pure: what the archive indexes of one list post — its thread links (RFC 5322 §3.6.4) and the text its search reads.
import type { ParsedMessage } from './parse.js';
import { headerValues } from './raw.js';

export interface ArchiveEntry {
  msgid: string;
  /** ISO date: the Date header, else the time we received the mail (public-inbox falls back the same way). */
  date: string;
  /** Message-IDs from In-Reply-To and References, once each, never the mail's own. */
  refs: string[];
  subject: string;
  /** "Name <address>" of the From field, decoded. */
  sender: string;
  /** To and Cc as written (addresses are what people search for). */
  recipients: string;
  /** Lines the author wrote, diffs left out: public-inbox's "nq:" (non-quoted) text, text attachments included. */
  body: string;
  /** Lines quoted from other mail (`>`): public-inbox's "q:". */
  quoted: string;
}

/** Every <id> of a header field (RFC 5322 §3.6.4 msg-id), in order. In-Reply-To may also carry words or a date. */
function msgidsOf(header: string, name: string): string[] {
  return headerValues(header, name).flatMap((v) => [...v.matchAll(/<([^<>\s]+)>/g)].map((m) => m[1]!));
}

/**
 * Where a diff starts (git's `diff --git`, or a plain unified diff's `Index:` / `--- a/…` header): public-inbox
 * indexes diffs under their own prefixes (dfa:, dfb:, dfhh: …), which this archive does not offer, so the text
 * search stops there. Leaving diffs out also keeps indexing cheap: they are most of a patch mail's bytes.
 */
const DIFF_START = /^(diff --git |Index: |--- (a\/|\/dev\/null))/m;
const PATCH_ATTACHMENT = /^(text\/x-(patch|diff)|application\/x-patch)$/;

function withoutDiff(text: string): string {
  const m = DIFF_START.exec(text);
  return m ? text.slice(0, m.index) : text;
}

export function archiveEntry(mail: { msgid: string; receivedAt: string }, parsed: ParsedMessage): ArchiveEntry {
  const refs = [...new Set([...msgidsOf(parsed.header, 'in-reply-to'), ...msgidsOf(parsed.header, 'references')])].filter((r) => r !== mail.msgid);
  const attachments = parsed.attachments.filter((a) => a.text !== null && !PATCH_ATTACHMENT.test(a.contentType) && !/\.(patch|diff)$/i.test(a.filename ?? ''));
  const text = [parsed.text, ...attachments.map((a) => a.text!)].map(withoutDiff).join('\n').replace(/\r\n?/g, '\n');
  const body: string[] = [];
  const quoted: string[] = [];
  for (const line of text.split('\n')) (/^\s*>/.test(line) ? quoted : body).push(line);
  const from = parsed.from;
  return {
    msgid: mail.msgid,
    date: parsed.date ?? mail.receivedAt,
    refs,
    subject: parsed.subject ?? '',
    sender: from ? (from.name ? `${from.name} <${from.address}>` : from.address) : '',
    recipients: [...headerValues(parsed.header, 'to'), ...headerValues(parsed.header, 'cc')].join(', '),
    body: body.join('\n'),
    quoted: quoted.join('\n'),
  };
}

// Parses a stored raw message with mailparser after normalizing newlines, and lists what is wrong with it (defects).
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { parsePlain } from './parse-plain.js';
import { headerText, headerValues, normalizeNewlines, splitHeader } from './raw.js';

/** Defects that stop a mail from being relayed or threaded: it is kept and marked `malformed`. */
export const FATAL_DEFECTS = new Set(['nul-bytes', 'header-too-large', 'mime-too-deep', 'parse-error', 'missing-from']);

export const LIMITS = {
  headerLines: 2_000,
  headerBytes: 512 * 1024,
  mimeDepth: 50,
};

export interface ParsedMessage {
  defects: string[];
  fatal: boolean;
  from: { address: string; name: string } | null;
  subject: string | null;
  date: string | null;
  /** The header block as latin1 text with LF newlines, for header checks on the exact bytes. */
  header: string;
  text: string;
  /** Attachments whose content is text (text/*, *.patch, *.diff), decoded as UTF-8; others are named only. */
  attachments: { contentType: string; filename: string | null; text: string | null }[];
}

/** Counts multipart nesting by the boundaries each Content-Type declares, without recursion. */
function mimeDepth(text: string): number {
  const re = /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/gi;
  let depth = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) depth++;
  return depth;
}

export async function parseMessage(raw: Buffer): Promise<ParsedMessage> {
  const defects: string[] = [];
  const buf = normalizeNewlines(raw);
  if (buf.includes(0)) defects.push('nul-bytes');
  const header = headerText(buf);
  const { headerEnd, bodyStart } = splitHeader(buf);
  if (headerEnd > LIMITS.headerBytes || header.split('\n').length > LIMITS.headerLines) defects.push('header-too-large');
  if (/[\x80-\xff]/.test(header)) defects.push('eight-bit-header');
  if (mimeDepth(buf.toString('latin1')) > LIMITS.mimeDepth) defects.push('mime-too-deep');
  if (!headerValues(header, 'from').length) defects.push('missing-from');
  if (!headerValues(header, 'date').length) defects.push('missing-date');

  // A header block or MIME tree past the limits is never handed to the parser: it is marked and kept as bytes.
  const parsable = !defects.includes('header-too-large') && !defects.includes('mime-too-deep');
  // Plain one-part text mail (git's) is read without mailparser, to the same result (parse-plain.ts).
  const plain = parsable && !defects.includes('missing-from') ? parsePlain(buf, header, bodyStart) : null;
  if (plain) {
    if (unknownCharset(header, buf)) defects.push('unknown-charset');
    const date = boundedDate(plain.date === null ? null : new Date(plain.date), defects);
    return {
      defects,
      fatal: defects.some((d) => FATAL_DEFECTS.has(d)),
      from: plain.from,
      subject: plain.subject,
      date,
      header,
      text: plain.text,
      attachments: [],
    };
  }
  let mail: ParsedMail | null = null;
  if (parsable) {
    try {
      mail = await simpleParser(buf, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true });
    } catch {
      defects.push('parse-error');
    }
  }
  const fromObj = mail?.from as AddressObject | undefined;
  const first = fromObj?.value?.[0];
  const from = first?.address ? { address: first.address.toLowerCase(), name: first.name ?? '' } : null;
  if (mail && !from && !defects.includes('missing-from')) defects.push('missing-from');
  if (mail && unknownCharset(header, buf)) defects.push('unknown-charset');
  const attachments = (mail?.attachments ?? []).map((a) => {
    // mailparser gives `false` for a part whose Content-Type is empty ("Content-Type: " seen in the wild, issue 11):
    // such a part is bytes of no known type, as RFC 2045 §5.2 would have it read.
    const known = typeof a.contentType === 'string' && a.contentType !== '';
    const filename = typeof a.filename === 'string' ? a.filename : null;
    const contentType = known ? a.contentType.toLowerCase() : 'application/octet-stream';
    return {
      contentType,
      filename,
      text: contentType.startsWith('text/') || /\.(patch|diff)$/i.test(filename ?? '') ? a.content.toString('utf8') : null,
    };
  });
  if (mail?.attachments.some((a) => typeof a.contentType !== 'string' || a.contentType === '')) defects.push('bad-content-type');
  return {
    defects,
    fatal: defects.some((d) => FATAL_DEFECTS.has(d)),
    from,
    subject: mail?.subject ?? null,
    date: boundedDate(mail?.date ?? null, defects),
    header,
    text: mail?.text ?? '',
    // Plain data only: a ParsedMessage crosses to the main thread from the reader's worker by structured clone.
    attachments,
  };
}

/**
 * The Date header as an ISO string, when it is a date this side of year 10000: a date like "Sat, 13 Sep 275760"
 * is valid for JavaScript but breaks date arithmetic (the series engine's ±20 minute window) and ISO ordering.
 */
function boundedDate(d: Date | null, defects: string[]): string | null {
  if (!d || Number.isNaN(d.getTime())) return null;
  const year = d.getUTCFullYear();
  if (year >= 1 && year <= 9999) return d.toISOString();
  defects.push('date-out-of-range');
  return null;
}

function unknownCharset(header: string, buf: Buffer): boolean {
  const body = buf.subarray(0, Math.min(buf.length, 256 * 1024)).toString('latin1');
  const re = /charset\s*=\s*"?([A-Za-z0-9_.:+-]+)"?/gi;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    if (!isKnownCharset(m[1]!)) return true;
  }
  return /=\?([^?]+)\?[bBqQ]\?/.test(header) && [...header.matchAll(/=\?([^?*]+)(?:\*[^?]*)?\?[bBqQ]\?/g)].some((m) => !isKnownCharset(m[1]!));
}

function isKnownCharset(name: string): boolean {
  try {
    new TextDecoder(name.toLowerCase());
    return true;
  } catch {
    return /^(utf-?7|iso-?2022|x-|windows-|cp|koi8|gb|big5|euc|shift|tis|viscii)/i.test(name);
  }
}

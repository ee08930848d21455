// Reads a plain one-part text mail (what git format-patch and git send-email send) without mailparser, giving what
// mailparser gives for it; anything else (MIME parts, transfer encodings, encoded words, odd headers) returns null.
import { isUtf8 } from 'node:buffer';
import addressparser from 'nodemailer/lib/addressparser';

export interface PlainParts {
  from: { address: string; name: string };
  subject: string | null;
  date: string | null;
  text: string;
}

/** Header fields whose presence sends a mail to mailparser whatever their value: they make it more than one text. */
const MIME_FIELDS = new Set(['content-disposition', 'content-id', 'content-location', 'content-base']);

/** Field names as RFC 5322 §3.6.8 allows them (printable US-ASCII but the colon). */
const FIELD_NAME = /^[!-9;-~]+$/;

/** `text/plain`, with at most a UTF-8 or US-ASCII charset: what mailparser hands over as the bytes read as UTF-8. */
const PLAIN_TYPE = /^text\/plain(?:\s*;\s*charset\s*=\s*"?(?:utf-8|us-ascii)"?)?\s*;?$/i;

/** Printable US-ASCII and tab: no 8-bit bytes, no control characters. */
const PRINTABLE = /^[\t\x20-\x7e]*$/;

/**
 * `buf` has LF newlines (normalizeNewlines), `header` is headerText(buf) and `bodyStart` splitHeader's. Costs about
 * a tenth of mailparser, whose streams made up a third of what an import spent per mail. The fields are read the
 * way mailparser reads them (libmime's decodeHeader unfolding, nodemailer's addressparser for From, `new Date` for
 * Date, the body as UTF-8); test/unit/parse-plain.test.ts holds both to the same answers.
 */
export function parsePlain(buf: Buffer, header: string, bodyStart: number): PlainParts | null {
  // A header block without the empty line that ends it is read differently by mailparser: leave it to it.
  if (!header.endsWith('\n') || bodyStart > buf.length || buf[bodyStart - 1] !== 0x0a || buf[bodyStart - 2] !== 0x0a) return null;
  // Each field's occurrences, each as its folded lines.
  const fields = new Map<string, string[][]>();
  let current: string[] | null = null;
  const lines = header.split('\n');
  lines.pop(); // after the last newline
  for (const line of lines) {
    if (line[0] === ' ' || line[0] === '\t') {
      // A continuation with nothing to continue, or a blank-looking line that a parser may take for the end.
      if (!current || !line.trim()) return null;
      current.push(line);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0 || !FIELD_NAME.test(line.slice(0, colon))) return null;
    const name = line.slice(0, colon).toLowerCase();
    if (MIME_FIELDS.has(name)) return null;
    current = [line];
    const seen = fields.get(name);
    if (seen) seen.push(current);
    else fields.set(name, [current]);
  }
  /** The field's value when it occurs once; undefined when absent; null when repeated. */
  const one = (name: string): string | undefined | null => {
    const seen = fields.get(name);
    if (!seen) return undefined;
    return seen.length === 1 ? unfold(seen[0]!) : null;
  };

  const type = one('content-type');
  if (type === null || (type !== undefined && !PLAIN_TYPE.test(type))) return null;
  const encoding = one('content-transfer-encoding');
  if (encoding === null || (encoding !== undefined && !/^(?:7bit|8bit)$/i.test(encoding))) return null;
  const fromValue = one('from');
  const subjectValue = one('subject');
  const dateValue = one('date');
  if (!fromValue || subjectValue === null || dateValue === null) return null;
  // Encoded words (RFC 2047), 8-bit bytes and punycode domains are mailparser's to decode.
  for (const v of [fromValue, subjectValue ?? '', dateValue ?? '']) if (!PRINTABLE.test(v) || v.includes('=?')) return null;
  if (/@xn--/i.test(fromValue)) return null;

  const first = addressparser(fromValue)[0];
  if (!first || !('address' in first) || !first.address) return null; // no address, or a group: mailparser's path says so
  const from = { address: first.address.toLowerCase(), name: (first.name || '').toString().trim() };

  let date: string | null = null;
  if (dateValue !== undefined) {
    const d = new Date(dateValue);
    if (Number.isNaN(d.getTime())) return null; // mailparser dates an unreadable Date "now"
    date = d.toISOString();
  }

  const body = buf.subarray(bodyStart);
  // Without a charset (or with US-ASCII) mailparser converts 8-bit bytes its own way; invalid UTF-8 likewise.
  const utf8 = type !== undefined && /utf-8/i.test(type);
  if (utf8 ? !isUtf8(body) : !isAscii(body)) return null;
  return { from, subject: subjectValue || null, date, text: body.toString('utf8') };
}

function isAscii(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 0x7f) return false;
  return true;
}

/** libmime's decodeHeader: every line break and the blanks after it become one space, the value is trimmed. */
function unfold(lines: string[]): string {
  const text = lines.join('\n').replace(/\n[ \t]*/g, ' ').trim();
  return text.slice(text.indexOf(':') + 1).trim();
}

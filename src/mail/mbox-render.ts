// Pure mbox rendering: patches and covers as Patchwork serves them (for git am), and stored mail as public-inbox's mboxrd.
import { normalizeNewlines, removeHeaders, splitHeader } from './raw.js';
import { trimChars } from '../text.js';

/** One patch or cover letter with what Patchwork's `_submission_to_mbox` (patchwork/views/utils.py) reads. */
export interface MboxSubmission {
  kind: 'patch' | 'cover';
  id: number;
  /** ISO date (UTC) of the submission: the unixfrom line, and Date when the mail had none. */
  date: string;
  /** Commit message or cover text as filed: everything but the diff. */
  content: string;
  /** The diff (patches only). */
  diff: string | null;
  submitter: { name: string | null; email: string };
  /** Email of the user the patch is delegated to, or null. */
  delegateEmail: string | null;
  /** The stored mail's header block: latin1 text (lossless for any byte), LF newlines, ending with a newline. */
  header: string;
  /** Contents of the comments on this submission, oldest first. */
  comments: string[];
  /** The project's list address: a From rewritten to it (DMARC munging) is put back to the submitter. */
  listAddress: string;
}

/** Patchwork's EmailMixin.response_re: the tags of every comment are appended to the commit message. */
const RESPONSE_RE = /^(Tested|Reviewed|Acked|Signed-off|Nacked|Reported)-by:[^\n]*$/gim;
/** Patchwork splits the content once, at the first `---` (or `--`) line, into description and postscript. */
const POSTSCRIPT_RE = /^-{2,3} ?$/m;
/** Header fields Patchwork sets itself (and MIME-Version, which the MIME part already carries once: RFC 2045 §4). */
const DROPPED = new Set(['content-type', 'content-transfer-encoding', 'mime-version']);

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number) => String(n).padStart(2, '0');

/** Python's datetime.ctime(): "Fri Nov 20 10:00:00 2026", the day of month space-padded. */
export function ctime(d: Date): string {
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** Python's email.utils.formatdate(ts): RFC 5322 §3.3 date in UTC written "-0000" (no zone information). */
export function formatDate(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${pad2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} -0000`;
}

/** Header values we write come from mail (names): a CR or LF in one would start a new header field. */
const oneLine = (s: string) => s.replace(/[\r\n\0]+/g, ' ').trim();

/**
 * Python's email.utils.formataddr((name, addr), charset='utf-8'): a non-ASCII name becomes an RFC 2047 §4.1
 * B-encoded word, an ASCII name with specials is quoted (RFC 5322 §3.2.4), a missing name leaves the bare address.
 */
export function formatAddress(name: string | null, email: string): string {
  const addr = oneLine(email);
  const n = oneLine(name ?? '');
  if (!n) return addr;
  if (/[^\x20-\x7e]/.test(n)) return `${encodeWords(n)} <${addr}>`;
  if (/[\][\\()<>@,:;".]/.test(n)) return `"${n.replace(/([\\"])/g, '\\$1')}" <${addr}>`;
  return `${n} <${addr}>`;
}

/** RFC 2047 B encoded words of at most 75 characters (§2), split between characters, never inside one (§5). */
function encodeWords(text: string): string {
  const words: string[] = [];
  let chunk = '';
  for (const ch of text) {
    // "=?utf-8?b?" + "?=" is 12 characters; 45 bytes encode to 60.
    if (Buffer.byteLength(chunk + ch) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?utf-8?b?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(' ');
}

/**
 * RFC 5322 §2.2.3 folding as Python's email generator does it for the fields we write: at the spaces between words,
 * so that lines stay within 78 characters where a word allows it.
 */
export function foldField(line: string): string {
  const words = line.split(' ');
  const lines: string[] = [];
  let current = words.shift()!;
  for (const w of words) {
    if (current.length + 1 + w.length > 78) {
      lines.push(current);
      current = ' ' + w;
    } else current += ' ' + w;
  }
  lines.push(current);
  return lines.join('\n');
}

/** Python's str.strip() and rstrip() on whitespace (`\s`, as before; never /\s+$/, quadratic on a long run of spaces). */
const strip = (s: string) => s.trim();
const rstrip = (s: string) => s.trimEnd();

/** The message body Patchwork builds: description, the comments' tags, the postscript, then the diff. */
export function submissionBody(s: Pick<MboxSubmission, 'kind' | 'content' | 'diff' | 'comments'>): string {
  let body = s.content ? strip(s.content) + '\n' : '';
  let postscript = '';
  const m = POSTSCRIPT_RE.exec(body);
  if (m) {
    // re.split(…, 1): the postscript starts right after the dashes, with the newline that ended their line.
    postscript = rstrip(body.slice(m.index + m[0].length));
    body = strip(body.slice(0, m.index)) + '\n';
  }
  for (const comment of s.comments) {
    for (const r of comment.matchAll(RESPONSE_RE)) body += r[0] + '\n';
  }
  if (postscript) body += '---' + postscript + '\n';
  if (s.kind === 'patch' && s.diff) body += '\n' + s.diff;
  return body;
}

/** The header fields of a header block, each with its continuation lines, in order. */
function headerFields(header: string): { name: string; lines: string }[] {
  const out: { name: string; lines: string }[] = [];
  for (const line of header.split('\n')) {
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && out.length) {
      out[out.length - 1]!.lines += '\n' + line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue; // not a field (a stray "From " line of an mbox): Python's HeaderParser drops it too
    out.push({ name: line.slice(0, colon).trim(), lines: line });
  }
  return out;
}

const addressOf = (value: string) => (/<([^<>]*)>/.exec(value)?.[1] ?? value).trim().toLowerCase();

/**
 * One submission as Patchwork's mbox: `From patchwork <ctime>`, a text/plain UTF-8 part (7bit or 8bit), the
 * X-Patchwork-Submitter/-Id/-Delegate fields, then the original header fields but the MIME ones; a blank line; the
 * body. Original header bytes are kept as they were (latin1 round trip); what we write is ASCII or UTF-8.
 */
export function renderSubmissionMbox(s: MboxSubmission): Buffer {
  const body = submissionBody(s);
  const submitter = formatAddress(s.submitter.name, s.submitter.email);
  const ours = [
    'Content-Type: text/plain; charset="utf-8"',
    'MIME-Version: 1.0',
    // Python's encode_7or8bit: 8bit as soon as one byte is not ASCII.
    `Content-Transfer-Encoding: ${/[^\x00-\x7f]/.test(body) ? '8bit' : '7bit'}`,
    foldField(`X-Patchwork-Submitter: ${submitter}`),
    `X-Patchwork-Id: ${s.id}`,
  ];
  if (s.kind === 'patch' && s.delegateEmail) ours.push(`X-Patchwork-Delegate: ${oneLine(s.delegateEmail)}`);

  const original: string[] = [];
  let hasDate = false;
  for (const f of headerFields(s.header)) {
    const name = f.name.toLowerCase();
    if (DROPPED.has(name)) continue;
    if (name === 'date') hasDate = true;
    if (name === 'from') {
      const value = f.lines.slice(f.lines.indexOf(':') + 1).replace(/\n[ \t]+/g, ' ').trim();
      // DMARC munging: a list that rewrote From to its own address; git am would credit the list (Patchwork #53).
      if (addressOf(value) === s.listAddress.toLowerCase()) {
        original.push(`X-Patchwork-Original-From: ${value}`);
        original.push(foldField(`From: ${submitter}`));
        continue;
      }
    }
    original.push(f.lines);
  }
  const date = new Date(s.date);
  if (!hasDate) original.push(`Date: ${formatDate(date)}`);

  return Buffer.concat([
    Buffer.from(`From patchwork ${ctime(date)}\n${ours.join('\n')}\n`, 'utf8'),
    Buffer.from(original.map((l) => l + '\n').join(''), 'latin1'),
    Buffer.from('\n' + body, 'utf8'),
  ]);
}

/** Several submissions in one mbox: Patchwork joins them with a newline (series_to_mbox, bundle_to_mbox). */
export function joinMbox(parts: Buffer[]): Buffer {
  const out: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i) out.push(Buffer.from('\n'));
    out.push(p);
  });
  return Buffer.concat(out);
}

/** Patchwork's FilenameMixin.filename: runs of characters other than `-_A-Za-z0-9.` become `-`, outer dashes go. */
export function mboxFilename(name: string, fallback: string): string {
  const f = trimChars(name.replace(/[^-_A-Za-z0-9.]+/g, '-'), '-');
  return f || fallback;
}

/** public-inbox's first line of every message of its mboxrd output (PublicInbox::Mbox). */
export const MBOXRD_FROM = 'From mboxrd@z Thu Jan  1 00:00:00 1970\n';

/**
 * One stored mail as an mboxrd entry, as public-inbox's /raw and t.mbox.gz give it: the `From mboxrd@z` line, the
 * header without Lines, Bytes, Content-Length and Status (an mbox reader could trust them), the body with every
 * `>*From ` line quoted once more (mboxrd, RFC 4155 §2 leaves quoting to the writer), a final newline and a blank
 * line. Newlines become LF: mbox is a Unix format, and SMTP's CRLF belongs to the transport.
 */
export function mboxrdEntry(raw: Buffer): Buffer {
  const mail = removeHeaders(normalizeNewlines(raw), ['lines', 'bytes', 'content-length', 'status']);
  const { headerEnd, bodyStart } = splitHeader(mail);
  let body = mail.subarray(bodyStart).toString('latin1').replace(/^(>*From )/gm, '>$1');
  if (!body.endsWith('\n')) body += '\n';
  return Buffer.concat([Buffer.from(MBOXRD_FROM, 'latin1'), mail.subarray(0, headerEnd), Buffer.from('\n' + body + '\n', 'latin1')]);
}

/** public-inbox's file name for a message or thread download: its subject without `Re:`, as a safe name. */
export function subjectFilename(subject: string | null): string {
  const s = (subject ?? '').replace(/^re:\s+/i, '');
  return mboxFilename(s, 'no-subject');
}


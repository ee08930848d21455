// Finds the command in a mail to a list's -request address (subject first, then the first lines the sender wrote): pure.
import { MAX_SUBJECT } from '../series/subject.js';
import { trimEndChars } from '../text.js';

export type RequestCommand =
  | { kind: 'subscribe' }
  | { kind: 'unsubscribe' }
  | { kind: 'help' }
  | { kind: 'confirm'; token: string }
  | { kind: 'none' };

/** Confirmation tokens are base64url (crypto.randomBytes(18) → 24 characters); allow some slack for older ones. */
const TOKEN = /^[A-Za-z0-9_-]{16,64}$/;

/** How many lines the sender wrote that we read before giving up (Mailman stops at a similar count). */
const MAX_BODY_LINES = 10;

/**
 * Reply and forward markers that MUAs put before a subject, in several languages, and list tags like "[proctree]".
 * Seen in the wild: "Re: confirm …", "RE: confirm …", "AW: confirm …" (German Outlook), "Sv: …", "Fwd: …".
 */
const SUBJECT_PREFIX = /^\s*(?:(?:re|aw|sv|vs|antw|odp|fw|fwd|tr|wg)(?:\[\d+\])?\s*:|\[[^\]]*\])\s*/i;

/** Each prefix peeled off copies the rest: the subject is cut at MAX_SUBJECT first, so that stays small. */
export function stripSubjectPrefixes(subject: string): string {
  let s = subject.slice(0, MAX_SUBJECT);
  for (let prev = ''; prev !== s; ) {
    prev = s;
    s = s.replace(SUBJECT_PREFIX, '');
  }
  return s.trim();
}

/** One line as a command: its first word, and for `confirm`, a token-shaped second word. */
export function parseCommandLine(line: string): RequestCommand {
  const words = line.trim().split(/\s+/);
  const verb = trimEndChars((words[0] ?? '').toLowerCase(), '.:!,;');
  switch (verb) {
    case 'subscribe':
    case 'join':
      return { kind: 'subscribe' };
    case 'unsubscribe':
    case 'leave':
      return { kind: 'unsubscribe' };
    case 'help':
      return { kind: 'help' };
    case 'confirm': {
      const token = trimEndChars(words[1] ?? '', '.,;');
      return TOKEN.test(token) ? { kind: 'confirm', token } : { kind: 'none' };
    }
    default:
      return { kind: 'none' };
  }
}

/**
 * The lines the sender wrote, in order: empty lines, quoted lines (">") and everything from the signature
 * separator ("-- ", RFC 3676 §4.3) or a quote attribution ("On … wrote:", "-----Original Message-----") on are left out.
 */
export function authoredLines(body: string): string[] {
  const out: string[] = [];
  for (const raw of body.replace(/\r\n?/g, '\n').split('\n')) {
    const line = raw.trimEnd();
    if (line === '--') break;
    if (/^-{2,}\s*(original message|forwarded message)/i.test(line.trim())) break;
    if (/^(on|am|le|el)\s.+(wrote|schrieb|a écrit|escribió)\s*:$/i.test(line.trim())) break;
    if (line.trim() === '' || line.trimStart().startsWith('>')) continue;
    out.push(line.trim());
    if (out.length >= MAX_BODY_LINES) break;
  }
  return out;
}

/** The subject decides when it holds a command; otherwise the first authored body line that is one. */
export function extractCommand(subject: string | null, body: string): RequestCommand {
  if (subject) {
    const fromSubject = parseCommandLine(stripSubjectPrefixes(subject));
    if (fromSubject.kind !== 'none') return fromSubject;
  }
  for (const line of authoredLines(body)) {
    const cmd = parseCommandLine(line);
    if (cmd.kind !== 'none') return cmd;
  }
  return { kind: 'none' };
}

// Reads one stored mail: the MIME parse, and what the route's handler needs from its content (a list post's filing
// and archive entry, a bounce's delivery report). Pure CPU work on hostile text: the mail-reader pool runs it in
// worker threads under a time budget (mail-reader.ts), so that the main thread only does the database work.
import type { MailRoute } from '../db/schema.js';
import { archiveEntry, type ArchiveEntry } from '../mail/archive-entry.js';
import { parseDsn, type Dsn } from '../mail/dsn.js';
import { parseMessage, type ParsedMessage } from '../mail/parse.js';
import { readFiling, type Filing } from '../series/filing.js';
import { boundedReferences } from '../series/limits.js';

/** What a reader needs of a stored mail (plain data: it crosses to a worker thread by structured clone). */
export interface MailJob {
  raw: Uint8Array;
  route: MailRoute;
  /** The project's slug: subject prefixes naming it are dropped from a patch's name. */
  projectSlug: string;
  msgid: string;
  receivedAt: string;
}

/** A list post as the series engine and the archive read it. */
export interface PostReading {
  filing: Filing;
  archive: ArchiveEntry;
}

/** Characters of a post's written and of its quoted text that the archive's search indexes. */
export const MAX_INDEXED_TEXT = 256 * 1024;

export interface ReadMail extends ParsedMessage {
  /**
   * For a list post (or a mail to the bot) that is not malformed; null otherwise. A post's `text` and `attachments` are left empty: what the
   * series engine and the archive need of them is in here, and they would otherwise cross from the worker twice.
   */
  post: PostReading | null;
  /** For the bounces route: its delivery status report, null when it is none; undefined on other routes. */
  dsn?: Dsn | null;
}

export async function readMail(job: MailJob): Promise<ReadMail> {
  const raw = Buffer.isBuffer(job.raw) ? job.raw : Buffer.from(job.raw.buffer, job.raw.byteOffset, job.raw.byteLength);
  const parsed = await parseMessage(raw);
  if (job.route === 'bounces') return { ...parsed, post: null, dsn: parsed.fatal ? null : await parseDsn(raw) };
  // The bot's mail is read as a post too: an answer to a report is filed as a comment (bot.service.ts).
  if ((job.route !== 'list' && job.route !== 'bot') || parsed.fatal) return { ...parsed, post: null };
  const filing = readFiling(
    {
      msgid: job.msgid,
      header: parsed.header,
      parts: parsed,
      from: parsed.from ? { name: parsed.from.name, email: parsed.from.address } : null,
      subject: parsed.subject,
      date: parsed.date,
      fallbackDate: job.receivedAt,
    },
    job.projectSlug,
  );
  const entry = archiveEntry({ msgid: job.msgid, receivedAt: job.receivedAt }, parsed);
  // The archive's thread links are rows per reference: bounded as the series engine's are. Its search text is
  // tokenized by SQLite's FTS5 on the main thread at commit: bounded too (searching the first 256 KB of what a
  // person wrote finds the mail as well as searching all of it would).
  const archive = { ...entry, refs: boundedReferences(entry.refs), body: entry.body.slice(0, MAX_INDEXED_TEXT), quoted: entry.quoted.slice(0, MAX_INDEXED_TEXT) };
  return { ...parsed, text: '', attachments: [], defects: [...parsed.defects, ...filing.defects], post: { filing, archive } };
}

/** How reading one mail ended. `unavailable`: no worker could run it (not the mail's doing). */
export type ReadOutcome =
  | { ok: true; mail: ReadMail }
  | { ok: false; failure: 'threw' | 'timeout' | 'crashed' | 'unavailable'; error: string };

/** Reads several mails, one outcome each in order; never rejects. */
export type ReadMails = (jobs: MailJob[]) => Promise<ReadOutcome[]>;

/** A message and the first frame of its stack: enough for an admin to see which code failed on the mail. */
export function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e).slice(0, 1000);
  const code = (e as { code?: unknown }).code;
  const frame = e.stack?.split('\n').find((l) => l.trim().startsWith('at '))?.trim();
  return [`${e.name}${typeof code === 'string' ? ` ${code}` : ''}: ${e.message}`, frame].filter(Boolean).join(' ').slice(0, 1000);
}

/** Reads on the calling thread, each mail's exception its own; no time budget (tests, tools, one-off reads). */
export const readInThread: ReadMails = (jobs) =>
  Promise.all(
    jobs.map((job) =>
      readMail(job).then(
        (mail): ReadOutcome => ({ ok: true, mail }),
        (e: unknown): ReadOutcome => ({ ok: false, failure: 'threw', error: errorText(e) }),
      ),
    ),
  );

// Backfill: feeds each message of an mbox through the same intake and processing as SMTP, a bounded number at a time.
import v8 from 'node:v8';
import { setBulkLoad, type Db } from '../db/database.js';
import { storedImportIds } from '../db/mail.repository.js';
import type { MailState } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { headerText, headerValue } from '../mail/raw.js';
import { IntakeService } from './intake.service.js';
import type { ReadMails } from './mail-reading.js';
import type { MboxMessage } from './mbox.js';
import { ProcessingService, type RouteHandler } from './processing.service.js';

export interface ImportProject {
  id: number;
  slug: string;
  addresses: { list: string };
}

export interface ImportCounts {
  /** Messages read from the file and finished (stored and processed, or found already stored). */
  done: number;
  /** New mail stored and processed. */
  imported: number;
  /** Already stored (same Message-ID for this list): a re-import changes nothing. */
  duplicates: number;
  /** New mail stored but kept as malformed (NUL bytes, no From, ...). */
  malformed: number;
  /** Stored, but its processing failed on every attempt: kept as quarantined (`patchbay quarantine list`). */
  quarantined: number;
  /** Stored but not processed (the database or the mail reader failed): left in state 'stored' for the next start. */
  failed: number;
}

export interface ImportSummary extends ImportCounts {
  /** Interrupted earlier imports' mail processed first. */
  resumed: number;
  seconds: number;
}

export interface ImportDeps {
  db: Db;
  hostname: string;
  /** The backfill handler the server uses too (createBackfillHandler): files list posts, relays nothing. */
  backfill: RouteHandler;
  /** How mail is read (the mail reader's worker threads with their time budget, or this thread when left out). */
  read?: ReadMails;
  /** Each project's slug by id (ProcessingOptions.slugs). */
  slugs: ReadonlyMap<number, string>;
  /** Attempts before a mail is quarantined (ProcessingOptions.maxAttempts). */
  maxAttempts?: number;
  log: Logger;
}

/**
 * Mails stored, and then filed, per transaction. An import has no SMTP client waiting for its 250, so it takes more
 * than the server's BATCH_SIZE: each commit writes every page the transaction changed to the WAL, and the
 * random-keyed indexes (Message-IDs, hashes) make that a page per mail per index in small transactions. Bigger
 * batches gained little more (1,024: within noise) and hold the write lock longer against a server beside us.
 */
export const IMPORT_BATCH = 256;

export interface ImportOptions {
  /** Messages accepted but not yet processed at any time: bounds memory on a file of any size. */
  maxInFlight?: number;
  onProgress?: (counts: Readonly<ImportCounts>) => void;
}

/** The address in a From header, as the envelope sender an MTA would have used; MAILER-DAEMON when there is none. */
export function envelopeSender(raw: Buffer): string {
  const from = headerValue(headerText(raw), 'from') ?? '';
  // <user@host>, else the first word with an @ inside; each read in one pass (the old unanchored
  // `[^…]+@[^…]+` rescanned a long word from each of its characters).
  const bracketed = /<([^<>\s][^<>\s@]*@[^<>\s]+)>/.exec(from)?.[1];
  return bracketed ?? from.split(/[<>\s"(),:;]+/).find((w) => w.slice(1, -1).includes('@')) ?? 'MAILER-DAEMON';
}

/** Imports messages into one project's list archive: the list mailbox is the recipient, exactly as if sent by SMTP. */
export async function importMessages(
  deps: ImportDeps,
  project: ImportProject,
  messages: AsyncIterable<MboxMessage>,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const started = Date.now();
  await setBulkLoad(deps.db, true);
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  let failed = false;
  try {
    return await importAll(deps, project, messages, options, started);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    v8.setFlagsFromString('--heap-growing-percent=0'); // V8's own choice again
    // Syncs what was imported; after a failure, the failure is what the caller needs to hear about.
    await setBulkLoad(deps.db, false).catch((e: unknown) => {
      if (!failed) throw e;
      deps.log.error({ err: e }, 'restoring the database settings after a failed import failed');
    });
  }
}

/**
 * How far past its live size V8 lets the heap grow before a full collection, while importing. An import allocates
 * some 150 kB per mail and keeps almost none of it; left to itself V8 grows the heap to 4× what is live (a 40 MB live
 * heap peaked at 180 MB, the process at 340 MB for 20,000 mails), which is most of the importer's RSS. At 1.5× the
 * peak RSS is ~100 MB lower for a few more full collections (each ~30 ms, about one per 700 mails).
 */
const HEAP_GROWING_PERCENT = 50;

/** importMessages without the bulk-load settings around it. */
async function importAll(deps: ImportDeps, project: ImportProject, messages: AsyncIterable<MboxMessage>, options: ImportOptions, started: number): Promise<ImportSummary> {
  const maxInFlight = options.maxInFlight ?? IMPORT_BATCH * 4;
  const groupSize = Math.max(1, Math.min(IMPORT_BATCH, maxInFlight));
  const log = deps.log.child({ project: project.slug });
  const counts: ImportCounts = { done: 0, imported: 0, duplicates: 0, malformed: 0, quarantined: 0, failed: 0 };

  // Fresh mail ids whose processing we wait for; and outcomes that arrived before their accept() resolved.
  const waiting = new Set<number>();
  const early = new Map<number, { state: MailState | null; error: unknown }>();
  let inFlight = 0;
  let wake: (() => void) | null = null;
  let storeError: unknown = null;

  const finish = (id: number, state: MailState | null, error: unknown) => {
    waiting.delete(id);
    if (state === 'quarantined') counts.quarantined++;
    else if (error !== undefined) counts.failed++;
    else if (state === 'malformed') counts.malformed++;
    else counts.imported++;
    release();
  };
  const release = () => {
    inFlight--;
    counts.done++;
    options.onProgress?.(counts);
    const w = wake;
    wake = null;
    w?.();
  };

  const resuming = new Set<number>();
  const processing = new ProcessingService(
    deps.db,
    { list: deps.backfill, request: deps.backfill, bounces: deps.backfill, bot: deps.backfill, postmaster: deps.backfill },
    log.child({ subsystem: 'processing' }),
    () => {},
    {
      backfill: deps.backfill,
      read: deps.read,
      slugs: deps.slugs,
      maxAttempts: deps.maxAttempts,
      batchSize: IMPORT_BATCH,
      onProcessed: (id, state, error) => {
        if (resuming.delete(id)) return;
        if (waiting.has(id)) finish(id, state, error);
        else early.set(id, { state, error });
      },
    },
  );
  const intake = new IntakeService(deps.db, deps.hostname, log.child({ subsystem: 'intake' }), (ids) => processing.enqueue(ids));

  // An import stopped part-way (Ctrl-C, crash) left mail stored but unprocessed: finish it before reading on.
  const leftover = await storedImportIds(deps.db, project.id);
  for (const id of leftover) resuming.add(id);
  processing.enqueue(leftover);
  await processing.drain();
  if (leftover.length) log.info({ count: leftover.length }, 'processed mail left by an interrupted import');

  const recipient = { mailbox: { projectId: project.id, slug: project.slug, route: 'list' as const }, address: project.addresses.list };
  const accept = (message: MboxMessage) => {
    inFlight++;
    intake
      .accept({
        raw: message.raw,
        mailFrom: envelopeSender(message.raw),
        recipients: [recipient],
        envelopeTo: [project.addresses.list],
        remoteAddr: null,
        source: 'import',
      })
      .then(
        (stored) => {
          const mail = stored.mails[0]!;
          if (mail.duplicate) {
            counts.duplicates++;
            return release();
          }
          const outcome = early.get(mail.id);
          if (outcome) {
            early.delete(mail.id);
            return finish(mail.id, outcome.state, outcome.error);
          }
          waiting.add(mail.id);
        },
        (e: unknown) => {
          storeError ??= e;
          release();
        },
      );
  };
  // Messages are handed to intake a group at a time, all before it next commits: one transaction (one fsync) stores
  // the group, instead of whatever the file's reader delivered between two turns of the event loop.
  let group: MboxMessage[] = [];
  const acceptGroup = async () => {
    while (inFlight + group.length > maxInFlight && inFlight > 0 && !storeError) await new Promise<void>((resolve) => (wake = resolve));
    if (!storeError) group.forEach(accept);
    group = [];
  };
  for await (const message of messages) {
    group.push(message);
    if (group.length >= groupSize) await acceptGroup();
    if (storeError) break;
  }
  if (!storeError) await acceptGroup();
  while (inFlight > 0) await new Promise<void>((resolve) => (wake = resolve));
  await intake.drain();
  await processing.drain();
  if (storeError) {
    throw storeError instanceof AppError ? storeError : new AppError('unavailable', 'store_failed', `storing imported mail failed: ${String(storeError)}`);
  }
  return { ...counts, resumed: leftover.length, seconds: (Date.now() - started) / 1000 };
}

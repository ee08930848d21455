// Files accepted list posts into the archive's index (threads, search) in the processing transaction; indexes older posts once.
import type { Db, DbOrTx } from '../db/database.js';
import { type ArchiveRow, backfillUpto, clearBackfill, insertArchiveEntries, unindexedPosts } from '../db/archive.repository.js';
import { deferWrite } from '../db/deferred-writes.js';
import type { MailRow } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { archiveEntry, type ArchiveEntry } from '../mail/archive-entry.js';
import { parseMessage } from '../mail/parse.js';
import type { Filing } from '../series/filing.js';
import type { FileMail } from './list.service.js';

const writeIndex = async (tx: DbOrTx, rows: ArchiveRow[]): Promise<void> => {
  await insertArchiveEntries(tx, rows);
};

/** Indexes the post in the caller's transaction: at its end when it files a batch of mails (deferred-writes.ts), else now. */
export async function indexPost(tx: DbOrTx, mail: Pick<MailRow, 'id' | 'project_id'>, entry: ArchiveEntry): Promise<void> {
  await deferWrite(tx, writeIndex, { projectId: mail.project_id, mailId: mail.id, entry });
}

/**
 * A post the list accepts (relayed, approved or imported) is archived in the same transaction that files it into
 * the series engine: what the archive shows and what the tracker knows cannot drift apart, even across a crash.
 */
export function fileWithArchive(file: (tx: DbOrTx, mail: MailRow, filing: Filing) => Promise<unknown>): FileMail {
  return async (tx, mail, read) => {
    // Read by the mail reader as a list post (mail-reading.ts): its filing and archive entry were made off this thread.
    if (!read.post) throw new AppError('internal', 'not_read_as_post', `mail ${mail.id} was not read as a list post`);
    const filed = await file(tx, mail, read.post.filing);
    await indexPost(tx, mail, read.post.archive);
    return filed;
  };
}

const BACKFILL_BATCH = 200;

/**
 * Indexes the archived posts stored before the index existed (migration 0005 noted the highest mail id then), in
 * batches of one transaction each, then forgets the mark. Returns how many posts were indexed.
 */
export async function backfillArchive(db: Db, log: Logger): Promise<number> {
  const upto = await backfillUpto(db);
  if (upto === null) return 0;
  let after = 0;
  let indexed = 0;
  for (;;) {
    const rows = await unindexedPosts(db, after, upto, BACKFILL_BATCH);
    if (!rows.length) break;
    const parsed = await Promise.all(rows.map((r) => parseMessage(r.raw)));
    await db.transaction().execute((tx) =>
      insertArchiveEntries(
        tx,
        rows.map((r, i) => ({ projectId: r.project_id, mailId: r.id, entry: archiveEntry({ msgid: r.msgid, receivedAt: r.received_at }, parsed[i]!) })),
      ),
    );
    indexed += rows.length;
    after = rows[rows.length - 1]!.id;
  }
  await clearBackfill(db);
  if (indexed) log.info({ indexed }, 'archive: indexed posts stored before the index existed');
  return indexed;
}

// SQL for the archive's thread view: a page of the newest posts (their Message-IDs seed the threads, walked by
// archive.repository's threadMailIds) and the In-Reply-To/References of posts, to indent each reply under its parent.
import type { DbOrTx } from './database.js';
import { inScope, type ArchiveScope } from './archive.repository.js';

/** SQLite's bound-parameter limit is far above this; lookups by many ids go in chunks of it. */
const CHUNK = 500;

/** The Message-IDs of one page of the scope's posts, newest first (archive_project_date, or archive_date for all). */
export async function newestMsgids(db: DbOrTx, scope: ArchiveScope, limit: number, offset: number): Promise<string[]> {
  let q = db.selectFrom('archive').select('archive.msgid');
  if (scope !== null) q = q.where(inScope(scope));
  const rows = await q.orderBy('archive.date', 'desc').orderBy('archive.mail_id', 'desc').limit(limit).offset(offset).execute();
  return rows.map((r) => r.msgid);
}

/** Every Message-ID each post refers to (archive_refs' primary key), by post. */
export async function refsOfPosts(db: DbOrTx, mailIds: readonly number[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (let i = 0; i < mailIds.length; i += CHUNK) {
    const rows = await db
      .selectFrom('archive_refs')
      .select(['mail_id', 'ref'])
      .where('mail_id', 'in', mailIds.slice(i, i + CHUNK))
      .execute();
    for (const r of rows) {
      const list = out.get(r.mail_id);
      if (list) list.push(r.ref);
      else out.set(r.mail_id, [r.ref]);
    }
  }
  return out;
}

// SQL for mail to a project's bot address: which series a report's Message-ID belongs to, and that series' root mail.
import type { DbOrTx } from './database.js';

/**
 * The series whose run sent one of these reports (runs.report_msgid), newest run first, with the Message-ID of the
 * mail its reports answer: the cover letter, else the first patch.
 */
export async function seriesOfReport(db: DbOrTx, projectId: number, msgids: string[]): Promise<{ seriesId: number; rootMsgid: string | null } | undefined> {
  if (!msgids.length) return undefined;
  const run = await db
    .selectFrom('runs')
    .select(['runs.series_id'])
    .where('runs.project_id', '=', projectId)
    .where('runs.report_msgid', 'in', msgids)
    .orderBy('runs.id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!run) return undefined;
  return { seriesId: run.series_id, rootMsgid: await seriesRootMsgid(db, run.series_id) };
}

/** The Message-ID of the series' cover letter, else of its first patch. */
export async function seriesRootMsgid(db: DbOrTx, seriesId: number): Promise<string | null> {
  const cover = await db
    .selectFrom('series')
    .innerJoin('covers', 'covers.id', 'series.cover_id')
    .select(['covers.msgid'])
    .where('series.id', '=', seriesId)
    .executeTakeFirst();
  if (cover) return cover.msgid;
  const patch = await db.selectFrom('patches').select(['msgid']).where('series_id', '=', seriesId).orderBy('number').orderBy('id').limit(1).executeTakeFirst();
  return patch?.msgid ?? null;
}

/** The series a comment was filed on (through its patch or its cover letter). */
export async function seriesOfComment(db: DbOrTx, commentId: number): Promise<number | null> {
  const row = await db
    .selectFrom('comments')
    .leftJoin('patches', 'patches.id', 'comments.patch_id')
    .leftJoin('covers', 'covers.id', 'comments.cover_id')
    .select(['patches.series_id as patch_series', 'covers.series_id as cover_series'])
    .where('comments.id', '=', commentId)
    .executeTakeFirst();
  return row?.patch_series ?? row?.cover_series ?? null;
}

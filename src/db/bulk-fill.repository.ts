// Bulk inserts for benchmarks: generated tracker rows through prepared statements on the raw connection, in large transactions.
import type SQLite from 'better-sqlite3';

/*
 * kysely builds and prepares each statement per call (the statement cache in database.ts helps, but values still go
 * through the query compiler); a million patches take minutes that way. These statements are prepared once and
 * bound positionally. They write the same columns the repositories write; only benchmarks use them.
 */

export interface BulkMail {
  projectId: number;
  msgid: string;
  raw: Buffer;
  fromAddr: string;
  subject: string;
  date: string;
}

export interface BulkSeries {
  projectId: number;
  submitterId: number;
  name: string;
  version: number;
  total: number;
  date: string;
  titleNorm: string;
}

export interface BulkPatch {
  projectId: number;
  mailId: number;
  msgid: string;
  seriesId: number;
  number: number;
  submitterId: number;
  name: string;
  content: string;
  diff: string;
  hash: string;
  date: string;
  state: string;
  delegateId: number | null;
  archived: boolean;
  commitRef: string | null;
  reviewed: number;
}

export interface BulkEvent {
  projectId: number;
  category: string;
  date: string;
  patchId?: number;
  seriesId?: number;
  coverId?: number;
  commentId?: number;
  actorId?: number;
  payload?: string;
}

export type BulkWriter = ReturnType<typeof bulkWriter>;

export function bulkWriter(sqlite: SQLite.Database) {
  const mail = sqlite.prepare(
    `insert into mails (project_id, route, recipient, msgid, msgid_generated, envelope_from, envelope_to, remote_addr, source, raw, size, received_at, state, reason, defects, from_addr, subject, date, processed_at)
     values (?, 'list', ?, ?, 0, ?, ?, null, 'import', ?, ?, ?, 'processed', 'imported', null, ?, ?, ?, ?)`,
  );
  const person = sqlite.prepare('insert into people (email, name, created_at) values (?, ?, ?)');
  const series = sqlite.prepare(
    `insert into series (project_id, submitter_id, name, version, total, date, cover_id, batch, title_norm, change_id, completed, created_at)
     values (?, ?, ?, ?, ?, ?, null, null, ?, null, 1, ?)`,
  );
  const setCover = sqlite.prepare('update series set cover_id = ? where id = ?');
  const cover = sqlite.prepare('insert into covers (project_id, mail_id, msgid, series_id, submitter_id, name, content, date) values (?, ?, ?, ?, ?, ?, ?, ?)');
  const patch = sqlite.prepare(
    `insert into patches (project_id, mail_id, msgid, series_id, number, submitter_id, name, content, diff, hash, pull_url, date, state, delegate_id, archived, commit_ref, acked, reviewed, tested, base_commit, change_id, signoff_ok, student_id, replaced_by)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, ?, ?, ?, ?, ?, 0, ?, 0, null, null, 1, null, null)`,
  );
  const comment = sqlite.prepare('insert into comments (project_id, mail_id, msgid, patch_id, cover_id, submitter_id, content, date) values (?, ?, ?, ?, ?, ?, ?, ?)');
  const event = sqlite.prepare(
    'insert into events (project_id, category, date, actor_id, patch_id, series_id, cover_id, comment_id, payload) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const check = sqlite.prepare('insert into checks (patch_id, user_id, date, state, target_url, context, description) values (?, ?, ?, ?, ?, ?, ?)');
  const archive = sqlite.prepare('insert into archive (mail_id, project_id, msgid, date, subject, sender) values (?, ?, ?, ?, ?, ?)');
  const archiveRef = sqlite.prepare('insert or ignore into archive_refs (mail_id, ref) values (?, ?)');
  const archiveFts = sqlite.prepare('insert into archive_fts (rowid, subject, sender, recipients, body, quoted) values (?, ?, ?, ?, ?, ?)');
  const id = (r: SQLite.RunResult) => Number(r.lastInsertRowid);

  return {
    /** A generated database need not survive a power cut while it is filled; the server reopens it with its own settings. */
    relaxDurability(): void {
      sqlite.pragma('synchronous = OFF');
    },
    /**
     * Drops the secondary indexes of the tables the fill writes and returns what rebuilds them (rebuildIndexes). At a
     * million patches, keeping ~40 indexes on random keys (message ids, hashes, titles) up to date row by row costs
     * most of the fill once they outgrow the page cache; building each once from sorted rows at the end does not.
     * Primary keys stay (archive_refs' `insert or ignore` relies on its own). Only for a database nobody else reads.
     */
    deferIndexes(): () => void {
      const tables = ['mails', 'people', 'series', 'covers', 'patches', 'comments', 'events', 'checks', 'archive', 'archive_refs'];
      // The cache's change-generation triggers go too (one upsert per row otherwise): a filled database starts with
      // an empty cache, so no reader can hold an answer the missed counts would have invalidated.
      const rows = sqlite
        .prepare(`select type, name, sql from sqlite_master where type in ('index', 'trigger') and sql is not null and tbl_name in (select value from json_each(?))`)
        .all(JSON.stringify(tables)) as { type: 'index' | 'trigger'; name: string; sql: string }[];
      for (const r of rows) sqlite.exec(`drop ${r.type} "${r.name.replaceAll('"', '""')}"`);
      return () => {
        for (const r of rows) sqlite.exec(r.sql);
      };
    },
    transaction<T>(fn: () => T): T {
      return sqlite.transaction(fn)();
    },
    person: (email: string, name: string, at: string) => id(person.run(email, name, at)),
    mail: (m: BulkMail, listAddress: string) =>
      id(mail.run(m.projectId, listAddress, m.msgid, m.fromAddr, JSON.stringify([listAddress]), m.raw, m.raw.length, m.date, m.fromAddr, m.subject, m.date, m.date)),
    series: (s: BulkSeries) => id(series.run(s.projectId, s.submitterId, s.name, s.version, s.total, s.date, s.titleNorm, s.date)),
    cover(c: { projectId: number; mailId: number; msgid: string; seriesId: number; submitterId: number; name: string; content: string; date: string }): number {
      const coverId = id(cover.run(c.projectId, c.mailId, c.msgid, c.seriesId, c.submitterId, c.name, c.content, c.date));
      setCover.run(coverId, c.seriesId);
      return coverId;
    },
    patch: (p: BulkPatch) =>
      id(
        patch.run(p.projectId, p.mailId, p.msgid, p.seriesId, p.number, p.submitterId, p.name, p.content, p.diff, p.hash, p.date, p.state, p.delegateId, p.archived ? 1 : 0, p.commitRef, p.reviewed),
      ),
    comment: (c: { projectId: number; mailId: number; msgid: string; patchId: number; submitterId: number; content: string; date: string }) =>
      id(comment.run(c.projectId, c.mailId, c.msgid, c.patchId, null, c.submitterId, c.content, c.date)),
    event: (e: BulkEvent) => {
      event.run(e.projectId, e.category, e.date, e.actorId ?? null, e.patchId ?? null, e.seriesId ?? null, e.coverId ?? null, e.commentId ?? null, e.payload ?? null);
    },
    check: (c: { patchId: number; userId: number; date: string; state: string; targetUrl: string; context: string; description: string }) => {
      check.run(c.patchId, c.userId, c.date, c.state, c.targetUrl, c.context, c.description);
    },
    /** The archive's index of one post (migration 0005), as indexPost writes it. */
    archive(a: { mailId: number; projectId: number; msgid: string; date: string; subject: string; sender: string; refs: string[]; recipients: string; body: string }): void {
      archive.run(a.mailId, a.projectId, a.msgid, a.date, a.subject, a.sender);
      for (const ref of a.refs) archiveRef.run(a.mailId, ref);
      archiveFts.run(a.mailId, a.subject, a.sender, a.recipients, a.body, '');
    },
    counts(): Record<string, number> {
      const row = sqlite
        .prepare(
          `select (select count(*) from mails) as mails, (select count(*) from series) as series, (select count(*) from patches) as patches,
                  (select count(*) from covers) as covers, (select count(*) from comments) as comments, (select count(*) from events) as events,
                  (select count(*) from checks) as checks, (select count(*) from archive) as archive`,
        )
        .get() as Record<string, number>;
      return { ...row };
    },
  };
}

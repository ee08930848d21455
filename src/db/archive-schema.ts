// Row types of the list archive's index (migration 0005): archived posts, their thread links, full-text search.

export interface ArchiveTable {
  mail_id: number;
  project_id: number;
  msgid: string;
  date: string;
  subject: string;
  sender: string;
}

export interface ArchiveRefsTable {
  mail_id: number;
  ref: string;
}

/** FTS5 virtual table; rowid is the mail id. */
export interface ArchiveFtsTable {
  rowid: number;
  subject: string;
  sender: string;
  recipients: string;
  body: string;
  quoted: string;
}

export interface ArchiveBackfillTable {
  upto: number;
}

export interface ArchiveDatabase {
  archive: ArchiveTable;
  archive_refs: ArchiveRefsTable;
  archive_fts: ArchiveFtsTable;
  archive_backfill: ArchiveBackfillTable;
}

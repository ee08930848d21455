// The list archive's index (public-inbox layout): one row per archived post, its thread links, and full-text search.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // One row per post the list accepted (relayed, approved or imported): what the archive serves.
  await db.schema
    .createTable('archive')
    .addColumn('mail_id', 'integer', (c) => c.primaryKey().references('mails.id'))
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('msgid', 'text', (c) => c.notNull())
    .addColumn('date', 'text', (c) => c.notNull()) // ISO: the Date header, else the time received
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('sender', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('archive_msgid').on('archive').columns(['msgid', 'mail_id']).execute();
  await db.schema.createIndex('archive_project_msgid').on('archive').columns(['project_id', 'msgid']).execute();
  await db.schema.createIndex('archive_project_date').on('archive').columns(['project_id', 'date']).execute();
  await db.schema.createIndex('archive_date').on('archive').columns(['date']).execute();

  // In-Reply-To and References of each post: threads are walked both ways over these (RFC 5322 §3.6.4).
  await db.schema
    .createTable('archive_refs')
    .addColumn('mail_id', 'integer', (c) => c.notNull().references('archive.mail_id'))
    .addColumn('ref', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('archive_refs_pk', ['mail_id', 'ref'])
    .execute();
  await db.schema.createIndex('archive_refs_ref').on('archive_refs').columns(['ref', 'mail_id']).execute();

  // Contentless FTS5 (the text is in mails.raw already); rowid = mail_id. unicode61 folds case and diacritics, as
  // Xapian's term generator does for public-inbox.
  await sql`create virtual table archive_fts using fts5(subject, sender, recipients, body, quoted, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')`.execute(db);

  // Posts archived before this migration are indexed by the server at its next start, then this row goes.
  await db.schema.createTable('archive_backfill').addColumn('upto', 'integer', (c) => c.notNull()).execute();
  await sql`insert into archive_backfill (upto) select max(id) from mails having max(id) is not null`.execute(db);
}

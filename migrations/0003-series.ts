// Series engine: people, series (and the Message-IDs each has claimed), covers, patches, comments, revisions, events.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('people')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('email', 'text', (c) => c.notNull().unique()) // lowercased
    .addColumn('name', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('series')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('submitter_id', 'integer', (c) => c.notNull().references('people.id'))
    .addColumn('name', 'text')
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('total', 'integer', (c) => c.notNull())
    .addColumn('date', 'text', (c) => c.notNull())
    .addColumn('cover_id', 'integer')
    .addColumn('batch', 'text')
    .addColumn('title_norm', 'text')
    .addColumn('change_id', 'text')
    .addColumn('completed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('series_nearby').on('series').columns(['project_id', 'submitter_id', 'version', 'total', 'date']).execute();
  await db.schema.createIndex('series_title').on('series').columns(['project_id', 'title_norm']).execute();
  await db.schema.createIndex('series_change_id').on('series').columns(['project_id', 'change_id']).execute();

  // Patchwork's SeriesReference: every Message-ID a series' mails carry or reference, first claim wins.
  await db.schema
    .createTable('series_refs')
    .addColumn('project_id', 'integer', (c) => c.notNull())
    .addColumn('msgid', 'text', (c) => c.notNull())
    .addColumn('series_id', 'integer', (c) => c.notNull().references('series.id').onDelete('cascade'))
    .execute();
  await db.schema.createIndex('series_refs_msgid').on('series_refs').columns(['project_id', 'msgid']).unique().execute();
  await db.schema.createIndex('series_refs_series').on('series_refs').columns(['series_id']).execute();

  await db.schema
    .createTable('covers')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('mail_id', 'integer', (c) => c.notNull().references('mails.id'))
    .addColumn('msgid', 'text', (c) => c.notNull())
    .addColumn('series_id', 'integer', (c) => c.references('series.id'))
    .addColumn('submitter_id', 'integer', (c) => c.notNull().references('people.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('date', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('covers_msgid').on('covers').columns(['project_id', 'msgid']).unique().execute();

  await db.schema
    .createTable('patches')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('mail_id', 'integer', (c) => c.notNull().references('mails.id'))
    .addColumn('msgid', 'text', (c) => c.notNull())
    .addColumn('series_id', 'integer', (c) => c.notNull().references('series.id'))
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('submitter_id', 'integer', (c) => c.notNull().references('people.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('diff', 'text')
    .addColumn('hash', 'text')
    .addColumn('pull_url', 'text')
    .addColumn('date', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('delegate_id', 'integer')
    .addColumn('archived', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('commit_ref', 'text')
    .addColumn('acked', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reviewed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('tested', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('base_commit', 'text')
    .addColumn('change_id', 'text')
    .addColumn('signoff_ok', 'integer', (c) => c.notNull())
    .addColumn('student_id', 'integer')
    .addColumn('replaced_by', 'integer')
    .execute();
  await db.schema.createIndex('patches_msgid').on('patches').columns(['project_id', 'msgid']).unique().execute();
  await db.schema.createIndex('patches_series').on('patches').columns(['series_id', 'number']).execute();
  await db.schema.createIndex('patches_list').on('patches').columns(['project_id', 'state', 'archived', 'date']).execute();
  await db.schema.createIndex('patches_hash').on('patches').columns(['hash']).execute();

  await db.schema
    .createTable('comments')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('mail_id', 'integer', (c) => c.notNull().references('mails.id'))
    .addColumn('msgid', 'text', (c) => c.notNull())
    .addColumn('patch_id', 'integer', (c) => c.references('patches.id'))
    .addColumn('cover_id', 'integer', (c) => c.references('covers.id'))
    .addColumn('submitter_id', 'integer', (c) => c.notNull().references('people.id'))
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('date', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('comments_msgid').on('comments').columns(['project_id', 'msgid']).unique().execute();
  await db.schema.createIndex('comments_patch').on('comments').columns(['patch_id']).execute();
  await db.schema.createIndex('comments_cover').on('comments').columns(['cover_id']).execute();

  // A series is a revision of at most one earlier series; the reason says why the link was made.
  await db.schema
    .createTable('revisions')
    .addColumn('series_id', 'integer', (c) => c.primaryKey().references('series.id'))
    .addColumn('previous_id', 'integer', (c) => c.notNull().references('series.id'))
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull()) // parser | maintainer
    .addColumn('announced', 'integer', (c) => c.notNull().defaultTo(0)) // series-new-revision emitted
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('revisions_previous').on('revisions').columns(['previous_id']).execute();

  await db.schema
    .createTable('events')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('date', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'integer')
    .addColumn('patch_id', 'integer')
    .addColumn('series_id', 'integer')
    .addColumn('cover_id', 'integer')
    .addColumn('comment_id', 'integer')
    .addColumn('payload', 'text') // JSON: previous/current state or delegate, revision reason, …
    .execute();
  await db.schema.createIndex('events_project').on('events').columns(['project_id', 'date']).execute();
  await db.schema.createIndex('events_category').on('events').columns(['category', 'id']).execute();
}

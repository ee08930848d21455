// Initial schema: projects, the durable mail store, the outbound queue, subscribers, bounces and the roster.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('projects')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('slug', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('list_address', 'text', (c) => c.notNull().unique())
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  // One row per (project, route, Message-ID): the raw bytes exactly as received, plus what processing decided.
  await db.schema
    .createTable('mails')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('route', 'text', (c) => c.notNull()) // list | request | bounces | bot
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('msgid', 'text', (c) => c.notNull())
    .addColumn('msgid_generated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('envelope_from', 'text', (c) => c.notNull())
    .addColumn('envelope_to', 'text', (c) => c.notNull()) // JSON array
    .addColumn('remote_addr', 'text')
    .addColumn('source', 'text', (c) => c.notNull()) // smtp | import
    .addColumn('raw', 'blob', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('stored')) // stored | processed | held | rejected | malformed
    .addColumn('reason', 'text')
    .addColumn('defects', 'text') // JSON array of defect codes
    .addColumn('from_addr', 'text')
    .addColumn('subject', 'text')
    .addColumn('date', 'text')
    .addColumn('processed_at', 'text')
    .execute();
  await db.schema.createIndex('mails_msgid_unique').on('mails').columns(['project_id', 'route', 'msgid']).unique().execute();
  await db.schema.createIndex('mails_state').on('mails').columns(['state', 'id']).execute();

  await db.schema
    .createTable('outbound')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('project_id', 'integer', (c) => c.references('projects.id'))
    .addColumn('kind', 'text', (c) => c.notNull()) // list | confirm | help | notice | report
    .addColumn('mail_id', 'integer', (c) => c.references('mails.id')) // relayed mail: body taken from mails.raw
    .addColumn('prefix', 'text') // header lines put before the relayed mail
    .addColumn('raw', 'blob') // a mail of our own
    .addColumn('envelope_from', 'text', (c) => c.notNull())
    .addColumn('rcpt', 'text', (c) => c.notNull())
    .addColumn('subscriber_id', 'integer')
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('queued')) // queued | sent | kept | bounced | failed
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('outbound_due').on('outbound').columns(['state', 'next_attempt_at']).execute();

  await db.schema
    .createTable('subscribers')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('email', 'text', (c) => c.notNull()) // lowercased
    .addColumn('name', 'text')
    .addColumn('state', 'text', (c) => c.notNull()) // pending | active | disabled | unsubscribed
    .addColumn('token', 'text', (c) => c.notNull().unique()) // one-click unsubscribe
    .addColumn('confirm_token', 'text', (c) => c.unique())
    .addColumn('confirm_action', 'text') // subscribe | unsubscribe
    .addColumn('bounce_score', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('subscribers_email').on('subscribers').columns(['project_id', 'email']).unique().execute();

  await db.schema
    .createTable('bounces')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('subscriber_id', 'integer', (c) => c.notNull().references('subscribers.id'))
    .addColumn('outbound_id', 'integer')
    .addColumn('mail_id', 'integer')
    .addColumn('kind', 'text', (c) => c.notNull()) // dsn | smtp
    .addColumn('detail', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('students')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('project_id', 'integer', (c) => c.notNull().references('projects.id'))
    .addColumn('login', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('students_login').on('students').columns(['project_id', 'login']).unique().execute();
  await db.schema
    .createTable('student_emails')
    .addColumn('student_id', 'integer', (c) => c.notNull().references('students.id').onDelete('cascade'))
    .addColumn('email', 'text', (c) => c.notNull()) // lowercased
    .execute();
  await db.schema.createIndex('student_emails_email').on('student_emails').columns(['email', 'student_id']).unique().execute();
}

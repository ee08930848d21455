// Row types of every table, as kysely sees them. Booleans are 0 | 1, times are ISO strings.
import type { Generated, Insertable, Selectable } from 'kysely';
import type { ApiDatabase } from './api-schema.js';
import type { ArchiveDatabase } from './archive-schema.js';
import type { AssignmentDatabase } from './assignment-schema.js';
import type { PipelineDatabase } from './pipeline-schema.js';
import type { SeriesDatabase } from './series-schema.js';
import type { SessionDatabase } from './session-schema.js';
import type { WorkerDatabase } from './worker-schema.js';

export interface ProjectsTable {
  id: Generated<number>;
  slug: string;
  name: string;
  list_address: string;
  policy: string;
  created_at: string;
}

export type MailRoute = 'list' | 'request' | 'bounces' | 'bot' | 'postmaster';
/**
 * `quarantined`: its processing failed (threw, ran past the time budget, or the process died while filing it) on
 * every attempt; kept with the error as its reason until an admin retries it (`patchbay quarantine`).
 */
export type MailState = 'stored' | 'processed' | 'held' | 'rejected' | 'malformed' | 'quarantined';

export interface MailsTable {
  id: Generated<number>;
  project_id: number;
  route: MailRoute;
  recipient: string;
  msgid: string;
  msgid_generated: 0 | 1;
  envelope_from: string;
  envelope_to: string;
  remote_addr: string | null;
  source: 'smtp' | 'import';
  raw: Buffer;
  size: number;
  received_at: string;
  state: Generated<MailState>;
  reason: string | null;
  defects: string | null;
  from_addr: string | null;
  subject: string | null;
  date: string | null;
  processed_at: string | null;
}

/** Processing attempts of a mail, counted before each one starts (migration 0009). */
export interface MailAttemptsTable {
  mail_id: number;
  attempts: number;
  last_error: string | null;
  last_attempt_at: string;
}

export type OutboundState = 'queued' | 'sent' | 'kept' | 'bounced' | 'failed';

export interface OutboundTable {
  id: Generated<number>;
  project_id: number | null;
  kind: string;
  mail_id: number | null;
  prefix: string | null;
  /** JSON array of header names removed from the relayed mail before the prefix is put on. */
  strip_headers: string | null;
  raw: Buffer | null;
  envelope_from: string;
  rcpt: string;
  subscriber_id: number | null;
  state: Generated<OutboundState>;
  attempts: Generated<number>;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export type SubscriberState = 'pending' | 'active' | 'disabled' | 'unsubscribed';

export interface SubscribersTable {
  id: Generated<number>;
  project_id: number;
  email: string;
  name: string | null;
  state: SubscriberState;
  token: string;
  confirm_token: string | null;
  confirm_action: 'subscribe' | 'unsubscribe' | null;
  bounce_score: Generated<number>;
  created_at: string;
  updated_at: string;
}

export interface BouncesTable {
  id: Generated<number>;
  subscriber_id: number;
  outbound_id: number | null;
  mail_id: number | null;
  kind: 'dsn' | 'smtp';
  detail: string;
  created_at: string;
}

export interface StudentsTable {
  id: Generated<number>;
  project_id: number;
  login: string;
  name: string;
  created_at: string;
}

export interface StudentEmailsTable {
  student_id: number;
  email: string;
}

export interface Database extends SeriesDatabase, AssignmentDatabase, ArchiveDatabase, ApiDatabase, PipelineDatabase, SessionDatabase, WorkerDatabase {
  projects: ProjectsTable;
  mails: MailsTable;
  mail_attempts: MailAttemptsTable;
  outbound: OutboundTable;
  subscribers: SubscribersTable;
  bounces: BouncesTable;
  students: StudentsTable;
  student_emails: StudentEmailsTable;
}

export type MailRow = Selectable<MailsTable>;
export type NewMail = Insertable<MailsTable>;
export type OutboundRow = Selectable<OutboundTable>;
export type NewOutbound = Insertable<OutboundTable>;
export type SubscriberRow = Selectable<SubscribersTable>;

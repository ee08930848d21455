// SQL for processing attempts and the quarantine: attempts counted before each try, failures, quarantined mails.
import { sql } from 'kysely';
import type { DbOrTx } from './database.js';
import { prepared } from './prepared.js';
import type { MailRow } from './schema.js';

/** A stored mail with the processing attempts already started on it (0 for a fresh one). */
export type MailForProcessing = MailRow & { attempts: number };

// Lists of ids go in as one JSON parameter: one statement text (one prepared statement) for any number of them.
const idsIn = (json: string) => sql<number>`(select value from json_each(${json}))`;

/** The rows for these ids, in id order, each with its attempts (missing ids are left out). */
export async function mailsForProcessing(db: DbOrTx, ids: number[]): Promise<MailForProcessing[]> {
  if (!ids.length) return [];
  return mailsForProcessingQuery(db, { ids: JSON.stringify(ids) });
}

const mailsForProcessingQuery = prepared((db, p: { ids: string }) =>
  db
    .selectFrom('mails')
    .leftJoin('mail_attempts', 'mail_attempts.mail_id', 'mails.id')
    .selectAll('mails')
    .select(sql<number>`coalesce(mail_attempts.attempts, 0)`.as('attempts'))
    .where('mails.id', 'in', idsIn(p.ids))
    .orderBy('mails.id'),
);

/**
 * Counts one more attempt on each mail; the caller commits this before the attempt starts, so that an attempt the
 * process does not survive (out of memory, killed by an operator) is counted too.
 */
export async function bumpAttempts(db: DbOrTx, ids: number[], at: string): Promise<void> {
  if (!ids.length) return;
  await bumpQuery(db, { ids: JSON.stringify(ids), at });
}

const bumpQuery = prepared((db, p: { ids: string; at: string }) =>
  db
    .insertInto('mail_attempts')
    .columns(['mail_id', 'attempts', 'last_attempt_at'])
    .expression((eb) => eb.selectFrom(sql<{ value: number }>`json_each(${p.ids})`.as('j')).select([sql<number>`j.value`.as('mail_id'), sql<number>`1`.as('attempts'), sql<string>`${p.at}`.as('at')]).where(sql<boolean>`true`))
    .onConflict((oc) => oc.column('mail_id').doUpdateSet({ attempts: sql<number>`mail_attempts.attempts + 1`, last_attempt_at: (eb) => eb.ref('excluded.last_attempt_at') })),
);

/** Takes back an attempt that never ran on the mail itself (the reading pool could not start a worker). */
export async function unbumpAttempt(db: DbOrTx, id: number): Promise<void> {
  await db.updateTable('mail_attempts').set({ attempts: sql<number>`max(attempts - 1, 0)` }).where('mail_id', '=', id).execute();
}

/** Why the mail's last attempt failed; it stays `stored` and is tried again. */
export async function recordAttemptError(db: DbOrTx, id: number, error: string): Promise<void> {
  await db.updateTable('mail_attempts').set({ last_error: error }).where('mail_id', '=', id).execute();
}

/** Quarantines a stored mail: kept as received, its state and reason say why; the attempts row keeps the error too. */
export async function quarantineMail(db: DbOrTx, id: number, reason: string, at: string): Promise<boolean> {
  const r = await db.updateTable('mails').set({ state: 'quarantined', reason, processed_at: at }).where('id', '=', id).where('state', '=', 'stored').executeTakeFirst();
  await db.updateTable('mail_attempts').set({ last_error: reason }).where('mail_id', '=', id).execute();
  return Number(r.numUpdatedRows) > 0;
}

export interface QuarantinedMail {
  id: number;
  projectId: number;
  route: string;
  msgid: string;
  envelopeFrom: string;
  fromAddr: string | null;
  subject: string | null;
  size: number;
  receivedAt: string;
  quarantinedAt: string | null;
  attempts: number;
  error: string | null;
}

/** Quarantined mails, newest first, one page; and how many there are. */
export async function listQuarantined(db: DbOrTx, q: { limit: number; offset: number }): Promise<{ total: number; rows: QuarantinedMail[] }> {
  const total = await countQuarantined(db);
  const rows = await db
    .selectFrom('mails')
    .leftJoin('mail_attempts', 'mail_attempts.mail_id', 'mails.id')
    .select([
      'mails.id',
      'mails.project_id',
      'mails.route',
      'mails.msgid',
      'mails.envelope_from',
      'mails.from_addr',
      'mails.subject',
      'mails.size',
      'mails.received_at',
      'mails.processed_at',
      'mails.reason',
      sql<number>`coalesce(mail_attempts.attempts, 0)`.as('attempts'),
    ])
    .where('mails.state', '=', 'quarantined')
    .orderBy('mails.id', 'desc')
    .limit(q.limit)
    .offset(q.offset)
    .execute();
  return {
    total,
    rows: rows.map((r) => ({
      id: r.id,
      projectId: r.project_id,
      route: r.route,
      msgid: r.msgid,
      envelopeFrom: r.envelope_from,
      fromAddr: r.from_addr,
      subject: r.subject,
      size: r.size,
      receivedAt: r.received_at,
      quarantinedAt: r.processed_at,
      attempts: r.attempts,
      error: r.reason,
    })),
  };
}

export async function countQuarantined(db: DbOrTx): Promise<number> {
  const r = await db
    .selectFrom('mails')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', '=', 'quarantined')
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Puts a quarantined mail back in state `stored` with `attemptsLeft` tries before it is quarantined again (an
 * admin's retry). False when the mail is not quarantined (never was, or another admin retried it meanwhile).
 */
export async function releaseQuarantined(db: DbOrTx, id: number, attempts: number, at: string): Promise<boolean> {
  const r = await db.updateTable('mails').set({ state: 'stored', reason: null, processed_at: null }).where('id', '=', id).where('state', '=', 'quarantined').executeTakeFirst();
  if (!Number(r.numUpdatedRows)) return false;
  await db
    .insertInto('mail_attempts')
    .values({ mail_id: id, attempts, last_error: null, last_attempt_at: at })
    .onConflict((oc) => oc.column('mail_id').doUpdateSet({ attempts, last_error: null }))
    .execute();
  return true;
}

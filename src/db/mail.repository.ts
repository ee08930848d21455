// SQL for the durable mail store: raw messages as received and the state of their processing.
import { sql } from 'kysely';
import type { DbOrTx } from './database.js';
import { prepared } from './prepared.js';
import type { MailRow, MailState, NewMail } from './schema.js';

/** Inserts the rows; a (project, route, msgid) already stored is skipped. Returns the new ids and the duplicates' ids. */
export async function insertMails(db: DbOrTx, rows: NewMail[]): Promise<{ id: number; duplicate: boolean }[]> {
  const out: { id: number; duplicate: boolean }[] = [];
  for (const row of rows) {
    const inserted = (await insertMailQuery(db, row))[0];
    if (inserted) {
      out.push({ id: inserted.id, duplicate: false });
    } else {
      const existing = (await mailIdQuery(db, row))[0]!;
      out.push({ id: existing.id, duplicate: true });
    }
  }
  return out;
}

const insertMailQuery = prepared((db, row: NewMail) =>
  db
    .insertInto('mails')
    .values({
      project_id: row.project_id,
      route: row.route,
      recipient: row.recipient,
      msgid: row.msgid,
      msgid_generated: row.msgid_generated,
      envelope_from: row.envelope_from,
      envelope_to: row.envelope_to,
      remote_addr: row.remote_addr,
      source: row.source,
      raw: row.raw,
      size: row.size,
      received_at: row.received_at,
    })
    .onConflict((oc) => oc.columns(['project_id', 'route', 'msgid']).doNothing())
    .returning('id'),
);

const mailIdQuery = prepared((db, row: Pick<NewMail, 'project_id' | 'route' | 'msgid'>) =>
  db.selectFrom('mails').select('id').where('project_id', '=', row.project_id).where('route', '=', row.route).where('msgid', '=', row.msgid),
);

export async function getMail(db: DbOrTx, id: number): Promise<MailRow | undefined> {
  return db.selectFrom('mails').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function idsInState(db: DbOrTx, state: MailState, limit = 10_000): Promise<number[]> {
  const rows = await db.selectFrom('mails').select('id').where('state', '=', state).orderBy('id').limit(limit).execute();
  return rows.map((r) => r.id);
}

/** The current state of each of these mails, read inside the caller's transaction. */
export async function mailStates(db: DbOrTx, ids: number[]): Promise<Map<number, MailState>> {
  if (!ids.length) return new Map();
  const rows = await mailStatesQuery(db, { ids: JSON.stringify(ids) });
  return new Map(rows.map((r) => [r.id, r.state]));
}

// Lists of ids go in as one JSON parameter: one statement text (one prepared statement) for any number of them.
const idsIn = (json: string) => sql<number>`(select value from json_each(${json}))`;

const mailStatesQuery = prepared((db, p: { ids: string }) => db.selectFrom('mails').select(['id', 'state']).where('id', 'in', idsIn(p.ids)));

/** Mail of one project that an interrupted `patchbay import` stored but did not process. */
export async function storedImportIds(db: DbOrTx, projectId: number): Promise<number[]> {
  const rows = await db
    .selectFrom('mails')
    .select('id')
    .where('project_id', '=', projectId)
    .where('source', '=', 'import')
    .where('state', '=', 'stored')
    .orderBy('id')
    .execute();
  return rows.map((r) => r.id);
}

export interface MailOutcome {
  state: MailState;
  reason: string | null;
  defects: string[];
  fromAddr: string | null;
  subject: string | null;
  date: string | null;
  processedAt: string;
}

export async function recordOutcome(db: DbOrTx, id: number, o: MailOutcome): Promise<void> {
  await recordOutcomes(db, [{ id, ...o }]);
}

/** The outcomes of several mails in one statement (a processing batch's, at its end: deferred-writes.ts). */
export async function recordOutcomes(db: DbOrTx, outcomes: (MailOutcome & { id: number })[]): Promise<void> {
  if (!outcomes.length) return;
  await recordOutcomesQuery(db, {
    rows: JSON.stringify(outcomes.map((o) => [o.id, o.state, o.reason, o.defects.length ? JSON.stringify(o.defects) : null, o.fromAddr, o.subject, o.date, o.processedAt])),
  });
}

const recordOutcomesQuery = prepared((db, p: { rows: string }) => {
  const at = <T>(n: number) => sql<T>`${sql.raw(`j.value ->> ${n}`)}`;
  return (
    db
      .updateTable('mails')
      // One row per outcome; SQLite finds each mail by its id (UPDATE … FROM, lang_update.html#update_from).
      .from(sql<{ key: number; value: unknown }>`json_each(${p.rows})`.as('j'))
      .set({
        state: at<MailState>(1),
        reason: at<string | null>(2),
        defects: at<string | null>(3),
        from_addr: at<string | null>(4),
        subject: at<string | null>(5),
        date: at<string | null>(6),
        processed_at: at<string>(7),
      })
      .where('mails.id', '=', at<number>(0))
  );
});

export async function setMailState(db: DbOrTx, id: number, state: MailState, reason: string | null): Promise<void> {
  await db.updateTable('mails').set({ state, reason }).where('id', '=', id).execute();
}

export interface MailSummary {
  id: number;
  msgid: string;
  route: string;
  state: MailState;
  reason: string | null;
  defects: string[];
  fromAddr: string | null;
  subject: string | null;
  receivedAt: string;
}

export async function listMails(
  db: DbOrTx,
  filter: { projectId?: number; state?: MailState; route?: string },
): Promise<MailSummary[]> {
  let q = db
    .selectFrom('mails')
    .select(['id', 'msgid', 'route', 'state', 'reason', 'defects', 'from_addr', 'subject', 'received_at'])
    .orderBy('id');
  if (filter.projectId !== undefined) q = q.where('project_id', '=', filter.projectId);
  if (filter.state) q = q.where('state', '=', filter.state);
  if (filter.route) q = q.where('route', '=', filter.route as MailRow['route']);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    msgid: r.msgid,
    route: r.route,
    state: r.state,
    reason: r.reason,
    defects: r.defects ? (JSON.parse(r.defects) as string[]) : [],
    fromAddr: r.from_addr,
    subject: r.subject,
    receivedAt: r.received_at,
  }));
}

export async function countMails(db: DbOrTx): Promise<number> {
  const r = await db.selectFrom('mails').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The rows for these ids, in id order (missing ids are left out). */
export async function getMails(db: DbOrTx, ids: number[]): Promise<MailRow[]> {
  if (!ids.length) return [];
  return getMailsQuery(db, { ids: JSON.stringify(ids) });
}

const getMailsQuery = prepared((db, p: { ids: string }) => db.selectFrom('mails').selectAll().where('id', 'in', idsIn(p.ids)).orderBy('id'));

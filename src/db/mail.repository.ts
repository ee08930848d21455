// SQL for the durable mail store: raw messages as received and the state of their processing.
import type { DbOrTx } from './database.js';
import type { MailRow, MailState, NewMail } from './schema.js';

/** Inserts the rows; a (project, route, msgid) already stored is skipped. Returns the new ids and the duplicates' ids. */
export async function insertMails(db: DbOrTx, rows: NewMail[]): Promise<{ id: number; duplicate: boolean }[]> {
  const out: { id: number; duplicate: boolean }[] = [];
  for (const row of rows) {
    const inserted = await db
      .insertInto('mails')
      .values(row)
      .onConflict((oc) => oc.columns(['project_id', 'route', 'msgid']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted) {
      out.push({ id: inserted.id, duplicate: false });
    } else {
      const existing = await db
        .selectFrom('mails')
        .select('id')
        .where('project_id', '=', row.project_id)
        .where('route', '=', row.route)
        .where('msgid', '=', row.msgid)
        .executeTakeFirstOrThrow();
      out.push({ id: existing.id, duplicate: true });
    }
  }
  return out;
}

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
  const rows = await db.selectFrom('mails').select(['id', 'state']).where('id', 'in', ids).execute();
  return new Map(rows.map((r) => [r.id, r.state]));
}

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
  await db
    .updateTable('mails')
    .set({
      state: o.state,
      reason: o.reason,
      defects: o.defects.length ? JSON.stringify(o.defects) : null,
      from_addr: o.fromAddr,
      subject: o.subject,
      date: o.date,
      processed_at: o.processedAt,
    })
    .where('id', '=', id)
    .execute();
}

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
  return db.selectFrom('mails').selectAll().where('id', 'in', ids).orderBy('id').execute();
}

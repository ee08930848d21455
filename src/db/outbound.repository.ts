// SQL for the durable outbound queue: every mail patchbay sends, relayed or its own, until it is sent, kept or bounced.
import { removeHeaders } from '../mail/raw.js';
import type { Db, DbOrTx } from './database.js';
import { nowIso } from './database.js';
import type { OutboundRow, OutboundState } from './schema.js';

export interface OutboundInput {
  projectId: number | null;
  kind: string;
  envelopeFrom: string;
  rcpt: string;
  /** A relayed list post: the stored mail's raw bytes with `prefix` header lines before them. */
  mailId?: number;
  prefix?: string;
  /** Header fields of the relayed mail left out of the copy (matched case-insensitively). */
  stripHeaders?: string[];
  /** A mail of our own (confirmation, help, report): the complete message. */
  raw?: Buffer;
  subscriberId?: number;
}

export async function enqueueOutbound(db: DbOrTx, items: OutboundInput[]): Promise<number[]> {
  const now = nowIso();
  const ids: number[] = [];
  for (const it of items) {
    const row = await db
      .insertInto('outbound')
      .values({
        project_id: it.projectId,
        kind: it.kind,
        mail_id: it.mailId ?? null,
        prefix: it.prefix ?? null,
        strip_headers: it.stripHeaders?.length ? JSON.stringify(it.stripHeaders) : null,
        raw: it.raw ?? null,
        envelope_from: it.envelopeFrom,
        rcpt: it.rcpt,
        subscriber_id: it.subscriberId ?? null,
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    ids.push(row.id);
  }
  return ids;
}

/**
 * Queues one copy of a stored mail for every user with the admin role (postmaster mail, RFC 5321 §4.5.1), in one
 * statement inside the caller's transaction; returns how many were queued (0: there is no admin).
 */
export async function enqueueForAdmins(
  db: DbOrTx,
  item: { projectId: number; kind: string; envelopeFrom: string; mailId: number; prefix: string },
): Promise<number> {
  const now = nowIso();
  const rows = await db
    .insertInto('outbound')
    .columns(['project_id', 'kind', 'mail_id', 'prefix', 'envelope_from', 'rcpt', 'next_attempt_at', 'created_at', 'updated_at'])
    .expression((eb) =>
      eb
        .selectFrom('users')
        .select([
          eb.val(item.projectId).as('project_id'),
          eb.val(item.kind).as('kind'),
          eb.val(item.mailId).as('mail_id'),
          eb.val(item.prefix).as('prefix'),
          eb.val(item.envelopeFrom).as('envelope_from'),
          'users.email',
          eb.val(now).as('next_attempt_at'),
          eb.val(now).as('created_at'),
          eb.val(now).as('updated_at'),
        ])
        .where('users.role', '=', 'admin')
        .orderBy('users.id'),
    )
    .returning('id')
    .execute();
  return rows.length;
}

/** Queued items whose next attempt is due, oldest first. */
export async function dueOutbound(db: DbOrTx, now: string, limit: number): Promise<OutboundRow[]> {
  return db
    .selectFrom('outbound')
    .selectAll()
    .where('state', '=', 'queued')
    .where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

/**
 * The complete message to send: our own raw, or the relayed mail's raw without the stripped header fields and with
 * the prefix lines before it. The relayed body is never touched.
 */
/** One queued or sent mail by id (the admin's outbox page opens it). */
export async function outboundById(db: DbOrTx, id: number): Promise<OutboundRow | undefined> {
  return db.selectFrom('outbound').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function outboundMessage(db: DbOrTx, row: OutboundRow): Promise<Buffer> {
  if (row.raw) return row.raw;
  if (row.mail_id === null) throw new Error(`outbound ${row.id} has neither raw nor mail`);
  const mail = await db.selectFrom('mails').select('raw').where('id', '=', row.mail_id).executeTakeFirstOrThrow();
  const kept = row.strip_headers ? removeHeaders(mail.raw, JSON.parse(row.strip_headers) as string[]) : mail.raw;
  return row.prefix ? Buffer.concat([Buffer.from(row.prefix, 'utf8'), kept]) : kept;
}

export async function finishOutbound(db: DbOrTx, id: number, state: OutboundState, error: string | null): Promise<void> {
  await db
    .updateTable('outbound')
    .set((eb) => ({ state, last_error: error, attempts: eb('attempts', '+', 1), updated_at: nowIso() }))
    .where('id', '=', id)
    .execute();
}

/**
 * Marks copies that left before a crash (read from the outbound journal) as sent or kept, in one transaction; a row
 * no longer queued is left as it is. Returns how many rows changed.
 */
export async function settleOutbound(db: Db, departures: Map<number, OutboundState>): Promise<number> {
  if (!departures.size) return 0;
  const now = nowIso();
  return db.transaction().execute(async (tx) => {
    let changed = 0;
    for (const [id, state] of departures) {
      const r = await tx
        .updateTable('outbound')
        .set((eb) => ({ state, attempts: eb('attempts', '+', 1), updated_at: now }))
        .where('id', '=', id)
        .where('state', '=', 'queued')
        .executeTakeFirst();
      changed += Number(r.numUpdatedRows);
    }
    return changed;
  });
}

export async function retryOutbound(db: DbOrTx, id: number, nextAttemptAt: string, error: string): Promise<void> {
  await db
    .updateTable('outbound')
    .set((eb) => ({ next_attempt_at: nextAttemptAt, last_error: error, attempts: eb('attempts', '+', 1), updated_at: nowIso() }))
    .where('id', '=', id)
    .execute();
}

export async function countOutbound(db: DbOrTx, state: OutboundState): Promise<number> {
  const r = await db
    .selectFrom('outbound')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', '=', state)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function listOutbound(
  db: DbOrTx,
  filter: { state?: OutboundState; kind?: string; mailId?: number } = {},
): Promise<OutboundRow[]> {
  let q = db.selectFrom('outbound').selectAll().orderBy('id');
  if (filter.state) q = q.where('state', '=', filter.state);
  if (filter.kind) q = q.where('kind', '=', filter.kind);
  if (filter.mailId !== undefined) q = q.where('mail_id', '=', filter.mailId);
  return q.execute();
}

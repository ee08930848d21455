// SQL for list subscribers: state, tokens for confirmation and one-click unsubscribe, bounce score.
import type { DbOrTx } from './database.js';
import { nowIso } from './database.js';
import type { SubscriberRow, SubscriberState } from './schema.js';

export async function findSubscriber(db: DbOrTx, projectId: number, email: string): Promise<SubscriberRow | undefined> {
  return db
    .selectFrom('subscribers')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('email', '=', email.toLowerCase())
    .executeTakeFirst();
}

export async function findSubscriberByToken(db: DbOrTx, token: string): Promise<SubscriberRow | undefined> {
  return db.selectFrom('subscribers').selectAll().where('token', '=', token).executeTakeFirst();
}

export async function findSubscriberByConfirmToken(db: DbOrTx, token: string): Promise<SubscriberRow | undefined> {
  return db.selectFrom('subscribers').selectAll().where('confirm_token', '=', token).executeTakeFirst();
}

export async function activeSubscribers(db: DbOrTx, projectId: number): Promise<SubscriberRow[]> {
  return db.selectFrom('subscribers').selectAll().where('project_id', '=', projectId).where('state', '=', 'active').orderBy('id').execute();
}

export async function listSubscribers(db: DbOrTx, projectId: number): Promise<SubscriberRow[]> {
  return db.selectFrom('subscribers').selectAll().where('project_id', '=', projectId).orderBy('email').execute();
}

export interface SubscriberWrite {
  projectId: number;
  email: string;
  name?: string | null;
  state: SubscriberState;
  token: string;
  confirmToken?: string | null;
  confirmAction?: 'subscribe' | 'unsubscribe' | null;
}

/** Inserts the subscriber, or updates the existing row for the same (project, email); returns its id. */
export async function saveSubscriber(db: DbOrTx, s: SubscriberWrite): Promise<number> {
  const now = nowIso();
  const email = s.email.toLowerCase();
  const existing = await findSubscriber(db, s.projectId, email);
  if (existing) {
    await db
      .updateTable('subscribers')
      .set({
        state: s.state,
        name: s.name ?? existing.name,
        confirm_token: s.confirmToken ?? null,
        confirm_action: s.confirmAction ?? null,
        updated_at: now,
      })
      .where('id', '=', existing.id)
      .execute();
    return existing.id;
  }
  const row = await db
    .insertInto('subscribers')
    .values({
      project_id: s.projectId,
      email,
      name: s.name ?? null,
      state: s.state,
      token: s.token,
      confirm_token: s.confirmToken ?? null,
      confirm_action: s.confirmAction ?? null,
      created_at: now,
      updated_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function setSubscriberState(db: DbOrTx, id: number, state: SubscriberState): Promise<void> {
  await db
    .updateTable('subscribers')
    .set({ state, confirm_token: null, confirm_action: null, updated_at: nowIso() })
    .where('id', '=', id)
    .execute();
}

/** Records a bounce and raises the score (unless `raiseScore` is false: a transient failure); returns the score. */
export async function recordBounce(
  db: DbOrTx,
  b: { subscriberId: number; outboundId?: number | null; mailId?: number | null; kind: 'dsn' | 'smtp'; detail: string; raiseScore?: boolean },
): Promise<number> {
  await db
    .insertInto('bounces')
    .values({
      subscriber_id: b.subscriberId,
      outbound_id: b.outboundId ?? null,
      mail_id: b.mailId ?? null,
      kind: b.kind,
      detail: b.detail,
      created_at: nowIso(),
    })
    .execute();
  if (b.raiseScore === false) {
    const current = await db.selectFrom('subscribers').select('bounce_score').where('id', '=', b.subscriberId).executeTakeFirstOrThrow();
    return current.bounce_score;
  }
  const row = await db
    .updateTable('subscribers')
    .set((eb) => ({ bounce_score: eb('bounce_score', '+', 1), updated_at: nowIso() }))
    .where('id', '=', b.subscriberId)
    .returning('bounce_score')
    .executeTakeFirstOrThrow();
  return row.bounce_score;
}

/** A confirmed (re)subscription starts with a clean bounce score. */
export async function resetBounceScore(db: DbOrTx, id: number): Promise<void> {
  await db.updateTable('subscribers').set({ bounce_score: 0, updated_at: nowIso() }).where('id', '=', id).execute();
}

export async function listBounces(db: DbOrTx, subscriberId: number): Promise<{ kind: string; detail: string; mailId: number | null; createdAt: string }[]> {
  const rows = await db.selectFrom('bounces').selectAll().where('subscriber_id', '=', subscriberId).orderBy('id').execute();
  return rows.map((r) => ({ kind: r.kind, detail: r.detail, mailId: r.mail_id, createdAt: r.created_at }));
}

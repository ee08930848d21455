// SQL for the workers' tokens: only their sha256 is stored; a revoked token stays as a row with its time.
import { nowIso, type DbOrTx } from './database.js';
import type { WorkerTokenRow } from './worker-schema.js';

/** Inserts a valid token for `name`; false when that name already has one (the unique index on live names). */
export async function insertWorkerToken(db: DbOrTx, name: string, secretHash: string): Promise<boolean> {
  const r = await db
    .insertInto('worker_tokens')
    .values({ name, secret_hash: secretHash, created_at: nowIso() })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
}

/** Every token, valid ones first, then by name and age. */
export async function listWorkerTokens(db: DbOrTx): Promise<WorkerTokenRow[]> {
  return db
    .selectFrom('worker_tokens')
    .selectAll()
    .orderBy((eb) => eb.case().when('revoked_at', 'is', null).then(0).else(1).end())
    .orderBy('name')
    .orderBy('id', 'desc')
    .execute();
}

/** Revokes the valid token of `name`; false when it has none. */
export async function revokeWorkerToken(db: DbOrTx, name: string): Promise<boolean> {
  const r = await db.updateTable('worker_tokens').set({ revoked_at: nowIso() }).where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** The valid (not revoked) token with this hash. */
export async function liveWorkerToken(db: DbOrTx, secretHash: string): Promise<WorkerTokenRow | undefined> {
  return db.selectFrom('worker_tokens').selectAll().where('secret_hash', '=', secretHash).where('revoked_at', 'is', null).executeTakeFirst();
}

export async function touchWorkerToken(db: DbOrTx, id: number): Promise<void> {
  await db.updateTable('worker_tokens').set({ last_used_at: nowIso() }).where('id', '=', id).execute();
}

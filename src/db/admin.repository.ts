// SQL of the admin pages: users with their token and password status, API tokens, the outbox without message bodies,
// and the health figures (last mail, queue depths, last successful run of each pipeline step).
import { sql } from 'kysely';
import type { DbOrTx } from './database.js';
import { likePattern } from './api-list.repository.js';
import type { OutboundState } from './schema.js';
import type { UserSummary } from './user.repository.js';

export interface AdminUserRow extends UserSummary {
  created_at: string;
  has_password: 0 | 1;
  token_created_at: string | null;
}

/** Users matching every term (username, name or email), by id, one page; and how many match. */
export async function adminUsers(db: DbOrTx, q: { terms: string[]; limit: number; offset: number }): Promise<{ total: number; rows: AdminUserRow[] }> {
  let query = db.selectFrom('users').leftJoin('api_tokens', 'api_tokens.user_id', 'users.id');
  for (const t of q.terms) {
    const like = likePattern(t);
    query = query.where((eb) =>
      eb.or(['users.username', 'users.first_name', 'users.last_name', 'users.email'].map((c) => eb(sql.ref(c), 'like', sql`${like} escape '\\'`))),
    );
  }
  const total = Number((await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const rows = await query
    .select([
      'users.id',
      'users.username',
      'users.email',
      'users.first_name',
      'users.last_name',
      'users.role',
      'users.created_at',
      sql<0 | 1>`users.password_hash is not null`.as('has_password'),
      'api_tokens.created_at as token_created_at',
    ])
    .orderBy('users.id')
    .limit(q.limit)
    .offset(q.offset)
    .execute();
  return { total, rows };
}

export async function countAdmins(db: DbOrTx): Promise<number> {
  const r = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('role', '=', 'admin').executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Revokes the user's API token; false when they had none. */
export async function deleteToken(db: DbOrTx, userId: number): Promise<boolean> {
  const r = await db.deleteFrom('api_tokens').where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export interface OutboxRow {
  id: number;
  project_id: number | null;
  kind: string;
  mail_id: number | null;
  rcpt: string;
  state: OutboundState;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

/** Outbound mails, newest first, without their bytes; optionally of one state. */
export async function outboxPage(db: DbOrTx, q: { state?: OutboundState; limit: number; offset: number }): Promise<OutboxRow[]> {
  let query = db
    .selectFrom('outbound')
    .select(['id', 'project_id', 'kind', 'mail_id', 'rcpt', 'state', 'attempts', 'next_attempt_at', 'last_error', 'created_at', 'updated_at'])
    .orderBy('id', 'desc');
  if (q.state) query = query.where('state', '=', q.state);
  return query.limit(q.limit).offset(q.offset).execute();
}

export async function outboxCounts(db: DbOrTx): Promise<Map<OutboundState, number>> {
  const rows = await db.selectFrom('outbound').select(['state', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('state').execute();
  return new Map(rows.map((r) => [r.state, Number(r.n)]));
}

export interface HealthFigures {
  lastMailAt: string | null;
  mailsStored: number;
  mailsQuarantined: number;
  outboundQueued: number;
  outboundFailed: number;
  runsQueued: number;
  runsRunning: number;
  /** Per pipeline step: when it last passed (or passed with warnings), in which run. */
  lastSuccess: { step: string; at: string; runId: number }[];
}

/** Ids grow with arrival: the last mail is the highest id (a rowid seek, where max(received_at) would scan). */
export async function healthFigures(db: DbOrTx): Promise<HealthFigures> {
  const counts = await sql<{ last_mail: string | null; stored: number; quarantined: number; queued: number; failed: number; runs_queued: number; runs_running: number }>`
    select (select received_at from mails order by id desc limit 1) as last_mail,
           (select count(*) from mails where state = 'stored') as stored,
           (select count(*) from mails where state = 'quarantined') as quarantined,
           (select count(*) from outbound where state = 'queued') as queued,
           (select count(*) from outbound where state = 'failed') as failed,
           (select count(*) from runs where state = 'queued') as runs_queued,
           (select count(*) from runs where state = 'running') as runs_running`.execute(db);
  const c = counts.rows[0]!;
  // SQLite fills the bare column run_id from the row that holds the max (its documented min/max rule).
  const last = await sql<{ step: string; at: string; run_id: number }>`
    select step, max(finished_at) as at, run_id from run_steps
    where status in ('pass', 'warn') and finished_at is not null group by step order by step`.execute(db);
  return {
    lastMailAt: c.last_mail,
    mailsStored: Number(c.stored),
    mailsQuarantined: Number(c.quarantined),
    outboundQueued: Number(c.queued),
    outboundFailed: Number(c.failed),
    runsQueued: Number(c.runs_queued),
    runsRunning: Number(c.runs_running),
    lastSuccess: last.rows.map((r) => ({ step: r.step, at: r.at, runId: r.run_id })),
  };
}

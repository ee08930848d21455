// The admin pages' data and actions: users and roles, API tokens, the outbox, held posts, subscribers, health. Every
// action goes through the service that owns it (user.service, moderation, subscriptions); SQL is in src/db.
import { addUser, createToken, ROLES, setPassword } from '../api/user.service.js';
import type { UserRole } from '../db/api-schema.js';
import { adminUsers, countAdmins, deleteToken, healthFigures, outboxCounts, outboxPage, type AdminUserRow } from '../db/admin.repository.js';
import { outboundById, outboundMessage } from '../db/outbound.repository.js';
import type { OutboundState } from '../db/schema.js';
import { parseMessage } from '../mail/parse.js';
import { trimEndChars } from '../text.js';
import { deleteUserSessions } from '../db/session.repository.js';
import { findUserByLogin, getUser, updateUser } from '../db/user.repository.js';
import { conflict, invalid, notFound } from '../errors.js';
import { approveHeld, listHeld, rejectHeld } from '../smtp/moderation.service.js';
import type { WebContext } from './web-context.js';

export const ADMIN_PAGE_SIZE = 100;
export const OUTBOUND_STATES: readonly OutboundState[] = ['queued', 'sent', 'kept', 'bounced', 'failed'];

/** The outcome of a form, named by a code in the redirect (?done=CODE): the page shows the fixed text, not input. */
export const DONE_TEXT: Record<string, string> = {
  'user-added': 'User added.',
  'role-changed': 'Role changed.',
  'password-set': 'Password set; their other sessions ended.',
  'token-revoked': 'Token revoked.',
  'held-approved': 'Post approved and relayed to the list.',
  'held-rejected': 'Post rejected; its sender is told.',
  'subscriber-added': 'Subscriber added.',
  'subscriber-exists': 'Already subscribed.',
  'subscriber-removed': 'Subscriber removed.',
  'quarantine-retried': 'Mail put back in processing: it is filed, or comes back here with the new error.',
  'run-cancelled': 'Run cancelled: its steps were stopped and its queued jobs taken out; no reply is mailed for it.',
  'run-retried': 'A new run of the series was queued; its reply is mailed as any run’s.',
};

export interface Pager {
  page: number;
  prev: number | null;
  next: number | null;
}

function pager(page: number, more: boolean): Pager {
  return { page, prev: page > 1 ? page - 1 : null, next: more ? page + 1 : null };
}

/** "3 min ago", "2 h ago", "5 d ago": how old a timestamp is, for the health page. */
export function ageText(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never';
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  if (ms < 60_000) return `${Math.max(0, Math.round(ms / 1000))} s ago`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)} h ago`;
  return `${Math.round(ms / 86_400_000)} d ago`;
}

function userView(u: AdminUserRow) {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    name: `${u.first_name} ${u.last_name}`.trim(),
    role: u.role,
    createdAt: u.created_at,
    hasPassword: u.has_password === 1,
    tokenCreatedAt: u.token_created_at,
  };
}

export class AdminService {
  constructor(private readonly ctx: WebContext) {}

  get roles(): readonly string[] {
    return ROLES;
  }

  private project(slug: string) {
    const p = this.ctx.projects.find((x) => x.slug === slug);
    if (!p) throw notFound('project_not_found', `no project "${slug}"`);
    return p;
  }

  async overview() {
    const [health, held] = await Promise.all([healthFigures(this.ctx.db), this.held()]);
    return { health, held: held.reduce((n, p) => n + p.posts.length, 0) };
  }

  async users(q: string, page: number) {
    const terms = q.split(/\s+/).filter(Boolean).slice(0, 5);
    const r = await adminUsers(this.ctx.db, { terms, limit: ADMIN_PAGE_SIZE, offset: (page - 1) * ADMIN_PAGE_SIZE });
    return { total: r.total, users: r.rows.map(userView), pager: pager(page, page * ADMIN_PAGE_SIZE < r.total) };
  }

  async addUser(form: { email?: string; name?: string; username?: string; role?: string; password?: string }): Promise<void> {
    const password = form.password ? form.password : undefined;
    await addUser(this.ctx.db, {
      email: form.email ?? '',
      name: form.name ?? '',
      role: form.role ?? '',
      username: form.username?.trim() ? form.username : undefined,
      password,
    });
  }

  /** Any role change but the one that would leave no admin. */
  async setRole(userId: number, role: string): Promise<void> {
    if (!ROLES.includes(role as UserRole)) throw invalid('user_role', `role must be one of ${ROLES.join(', ')}`);
    const user = await getUser(this.ctx.db, userId);
    if (!user) throw notFound('user_unknown', `no user ${userId}`);
    if (user.role === 'admin' && role !== 'admin' && (await countAdmins(this.ctx.db)) <= 1) {
      throw conflict('last_admin', 'This is the last admin: make another user admin first.');
    }
    await updateUser(this.ctx.db, userId, { role: role as UserRole });
  }

  /** Sets a password and ends the user's sessions (but the acting admin's own). */
  async setPassword(actorId: number, userId: number, password: string): Promise<void> {
    const user = await getUser(this.ctx.db, userId);
    if (!user) throw notFound('user_unknown', `no user ${userId}`);
    await setPassword(this.ctx.db, user.email, password);
    if (userId !== actorId) await deleteUserSessions(this.ctx.db, userId);
  }

  /** A new API token for the user named by username or email (any earlier one stops working); shown once. */
  async createToken(login: string): Promise<{ username: string; email: string; token: string }> {
    const user = await findUserByLogin(this.ctx.db, login.trim());
    if (!user) throw notFound('user_unknown', `no user "${login.trim().slice(0, 100)}"`);
    return { username: user.username, email: user.email, token: await createToken(this.ctx.db, user.email) };
  }

  async revokeToken(userId: number): Promise<void> {
    if (!(await deleteToken(this.ctx.db, userId))) throw notFound('token_unknown', `user ${userId} has no token`);
  }

  async outbox(state: string | undefined, page: number) {
    const st = OUTBOUND_STATES.includes(state as OutboundState) ? (state as OutboundState) : undefined;
    const [rows, counts] = await Promise.all([
      outboxPage(this.ctx.db, { state: st, limit: ADMIN_PAGE_SIZE + 1, offset: (page - 1) * ADMIN_PAGE_SIZE }),
      outboxCounts(this.ctx.db),
    ]);
    const slugOf = new Map(this.ctx.projects.map((p) => [p.id, p.slug]));
    return {
      state: st ?? '',
      states: OUTBOUND_STATES.map((s) => ({ state: s, count: counts.get(s) ?? 0, current: s === st })),
      mails: rows.slice(0, ADMIN_PAGE_SIZE).map((r) => ({
        id: r.id,
        project: r.project_id === null ? '' : (slugOf.get(r.project_id) ?? ''),
        kind: r.kind,
        rcpt: r.rcpt,
        state: r.state,
        attempts: r.attempts,
        nextAttemptAt: r.state === 'queued' ? r.next_attempt_at : null,
        lastError: r.last_error,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      })),
      pager: pager(page, rows.length > ADMIN_PAGE_SIZE),
    };
  }

  /**
   * One outbound mail as it goes (or went) out: its envelope, its header block and its text as the recipient reads
   * them (the template escapes every value), and the exact bytes for the raw download.
   */
  async outboxMail(id: number) {
    const row = await outboundById(this.ctx.db, id);
    if (!row) throw notFound('outbound_not_found', `no outbound mail ${id}`);
    const raw = await outboundMessage(this.ctx.db, row);
    const parsed = await parseMessage(raw);
    const slugOf = new Map(this.ctx.projects.map((p) => [p.id, p.slug]));
    return {
      raw,
      page: {
        mail: {
          id: row.id,
          project: row.project_id === null ? '' : (slugOf.get(row.project_id) ?? ''),
          kind: row.kind,
          envelopeFrom: row.envelope_from,
          rcpt: row.rcpt,
          state: row.state,
          attempts: row.attempts,
          lastError: row.last_error,
          createdAt: row.created_at,
          subject: parsed.subject ?? '',
          header: trimEndChars(parsed.header, '\n'),
          text: parsed.text,
          attachments: parsed.attachments.map((a) => ({ contentType: a.contentType, filename: a.filename ?? '' })),
          bytes: raw.length,
          rawHref: `/admin/outbox/${row.id}/raw`,
        },
      },
    };
  }

  async held() {
    return Promise.all(
      this.ctx.projects.map(async (p) => ({ slug: p.slug, name: p.name, policy: p.policy, posts: await listHeld(this.ctx.moderation, p.slug) })),
    );
  }

  async approve(slug: string, id: number): Promise<void> {
    await approveHeld(this.ctx.moderation, this.project(slug).slug, id);
    this.ctx.kickOutbound();
  }

  async reject(slug: string, id: number, reason: string): Promise<void> {
    await rejectHeld(this.ctx.moderation, this.project(slug).slug, id, reason.trim().slice(0, 1000));
    this.ctx.kickOutbound();
  }

  async quarantine(page: number) {
    const r = await this.ctx.quarantine.list({ limit: ADMIN_PAGE_SIZE, offset: (page - 1) * ADMIN_PAGE_SIZE });
    return {
      total: r.total,
      mails: r.mails.map((m) => ({ ...m, from: m.fromAddr ?? m.envelopeFrom, subject: m.subject ?? '' })),
      pager: pager(page, page * ADMIN_PAGE_SIZE < r.total),
    };
  }

  async retryQuarantined(id: number): Promise<void> {
    await this.ctx.quarantine.retry(id);
  }

  async subscribers(slug: string | undefined) {
    const p = slug ? this.project(slug) : this.ctx.projects[0];
    if (!p) return { project: null, projects: [], subscribers: [] };
    return {
      project: { slug: p.slug, name: p.name, list: p.addresses.list },
      projects: this.ctx.projects.map((x) => ({ slug: x.slug, name: x.name, current: x.slug === p.slug })),
      subscribers: await this.ctx.subscriptions.subscribers(p.slug),
    };
  }

  async addSubscriber(slug: string, email: string, name: string): Promise<'subscriber-added' | 'subscriber-exists'> {
    const r = await this.ctx.subscriptions.adminAdd(this.project(slug).slug, email, name.trim() || null);
    this.ctx.kickOutbound();
    return r === 'added' ? 'subscriber-added' : 'subscriber-exists';
  }

  async removeSubscriber(slug: string, email: string): Promise<void> {
    await this.ctx.subscriptions.adminRemove(this.project(slug).slug, email);
    this.ctx.kickOutbound();
  }

  async health(now = Date.now()) {
    const f = await healthFigures(this.ctx.db);
    return {
      lastMail: { at: f.lastMailAt, age: ageText(f.lastMailAt, now) },
      queues: [
        { name: 'mails stored, not processed', id: 'mails-stored', count: f.mailsStored },
        { name: 'mails quarantined', id: 'mails-quarantined', count: f.mailsQuarantined },
        { name: 'outbound mail queued', id: 'outbound-queued', count: f.outboundQueued },
        { name: 'outbound mail failed', id: 'outbound-failed', count: f.outboundFailed },
        { name: 'runs queued', id: 'runs-queued', count: f.runsQueued },
        { name: 'runs running', id: 'runs-running', count: f.runsRunning },
      ],
      pipeline: this.ctx.runs !== null,
      lastSuccess: f.lastSuccess.map((s) => ({ ...s, age: ageText(s.at, now) })),
    };
  }
}

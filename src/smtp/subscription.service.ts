// Subscriptions: double opt-in by mail and web, one-click unsubscribe (RFC 8058), admin add/remove; queues the replies.
import crypto from 'node:crypto';
import type { Db, DbOrTx } from '../db/database.js';
import { enqueueOutbound } from '../db/outbound.repository.js';
import type { SubscriberRow, SubscriberState } from '../db/schema.js';
import {
  findSubscriber,
  findSubscriberByConfirmToken,
  findSubscriberByToken,
  listSubscribers,
  resetBounceScore,
  saveSubscriber,
  setSubscriberState,
} from '../db/subscriber.repository.js';
import { invalid, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import {
  alreadySubscribedMail,
  confirmFailedMail,
  confirmSubscribeMail,
  confirmUnsubscribeMail,
  goodbyeMail,
  helpMail,
  notSubscribedMail,
  unknownCommandMail,
  welcomeMail,
  type Address,
  type ComposedMail,
  type ListInfo,
  type ReplyTarget,
} from '../mail/compose.js';

export interface SubscriptionProject {
  id: number;
  slug: string;
  name: string;
  addresses: { list: string; request: string; bounces: string };
}

export interface SubscriptionDeps {
  db: Db;
  projects: readonly SubscriptionProject[];
  /** Public web base URL holder: final once HTTP listens. */
  urls: { base: string };
  hostname: string;
  /** Wakes the outbound worker after a commit that queued mail outside the processing transaction. */
  kick: () => void;
  log?: Logger;
}

/** Where a request came from: a mail (answered as a reply to it) or the web form (a fresh mail). */
export type Via = { kind: 'mail'; reply: ReplyTarget } | { kind: 'web' };

/** A project named by its database id (mail processing) or its slug (web, CLI). */
export type ProjectKey = number | string;

export interface ListSummary {
  slug: string;
  name: string;
  list: string;
}

export interface SubscribeResult {
  outcome: 'confirmation-sent' | 'already-subscribed';
  email: string;
}

export interface UnsubscribeResult {
  outcome: 'confirmation-sent' | 'not-subscribed';
  email: string;
}

export interface ConfirmResult {
  action: 'subscribe' | 'unsubscribe';
  email: string;
  state: SubscriberState;
  list: ListSummary;
}

export interface SubscriberView {
  email: string;
  name: string | null;
  state: SubscriberState;
  bounceScore: number;
  createdAt: string;
  updatedAt: string;
}

export type ReplyKind = 'help' | 'unknown-command' | 'confirm-failed';

export interface SubscriptionService {
  list(key: ProjectKey): ListSummary;
  /** Starts a double opt-in: a pending subscriber and a confirmation mail; an active one is told so by mail. */
  subscribe(key: ProjectKey, email: string, name: string | null, via: Via, tx?: DbOrTx): Promise<SubscribeResult>;
  /** Unsubscribe by mail: only after the address's owner confirms, since a From line proves nothing. */
  unsubscribe(key: ProjectKey, email: string, via: Via, tx?: DbOrTx): Promise<UnsubscribeResult>;
  /** Applies a confirmation token; `key` limits it to one list. Unknown token: AppError not_found. */
  confirm(token: string, key: ProjectKey | null, via: Via, tx?: DbOrTx): Promise<ConfirmResult>;
  pendingConfirmation(slug: string, token: string): Promise<{ email: string; action: 'subscribe' | 'unsubscribe'; list: ListSummary }>;
  unsubscribeTarget(slug: string, token: string): Promise<{ email: string; state: SubscriberState; list: ListSummary }>;
  /** RFC 8058 one-click: immediate, idempotent, no mail sent after it. */
  unsubscribeOneClick(slug: string, token: string): Promise<{ email: string; state: SubscriberState }>;
  sendReply(key: ProjectKey, kind: ReplyKind, to: Address, via: Via, tx?: DbOrTx): Promise<void>;
  adminAdd(slug: string, email: string, name: string | null): Promise<'added' | 'already-subscribed'>;
  adminRemove(slug: string, email: string): Promise<'removed'>;
  subscribers(slug: string): Promise<SubscriberView[]>;
}

/** Same rule as project files: something@domain.tld, no spaces or angle brackets. */
// The domain is split at its first dot after its first character: one way to match, so linear time.
const EMAIL = /^[^\s@<>"(),;:\\[\]]+@[^\s@<>"(),;:\\[\]][^\s@<>"(),;:\\[\].]*\.[^\s@<>"(),;:\\[\]]+$/;

export function newToken(): string {
  return crypto.randomBytes(18).toString('base64url');
}

function cleanEmail(email: string): string {
  const e = email.trim().toLowerCase();
  if (e.length > 254 || !EMAIL.test(e)) throw invalid('email_invalid', `not an email address: "${email.slice(0, 100)}"`);
  return e;
}

function cleanName(name: string | null | undefined): string | null {
  const n = (name ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, 200);
  return n || null;
}

export function createSubscriptionService(deps: SubscriptionDeps): SubscriptionService {
  const { db, kick } = deps;
  const byId = new Map(deps.projects.map((p) => [p.id, p]));
  const bySlug = new Map(deps.projects.map((p) => [p.slug, p]));

  function project(key: ProjectKey): SubscriptionProject {
    const p = typeof key === 'number' ? byId.get(key) : bySlug.get(key);
    if (!p) throw notFound('list_unknown', `no such list: ${String(key)}`);
    return p;
  }

  const summary = (p: SubscriptionProject): ListSummary => ({ slug: p.slug, name: p.name, list: p.addresses.list });

  const info = (p: SubscriptionProject): ListInfo => ({
    name: p.name,
    slug: p.slug,
    list: p.addresses.list,
    request: p.addresses.request,
    baseUrl: deps.urls.base,
    hostname: deps.hostname,
  });

  /** Runs in the caller's transaction (mail processing: its afterCommit wakes the queue), or in our own, then kicks. */
  async function inTx<T>(tx: DbOrTx | undefined, fn: (tx: DbOrTx) => Promise<T>): Promise<T> {
    if (tx) return fn(tx);
    const result = await db.transaction().execute(fn);
    kick();
    return result;
  }

  /** RFC 3834 §3.3: sent from the bounce address, which never answers automatically, so no two robots loop. */
  async function queue(tx: DbOrTx, p: SubscriptionProject, kind: string, mail: ComposedMail, subscriberId?: number): Promise<void> {
    await enqueueOutbound(tx, [
      { projectId: p.id, kind, envelopeFrom: p.addresses.bounces, rcpt: mail.to, raw: mail.raw, subscriberId },
    ]);
  }

  const replyOf = (via: Via): ReplyTarget | undefined => (via.kind === 'mail' ? via.reply : undefined);

  function matching(row: SubscriberRow | undefined, p: SubscriptionProject): row is SubscriberRow {
    return row !== undefined && row.project_id === p.id;
  }

  return {
    list: (key) => summary(project(key)),

    async subscribe(key, rawEmail, rawName, via, tx) {
      const p = project(key);
      const email = cleanEmail(rawEmail);
      const name = cleanName(rawName);
      return inTx(tx, async (t) => {
        const existing = await findSubscriber(t, p.id, email);
        const to = { address: email, name: name ?? existing?.name ?? undefined };
        if (existing?.state === 'active') {
          // Answered to the address, never to the requester: the web form must not reveal who is subscribed.
          await queue(t, p, 'already-subscribed', await alreadySubscribedMail(info(p), to, existing.token, replyOf(via)), existing.id);
          return { outcome: 'already-subscribed', email };
        }
        // A second request keeps the first code valid: two confirmation mails must not race each other.
        const confirmToken =
          existing?.confirm_action === 'subscribe' && existing.confirm_token ? existing.confirm_token : newToken();
        const id = await saveSubscriber(t, {
          projectId: p.id,
          email,
          name,
          state: 'pending',
          token: existing?.token ?? newToken(),
          confirmToken,
          confirmAction: 'subscribe',
        });
        await queue(t, p, 'confirm-subscribe', await confirmSubscribeMail(info(p), to, confirmToken, replyOf(via)), id);
        deps.log?.info({ project: p.slug, subscriberId: id, via: via.kind }, 'subscription requested');
        return { outcome: 'confirmation-sent', email };
      });
    },

    async unsubscribe(key, rawEmail, via, tx) {
      const p = project(key);
      const email = cleanEmail(rawEmail);
      return inTx(tx, async (t) => {
        const existing = await findSubscriber(t, p.id, email);
        const to = { address: email, name: existing?.name ?? undefined };
        // A pending subscriber is not on the list yet; its own confirmation code stays valid.
        if (!existing || existing.state === 'unsubscribed' || existing.state === 'pending') {
          await queue(t, p, 'not-subscribed', await notSubscribedMail(info(p), to, replyOf(via)), existing?.id);
          return { outcome: 'not-subscribed', email };
        }
        const confirmToken =
          existing.confirm_action === 'unsubscribe' && existing.confirm_token ? existing.confirm_token : newToken();
        await saveSubscriber(t, {
          projectId: p.id,
          email,
          state: existing.state,
          token: existing.token,
          confirmToken,
          confirmAction: 'unsubscribe',
        });
        await queue(t, p, 'confirm-unsubscribe', await confirmUnsubscribeMail(info(p), to, confirmToken, replyOf(via)), existing.id);
        return { outcome: 'confirmation-sent', email };
      });
    },

    async confirm(token, key, via, tx) {
      const scope = key === null ? null : project(key);
      return inTx(tx, async (t) => {
        const row = await findSubscriberByConfirmToken(t, token);
        const p = row ? byId.get(row.project_id) : undefined;
        if (!row || !p || (scope && row.project_id !== scope.id) || !row.confirm_action) {
          throw notFound('confirm_token_unknown', 'this confirmation code is unknown, used already or replaced by a newer one');
        }
        const to = { address: row.email, name: row.name ?? undefined };
        if (row.confirm_action === 'unsubscribe') {
          await setSubscriberState(t, row.id, 'unsubscribed');
          await queue(t, p, 'goodbye', await goodbyeMail(info(p), to, replyOf(via)), row.id);
          deps.log?.info({ project: p.slug, subscriberId: row.id, via: via.kind }, 'unsubscribed');
          return { action: 'unsubscribe', email: row.email, state: 'unsubscribed', list: summary(p) };
        }
        await setSubscriberState(t, row.id, 'active');
        await resetBounceScore(t, row.id);
        await queue(t, p, 'welcome', await welcomeMail(info(p), to, row.token, replyOf(via)), row.id);
        deps.log?.info({ project: p.slug, subscriberId: row.id, via: via.kind }, 'subscribed');
        return { action: 'subscribe', email: row.email, state: 'active', list: summary(p) };
      });
    },

    async pendingConfirmation(slug, token) {
      const p = project(slug);
      const row = await findSubscriberByConfirmToken(db, token);
      if (!matching(row, p) || !row.confirm_action) {
        throw notFound('confirm_token_unknown', 'this confirmation code is unknown, used already or replaced by a newer one');
      }
      return { email: row.email, action: row.confirm_action, list: summary(p) };
    },

    async unsubscribeTarget(slug, token) {
      const p = project(slug);
      const row = await findSubscriberByToken(db, token);
      if (!matching(row, p)) throw notFound('unsubscribe_token_unknown', 'this unsubscribe link is unknown');
      return { email: row.email, state: row.state, list: summary(p) };
    },

    async unsubscribeOneClick(slug, token) {
      const p = project(slug);
      return inTx(undefined, async (t) => {
        const row = await findSubscriberByToken(t, token);
        if (!matching(row, p)) throw notFound('unsubscribe_token_unknown', 'this unsubscribe link is unknown');
        // A mail client may POST twice; the second finds the work done.
        if (row.state !== 'unsubscribed') {
          await setSubscriberState(t, row.id, 'unsubscribed');
          deps.log?.info({ project: p.slug, subscriberId: row.id, via: 'one-click' }, 'unsubscribed');
        }
        return { email: row.email, state: 'unsubscribed' as const };
      });
    },

    async sendReply(key, kind, to, via, tx) {
      const p = project(key);
      const make = { help: helpMail, 'unknown-command': unknownCommandMail, 'confirm-failed': confirmFailedMail }[kind];
      await inTx(tx, async (t) => queue(t, p, kind, await make(info(p), to, replyOf(via))));
    },

    async adminAdd(slug, rawEmail, rawName) {
      const p = project(slug);
      const email = cleanEmail(rawEmail);
      const name = cleanName(rawName);
      return inTx(undefined, async (t) => {
        const existing = await findSubscriber(t, p.id, email);
        if (existing?.state === 'active') return 'already-subscribed' as const;
        const id = await saveSubscriber(t, { projectId: p.id, email, name, state: 'active', token: existing?.token ?? newToken() });
        await resetBounceScore(t, id);
        return 'added' as const;
      });
    },

    async adminRemove(slug, rawEmail) {
      const p = project(slug);
      const email = cleanEmail(rawEmail);
      return inTx(undefined, async (t) => {
        const existing = await findSubscriber(t, p.id, email);
        if (!existing || existing.state === 'unsubscribed') throw notFound('not_subscribed', `${email} is not subscribed to ${p.slug}`);
        await setSubscriberState(t, existing.id, 'unsubscribed');
        return 'removed' as const;
      });
    },

    async subscribers(slug) {
      const p = project(slug);
      const rows = await listSubscribers(db, p.id);
      return rows.map((r) => ({
        email: r.email,
        name: r.name,
        state: r.state,
        bounceScore: r.bounce_score,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      }));
    },
  };
}

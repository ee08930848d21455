// Which local mailbox an RCPT TO address is: a project's list, -request, -bounces (with VERP) or bot address, or the
// postmaster of one of our domains.
import type { MailRoute } from '../db/schema.js';

export interface Mailbox {
  projectId: number;
  slug: string;
  route: MailRoute;
}

export type Resolution =
  | { kind: 'local'; mailbox: Mailbox; recipient: string; verp?: string }
  | { kind: 'unknown'; reason: 'no-such-user' }
  | { kind: 'relay' };

export interface RecipientTable {
  mailboxes: Map<string, Mailbox>; // exact lowercased address -> mailbox
  domains: Set<string>;
}

export function buildRecipientTable(
  projects: { id: number; slug: string; addresses: { list: string; request: string; bounces: string; bot: string } }[],
): RecipientTable {
  const mailboxes = new Map<string, Mailbox>();
  const domains = new Set<string>();
  for (const p of projects) {
    const routes: [string, MailRoute][] = [
      [p.addresses.list, 'list'],
      [p.addresses.request, 'request'],
      [p.addresses.bounces, 'bounces'],
      [p.addresses.bot, 'bot'],
    ];
    for (const [address, route] of routes) {
      mailboxes.set(address, { projectId: p.id, slug: p.slug, route });
      domains.add(address.slice(address.lastIndexOf('@') + 1));
    }
  }
  // RFC 5321 §4.5.1: every domain we receive mail for has a postmaster. Its mail is kept under the domain's first
  // project (the store is per project) and forwarded to the admins (postmaster.service.ts).
  for (const p of projects) {
    for (const address of [p.addresses.list, p.addresses.request, p.addresses.bounces, p.addresses.bot]) {
      const postmaster = `postmaster@${address.slice(address.lastIndexOf('@') + 1)}`;
      if (!mailboxes.has(postmaster)) mailboxes.set(postmaster, { projectId: p.id, slug: p.slug, route: 'postmaster' });
    }
  }
  return { mailboxes, domains };
}

/** VERP: "list-bounces+alice=example.com@lists.example.org" is the bounce mailbox, tagged with alice@example.com. */
export function resolveRecipient(address: string, table: RecipientTable): Resolution {
  let addr = address.trim().toLowerCase();
  // RFC 5321 §4.1.1.3: "RCPT TO:<Postmaster>" without a domain is the postmaster of the server (our first domain).
  if (addr === 'postmaster') {
    const first = table.domains.values().next();
    if (first.done) return { kind: 'unknown', reason: 'no-such-user' };
    addr = `postmaster@${first.value}`;
  }
  const at = addr.lastIndexOf('@');
  if (at <= 0) return { kind: 'unknown', reason: 'no-such-user' };
  const domain = addr.slice(at + 1);
  if (!table.domains.has(domain)) return { kind: 'relay' };
  const exact = table.mailboxes.get(addr);
  if (exact) return { kind: 'local', mailbox: exact, recipient: addr };
  const local = addr.slice(0, at);
  const plus = local.indexOf('+');
  if (plus > 0) {
    const base = table.mailboxes.get(`${local.slice(0, plus)}@${domain}`);
    if (base?.route === 'bounces') return { kind: 'local', mailbox: base, recipient: addr, verp: decodeVerp(local.slice(plus + 1)) };
  }
  return { kind: 'unknown', reason: 'no-such-user' };
}

/**
 * Whether an outside address (not one of our domains) is taken in a transaction that already holds these mailboxes.
 * Only beside a post to a list or a bot address (git send-email names the list first, then the Ccs it adds: the
 * patch's author, Signed-off-by, Cc: trailers): the mail is filed there and the outside address gets nothing from us,
 * so patchbay is never a relay; refusing it instead would abort the student's whole send (git send-email stops at
 * the first refused RCPT). Alone, or beside -request/-bounces/postmaster only, an outside address is a relay attempt.
 */
export function acceptsOutsideBeside(mailboxes: readonly Mailbox[]): boolean {
  return mailboxes.some((m) => m.route === 'list' || m.route === 'bot');
}

export function encodeVerp(bounces: string, subscriber: string): string {
  const at = bounces.lastIndexOf('@');
  const s = subscriber.toLowerCase();
  const sAt = s.lastIndexOf('@');
  return `${bounces.slice(0, at)}+${s.slice(0, sAt)}=${s.slice(sAt + 1)}${bounces.slice(at)}`;
}

function decodeVerp(tag: string): string | undefined {
  const eq = tag.lastIndexOf('=');
  return eq > 0 ? `${tag.slice(0, eq)}@${tag.slice(eq + 1)}` : undefined;
}

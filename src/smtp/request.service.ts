// Route 'request': runs the subscribe / unsubscribe / confirm / help command of a mail to LIST-request and answers it.
import type { DbOrTx } from '../db/database.js';
import type { MailRow } from '../db/schema.js';
import { isAppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ReplyTarget } from '../mail/compose.js';
import type { ParsedMessage } from '../mail/parse.js';
import { extractMsgid, headerValues } from '../mail/raw.js';
import type { Outcome, RouteHandler } from './processing.service.js';
import { extractCommand } from './request-commands.js';
import type { SubscriptionService, Via } from './subscription.service.js';

/**
 * RFC 3834 §2: no automatic answer to automatic mail, to a null or MAILER-DAEMON sender, or to bulk and list
 * mail; nor to our own mail coming back (X-Loop). Such a mail is not acted on either: a vacation reply that
 * quotes "confirm TOKEN" in its subject must not confirm a subscription. Returns why, or null to go ahead.
 */
export function whyNotAnswer(envelopeFrom: string, fromAddress: string | null, header: string, ownAddresses: string[]): string | null {
  if (envelopeFrom.trim() === '' || envelopeFrom.trim() === '<>') return 'null-sender';
  const localPart = (a: string) => (a.includes('@') ? a.slice(0, a.lastIndexOf('@')) : a).trim().toLowerCase();
  if (localPart(envelopeFrom) === 'mailer-daemon' || (fromAddress && localPart(fromAddress) === 'mailer-daemon')) return 'mailer-daemon';
  const autoSubmitted = headerValues(header, 'auto-submitted')[0];
  if (autoSubmitted !== undefined && autoSubmitted.split(/[\s;(]/)[0]!.toLowerCase() !== 'no') return 'auto-submitted';
  const precedence = headerValues(header, 'precedence')[0]?.trim().toLowerCase();
  if (precedence === 'bulk' || precedence === 'junk' || precedence === 'list') return `precedence-${precedence}`;
  const own = new Set(ownAddresses.map((a) => a.toLowerCase()));
  if (headerValues(header, 'x-loop').some((v) => own.has(v.trim().replace(/^<|>$/g, '').toLowerCase()))) return 'loop';
  return null;
}

/** The mail we answer, as RFC 5322 §3.6.4 threads a reply to it. */
function replyTarget(mail: MailRow, header: string): ReplyTarget {
  const references = headerValues(header, 'references')
    .join(' ')
    .split(/\s+/)
    .map((r) => extractMsgid(r))
    .filter((r): r is string => Boolean(r));
  if (!references.length) {
    const parent = extractMsgid(headerValues(header, 'in-reply-to')[0]);
    if (parent) references.push(parent);
  }
  return { messageId: mail.msgid, references };
}

export function createRequestHandler(deps: {
  subscriptions: SubscriptionService;
  projects: readonly { id: number; addresses: { list: string; request: string; bounces: string } }[];
  log?: Logger;
}): RouteHandler {
  const { subscriptions } = deps;
  const projects = new Map(deps.projects.map((p) => [p.id, p]));

  return {
    async handle(tx: DbOrTx, mail: MailRow, parsed: ParsedMessage): Promise<Outcome> {
      const project = projects.get(mail.project_id);
      // A mail stored for a project whose file has since been removed: kept, not answered.
      if (!project) return { state: 'processed', reason: 'ignored:unknown-project' };
      const own = [project.addresses.list, project.addresses.request, project.addresses.bounces];
      const skip = whyNotAnswer(mail.envelope_from, parsed.from?.address ?? null, parsed.header, own);
      if (skip) return { state: 'processed', reason: `ignored:${skip}` };
      if (!parsed.from) return { state: 'processed', reason: 'ignored:no-from' };

      const from = { address: parsed.from.address, name: parsed.from.name || undefined };
      const via: Via = { kind: 'mail', reply: replyTarget(mail, parsed.header) };
      const command = extractCommand(parsed.subject, parsed.text);
      deps.log?.debug({ mailId: mail.id, command: command.kind }, 'request command');
      try {
        switch (command.kind) {
          case 'subscribe': {
            const r = await subscriptions.subscribe(mail.project_id, from.address, from.name ?? null, via, tx);
            return { state: 'processed', reason: `subscribe:${r.outcome}` };
          }
          case 'unsubscribe': {
            const r = await subscriptions.unsubscribe(mail.project_id, from.address, via, tx);
            return { state: 'processed', reason: `unsubscribe:${r.outcome}` };
          }
          case 'confirm': {
            // The token proves the mailbox, not the From line: a reply sent from an alias still confirms.
            try {
              const r = await subscriptions.confirm(command.token, mail.project_id, via, tx);
              return { state: 'processed', reason: `confirm:${r.state}` };
            } catch (e) {
              if (!isAppError(e) || e.kind !== 'not_found') throw e;
              await subscriptions.sendReply(mail.project_id, 'confirm-failed', from, via, tx);
              return { state: 'processed', reason: 'confirm:unknown-token' };
            }
          }
          case 'help':
            await subscriptions.sendReply(mail.project_id, 'help', from, via, tx);
            return { state: 'processed', reason: 'help' };
          case 'none':
            await subscriptions.sendReply(mail.project_id, 'unknown-command', from, via, tx);
            return { state: 'processed', reason: 'unknown-command' };
        }
      } catch (e) {
        // A From we cannot write to (not an address) gets no answer; the mail is kept and marked.
        if (isAppError(e) && e.kind === 'invalid') return { state: 'processed', reason: `ignored:${e.code}` };
        throw e;
      }
    },
  };
}

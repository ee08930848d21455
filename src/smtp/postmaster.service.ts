// Route 'postmaster': mail to postmaster@ one of our domains (RFC 5321 §4.5.1) goes to the admins, through the queue.
import type { DbOrTx } from '../db/database.js';
import { enqueueForAdmins } from '../db/outbound.repository.js';
import type { MailRow } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ParsedMessage } from '../mail/parse.js';
import { headerValues, newlineOf } from '../mail/raw.js';
import type { ListProject } from './list.service.js';
import type { Outcome, RouteHandler } from './processing.service.js';

/**
 * Queues one copy per admin (users with the admin role): the stored bytes with a Delivered-To line before them, from
 * the project's -bounces address (a copy that bounces comes back there, never to postmaster: no loop). A mail that
 * already carries our Delivered-To came back to us (an admin forwarding to postmaster, a misrouted bounce) and is
 * kept without being sent again. With no admin the mail is kept, marked, for the admin there will be.
 */
export function createPostmasterHandler(deps: { projects: ListProject[]; log: Logger }): RouteHandler {
  const byId = new Map(deps.projects.map((p) => [p.id, p]));
  return {
    async handle(tx: DbOrTx, mail: MailRow, parsed: ParsedMessage): Promise<Outcome> {
      const project = byId.get(mail.project_id);
      // Left 'stored' (retried at the next start) rather than dropped, should a project file disappear.
      if (!project) throw new AppError('internal', 'unknown_project', `mail ${mail.id}: project ${mail.project_id} is not configured`);
      const log = deps.log.child({ mailId: mail.id, messageId: mail.msgid });
      const deliveredTo = headerValues(parsed.header, 'delivered-to').map((v) => v.trim().toLowerCase());
      if (deliveredTo.includes(mail.recipient)) {
        log.warn({ recipient: mail.recipient }, 'postmaster mail came back to us; not forwarded again');
        return { state: 'processed', reason: 'postmaster:loop' };
      }
      const copies = await enqueueForAdmins(tx, {
        projectId: project.id,
        kind: 'postmaster',
        envelopeFrom: project.addresses.bounces,
        mailId: mail.id,
        prefix: `Delivered-To: ${mail.recipient}${newlineOf(mail.raw)}`,
      });
      if (!copies) {
        log.warn({ recipient: mail.recipient }, 'postmaster mail kept: there is no admin to forward it to');
        return { state: 'processed', reason: 'postmaster:no-admin' };
      }
      log.info({ recipient: mail.recipient, copies }, 'postmaster mail forwarded to the admins');
      return { state: 'processed', reason: 'postmaster:forwarded' };
    },
  };
}

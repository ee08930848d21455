// Route 'list': keeps loops and auto-replies off the list, applies the posting policy, and queues one copy per subscriber.
import type { PublicUrls } from '../config/config.js';
import type { Project } from '../config/projects.js';
import type { DbOrTx } from '../db/database.js';
import { enqueueOutbound } from '../db/outbound.repository.js';
import type { MailRow } from '../db/schema.js';
import { isStudentEmail } from '../db/student.repository.js';
import { activeSubscribers, findSubscriber } from '../db/subscriber.repository.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { detectAutomatic, listHeaders, REPLACED_HEADERS, type ListIdentity } from '../mail/list-headers.js';
import { newlineOf } from '../mail/raw.js';
import type { ReadMail } from './mail-reading.js';
import type { Outcome, RouteHandler } from './processing.service.js';
import { encodeVerp } from './recipients.js';

export type ListProject = Project & { id: number };

export type HoldReason = 'non-member' | 'not-on-roster';

/** Files an accepted post into patches, covers and comments (the series engine), in the same transaction. */
export type FileMail = (tx: DbOrTx, mail: MailRow, read: ReadMail) => Promise<unknown>;

export function listIdentity(project: ListProject, baseUrl: string): ListIdentity {
  return { name: project.name, slug: project.slug, list: project.addresses.list, request: project.addresses.request, baseUrl };
}

/** Why the project's posting policy holds a post from this sender, or null when it may go out. */
export async function holdReason(tx: DbOrTx, project: ListProject, sender: string): Promise<HoldReason | null> {
  if (project.policy === 'open') return null;
  const from = sender.toLowerCase();
  if (project.maintainers.some((m) => m.toLowerCase() === from)) return null;
  if (project.policy === 'members') {
    const member = await findSubscriber(tx, project.id, from);
    return member?.state === 'active' ? null : 'non-member';
  }
  return (await isStudentEmail(tx, project.id, from)) ? null : 'not-on-roster';
}

/**
 * Queues the post for every active subscriber: the stored bytes with the sender's List-* and Precedence fields left
 * out and ours put before them, in the mail's own newline style; VERP envelope sender. The sender gets a copy too
 * (mlmmj's and Mailman's default). Returns how many copies were queued.
 */
export async function distribute(tx: DbOrTx, project: ListProject, mail: MailRow, baseUrl: string): Promise<number> {
  const subscribers = await activeSubscribers(tx, project.id);
  const identity = listIdentity(project, baseUrl);
  const nl = newlineOf(mail.raw);
  await enqueueOutbound(
    tx,
    subscribers.map((s) => ({
      projectId: project.id,
      kind: 'list',
      envelopeFrom: encodeVerp(project.addresses.bounces, s.email),
      rcpt: s.email,
      mailId: mail.id,
      prefix: listHeaders(identity, s.token)
        .map((line) => line + nl)
        .join(''),
      stripHeaders: REPLACED_HEADERS,
      subscriberId: s.id,
    })),
  );
  return subscribers.length;
}

export function createListHandler(deps: { projects: ListProject[]; urls: PublicUrls; file: FileMail; log: Logger }): RouteHandler {
  const byId = new Map(deps.projects.map((p) => [p.id, p]));
  return {
    async handle(tx: DbOrTx, mail: MailRow, parsed: ReadMail): Promise<Outcome> {
      const project = byId.get(mail.project_id);
      // Kept rather than dropped, should a project file disappear: retried, then quarantined until an admin retries it.
      if (!project) throw new AppError('internal', 'unknown_project', `mail ${mail.id}: project ${mail.project_id} is not configured`);
      const log = deps.log.child({ mailId: mail.id, messageId: mail.msgid, project: project.slug });

      // The CI bot's own report (queued by the pipeline, not received over the network): an auto-generated mail that
      // the list relays on purpose.
      if (mail.source === 'smtp' && mail.remote_addr === null && mail.envelope_from === project.addresses.bot) {
        const copies = await distribute(tx, project, mail, deps.urls.base);
        await deps.file(tx, mail, parsed);
        log.debug({ copies }, 'report distributed');
        return { state: 'processed', reason: 'distributed' };
      }

      const automatic = detectAutomatic(
        { header: parsed.header, subject: parsed.subject, envelopeFrom: mail.envelope_from },
        listIdentity(project, deps.urls.base),
      );
      if (automatic) {
        log.info({ rule: automatic.rule }, 'not relayed');
        return { state: 'processed', reason: automatic.kind };
      }

      const held = await holdReason(tx, project, parsed.from?.address ?? '');
      if (held) {
        log.info({ from: parsed.from?.address, reason: held }, 'held for moderation');
        return { state: 'held', reason: held };
      }

      const copies = await distribute(tx, project, mail, deps.urls.base);
      await deps.file(tx, mail, parsed);
      log.debug({ copies }, 'distributed');
      return { state: 'processed', reason: 'distributed' };
    },
  };
}

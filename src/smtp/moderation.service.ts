// Moderation of posts the policy held: list them, approve (distributed as any accepted post) or reject (the sender is told).
import type { PublicUrls } from '../config/config.js';
import type { Db, DbOrTx } from '../db/database.js';
import { getMail, listMails, setMailState } from '../db/mail.repository.js';
import { enqueueOutbound } from '../db/outbound.repository.js';
import type { MailRow } from '../db/schema.js';
import { AppError, conflict, notFound } from '../errors.js';
import { postRejectedMail } from '../mail/moderation-mail.js';
import { extractMsgid, headerText, headerValues } from '../mail/raw.js';
import { distribute, type FileMail, type ListProject } from './list.service.js';
import type { ReadMails } from './mail-reading.js';

export interface ModerationDeps {
  db: Db;
  projects: ListProject[];
  urls: PublicUrls;
  /** Right-hand side of our Message-IDs. */
  hostname: string;
  /** The series engine, which files an approved post as any accepted one. */
  file: FileMail;
  /** The mail reader (the server's worker threads, with their time budget): an approved post is read as any post. */
  read: ReadMails;
}

export interface HeldPost {
  id: number;
  receivedAt: string;
  from: string | null;
  subject: string | null;
  /** Why the policy held it: 'non-member', 'not-on-roster'. */
  reason: string | null;
}

function projectOf(deps: ModerationDeps, slug: string): ListProject {
  const project = deps.projects.find((p) => p.slug === slug);
  if (!project) throw notFound('no_such_project', `no project "${slug}"`);
  return project;
}

async function heldMail(db: DbOrTx, project: ListProject, id: number): Promise<MailRow> {
  const mail = await getMail(db, id);
  if (!mail || mail.project_id !== project.id || mail.route !== 'list') throw notFound('no_such_mail', `no post ${id} on the ${project.slug} list`);
  if (mail.state !== 'held') throw conflict('not_held', `post ${id} is not held (it is ${mail.state}${mail.reason ? `: ${mail.reason}` : ''})`);
  return mail;
}

export async function listHeld(deps: ModerationDeps, slug: string): Promise<HeldPost[]> {
  const project = projectOf(deps, slug);
  const mails = await listMails(deps.db, { projectId: project.id, state: 'held', route: 'list' });
  return mails.map((m) => ({ id: m.id, receivedAt: m.receivedAt, from: m.fromAddr, subject: m.subject, reason: m.reason }));
}

/** Relays the post exactly as an accepted one would have been; returns how many copies were queued. */
export async function approveHeld(deps: ModerationDeps, slug: string, id: number): Promise<{ mailId: number; copies: number }> {
  const project = projectOf(deps, slug);
  const held = await heldMail(deps.db, project, id);
  const [read] = await deps.read([{ raw: held.raw, route: 'list', projectSlug: project.slug, msgid: held.msgid, receivedAt: held.received_at }]);
  if (!read?.ok) throw new AppError('unavailable', 'mail_unreadable', `post ${id} could not be read: ${read?.error ?? 'no reader'}`);
  return deps.db.transaction().execute(async (tx) => {
    const mail = await heldMail(tx, project, id); // a second moderator may have acted meanwhile
    const copies = await distribute(tx, project, mail, deps.urls.base);
    await deps.file(tx, mail, read.mail);
    await setMailState(tx, id, 'processed', 'approved');
    return { mailId: id, copies };
  });
}

/**
 * Drops the post and queues a notice to its sender: the envelope sender, where RFC 3834 §4 sends automatic responses,
 * else the From address. The notice comes from the -request address, threaded under the post.
 */
export async function rejectHeld(
  deps: ModerationDeps,
  slug: string,
  id: number,
  reason = '',
): Promise<{ mailId: number; noticeTo: string }> {
  const project = projectOf(deps, slug);
  const mail = await heldMail(deps.db, project, id);
  const to = mail.envelope_from || mail.from_addr;
  if (!to) throw new AppError('invalid', 'no_sender', `post ${id} has no sender to notify`);
  const references = headerValues(headerText(mail.raw), 'references')
    .flatMap((v) => v.split(/\s+/))
    .map((r) => extractMsgid(r))
    .filter((r): r is string => Boolean(r));
  const notice = await postRejectedMail(
    {
      name: project.name,
      slug: project.slug,
      list: project.addresses.list,
      request: project.addresses.request,
      baseUrl: deps.urls.base,
      hostname: deps.hostname,
    },
    { address: to },
    { subject: mail.subject, date: mail.date ?? mail.received_at, heldFor: mail.reason, thread: { messageId: mail.msgid, references } },
    reason,
  );
  await deps.db.transaction().execute(async (tx) => {
    await heldMail(tx, project, id); // a second moderator may have acted meanwhile
    await enqueueOutbound(tx, [{ projectId: project.id, kind: 'notice', envelopeFrom: project.addresses.bounces, rcpt: to, raw: notice.raw }]);
    await setMailState(tx, id, 'rejected', 'moderator');
  });
  return { mailId: id, noticeTo: to };
}

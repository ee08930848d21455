// Route 'bot': an answer to the bot's reply (a student's reply-all to a report) is filed as a comment on the series it
// answers and forwarded to the project's maintainers through the outbound queue; nothing sent here is lost unseen.
import type { PublicUrls } from '../config/config.js';
import { seriesOfComment, seriesOfReport } from '../db/bot-mail.repository.js';
import type { DbOrTx } from '../db/database.js';
import { enqueueForAdmins, enqueueOutbound } from '../db/outbound.repository.js';
import type { MailRow } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { headerValues, newlineOf } from '../mail/raw.js';
import type { Classified } from '../series/classify.js';
import type { Filing } from '../series/filing.js';
import type { IngestResult } from '../series/ingest.service.js';
import type { ListProject } from './list.service.js';
import type { ReadMail } from './mail-reading.js';
import type { Outcome, RouteHandler } from './processing.service.js';

/** The series engine's filing (SeriesIngestService.ingest), in the processing transaction. */
export type FileFiling = (tx: DbOrTx, mail: MailRow, filing: Filing) => Promise<IngestResult>;

/**
 * Whatever a mail to the bot looks like, it is an answer, never a new series: a patch quoted or attached in a reply
 * to a report stays part of the comment (its diff kept as a comment's is), and a cover-like subject changes nothing.
 */
export function asComment(c: Classified): Classified {
  const common = { subject: c.subject, content: c.content, tags: c.tags, signoffs: c.signoffs, changeId: c.changeId, supersedes: c.supersedes, baseCommit: c.baseCommit };
  return { kind: 'comment', diff: c.kind === 'patch' || c.kind === 'comment' ? c.diff : null, ...common };
}

export function createBotHandler(deps: { projects: ListProject[]; urls: PublicUrls; file: FileFiling; log: Logger }): RouteHandler {
  const byId = new Map(deps.projects.map((p) => [p.id, p]));
  return {
    async handle(tx: DbOrTx, mail: MailRow, read: ReadMail): Promise<Outcome> {
      const project = byId.get(mail.project_id);
      // Left 'stored' (retried at the next start) rather than dropped, should a project file disappear.
      if (!project) throw new AppError('internal', 'unknown_project', `mail ${mail.id}: project ${mail.project_id} is not configured`);
      const log = deps.log.child({ mailId: mail.id, messageId: mail.msgid });
      const deliveredTo = headerValues(read.header, 'delivered-to').map((v) => v.trim().toLowerCase());
      if (deliveredTo.includes(mail.recipient)) {
        // A copy we forwarded came back (a maintainer's forward rule pointing at the bot): kept, not sent round again.
        log.warn({ recipient: mail.recipient }, 'bot mail came back to us; not forwarded again');
        return { state: 'processed', reason: 'bot:loop' };
      }

      let seriesId: number | null = null;
      let filed = 'not-filed';
      if (read.post) {
        const input = read.post.filing.input;
        // A report sent to the student alone is no mail the series engine knows: its Message-ID leads to the series
        // through the run that sent it, and the series' root mail is then looked up as the nearest reference.
        const report = await seriesOfReport(tx, project.id, [...(input.inReplyTo ? [input.inReplyTo] : []), ...input.references]);
        const references = report?.rootMsgid && !input.references.includes(report.rootMsgid) ? [...input.references, report.rootMsgid] : input.references;
        const filing: Filing = { ...read.post.filing, input: { ...input, references }, classified: asComment(read.post.filing.classified), dependsOn: [] };
        const result = await deps.file(tx, mail, filing);
        if (result.kind === 'comment') {
          seriesId = await seriesOfComment(tx, result.commentId);
          filed = 'comment';
        } else if (result.kind === 'duplicate') {
          // Also sent to the list, which filed it first: the same comment.
          filed = 'duplicate';
        } else {
          seriesId = report?.seriesId ?? null;
        }
      }

      const nl = newlineOf(mail.raw);
      const prefix = [`Delivered-To: ${mail.recipient}`, ...(seriesId !== null && deps.urls.base ? [`X-Patchbay-Series: ${deps.urls.base}/series/${seriesId}/`] : [])]
        .map((line) => line + nl)
        .join('');
      const maintainers = [...new Set(project.maintainers.map((m) => m.toLowerCase()))];
      // From the -bounces address: a copy that bounces is counted there, and never comes back to the bot.
      const item = { projectId: project.id, kind: 'bot', envelopeFrom: project.addresses.bounces, mailId: mail.id, prefix };
      if (maintainers.length) {
        await enqueueOutbound(tx, maintainers.map((rcpt) => ({ ...item, rcpt })));
        log.info({ series: seriesId, filed, copies: maintainers.length }, 'bot mail forwarded to the maintainers');
        return { state: 'processed', reason: `bot:${filed}:forwarded` };
      }
      // A project without maintainers: its admins read it instead (postmaster's rule), else it is kept and marked.
      const copies = await enqueueForAdmins(tx, item);
      if (!copies) {
        log.warn({ series: seriesId, filed }, 'bot mail kept: the project has no maintainer and there is no admin');
        return { state: 'processed', reason: `bot:${filed}:no-maintainer` };
      }
      log.info({ series: seriesId, filed, copies }, 'bot mail forwarded to the admins: the project has no maintainer');
      return { state: 'processed', reason: `bot:${filed}:forwarded-to-admins` };
    },
  };
}

// Ingest: files one list mail into patches, covers, comments, series and revisions, with events, in the caller's transaction.
import type { DbOrTx } from '../db/database.js';
import type { MailRow } from '../db/schema.js';
import {
  addPatchTags,
  claimRefs,
  findKnown,
  findSeriesRefs,
  findStudentByEmails,
  getPatch,
  getRevision,
  getSeries,
  insertComment,
  insertCover,
  insertEvent,
  insertPatch,
  insertRevision,
  insertSeries,
  markRevisionAnnounced,
  nearbySeriesIds,
  patchesOfSeries,
  predecessorCandidateIds,
  seriesSummaries,
  setPatchState,
  setReplacedBy,
  studentNames,
  updateSeries,
  upsertPerson,
} from '../db/series.repository.js';
import type { Logger } from '../log.js';
import type { ParsedMessage } from '../mail/parse.js';
import { classify, type Classified } from './classify.js';
import { authorOf, toMailInput } from './mail-input.js';
import { INITIAL_STATE, OPEN_STATES, stateFromHeader } from './states.js';
import { normalizeTitle } from './subject.js';
import { batchOf, decide, findPredecessor, lookupOrder, UNTHREADED_WINDOW_MS, type Context, type RevisionHint } from './thread.js';
import { sameName } from './trailers.js';

export interface IngestProject {
  id: number;
  slug: string;
  /** A completed newer revision marks the older revision's open patches superseded. */
  supersede: boolean;
}

export type IngestResult =
  | { kind: 'patch'; patchId: number; seriesId: number; how: string }
  | { kind: 'cover'; coverId: number; seriesId: number; how: string }
  | { kind: 'comment'; commentId: number }
  | { kind: 'plain'; reason: string }
  | { kind: 'duplicate' };

export class SeriesIngestService {
  constructor(
    private readonly projects: Map<number, IngestProject>,
    private readonly log: Logger,
  ) {}

  async ingest(tx: DbOrTx, mail: MailRow, parsed: ParsedMessage): Promise<IngestResult> {
    const project = this.projects.get(mail.project_id);
    if (!project) return { kind: 'plain', reason: 'no-project' };
    const input = toMailInput({ msgid: mail.msgid, header: parsed.header, mail: parsed.mail, from: parsed.from ? { name: parsed.from.name, email: parsed.from.address } : null, subject: parsed.subject, date: parsed.date, fallbackDate: mail.received_at });
    const classified = classify(input, project.slug);
    if (!input.from.email) return { kind: 'plain', reason: 'no-sender' };
    const submitterId = await upsertPerson(tx, input.from.email, input.from.name);
    const message = { msgid: input.msgid, inReplyTo: input.inReplyTo, references: input.references, date: input.date, submitter: input.from.email, classified };

    const order = lookupOrder(message);
    const knownRows = await findKnown(tx, project.id, order);
    if (knownRows.some((k) => k.msgid === input.msgid)) return { kind: 'duplicate' };
    const ctx: Context = { known: new Map(knownRows.map((k) => [k.msgid, k])), seriesRefs: await findSeriesRefs(tx, project.id, order), series: new Map(), nearby: [] };
    const ids = new Set<number>([...ctx.seriesRefs.values(), ...knownRows.flatMap((k) => (k.seriesId === null ? [] : [k.seriesId]))]);
    const unthreaded = !input.inReplyTo && !input.references.length;
    let nearby: number[] = [];
    const filed = classified.kind === 'patch' || classified.kind === 'pull';
    // Unthreaded patches, and any mail whose Message-ID names its send batch, may join a series sent with it.
    if ((unthreaded && filed) || (batchOf(input.msgid) !== null && (filed || classified.kind === 'cover'))) {
      const t = Date.parse(input.date);
      nearby = await nearbySeriesIds(tx, {
        projectId: project.id,
        submitterId,
        version: classified.subject.version,
        total: classified.subject.total ?? 1,
        from: new Date(t - UNTHREADED_WINDOW_MS).toISOString(),
        to: new Date(t + UNTHREADED_WINDOW_MS).toISOString(),
      });
    }
    for (const s of await seriesSummaries(tx, [...ids, ...nearby])) ctx.series.set(s.id, s);
    ctx.nearby = nearby.map((id) => ctx.series.get(id)!).filter(Boolean);

    const d = decide(message, ctx);
    switch (d.kind) {
      case 'plain':
        return { kind: 'plain', reason: d.reason };
      case 'comment': {
        const commentId = await insertComment(tx, {
          projectId: project.id,
          mailId: mail.id,
          msgid: input.msgid,
          patchId: d.parent.kind === 'patch' ? d.parent.id : null,
          coverId: d.parent.kind === 'cover' ? d.parent.id : null,
          submitterId,
          content: classified.content,
          date: input.date,
        });
        if (d.parent.kind === 'patch') {
          await addPatchTags(tx, d.parent.id, classified.tags);
          await insertEvent(tx, { projectId: project.id, category: 'patch-comment-created', patchId: d.parent.id, commentId });
        } else {
          await insertEvent(tx, { projectId: project.id, category: 'cover-comment-created', coverId: d.parent.id, commentId });
        }
        return { kind: 'comment', commentId };
      }
      case 'cover':
      case 'cover-new-series': {
        const seriesId =
          d.kind === 'cover' ? d.seriesId : await this.newSeries(tx, project, submitterId, input.msgid, input.date, d.version, d.total, classified.changeId);
        await this.keepEarliestDate(tx, seriesId, input.date);
        const title = classified.subject.title;
        const coverId = await insertCover(tx, { projectId: project.id, mailId: mail.id, msgid: input.msgid, seriesId, submitterId, name: classified.subject.name, content: classified.content, date: input.date });
        await updateSeries(tx, seriesId, { cover_id: coverId, name: title, title_norm: normalizeTitle(title), ...(classified.changeId ? { change_id: classified.changeId } : {}) });
        // A cover's references are not claimed: it starts its thread (Patchwork does the same).
        await claimRefs(tx, project.id, seriesId, [input.msgid]);
        await insertEvent(tx, { projectId: project.id, category: 'cover-created', coverId, seriesId });
        await this.linkRevision(tx, project, seriesId, submitterId, classified, d.kind === 'cover-new-series' ? d.repliedTo : null);
        return { kind: 'cover', coverId, seriesId, how: d.how };
      }
      default: {
        if (classified.kind !== 'patch' && classified.kind !== 'pull') return { kind: 'plain', reason: 'not-a-patch' };
        const seriesId =
          d.kind === 'patch-new-series'
            ? await this.newSeries(tx, project, submitterId, input.msgid, input.date, d.version, d.total, classified.changeId)
            : d.seriesId;
        const author = authorOf(input);
        const patchId = await insertPatch(tx, {
          projectId: project.id,
          mailId: mail.id,
          msgid: input.msgid,
          seriesId,
          number: d.index,
          submitterId,
          name: classified.subject.name,
          content: classified.content,
          diff: classified.kind === 'patch' ? classified.diff : null,
          hash: classified.kind === 'patch' ? classified.hash : null,
          pullUrl: classified.pull ? [classified.pull.url, classified.pull.branch].filter(Boolean).join(' ') : null,
          date: input.date,
          state: stateFromHeader(headerOf(parsed.header, 'x-patchwork-state')) ?? INITIAL_STATE,
          tags: classified.tags,
          baseCommit: classified.baseCommit,
          changeId: classified.changeId,
          signoffOk: classified.signoffs.some((s) => s.email === author.email || sameName(s.name, author.name)),
          studentId: await this.findStudent(tx, project.id, author, classified),
        });
        await claimRefs(tx, project.id, seriesId, order);
        await insertEvent(tx, { projectId: project.id, category: 'patch-created', patchId, seriesId });
        if (d.kind === 'patch-replacement') {
          await setReplacedBy(tx, d.replaces, patchId);
          await this.changeState(tx, project.id, d.replaces, 'superseded', { replaced_by: patchId, reason: d.how });
        }
        await this.keepEarliestDate(tx, seriesId, input.date);
        const series = (await getSeries(tx, seriesId))!;
        if ((d.index <= 1 || series.total === 1) && series.cover_id === null) {
          await updateSeries(tx, seriesId, { name: classified.subject.name, title_norm: normalizeTitle(classified.subject.title) });
        }
        await this.afterPatch(tx, project, seriesId, d.index, d.kind === 'patch-replacement');
        await this.linkRevision(tx, project, seriesId, submitterId, classified, d.kind === 'patch-new-series' ? d.repliedTo : null);
        return { kind: 'patch', patchId, seriesId, how: d.how };
      }
    }
  }

  private async newSeries(tx: DbOrTx, project: IngestProject, submitterId: number, msgid: string, date: string, version: number, total: number, changeId: string | null): Promise<number> {
    const id = await insertSeries(tx, { projectId: project.id, submitterId, name: null, version, total, date, batch: batchOf(msgid), titleNorm: null, changeId });
    await insertEvent(tx, { projectId: project.id, category: 'series-created', seriesId: id });
    return id;
  }

  /** A series is dated by its earliest mail, whatever order its mails arrive in (a late cover or 1/N moves it back). */
  private async keepEarliestDate(tx: DbOrTx, seriesId: number, date: string): Promise<void> {
    const series = (await getSeries(tx, seriesId))!;
    if (date < series.date) await updateSeries(tx, seriesId, { date });
  }

  private async findStudent(tx: DbOrTx, projectId: number, author: { name: string; email: string }, c: Classified): Promise<number | null> {
    const byEmail = await findStudentByEmails(tx, projectId, [author.email, ...c.signoffs.map((s) => s.email)]);
    if (byEmail !== null) return byEmail;
    const names = [author.name, ...c.signoffs.map((s) => s.name)].filter(Boolean);
    return (await studentNames(tx, projectId)).find((s) => names.some((n) => sameName(s.name, n)))?.id ?? null;
  }

  private async changeState(tx: DbOrTx, projectId: number, patchId: number, state: string, extra: Record<string, unknown> = {}): Promise<void> {
    const patch = await getPatch(tx, patchId);
    if (!patch || patch.state === state) return;
    await setPatchState(tx, patchId, state);
    await insertEvent(tx, { projectId, category: 'patch-state-changed', patchId, payload: { previous_state: patch.state, current_state: state, ...extra } });
  }

  /**
   * patch-completed for this patch and its contiguous successors; series-completed once 1..N are all in.
   * A replacement (v5.1 of patch 2) completes only itself: its successors were complete already.
   */
  private async afterPatch(tx: DbOrTx, project: IngestProject, seriesId: number, index: number, replacement: boolean): Promise<void> {
    const series = (await getSeries(tx, seriesId))!;
    const patches = (await patchesOfSeries(tx, seriesId)).filter((p) => p.replaced_by === null);
    const byNumber = new Map(patches.map((p) => [p.number, p]));
    let complete = true;
    for (let i = 1; i < index; i++) if (!byNumber.has(i)) complete = false;
    for (let i = index; complete && byNumber.has(i) && (i === index || !replacement); i++) {
      await insertEvent(tx, { projectId: project.id, category: 'patch-completed', patchId: byNumber.get(i)!.id, seriesId });
    }
    const all = Array.from({ length: series.total }, (_, i) => i + 1).every((i) => byNumber.has(i));
    if (all && (series.completed === 0 || replacement)) {
      await updateSeries(tx, seriesId, { completed: 1 });
      await insertEvent(tx, { projectId: project.id, category: 'series-completed', seriesId, payload: replacement ? { replacement: true } : undefined });
      await this.announceRevision(tx, project, seriesId);
    }
  }

  private async linkRevision(tx: DbOrTx, project: IngestProject, seriesId: number, submitterId: number, c: Classified, hint: RevisionHint | null): Promise<void> {
    if (await getRevision(tx, seriesId)) return;
    const series = (await getSeries(tx, seriesId))!;
    let link = hint;
    if (!link) {
      const cand = await predecessorCandidateIds(tx, { projectId: project.id, submitterId, titleNorm: series.title_norm, changeId: series.change_id ?? c.changeId, supersedes: c.supersedes });
      const ids = [...new Set([...(cand.bySupersedes === null ? [] : [cand.bySupersedes]), ...cand.byChangeId, ...cand.byTitle])].filter((id) => id !== seriesId);
      const sums = new Map((await seriesSummaries(tx, ids)).map((s) => [s.id, s]));
      const me = (await seriesSummaries(tx, [seriesId]))[0]!;
      link = findPredecessor(
        { seriesId, submitter: me.submitter, version: series.version, date: series.date, title: series.title_norm, resend: c.subject.resend, changeId: series.change_id ?? c.changeId, supersedes: c.supersedes },
        {
          bySupersedes: cand.bySupersedes === null ? null : (sums.get(cand.bySupersedes) ?? null),
          byChangeId: cand.byChangeId.flatMap((id) => sums.get(id) ?? []),
          byTitle: cand.byTitle.flatMap((id) => sums.get(id) ?? []),
        },
      );
    }
    if (!link || link.seriesId === seriesId) return;
    await insertRevision(tx, { seriesId, previousId: link.seriesId, reason: link.reason, source: 'parser' });
    this.log.debug({ seriesId, previous: link.seriesId, reason: link.reason }, 'revision linked');
    if (series.completed) await this.announceRevision(tx, project, seriesId);
  }

  /** Once a linked revision is complete: the earlier revision's open patches are superseded, and series-new-revision fires. */
  async announceRevision(tx: DbOrTx, project: IngestProject, seriesId: number): Promise<void> {
    const rev = await getRevision(tx, seriesId);
    if (!rev || rev.announced) return;
    if (project.supersede) {
      for (const p of await patchesOfSeries(tx, rev.previous_id)) {
        if (p.replaced_by === null && OPEN_STATES.has(p.state)) await this.changeState(tx, project.id, p.id, 'superseded', { superseded_by_series: seriesId });
      }
    }
    await insertEvent(tx, { projectId: project.id, category: 'series-new-revision', seriesId, payload: { previous_series: rev.previous_id, reason: rev.reason } });
    await markRevisionAnnounced(tx, seriesId);
  }
}

function headerOf(header: string, name: string): string | undefined {
  const re = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im');
  return re.exec(header)?.[1]?.trim();
}

// Ingest: files one list mail into patches, covers, comments, series and revisions, with events, in the caller's transaction.
import type { DbOrTx } from '../db/database.js';
import { deferWrite } from '../db/deferred-writes.js';
import type { MailRow } from '../db/schema.js';
import type { SeriesRow } from '../db/series-schema.js';
import {
  addPatchTags,
  claimRefs,
  deleteRevision,
  getRevision,
  getSeries,
  insertComment,
  insertCover,
  insertEvents,
  type NewEvent,
  insertPatch,
  insertRevision,
  insertSeriesRow,
  markRevisionAnnounced,
  nextRevisionOf,
  nearbySeriesIds,
  patchSlotsOfSeries,
  patchState,
  predecessorCandidateIds,
  rosterOf,
  seriesSharingPatches,
  seriesSummaries,
  seriesWithSummaries,
  setPatchState,
  setReplacedBy,
  setSeriesCompleted,
  setSeriesCover,
  setSeriesDate,
  setSeriesName,
  setSeriesVersion,
  threadLookup,
  upsertPerson,
} from '../db/series.repository.js';
import type { Logger } from '../log.js';
import type { CompiledAssignment } from './assignment.js';
import { noteAssignment } from './assignment.service.js';
import type { Classified } from './classify.js';
import { fileDependencies } from './dependencies.service.js';
import type { Filing } from './filing.js';
import { INITIAL_STATE, OPEN_STATES, stateFromHeader } from './states.js';
import { nameTitle } from './patch-name.js';
import { normalizeTitle } from './subject.js';
import {
  batchOf,
  decide,
  findPredecessor,
  findPredecessorByPatches,
  findSuccessor,
  findSuccessorByPatches,
  gapCandidates,
  overlapping,
  repeatsEnough,
  sameWork,
  type PredecessorCandidates,
  lookupOrder,
  UNTHREADED_WINDOW_MS,
  type Context,
  type RevisionHint,
  type SeriesSummary,
} from './thread.js';
import { sameName } from './trailers.js';

export interface IngestProject {
  id: number;
  slug: string;
  /** A completed newer revision marks the older revision's open patches superseded. */
  supersede: boolean;
  /** The project file's assignments (assignment.ts), in their order; undefined: nothing is recorded (tests' harnesses). */
  assignments?: readonly CompiledAssignment[];
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

  /** Events of the mail being filed, written when it is done: at the end of the caller's batch (deferred-writes.ts). */
  private emitted: NewEvent[] = [];

  /** `filing` is the mail as the series core reads it (filing.ts), made off the main thread by the mail reader. */
  async ingest(tx: DbOrTx, mail: MailRow, filing: Filing): Promise<IngestResult> {
    // Ingest runs inside the caller's transaction, which the single connection serializes: one mail at a time.
    this.emitted = [];
    try {
      const result = await this.file(tx, mail, filing);
      if ((result.kind === 'patch' || result.kind === 'cover') && filing.dependsOn.length) await fileDependencies(tx, mail.project_id, result.seriesId, filing.dependsOn);
      const assignments = this.projects.get(mail.project_id)?.assignments;
      if ((result.kind === 'patch' || result.kind === 'cover') && assignments) {
        await noteAssignment(tx, mail.project_id, assignments, result.seriesId, filing.marks, mail.received_at);
      }
      for (const e of this.emitted) await deferWrite(tx, insertEvents, e);
      return result;
    } finally {
      this.emitted = [];
    }
  }

  private async file(tx: DbOrTx, mail: MailRow, filing: Filing): Promise<IngestResult> {
    const project = this.projects.get(mail.project_id);
    if (!project) return { kind: 'plain', reason: 'no-project' };
    const { input, classified } = filing;
    if (!input.from.email) return { kind: 'plain', reason: 'no-sender' };
    const submitterId = await upsertPerson(tx, input.from.email, input.from.name);
    const message = { msgid: input.msgid, inReplyTo: input.inReplyTo, references: input.references, date: input.date, submitter: input.from.email, classified };

    const order = lookupOrder(message);
    // Comments matter only to place a comment (its parent may be reached through other comments).
    const thread = await threadLookup(tx, project.id, order, classified.kind === 'comment');
    const knownRows = thread.known;
    if (knownRows.some((k) => k.msgid === input.msgid)) return { kind: 'duplicate' };
    const ctx: Context = { known: new Map(knownRows.map((k) => [k.msgid, k])), seriesRefs: thread.seriesRefs, series: new Map(), nearby: [] };
    const ids = new Set<number>([...ctx.seriesRefs.values(), ...knownRows.flatMap((k) => (k.seriesId === null ? [] : [k.seriesId]))]);
    let nearby: number[] = [];
    const filed = classified.kind === 'patch' || classified.kind === 'pull';
    // A patch or cover of a series whose thread leads to no series we know (unthreaded, or replying to mail never
    // filed), and any whose Message-ID names its send batch, may join a series sent with it (decide: same sender,
    // version and length, within the window).
    if ((filed || classified.kind === 'cover') && (classified.subject.total ?? 1) > 1 && (ids.size === 0 || batchOf(input.msgid) !== null)) {
      const t = Date.parse(input.date);
      nearby = await nearbySeriesIds(tx, {
        projectId: project.id,
        submitterId,
        version: classified.subject.version,
        total: classified.subject.total ?? 1,
        from: new Date(t - UNTHREADED_WINDOW_MS).toISOString(),
        to: new Date(t + UNTHREADED_WINDOW_MS).toISOString(),
        batch: batchOf(input.msgid),
        coverless: classified.kind === 'cover',
      });
    }
    // The series rows come along: filing reads them again only for a series made since (newSeries keeps its row).
    const rows = new Map<number, SeriesRow>();
    for (const { row, summary } of await seriesWithSummaries(tx, [...ids, ...nearby])) {
      ctx.series.set(summary.id, summary);
      rows.set(row.id, row);
    }
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
          this.emit({ projectId: project.id, category: 'patch-comment-created', patchId: d.parent.id, commentId });
        } else {
          this.emit({ projectId: project.id, category: 'cover-comment-created', coverId: d.parent.id, commentId });
        }
        return { kind: 'comment', commentId };
      }
      case 'cover':
      case 'cover-new-series': {
        const seriesId =
          d.kind === 'cover' ? d.seriesId : await this.newSeries(tx, rows, project, submitterId, input.msgid, input.date, d.version, d.total, classified.changeId);
        const series = await this.seriesWithDate(tx, rows, seriesId, input.date);
        if (d.kind === 'cover' && d.version !== undefined) {
          await setSeriesVersion(tx, seriesId, d.version);
          series.version = d.version;
        }
        const title = classified.subject.title;
        const coverId = await insertCover(tx, { projectId: project.id, mailId: mail.id, msgid: input.msgid, seriesId, submitterId, name: classified.subject.name, content: classified.content, date: input.date });
        // Named as Patchwork names a series after its cover: the cover's name without its prefixes.
        const coverFields = { cover_id: coverId, name: nameTitle(classified.subject.name), title_norm: normalizeTitle(title), ...(classified.changeId ? { change_id: classified.changeId } : {}) };
        await setSeriesCover(tx, seriesId, { coverId, name: coverFields.name, titleNorm: coverFields.title_norm, changeId: classified.changeId || null });
        Object.assign(series, coverFields);
        // A cover's references are not claimed: it starts its thread (Patchwork does the same).
        await claimRefs(tx, project.id, seriesId, [input.msgid]);
        this.emit({ projectId: project.id, category: 'cover-created', coverId, seriesId });
        await this.linkRevision(tx, project, series, submitterId, input.from.email, classified, d.kind === 'cover-new-series' ? d.repliedTo : null);
        // Patches all in before their cover: the cover's title may find nothing the patches' titles would.
        if (series.completed) await this.linkByPatches(tx, project, series, input.from.email);
        return { kind: 'cover', coverId, seriesId, how: d.how };
      }
      default: {
        if (classified.kind !== 'patch' && classified.kind !== 'pull') return { kind: 'plain', reason: 'not-a-patch' };
        const seriesId =
          d.kind === 'patch-new-series'
            ? await this.newSeries(tx, rows, project, submitterId, input.msgid, input.date, d.version, d.total, classified.changeId)
            : d.seriesId;
        const author = filing.author;
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
          state: stateFromHeader(filing.stateHeader) ?? INITIAL_STATE,
          tags: classified.tags,
          baseCommit: classified.baseCommit,
          changeId: classified.changeId,
          signoffOk: classified.signoffs.some((s) => s.email === author.email || sameName(s.name, author.name)),
          studentId: await this.findStudent(tx, project.id, author, classified),
          titleNorm: normalizeTitle(classified.subject.title),
        });
        await claimRefs(tx, project.id, seriesId, order);
        this.emit({ projectId: project.id, category: 'patch-created', patchId, seriesId });
        if (d.kind === 'patch-replacement') {
          await setReplacedBy(tx, d.replaces, patchId);
          await this.changeState(tx, project.id, d.replaces, 'superseded', { replaced_by: patchId, reason: d.how });
        }
        const series = await this.seriesWithDate(tx, rows, seriesId, input.date);
        if ((d.index <= 1 || series.total === 1) && series.cover_id === null) {
          const named = { name: classified.subject.name, title_norm: normalizeTitle(classified.subject.title) };
          await setSeriesName(tx, seriesId, named.name, named.title_norm);
          Object.assign(series, named);
        }
        if (d.kind === 'patch' && d.version !== undefined) {
          await setSeriesVersion(tx, seriesId, d.version);
          series.version = d.version;
        }
        const completed = await this.afterPatch(tx, project, series, d.index, d.kind === 'patch-replacement');
        // A late patch of a revision that a newer, complete one already superseded is superseded on arrival.
        if (project.supersede && ctx.series.get(seriesId)?.superseded && (await nextRevisionOf(tx, seriesId))?.announced) {
          await this.changeState(tx, project.id, patchId, 'superseded', { superseded_by_series: (await nextRevisionOf(tx, seriesId))!.series_id });
        }
        // Only a new series, or the patch that names it (1/N), can give a revision link something new to go on.
        if (d.kind === 'patch-new-series' || d.index <= 1) {
          await this.linkRevision(tx, project, series, submitterId, input.from.email, classified, d.kind === 'patch-new-series' ? d.repliedTo : null);
        }
        // Once all its patches are in, a series the thread, Supersedes:, change-id and title did not link is looked up
        // by its patches' titles (after those, whose reasons say more).
        if (completed) await this.linkByPatches(tx, project, series, input.from.email);
        return { kind: 'patch', patchId, seriesId, how: d.how };
      }
    }
  }

  private emit(e: NewEvent): void {
    this.emitted.push(e);
  }

  private async newSeries(
    tx: DbOrTx,
    rows: Map<number, SeriesRow>,
    project: IngestProject,
    submitterId: number,
    msgid: string,
    date: string,
    version: number,
    total: number,
    changeId: string | null,
  ): Promise<number> {
    const row = await insertSeriesRow(tx, { projectId: project.id, submitterId, name: null, version, total, date, batch: batchOf(msgid), titleNorm: null, changeId });
    rows.set(row.id, row);
    this.emit({ projectId: project.id, category: 'series-created', seriesId: row.id });
    return row.id;
  }

  /**
   * The series row, dated by its earliest mail whatever the order they arrive in (a late cover or 1/N moves it
   * back). `rows` holds the rows read or made while filing this mail; none of this mail's writes before this point
   * touch the series row, so they are current.
   */
  private async seriesWithDate(tx: DbOrTx, rows: Map<number, SeriesRow>, seriesId: number, date: string): Promise<SeriesRow> {
    const series = rows.get(seriesId) ?? (await getSeries(tx, seriesId))!;
    if (date < series.date) {
      await setSeriesDate(tx, seriesId, date);
      series.date = date;
    }
    return series;
  }

  /** By email first (the author's, then each Signed-off-by's), then by name after Unicode normalization. */
  private async findStudent(tx: DbOrTx, projectId: number, author: { name: string; email: string }, c: Classified): Promise<number | null> {
    const roster = await rosterOf(tx, projectId);
    if (!roster.length) return null;
    const emails = [author.email, ...c.signoffs.map((s) => s.email)].map((e) => e.toLowerCase());
    const byEmail = roster.find((s) => s.emails.some((e) => emails.includes(e)));
    if (byEmail) return byEmail.id;
    const names = [author.name, ...c.signoffs.map((s) => s.name)].filter(Boolean);
    return roster.find((s) => names.some((n) => sameName(s.name, n)))?.id ?? null;
  }

  private async changeState(tx: DbOrTx, projectId: number, patchId: number, state: string, extra: Record<string, unknown> = {}): Promise<void> {
    const previous = await patchState(tx, patchId);
    if (previous === undefined || previous === state) return;
    await setPatchState(tx, patchId, state);
    this.emit({ projectId, category: 'patch-state-changed', patchId, payload: { previous_state: previous, current_state: state, ...extra } });
  }

  /**
   * patch-completed for this patch and its contiguous successors; series-completed once 1..N are all in.
   * A replacement (v5.1 of patch 2) completes only itself: its successors were complete already.
   */
  private async afterPatch(tx: DbOrTx, project: IngestProject, series: SeriesRow, index: number, replacement: boolean): Promise<boolean> {
    const seriesId = series.id;
    const patches = (await patchSlotsOfSeries(tx, seriesId)).filter((p) => p.replaced_by === null);
    const byNumber = new Map(patches.map((p) => [p.number, p]));
    // "1..n all here" as a count of the distinct numbers in range: work in the patches received, never in a number
    // the mail chose (subject bounds keep those small; a row from before them may not be).
    const present = (n: number) => [...byNumber.keys()].filter((k) => k >= 1 && k <= n).length === n;
    const complete = index <= 1 || present(index - 1);
    for (let i = index; complete && byNumber.has(i) && (i === index || !replacement); i++) {
      this.emit({ projectId: project.id, category: 'patch-completed', patchId: byNumber.get(i)!.id, seriesId });
    }
    const all = present(series.total);
    if (all && (series.completed === 0 || replacement)) {
      const first = series.completed === 0;
      await setSeriesCompleted(tx, seriesId);
      series.completed = 1;
      this.emit({ projectId: project.id, category: 'series-completed', seriesId, payload: replacement ? { replacement: true } : undefined });
      await this.announceRevision(tx, project, seriesId);
      return first;
    }
    return false;
  }

  private async linkRevision(
    tx: DbOrTx,
    project: IngestProject,
    series: SeriesRow,
    submitterId: number,
    submitter: string,
    c: Classified,
    hint: RevisionHint | null,
  ): Promise<void> {
    const seriesId = series.id;
    const changeId = series.change_id ?? c.changeId;
    if (!hint && !series.title_norm && !changeId && !c.supersedes) return; // nothing to match on yet
    const query = { seriesId, submitter, version: series.version, date: series.date, title: series.title_norm, resend: c.subject.resend, changeId, supersedes: c.supersedes };
    let candidates: PredecessorCandidates | null = null;
    const load = async (): Promise<PredecessorCandidates> => {
      if (candidates) return candidates;
      const cand = await predecessorCandidateIds(tx, { projectId: project.id, submitterId, titleNorm: series.title_norm, changeId, supersedes: c.supersedes });
      const ids = [...new Set([...(cand.bySupersedes === null ? [] : [cand.bySupersedes]), ...cand.byChangeId, ...cand.byTitle])].filter((id) => id !== seriesId);
      const sums = new Map((await seriesSummaries(tx, ids)).map((x) => [x.id, x]));
      return (candidates = {
        bySupersedes: cand.bySupersedes === null ? null : (sums.get(cand.bySupersedes) ?? null),
        byChangeId: cand.byChangeId.flatMap((id) => sums.get(id) ?? []),
        byTitle: cand.byTitle.flatMap((id) => sums.get(id) ?? []),
      });
    };

    if (!series.revision_fixed && !(await getRevision(tx, seriesId))) {
      const found = hint ?? findPredecessor(query, await load());
      if (found && found.seriesId !== seriesId) await this.insertLink(tx, project, series, found);
      else if (!found && (series.title_norm || changeId)) {
        const c = await load();
        const basis = (x: { changeId: string | null }) => (changeId && x.changeId === changeId ? 'same change-id' : 'same title and submitter');
        await this.fillGap(tx, project, series, sameWork(query, c), basis);
      }
    }
    // The other way round: a newer version that was delivered before this one is linked to it now.
    if (series.title_norm || changeId) {
      if (await nextRevisionOf(tx, seriesId)) return;
      const next = findSuccessor(query, await load());
      if (next) await this.linkSuccessor(tx, project, seriesId, next);
    }
  }

  /**
   * Links `series` as a revision of what `found` names, or of the newest revision already made of it: v3 sent in
   * reply to the v1 cover, when v2 revised v1, revises v2 (never two newer series of one).
   */
  private async insertLink(tx: DbOrTx, project: IngestProject, series: SeriesRow, found: RevisionHint): Promise<void> {
    let previous = found.seriesId;
    let reason = found.reason;
    // A chain is short (one link per version); the bound only guards against a loop a maintainer's edit might make.
    for (let hops = 0; hops < 100; hops++) {
      const next = await nextRevisionOf(tx, previous);
      if (!next || next.series_id === series.id) break;
      const row = await getSeries(tx, next.series_id);
      if (!row || row.version > series.version || row.date > series.date) break;
      previous = row.id;
      reason = `${found.reason}; v${row.version} is its newest revision`;
    }
    if (previous === series.id) return;
    await insertRevision(tx, { seriesId: series.id, previousId: previous, reason, source: 'parser' });
    this.log.debug({ seriesId: series.id, previous, reason }, 'revision linked');
    if (series.completed) await this.announceRevision(tx, project, series.id);
  }

  /**
   * A version delivered after a newer one already revised its predecessor (v1, v3, then v2): it goes between, v2
   * revising v1 and v3 now revising v2, unless a maintainer set v3's link. True when it did.
   */
  private async fillGap(tx: DbOrTx, project: IngestProject, series: SeriesRow, same: SeriesSummary[], basis: (x: SeriesSummary) => string): Promise<boolean> {
    for (const previous of gapCandidates({ seriesId: series.id, version: series.version, date: series.date }, same)) {
      const next = await nextRevisionOf(tx, previous.id);
      if (!next || next.source !== 'parser' || next.series_id === series.id) continue;
      const newer = await getSeries(tx, next.series_id);
      if (!newer || newer.revision_fixed || newer.version <= series.version || newer.date < series.date) continue;
      await deleteRevision(tx, newer.id);
      await insertRevision(tx, { seriesId: series.id, previousId: previous.id, reason: `${basis(previous)}, delivered after v${newer.version}`, source: 'parser' });
      await insertRevision(tx, { seriesId: newer.id, previousId: series.id, reason: `${next.reason}; v${series.version} goes between`, source: 'parser' });
      this.log.debug({ seriesId: series.id, previous: previous.id, newer: newer.id }, 'revision put between');
      if (series.completed) await this.announceRevision(tx, project, series.id);
      if (newer.completed) await this.announceRevision(tx, project, newer.id);
      return true;
    }
    return false;
  }

  /** A complete series without a link either way is linked by the patch titles it shares with another (thread.ts). */
  private async linkByPatches(tx: DbOrTx, project: IngestProject, series: SeriesRow, submitter: string): Promise<void> {
    const sharing = await seriesSharingPatches(tx, series.id);
    // Only a series that repeats enough of these patches (most share none), at a version on a side still to link, is
    // worth reading.
    const repeating = sharing.others.filter((o) => repeatsEnough(o.shared, sharing.mine, o.patches) && o.version !== series.version);
    if (!repeating.length) return;
    const linked = series.revision_fixed === 1 || (await getRevision(tx, series.id)) !== undefined;
    const followed = await nextRevisionOf(tx, series.id);
    const worth = repeating.filter((o) => (!linked && o.version < series.version) || (!followed && o.version > series.version));
    if (!worth.length) return;
    const sums = new Map((await seriesSummaries(tx, worth.map((o) => o.seriesId))).map((x) => [x.id, x]));
    const candidates = worth.flatMap((o) => {
      const summary = sums.get(o.seriesId);
      return summary ? [{ series: summary, shared: o.shared, patches: o.patches }] : [];
    });
    const q = { seriesId: series.id, submitter, version: series.version, date: series.date, titles: sharing.mine };
    if (!linked) {
      const found = findPredecessorByPatches(q, candidates);
      if (found) await this.insertLink(tx, project, series, found);
      else {
        const same = candidates.filter((x) => overlapping(q, x));
        await this.fillGap(tx, project, series, same.map((x) => x.series), (x) => `same patches and submitter (${same.find((y) => y.series.id === x.id)!.shared} of ${q.titles})`);
      }
    }
    if (!followed) {
      const next = findSuccessorByPatches(q, candidates);
      if (next) await this.linkSuccessor(tx, project, series.id, next);
    }
  }

  /** A newer version delivered before this series is linked to it now (announced if complete). */
  private async linkSuccessor(tx: DbOrTx, project: IngestProject, seriesId: number, next: RevisionHint): Promise<void> {
    await insertRevision(tx, { seriesId: next.seriesId, previousId: seriesId, reason: next.reason, source: 'parser' });
    this.log.debug({ seriesId: next.seriesId, previous: seriesId, reason: next.reason }, 'revision linked to a version that arrived first');
    if ((await getSeries(tx, next.seriesId))?.completed) await this.announceRevision(tx, project, next.seriesId);
  }

  /** Once a linked revision is complete: the earlier revision's open patches are superseded, and series-new-revision fires. */
  private async announceRevision(tx: DbOrTx, project: IngestProject, seriesId: number): Promise<void> {
    const rev = await getRevision(tx, seriesId);
    if (!rev || rev.announced) return;
    if (project.supersede) {
      for (const p of await patchSlotsOfSeries(tx, rev.previous_id)) {
        if (p.replaced_by === null && OPEN_STATES.has(p.state)) await this.changeState(tx, project.id, p.id, 'superseded', { superseded_by_series: seriesId });
      }
    }
    this.emit({ projectId: project.id, category: 'series-new-revision', seriesId, payload: { previous_series: rev.previous_id, reason: rev.reason } });
    await markRevisionAnnounced(tx, seriesId);
  }
}

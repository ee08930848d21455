// Maintainers' corrections: link or unlink a revision, split patches off into a new series, merge two series; patch states.
import type { Db, DbOrTx } from '../db/database.js';
import {
  deleteRevision,
  getPatch,
  getRevision,
  getSeries,
  insertEvent,
  insertRevision,
  insertSeries,
  moveCover,
  movePatches,
  nextRevisionOf,
  patchesOfSeries,
  setPatchFields,
  updateSeries,
} from '../db/series.repository.js';
import { conflict, invalid, notFound } from '../errors.js';
import type { CompiledAssignment } from './assignment.js';
import { rematchSeries } from './assignment.service.js';
import { isState } from './states.js';

export class SeriesAdminService {
  /** @param assignments each project's compiled assignments: a split or merge matches the series it changed again. */
  constructor(
    private readonly db: Db,
    private readonly assignments: ReadonlyMap<number, readonly CompiledAssignment[]> = new Map(),
  ) {}

  /** Records that `seriesId` is a revision of `previousId`, replacing any link the parser made. */
  async linkRevision(seriesId: number, previousId: number, actorId: number | null): Promise<void> {
    if (seriesId === previousId) throw invalid('revision_self', 'a series cannot be a revision of itself');
    await this.db.transaction().execute(async (tx) => {
      const [s, p] = [await this.series(tx, seriesId), await this.series(tx, previousId)];
      if (s.project_id !== p.project_id) throw invalid('revision_cross_project', 'both series must belong to one project');
      // Walking back from the previous series must not reach this one: revisions form chains, not loops.
      for (let cur: number | undefined = previousId; cur !== undefined; cur = (await getRevision(tx, cur))?.previous_id) {
        if (cur === seriesId) throw conflict('revision_cycle', `series ${previousId} already descends from series ${seriesId}`);
      }
      const taken = await nextRevisionOf(tx, previousId);
      if (taken && taken.series_id !== seriesId) throw conflict('revision_taken', `series ${previousId} already has a newer revision (series ${taken.series_id})`);
      await deleteRevision(tx, seriesId);
      await insertRevision(tx, { seriesId, previousId, reason: 'linked by a maintainer', source: 'maintainer' });
      await updateSeries(tx, seriesId, { revision_fixed: 1 });
      await insertEvent(tx, { projectId: s.project_id, category: 'series-new-revision', seriesId, actorId, payload: { previous_series: previousId, reason: 'linked by a maintainer' } });
    });
  }

  async unlinkRevision(seriesId: number): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await this.series(tx, seriesId);
      if (!(await getRevision(tx, seriesId))) throw notFound('revision_not_found', `series ${seriesId} is not linked to an earlier revision`);
      await deleteRevision(tx, seriesId);
      // Mail arriving later (its cover, a late patch) must not link it again: the maintainer has decided.
      await updateSeries(tx, seriesId, { revision_fixed: 1 });
    });
  }

  /** Moves the given patches of a series into a new series (same submitter, version and date); returns its id. */
  async split(seriesId: number, patchIds: number[]): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      const s = await this.series(tx, seriesId);
      const patches = await patchesOfSeries(tx, seriesId);
      const moving = patches.filter((p) => patchIds.includes(p.id));
      if (moving.length !== patchIds.length) throw invalid('split_foreign_patch', `every patch must belong to series ${seriesId}`);
      if (moving.length === 0 || moving.length === patches.length) throw invalid('split_nothing', 'a split must leave patches on both sides');
      const id = await insertSeries(tx, { projectId: s.project_id, submitterId: s.submitter_id, name: s.name, version: s.version, total: moving.length, date: s.date, batch: null, titleNorm: null, changeId: null });
      await movePatches(tx, moving.map((p) => p.id), id);
      await updateSeries(tx, seriesId, { total: patches.length - moving.length });
      await insertEvent(tx, { projectId: s.project_id, category: 'series-created', seriesId: id, payload: { split_from: seriesId } });
      await this.rematch(tx, s.project_id, [seriesId, id]);
      return id;
    });
  }

  /** Moves every patch (and the cover, if the target has none) of `fromId` into `intoId`. */
  async merge(intoId: number, fromId: number): Promise<void> {
    if (intoId === fromId) throw invalid('merge_self', 'cannot merge a series into itself');
    await this.db.transaction().execute(async (tx) => {
      const [into, from] = [await this.series(tx, intoId), await this.series(tx, fromId)];
      if (into.project_id !== from.project_id) throw invalid('merge_cross_project', 'both series must belong to one project');
      const moving = await patchesOfSeries(tx, fromId);
      await movePatches(tx, moving.map((p) => p.id), intoId);
      if (into.cover_id === null && from.cover_id !== null) {
        await moveCover(tx, from.cover_id, intoId);
        await updateSeries(tx, intoId, { cover_id: from.cover_id, name: from.name });
      }
      await updateSeries(tx, fromId, { cover_id: null, total: 0 });
      await updateSeries(tx, intoId, { total: Math.max(into.total, ...(await patchesOfSeries(tx, intoId)).map((p) => p.number)) });
      await this.rematch(tx, into.project_id, [intoId, fromId]);
    });
  }

  /** Sets a patch's state, delegate, archived flag, commit reference or pull URL, with Patchwork's events. */
  async updatePatch(
    patchId: number,
    change: { state?: string; delegateId?: number | null; archived?: boolean; commitRef?: string | null; pullUrl?: string | null },
    actorId: number | null,
  ): Promise<void> {
    if (change.state !== undefined && !isState(change.state)) throw invalid('state_unknown', `unknown state "${change.state}"`);
    await this.db.transaction().execute(async (tx) => {
      const p = await getPatch(tx, patchId);
      if (!p) throw notFound('patch_not_found', `no patch ${patchId}`);
      await setPatchFields(tx, patchId, {
        ...(change.state !== undefined ? { state: change.state } : {}),
        ...(change.delegateId !== undefined ? { delegate_id: change.delegateId } : {}),
        ...(change.archived !== undefined ? { archived: change.archived ? 1 : 0 } : {}),
        ...(change.commitRef !== undefined ? { commit_ref: change.commitRef } : {}),
        ...(change.pullUrl !== undefined ? { pull_url: change.pullUrl } : {}),
      });
      if (change.state !== undefined && change.state !== p.state) {
        await insertEvent(tx, { projectId: p.project_id, category: 'patch-state-changed', patchId, actorId, payload: { previous_state: p.state, current_state: change.state } });
      }
      if (change.delegateId !== undefined && change.delegateId !== p.delegate_id) {
        await insertEvent(tx, { projectId: p.project_id, category: 'patch-delegated', patchId, actorId, payload: { previous_delegate: p.delegate_id, current_delegate: change.delegateId } });
      }
    });
  }

  private async rematch(tx: DbOrTx, projectId: number, ids: number[]): Promise<void> {
    const rules = this.assignments.get(projectId);
    if (rules) await rematchSeries(tx, projectId, rules, ids);
  }

  private async series(tx: DbOrTx, id: number) {
    const s = await getSeries(tx, id);
    if (!s) throw notFound('series_not_found', `no series ${id}`);
    return s;
  }
}

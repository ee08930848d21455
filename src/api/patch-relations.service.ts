// PATCH /api/patches/N/ {"related": [...]} (1.2+): Patchwork's patch relations with its rules — only maintainers of
// every patch involved, break before make (409), additive, and a patch-relation-changed event per patch that moved.
import { nowIso, type Db } from '../db/database.js';
import { embeddedPatches } from '../db/api-patch.repository.js';
import { createRelation, deleteRelation, membersOf, relationsOf, setPatchRelation } from '../db/patch-relation.repository.js';
import { insertEvent } from '../db/series.repository.js';
import { conflict, forbidden, invalid } from '../errors.js';
import type { ApiService } from './api.service.js';
import type { Principal } from './auth.service.js';

/** Patchwork's PatchConflict (409) and check_user_maintains_all (403) messages. */
const CONFLICT =
  'At least one patch is already part of another relation. You have to explicitly remove a patch from its existing relation before moving it to this one.';
const NOT_MAINTAINER = 'At least one patch is part of a project you are not maintaining.';

export class PatchRelationService {
  constructor(
    private readonly db: Db,
    private readonly reads: Pick<ApiService, 'maintains'>,
  ) {}

  /** The ids of `related` that name no patch, as DRF reports the first: `Invalid pk "N" - object does not exist.` */
  async requireExisting(ids: number[]): Promise<void> {
    const found = new Set((await embeddedPatches(this.db, ids)).map((p) => p.id));
    const missing = ids.find((id) => !found.has(id));
    if (missing !== undefined) {
      const message = `Invalid pk "${missing}" - object does not exist.`;
      throw invalid('related_unknown', message, { fields: { related: [message] } });
    }
  }

  /**
   * Patchwork's PatchDetailSerializer.update for `related`: the patch joins the relation of the patches named (or a
   * new one), bringing them along; `[]` takes it out (a relation left with one patch is dissolved). The user must
   * maintain the project of the patch, of every patch named and of every patch already related to it.
   */
  async setRelated(patch: { id: number; project_id: number }, related: number[], me: Principal): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const [current] = await relationsOf(tx, [patch.id]);
      const currentMembers = current ? await membersOf(tx, current.relation_id) : [];
      const involved = [...new Set([...related, ...currentMembers])];
      const projects = (await embeddedPatches(tx, [patch.id, ...involved])).map((p) => ({ id: p.id, project: p.project_id }));
      if (!projects.every((p) => this.reads.maintains(me, p.project))) throw forbidden('relation_not_maintainer', NOT_MAINTAINER);
      const projectOf = new Map(projects.map((p) => [p.id, p.project]));
      const before = new Map((await relationsOf(tx, [patch.id, ...involved])).map((r) => [r.patch_id, r.relation_id]));
      let after: Map<number, number | null>;

      if (!related.length) {
        // Taking the patch out; a relation of two would be left with one patch, so it goes (Patchwork does the same).
        if (!current) return;
        after = new Map([[patch.id, null]]);
        if (currentMembers.length === 2) {
          for (const id of currentMembers) after.set(id, null);
          await deleteRelation(tx, current.relation_id);
        } else {
          await setPatchRelation(tx, patch.id, null);
        }
      } else {
        // Break before make: the patches named may be in no relation, or in this patch's own.
        const relations = new Set(involved.flatMap((id) => (before.has(id) ? [before.get(id)!] : [])));
        if (relations.size > 1 || (current && relations.size === 1 && !relations.has(current.relation_id))) throw conflict('relation_conflict', CONFLICT);
        const relationId = relations.size ? [...relations][0]! : await createRelation(tx, nowIso());
        after = new Map([...involved, patch.id].map((id) => [id, relationId]));
        for (const id of after.keys()) if (before.get(id) !== relationId) await setPatchRelation(tx, id, relationId);
      }

      // One event per patch whose relation changed, with the user as actor. (Patchwork's pre_save signal names the
      // actor only for the patch in the URL, and dissolving a relation of two leaves no event at all there.)
      for (const [id, relationId] of after) {
        if ((before.get(id) ?? null) === relationId) continue;
        await insertEvent(tx, { projectId: projectOf.get(id) ?? patch.project_id, category: 'patch-relation-changed', patchId: id, actorId: me.id });
      }
    });
  }
}

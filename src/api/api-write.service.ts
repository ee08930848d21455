// The REST API's writes: patch updates (through SeriesAdminService) and relations, checks, bundles, comments'
// `addressed`, projects (maintainers) and users (themselves), and patchbay's maintainer corrections (revision links,
// split, merge) and run writes (cancel, re-run), each with Patchwork's permission rules.
import type { Db } from '../db/database.js';
import { nowIso } from '../db/database.js';
import { insertCheck } from '../db/api-event.repository.js';
import { commentRow, embeddedPatches, patchProject, setCommentAddressed } from '../db/api-patch.repository.js';
import { peopleRows, seriesRows } from '../db/api-series.repository.js';
import { deleteBundle, findBundle, insertBundle, setBundlePatches, updateBundle } from '../db/bundle.repository.js';
import { getRun } from '../db/pipeline.repository.js';
import { getRevision, insertEvent } from '../db/series.repository.js';
import { seriesAssignment } from '../db/assignment.repository.js';
import { describeAssignment } from '../series/assignment.js';
import { setProjectApiSettings, setUserSettings, type ProjectSettingsChange } from '../db/api-settings.repository.js';
import { findUserByLogin, getUser, updateUser } from '../db/user.repository.js';
import { conflict, forbidden, invalid, notAllowed, notFound } from '../errors.js';
import type { SeriesAdminService } from '../series/series-admin.service.js';
import { STATES } from '../series/states.js';
import { CHECK_STATES, type ApiService, type Parent } from './api.service.js';
import { NO_PERMISSION, requireUser, type Principal } from './auth.service.js';
import type { VisibilityService } from './visibility.service.js';
import { PatchRelationService } from './patch-relations.service.js';
import { parseBool } from './query.js';
import type { Ctx } from './represent.js';
import { hasVersion } from './versions.js';

/** A body as fastify hands it over: JSON values, or strings (and string lists for repeated keys) from a form. */
export type Body = Record<string, unknown> | undefined | null;

/** DRF's field error: 400 with { field: [message] } beside detail. */
function fieldError(field: string, message: string, code = `${field}_invalid`) {
  return invalid(code, message, { fields: { [field]: [message] } });
}

const has = (b: Body, k: string): b is Record<string, unknown> => !!b && Object.prototype.hasOwnProperty.call(b, k);

/** A project's URL fields its maintainers may write, with the version that shows each (Patchwork's ProjectSerializer). */
const PROJECT_URL_FIELDS = [
  ['web_url', '1.0'],
  ['scm_url', '1.0'],
  ['webscm_url', '1.0'],
  ['list_archive_url', '1.2'],
  ['list_archive_url_format', '1.2'],
  ['commit_url_format', '1.2'],
] as const;

/** A form field given once arrives as a string, given twice as a list: the last one counts, as Django's QueryDict. */
function scalar(v: unknown): unknown {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

function str(b: Record<string, unknown>, k: string): string | null {
  const v = scalar(b[k]);
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw fieldError(k, `Incorrect type for ${k}.`);
}

/** A boolean field that also takes null (Patchwork's BooleanField(null=True)); a form's empty value is null too. */
function nullableBool(b: Record<string, unknown>, k: string): boolean | null {
  const v = scalar(b[k]);
  return v === null || v === '' || v === 'null' || v === 'None' ? null : bool(b, k);
}

function bool(b: Record<string, unknown>, k: string): boolean {
  const v = scalar(b[k]);
  if (typeof v === 'boolean') return v;
  const parsed = typeof v === 'string' || typeof v === 'number' ? parseBool(String(v)) : undefined;
  if (parsed === undefined) throw fieldError(k, 'Must be a valid boolean.');
  return parsed;
}

/** Patch ids of a form (`patches=1&patches=2`) or of JSON ([1, 2] or [{id: 1}]). */
function idList(b: Record<string, unknown>, k: string): number[] {
  const raw = b[k];
  const list = Array.isArray(raw) ? raw : raw === undefined || raw === null || raw === '' ? [] : [raw];
  return list.map((v) => {
    const id = typeof v === 'object' && v !== null && 'id' in v ? (v as { id: unknown }).id : v;
    if ((typeof id === 'number' && Number.isInteger(id)) || (typeof id === 'string' && /^\d{1,15}$/.test(id.trim()))) return Number(id);
    throw fieldError(k, `Incorrect type. Expected pk value, received ${typeof id}.`);
  });
}

/** The pipeline's hands on runs (src/pipeline/run-admin.service.ts), as the API's run writes use them. */
export interface RunActions {
  cancel(runId: number, by: string, role: 'admin' | 'maintainer'): Promise<{ run: number; state: 'cancelled'; reason: string }>;
  rerun(runId: number, by: string): Promise<{ run: number; retried: number; series: number; state: 'queued' }>;
}

export class ApiWriteService {
  private readonly relations: PatchRelationService;

  constructor(
    private readonly db: Db,
    private readonly admin: SeriesAdminService,
    private readonly reads: ApiService,
    /** Course projects (issue 14): their students never grade themselves. */
    private readonly visibility: VisibilityService = reads.visibility,
    /** Null without a pipeline (no project has a tree, or a command that runs none): run writes answer 409. */
    private readonly runs: RunActions | null = null,
  ) {
    this.relations = new PatchRelationService(db, reads);
  }

  /**
   * PATCH/PUT /patches/N/ (Patchwork's PatchDetailSerializer): state, delegate, archived, commit_ref, pull_url, and
   * (1.2+) related. Allowed to the project's maintainers, the patch's delegate, and its submitter (models.py
   * Patch.is_editable); `related` needs a maintainer of every patch it touches.
   */
  async updatePatch(ctx: Ctx, id: number, body: Body, who: Principal | null): Promise<Record<string, unknown>> {
    const patch = await patchProject(this.db, id);
    if (!patch) throw notFound('patch_not_found', 'No Patch matches the given query.');
    const me = requireUser(who);
    if (!(await this.canEditPatch(me, patch))) throw forbidden('patch_not_editable', NO_PERMISSION);
    const change: { state?: string; delegateId?: number | null; archived?: boolean; commitRef?: string | null; pullUrl?: string | null } = {};
    if (has(body, 'state')) {
      // Patchwork slugifies what it is given: "Under Review" and "under-review" are the same state.
      const given = str(body, 'state') ?? '';
      const slug = given.toLowerCase().trim().replace(/[^\w\s-]/g, '').replace(/[-\s]+/g, '-');
      if (!STATES.some((s) => s.slug === slug)) throw fieldError('state', `Invalid state ${slug}. Expected one of: ${STATES.map((s) => s.slug).join(', ')}.`, 'state_invalid');
      change.state = slug;
    }
    if (has(body, 'delegate')) change.delegateId = await this.delegate(str(body, 'delegate'), patch.project_id);
    if (has(body, 'archived')) change.archived = bool(body, 'archived');
    if (has(body, 'commit_ref')) {
      const ref = str(body, 'commit_ref');
      if (ref !== null && ref.length > 255) throw fieldError('commit_ref', 'Ensure this field has no more than 255 characters.');
      change.commitRef = ref === '' ? null : ref;
    }
    if (has(body, 'pull_url')) {
      // Patchwork's model field is a CharField(max_length=255): no URL check on the server (the schema's `uri` is not).
      const url = str(body, 'pull_url');
      if (url !== null && url.length > 255) throw fieldError('pull_url', 'Ensure this field has no more than 255 characters.');
      change.pullUrl = url === '' ? null : url;
    }
    // `related` is a 1.2 field; older versions never show it, and ignore it as any unknown field.
    const related = hasVersion(ctx.v, '1.2') && has(body, 'related') ? [...new Set(idList(body, 'related'))] : undefined;
    if (related) await this.relations.requireExisting(related);
    // The relation first: it is the write that can still be refused (403, 409) once the fields are valid.
    if (related) await this.relations.setRelated(patch, related, me);
    await this.admin.updatePatch(id, change, me.id);
    return this.reads.getPatch(ctx, id);
  }

  /** A delegate must maintain the patch's project (Patchwork's validate_delegate); given by id, username or email. */
  private async delegate(value: string | null, projectId: number): Promise<number | null> {
    if (value === null || value.trim() === '') return null;
    const user = /^\d+$/.test(value.trim()) ? await getUser(this.db, Number(value)) : await findUserByLogin(this.db, value.trim());
    if (!user) throw fieldError('delegate', `Invalid pk "${value}" - object does not exist.`, 'delegate_unknown');
    if (!this.reads.maintains(user, projectId)) {
      const project = this.reads.projects.get(projectId)!;
      throw fieldError('delegate', `User '${user.username}' is not a maintainer for project '${project.name}'`, 'delegate_not_maintainer');
    }
    return user.id;
  }

  private async canEditPatch(me: Principal, patch: { project_id: number; submitter_id: number; delegate_id: number | null }): Promise<boolean> {
    if (this.reads.maintains(me, patch.project_id) || patch.delegate_id === me.id) return true;
    // In a course project the state, the archived flag and the checks are the grade: its maintainers' alone.
    if (!this.visibility.mayGrade(me, patch.project_id)) return false;
    const [submitter] = await peopleRows(this.db, [patch.submitter_id]);
    return submitter !== undefined && submitter.email === me.email.toLowerCase();
  }

  /** POST /patches/N/checks/: a check by the requester, who may edit the patch; emits check-created. */
  async createCheck(ctx: Ctx, patchId: number, body: Body, who: Principal | null): Promise<Record<string, unknown>> {
    const patch = await patchProject(this.db, patchId);
    if (!patch) throw notFound('patch_not_found', 'No Patch matches the given query.');
    const me = requireUser(who);
    if (!(await this.canEditPatch(me, patch))) throw forbidden('check_not_allowed', NO_PERMISSION);
    const b = body ?? {};
    const state = has(b, 'state') ? (str(b, 'state') ?? '') : '';
    if (state === '') throw fieldError('state', 'A check must have a state.', 'check_state_missing');
    if (!(CHECK_STATES as readonly string[]).includes(state)) throw fieldError('state', `"${state}" is not a valid choice.`, 'check_state_invalid');
    const context = (has(b, 'context') ? str(b, 'context') : null) || 'default';
    if (!/^[-a-zA-Z0-9_]{1,255}$/.test(context)) throw fieldError('context', 'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.', 'check_context_invalid');
    const target = (has(b, 'target_url') ? str(b, 'target_url') : null) || null;
    if (target !== null && !isHttpUrl(target)) throw fieldError('target_url', 'Enter a valid URL.', 'check_target_invalid');
    const description = (has(b, 'description') ? str(b, 'description') : null) || null;
    const id = await this.db.transaction().execute(async (tx) => {
      const checkId = await insertCheck(tx, { patchId, userId: me.id, date: nowIso(), state, targetUrl: target, context, description });
      await insertEvent(tx, { projectId: patch.project_id, category: 'check-created', patchId, actorId: me.id, payload: { check: checkId } });
      return checkId;
    });
    return this.reads.getCheck(ctx, patchId, id);
  }

  /** PATCH /{patches,covers}/N/comments/C/ (1.3): only `addressed`, by the people Patchwork's is_editable names. */
  async updateComment(ctx: Ctx, parent: Parent, id: number, body: Body, who: Principal | null): Promise<Record<string, unknown>> {
    if (!hasVersion(ctx.v, '1.3')) throw notFound('not_found', 'Not found.');
    await this.reads.requireParent(parent);
    const c = await commentRow(this.db, id);
    if (!c || (parent.kind === 'patch' ? c.patch_id : c.cover_id) !== parent.id) throw notFound('comment_not_found', 'No comment matches the given query.');
    const me = requireUser(who);
    const [author] = await peopleRows(this.db, [c.submitter_id]);
    let allowed = this.reads.maintains(me, c.project_id) || author?.email === me.email.toLowerCase();
    if (!allowed && parent.kind === 'patch') {
      const p = (await patchProject(this.db, parent.id))!;
      allowed = await this.canEditPatch(me, p);
    }
    if (!allowed) throw forbidden('comment_not_editable', NO_PERMISSION);
    if (has(body, 'addressed')) await setCommentAddressed(this.db, id, nullableBool(body, 'addressed'), nowIso());
    return this.reads.getComment(ctx, parent, id);
  }

  /**
   * PATCH/PUT /projects/N/ (Patchwork's ProjectSerializer): the fields its maintainers may change — web_url, scm_url,
   * webscm_url, from 1.2 list_archive_url, list_archive_url_format, commit_url_format, from 1.4 show_dependencies.
   * Read-only fields (name, link_name, …) are ignored, as DRF does; a field a version does not show is ignored too.
   */
  async updateProject(ctx: Ctx, idOrSlug: string, body: Body, who: Principal | null): Promise<Record<string, unknown>> {
    const project = this.reads.project(idOrSlug);
    const me = requireUser(who);
    if (!this.reads.maintains(me, project.id)) throw forbidden('project_not_editable', NO_PERMISSION);
    const b = body ?? {};
    const change: ProjectSettingsChange = {};
    for (const [field, since] of PROJECT_URL_FIELDS) {
      if (!has(b, field) || !hasVersion(ctx.v, since)) continue;
      const v = scalar(b[field]);
      if (v === null || v === undefined) throw fieldError(field, 'This field may not be null.');
      const text = str(b, field)!;
      if (text.length > 2000) throw fieldError(field, 'Ensure this field has no more than 2000 characters.');
      change[field] = text;
    }
    if (has(b, 'show_dependencies') && hasVersion(ctx.v, '1.4')) change.show_dependencies = bool(b, 'show_dependencies') ? 1 : 0;
    await setProjectApiSettings(this.db, project.id, change, nowIso());
    await this.reads.loadProjectSettings();
    return this.reads.getProject(this.reads.ctx(ctx.base, ctx.requested), String(project.id));
  }

  /**
   * PATCH/PUT /users/N/ (Patchwork's UserDetailSerializer): a user changes their own first and last name and, from
   * 1.2, their settings; username and email are read-only. Anyone else is refused (IsOwnerOrReadOnly).
   */
  async updateUser(ctx: Ctx, id: number, body: Body, who: Principal | null): Promise<Record<string, unknown>> {
    const me = requireUser(who);
    if (!(await getUser(this.db, id))) throw notFound('user_not_found', 'No User matches the given query.');
    if (me.id !== id) throw forbidden('user_not_editable', NO_PERMISSION);
    const b = body ?? {};
    const names: { first_name?: string; last_name?: string } = {};
    for (const field of ['first_name', 'last_name'] as const) {
      if (!has(b, field)) continue;
      const v = str(b, field);
      if (v === null) throw fieldError(field, 'This field may not be null.');
      // Django's User keeps 150 characters for each (the published schema's 30 for first_name is Django < 3.1's).
      if (v.length > 150) throw fieldError(field, 'Ensure this field has no more than 150 characters.');
      names[field] = v;
    }
    const settings = hasVersion(ctx.v, '1.2') ? await this.settingsChange(me.id, b) : null;
    await this.db.transaction().execute(async (tx) => {
      await updateUser(tx, id, names);
      if (settings) await setUserSettings(tx, id, settings, nowIso());
    });
    return this.reads.getUser(ctx, id, me);
  }

  /** The settings of a write (JSON `settings: {…}` or form keys `settings.send_email`), over the user's current ones. */
  private async settingsChange(userId: number, b: Record<string, unknown>): Promise<{ send_email: 0 | 1; items_per_page: number; show_ids: 0 | 1 } | null> {
    const nested = b.settings;
    if (nested !== undefined && (nested === null || typeof nested !== 'object' || Array.isArray(nested))) throw fieldError('settings', 'Invalid data. Expected a dictionary.');
    const given: Record<string, unknown> =
      nested !== undefined
        ? (nested as Record<string, unknown>)
        : Object.fromEntries(Object.entries(b).flatMap(([k, v]) => (k.startsWith('settings.') ? [[k.slice('settings.'.length), v]] : [])));
    if (!['send_email', 'items_per_page', 'show_ids'].some((k) => has(given, k))) return null;
    const now = await this.reads.userSettings(userId);
    const flag = (k: 'send_email' | 'show_ids'): 0 | 1 => ((has(given, k) ? bool(given, k) : now[k]) ? 1 : 0);
    let perPage = now.items_per_page;
    if (has(given, 'items_per_page')) {
      const v = scalar(given.items_per_page);
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,10}$/.test(v.trim()) ? Number(v) : NaN;
      if (!Number.isInteger(n) || n < 0 || n > 2_147_483_647) throw fieldError('settings', 'items_per_page: A valid integer is required.', 'settings_invalid');
      perPage = n;
    }
    return { send_email: flag('send_email'), items_per_page: perPage, show_ids: flag('show_ids') };
  }

  // Bundles (writes need 1.2, as in Patchwork's BundlePermission).

  async createBundle(ctx: Ctx, body: Body, who: Principal | null): Promise<Record<string, unknown>> {
    if (!hasVersion(ctx.v, '1.2')) throw notAllowed('method_not_allowed', 'Method "POST" not allowed.');
    const me = requireUser(who);
    const b = body ?? {};
    const name = this.bundleName(b);
    if (name === null) throw fieldError('name', 'This field is required.', 'bundle_name_missing');
    if (!has(b, 'patches')) throw fieldError('patches', 'This field is required.', 'bundle_patches_missing');
    const { patchIds, projectId } = await this.bundlePatches(idList(b, 'patches'), me);
    const isPublic = has(b, 'public') ? bool(b, 'public') : false;
    const id = await this.db.transaction().execute(async (tx) => {
      if (await findBundle(tx, me.id, name)) throw fieldError('name', 'The fields owner, name must make a unique set.', 'bundle_name_taken');
      const bundleId = await insertBundle(tx, { ownerId: me.id, projectId, name, public: isPublic });
      await setBundlePatches(tx, bundleId, patchIds);
      return bundleId;
    });
    return this.reads.getBundle(ctx, id, me);
  }

  async updateBundle(ctx: Ctx, id: number, body: Body, who: Principal | null, method: 'PATCH' | 'PUT'): Promise<Record<string, unknown>> {
    const me = await this.ownBundle(ctx, id, who, method);
    const b = body ?? {};
    const name = this.bundleName(b);
    const patches = has(b, 'patches') ? await this.bundlePatches(idList(b, 'patches'), me) : null;
    const isPublic = has(b, 'public') ? bool(b, 'public') : undefined;
    await this.db.transaction().execute(async (tx) => {
      if (name !== null) {
        const other = await findBundle(tx, me.id, name);
        if (other && other.id !== id) throw fieldError('name', 'The fields owner, name must make a unique set.', 'bundle_name_taken');
      }
      await updateBundle(tx, id, {
        ...(name !== null ? { name } : {}),
        ...(isPublic !== undefined ? { public: isPublic ? 1 : 0 } : {}),
        ...(patches ? { project_id: patches.projectId } : {}),
      });
      if (patches) await setBundlePatches(tx, id, patches.patchIds);
    });
    return this.reads.getBundle(ctx, id, me);
  }

  async deleteBundle(ctx: Ctx, id: number, who: Principal | null): Promise<void> {
    await this.ownBundle(ctx, id, who, 'DELETE');
    await this.db.transaction().execute((tx) => deleteBundle(tx, id));
  }

  /** The owner may change a bundle; others see a public one read-only (403) and a private one not at all (404). */
  private async ownBundle(ctx: Ctx, id: number, who: Principal | null, method: string): Promise<Principal> {
    if (!hasVersion(ctx.v, '1.2')) throw notAllowed('method_not_allowed', `Method "${method}" not allowed.`);
    const b = await this.reads.visibleBundle(id, who);
    const me = requireUser(who);
    if (b.owner_id !== me.id) throw forbidden('bundle_not_owner', NO_PERMISSION);
    return me;
  }

  private bundleName(b: Record<string, unknown>): string | null {
    if (!has(b, 'name')) return null;
    const name = (str(b, 'name') ?? '').trim();
    if (!name) throw fieldError('name', 'This field may not be blank.', 'bundle_name_blank');
    if (name.length > 50) throw fieldError('name', 'Ensure this field has no more than 50 characters.', 'bundle_name_long');
    return name;
  }

  /** Patchwork's validate_patches: not empty, every patch exists, all of one project; the order given is kept. */
  private async bundlePatches(ids: number[], me: Principal): Promise<{ patchIds: number[]; projectId: number }> {
    const patchIds = [...new Set(ids)];
    if (!patchIds.length) throw fieldError('patches', 'Bundles cannot be empty', 'bundle_empty');
    const rows = await embeddedPatches(this.db, patchIds);
    // A patch the requester may not see (a classmate's, in a private project) does not exist for them.
    const unseen = new Set<number>();
    for (const id of patchIds) await this.visibility.requirePatch(me, id).catch(() => unseen.add(id));
    const missing = patchIds.find((id) => unseen.has(id) || !rows.some((r) => r.id === id));
    if (missing !== undefined) throw fieldError('patches', `Invalid pk "${missing}" - object does not exist.`, 'bundle_patch_unknown');
    const projects = new Set(rows.map((r) => r.project_id));
    if (projects.size > 1) throw fieldError('patches', 'Bundle patches must belong to the same project', 'bundle_cross_project');
    return { patchIds, projectId: rows[0]!.project_id };
  }

  // patchbay's maintainer corrections (/api/patchbay/…): revision links, split and merge, for the project's maintainers.

  async revision(seriesId: number): Promise<{ series: number; previous: number; reason: string; source: string }> {
    await this.seriesProject(seriesId);
    const r = await getRevision(this.db, seriesId);
    if (!r) throw notFound('revision_not_found', `series ${seriesId} is not linked to an earlier revision`);
    return { series: r.series_id, previous: r.previous_id, reason: r.reason, source: r.source };
  }

  /**
   * patchbay's own: the project file's assignment this series is an attempt at, when the server received its newest
   * patch or cover, and whether that was after the deadline (docs/assignments.md). Anyone who may read the series.
   */
  async assignment(seriesId: number): Promise<{ series: number; assignment: { name: string; title: string; deadline: string } | null; received_at: string | null; late: boolean }> {
    const projectId = await this.seriesProject(seriesId);
    const row = await seriesAssignment(this.db, seriesId);
    const view = describeAssignment(this.reads.projects.get(projectId)?.assignments ?? [], row);
    return {
      series: seriesId,
      assignment: view && { name: view.name, title: view.title, deadline: view.deadline },
      received_at: row?.received_at ?? null,
      late: view?.late ?? false,
    };
  }

  async linkRevision(seriesId: number, previousId: number, who: Principal | null): Promise<{ series: number; previous: number; reason: string; source: string }> {
    await this.requireMaintainer(seriesId, who);
    await this.admin.linkRevision(seriesId, previousId, who!.id);
    return this.revision(seriesId);
  }

  async unlinkRevision(seriesId: number, who: Principal | null): Promise<void> {
    await this.requireMaintainer(seriesId, who);
    await this.admin.unlinkRevision(seriesId);
  }

  async split(seriesId: number, patchIds: number[], who: Principal | null): Promise<number> {
    await this.requireMaintainer(seriesId, who);
    return this.admin.split(seriesId, patchIds);
  }

  async merge(intoId: number, fromId: number, who: Principal | null): Promise<void> {
    await this.requireMaintainer(intoId, who);
    await this.requireMaintainer(fromId, who);
    await this.admin.merge(intoId, fromId);
  }

  // patchbay's run writes (/api/patchbay/runs/…, and the series page's buttons): the series' maintainers (and admins)
  // cancel a live run or re-run an ended one; each is recorded as an event of patchbay's own (docs/api.md, "Events").

  async cancelRun(runId: number, who: Principal | null): Promise<{ run: number; series: number; state: 'cancelled'; reason: string }> {
    const run = await this.runOf(runId, who);
    const me = who!;
    const done = await this.runActions().cancel(runId, me.username, me.role === 'admin' ? 'admin' : 'maintainer');
    await insertEvent(this.db, { projectId: run.project_id, category: 'series-run-cancelled', seriesId: run.series_id, actorId: me.id, payload: { run: runId, reason: done.reason } });
    return { run: runId, series: run.series_id, state: 'cancelled', reason: done.reason };
  }

  async rerun(runId: number, who: Principal | null): Promise<{ run: number; previous: number; series: number; state: 'queued' }> {
    const run = await this.runOf(runId, who);
    const me = who!;
    const made = await this.runActions().rerun(runId, me.username);
    await insertEvent(this.db, { projectId: run.project_id, category: 'series-run-requested', seriesId: run.series_id, actorId: me.id, payload: { run: made.run, previous_run: runId } });
    return { run: made.run, previous: runId, series: run.series_id, state: 'queued' };
  }

  /** The run, once the principal is known to maintain its series' project (404 first: no run says nothing). */
  private async runOf(runId: number, who: Principal | null): Promise<{ project_id: number; series_id: number }> {
    const run = await getRun(this.db, runId);
    if (!run) throw notFound('no_such_run', `no run ${runId}`);
    await this.requireMaintainer(run.series_id, who);
    return run;
  }

  private runActions(): RunActions {
    if (!this.runs) throw conflict('no_pipeline', 'this server runs no pipeline: there is no run to cancel or re-run');
    return this.runs;
  }

  private async seriesProject(seriesId: number): Promise<number> {
    const [s] = await seriesRows(this.db, [seriesId]);
    if (!s) throw notFound('series_not_found', 'No Series matches the given query.');
    return s.project_id;
  }

  private async requireMaintainer(seriesId: number, who: Principal | null): Promise<void> {
    const projectId = await this.seriesProject(seriesId);
    const me = requireUser(who);
    if (!this.reads.maintains(me, projectId)) throw forbidden('not_maintainer', NO_PERMISSION);
  }
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

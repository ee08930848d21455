// Pure JSON representations of Patchwork's API resources from rows; every URL absolute, every field as its version shows it.
// Each writer builds its object with the fields in Patchwork's serializer order; a field the request's version lacks is
// left undefined, which JSON.stringify drops (the field tables are in versions.ts, compiled once per version).
import { archiveRoot, msgidSegment } from '../mail/archive-layout.js';
import { listIdOf } from '../mail/list-headers.js';
import type { AssignmentRule } from '../series/assignment.js';
import { namePrefixes } from '../series/patch-name.js';
import { LATEST, showsOf, type ApiVersion, type Shows } from './versions.js';

/** What a project looks like to the API: its file and its database id. */
export interface ProjectInfo {
  id: number;
  slug: string;
  name: string;
  list: string;
  scmUrl: string | null;
  /** Maintainers' emails from the project file. */
  maintainers: string[];
  /** Patchwork 3.2's flag: series show `dependencies`/`dependents` (API 1.4). Project file, or set through the API. */
  showDependencies?: boolean;
  /** What the project's maintainers set through the API (PATCH /api/projects/N/); absent: patchbay's defaults. */
  overrides?: ProjectOverrides;
  /** The project file's assignments (patchbay's /api/patchbay/series/N/assignment/ only; no Patchwork field). */
  assignments?: readonly AssignmentRule[];
}

/** Patchwork's editable project URLs; each replaces what patchbay shows by default (its archive, the file's tree). */
export interface ProjectOverrides {
  web_url?: string;
  scm_url?: string;
  webscm_url?: string;
  list_archive_url?: string;
  list_archive_url_format?: string;
  commit_url_format?: string;
}

/** A JSON object as the API writes it: built by the writers below, serialised once per response. */
export type Out = Record<string, unknown>;

export interface Ctx {
  /** Public base URL without a trailing slash. */
  base: string;
  /** The version the request asked for (`/api/` asks for the latest). */
  v: ApiVersion;
  /** The version in the request's path, null for `/api/` (what a new context for the same request is made with). */
  requested: ApiVersion | null;
  /** `BASE/api` or `BASE/api/1.2`: resource URLs stay under the version they were requested with, as in DRF. */
  api: string;
  projects: ReadonlyMap<number, ProjectInfo>;
  /** The fields this version shows of each shape. */
  show: Shows;
  /** Embedded objects built once for this base URL and version (see embedProject, embedPerson, embedUser). */
  memo: CtxMemo;
}

interface CtxMemo {
  projects: Map<number, ProjectMemo>;
  /** Keyed by the row object: the API service hands out the same row while the database is unchanged. */
  people: WeakMap<PersonLike, Out>;
  users: WeakMap<UserLike, Out>;
  /** Keyed by the row object too: the patches of a page that share a series share its row. */
  series: WeakMap<SeriesLike, Out>;
}

/**
 * A context is cheap to make but meant to be kept per (base URL, version) by its caller: it remembers the embedded
 * projects, people and users it built (never mutated: a reply only serialises them).
 */
export function makeCtx(base: string, version: ApiVersion | null, projects: ReadonlyMap<number, ProjectInfo>): Ctx {
  const v = version ?? LATEST;
  return { base, v, requested: version, api: `${base}/api${version ? `/${version}` : ''}`, projects, show: showsOf(v), memo: { projects: new Map(), people: new WeakMap(), users: new WeakMap(), series: new WeakMap() } };
}

export interface PersonLike {
  id: number;
  name: string | null;
  email: string;
}
export interface UserLike {
  id: number;
  username: string;
  first_name: string;
  last_name: string;
  email: string;
}
export interface PatchLike {
  id: number;
  msgid: string;
  date: string;
  name: string;
  project_id: number;
}
export interface CoverLike extends PatchLike {}
export interface SeriesLike {
  id: number;
  project_id: number;
  name: string | null;
  date: string;
  version: number;
}
export interface CheckLike {
  id: number;
  patch_id: number;
  date: string;
  state: string;
  target_url: string | null;
  context: string;
  description: string | null;
}
export interface CommentLike {
  id: number;
  project_id: number;
  msgid: string;
  date: string;
  patch_id: number | null;
  cover_id: number | null;
}

/** Patchwork stores naive UTC datetimes and DRF writes them without a zone: `2016-09-11T22:22:03`. */
export function apiDate(iso: string): string {
  // Stored dates are toISOString()'s `YYYY-MM-DDTHH:MM:SS.sssZ`: cut without a regex (every item has one or more).
  if (iso.length === 24 && iso.charCodeAt(23) === 90 /* Z */ && iso.charCodeAt(19) === 46 /* . */ && iso.charCodeAt(10) === 84 /* T */) return iso.slice(0, 19);
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})/.exec(iso);
  if (m && iso.endsWith('Z')) return m[1]!;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 19);
}

/** Message-IDs are stored without angle brackets; Patchwork stores and shows them with. */
export const apiMsgid = (msgid: string) => `<${msgid}>`;

/** A project as every item embeds it, and how its messages' archive URLs are made (null: none). */
interface ProjectMemo {
  embedded: Out;
  archive: ((msgid: string) => string) | null;
}

function projectMemo(ctx: Ctx, id: number): ProjectMemo {
  let m = ctx.memo.projects.get(id);
  if (!m) {
    const p = ctx.projects.get(id);
    if (!p) throw new Error(`project ${id} is not configured`);
    m = buildEmbeddedProject(ctx, p);
    ctx.memo.projects.set(id, m);
  }
  return m;
}

/** A message's list_archive_url: patchbay's archive, or the format the maintainers set (an empty one: null). */
function archiveUrl(ctx: Ctx, projectId: number, msgid: string): string | null {
  const archive = projectMemo(ctx, projectId).archive;
  return archive ? archive(msgid) : null;
}

// Web and download URLs. The mbox URLs are served by src/web/routes/mbox.route.ts; "mbox" is only their last segment
// (git-pw 2.0 replaces every "mbox" in the URL by "raw" for `patch download --diff`).
export const webUrls = {
  patch: (ctx: Ctx, id: number) => `${ctx.base}/patch/${id}/`,
  patchMbox: (ctx: Ctx, id: number) => `${ctx.base}/patch/${id}/mbox/`,
  cover: (ctx: Ctx, id: number) => `${ctx.base}/cover/${id}/`,
  coverMbox: (ctx: Ctx, id: number) => `${ctx.base}/cover/${id}/mbox/`,
  series: (ctx: Ctx, id: number) => `${ctx.base}/series/${id}/`,
  seriesMbox: (ctx: Ctx, id: number) => `${ctx.base}/series/${id}/mbox/`,
  comment: (ctx: Ctx, id: number) => `${ctx.base}/comment/${id}/`,
  bundle: (ctx: Ctx, owner: string, name: string) => `${ctx.base}/bundle/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/`,
  bundleMbox: (ctx: Ctx, owner: string, name: string) => `${ctx.base}/bundle/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/mbox/`,
};

// Embedded (nested) representations: Patchwork's api/embedded.py.

/** Every item of a page embeds its project: built once per context and project. */
export function embedProject(ctx: Ctx, id: number): Out {
  return projectMemo(ctx, id).embedded;
}

function buildEmbeddedProject(ctx: Ctx, p: ProjectInfo): ProjectMemo {
  const root = `${ctx.base}/${encodeURIComponent(archiveRoot(p.slug))}/`;
  const o = p.overrides ?? {};
  const show = ctx.show.embeddedProject;
  const format = o.list_archive_url_format;
  const embedded = {
    id: p.id,
    url: `${ctx.api}/projects/${p.id}/`,
    name: p.name,
    link_name: p.slug,
    list_id: listIdOf(p.list),
    list_email: p.list,
    // Patchwork's web_url/webscm_url/commit_url_format are the project's own sites, blank unless configured.
    web_url: o.web_url ?? '',
    scm_url: o.scm_url ?? p.scmUrl ?? '',
    webscm_url: o.webscm_url ?? '',
    list_archive_url: show.list_archive_url ? (o.list_archive_url ?? root) : undefined,
    list_archive_url_format: show.list_archive_url_format ? (format ?? `${root}{}/`) : undefined,
    commit_url_format: show.commit_url_format ? (o.commit_url_format ?? '') : undefined,
  };
  // Patchwork's Submission.list_archive_url: the format with the Message-ID (without <>) for {}; no format, none.
  const archive = format === undefined ? (msgid: string) => `${root}${msgidSegment(msgid)}/` : format === '' ? null : (msgid: string) => format.replace('{}', msgidSegment(msgid));
  return { embedded, archive };
}

/** Built once per context and person row (the service hands out one row object per person while nothing changes). */
export function embedPerson(ctx: Ctx, p: PersonLike): Out {
  let out = ctx.memo.people.get(p);
  if (!out) ctx.memo.people.set(p, (out = { id: p.id, url: `${ctx.api}/people/${p.id}/`, name: p.name, email: p.email }));
  return out;
}

export function embedUser(ctx: Ctx, u: UserLike): Out {
  let out = ctx.memo.users.get(u);
  if (!out) ctx.memo.users.set(u, (out = { id: u.id, url: `${ctx.api}/users/${u.id}/`, username: u.username, first_name: u.first_name, last_name: u.last_name, email: u.email }));
  return out;
}

export function embedPatch(ctx: Ctx, p: PatchLike): Out {
  const show = ctx.show.embeddedPatch;
  return {
    id: p.id,
    url: `${ctx.api}/patches/${p.id}/`,
    web_url: show.web_url ? webUrls.patch(ctx, p.id) : undefined,
    msgid: apiMsgid(p.msgid),
    list_archive_url: show.list_archive_url ? archiveUrl(ctx, p.project_id, p.msgid) : undefined,
    date: apiDate(p.date),
    name: p.name,
    mbox: webUrls.patchMbox(ctx, p.id),
  };
}

export function embedCover(ctx: Ctx, c: CoverLike): Out {
  const show = ctx.show.embeddedCover;
  return {
    id: c.id,
    url: `${ctx.api}/covers/${c.id}/`,
    web_url: show.web_url ? webUrls.cover(ctx, c.id) : undefined,
    msgid: apiMsgid(c.msgid),
    list_archive_url: show.list_archive_url ? archiveUrl(ctx, c.project_id, c.msgid) : undefined,
    date: apiDate(c.date),
    name: c.name,
    mbox: show.mbox ? webUrls.coverMbox(ctx, c.id) : undefined,
  };
}

/** Built once per row object: the items of a page (patches, events) that share a series share its row. */
export function embedSeries(ctx: Ctx, s: SeriesLike): Out {
  let out = ctx.memo.series.get(s);
  if (!out) ctx.memo.series.set(s, (out = buildEmbeddedSeries(ctx, s)));
  return out;
}

function buildEmbeddedSeries(ctx: Ctx, s: SeriesLike): Out {
  return {
    id: s.id,
    url: `${ctx.api}/series/${s.id}/`,
    web_url: ctx.show.embeddedSeries.web_url ? webUrls.series(ctx, s.id) : undefined,
    date: apiDate(s.date),
    name: s.name,
    version: s.version,
    mbox: webUrls.seriesMbox(ctx, s.id),
  };
}

export function embedCheck(ctx: Ctx, c: CheckLike): Out {
  return {
    id: c.id,
    url: `${ctx.api}/patches/${c.patch_id}/checks/${c.id}/`,
    date: apiDate(c.date),
    state: c.state,
    target_url: c.target_url,
    context: c.context,
  };
}

function commentUrl(ctx: Ctx, c: CommentLike): string {
  return c.patch_id !== null ? `${ctx.api}/patches/${c.patch_id}/comments/${c.id}/` : `${ctx.api}/covers/${c.cover_id}/comments/${c.id}/`;
}

export function embedComment(ctx: Ctx, c: CommentLike): Out {
  const show = ctx.show.embeddedComment;
  return {
    id: c.id,
    url: show.url ? commentUrl(ctx, c) : undefined,
    web_url: show.web_url ? webUrls.comment(ctx, c.id) : undefined,
    msgid: apiMsgid(c.msgid),
    list_archive_url: show.list_archive_url ? archiveUrl(ctx, c.project_id, c.msgid) : undefined,
    date: apiDate(c.date),
  };
}

// Full representations.

export function projectOut(ctx: Ctx, id: number, maintainers: UserLike[]): Out {
  const e = embedProject(ctx, id);
  const show = ctx.show.project;
  return {
    id: e.id,
    url: e.url,
    name: e.name,
    link_name: e.link_name,
    list_id: e.list_id,
    list_email: e.list_email,
    web_url: e.web_url,
    scm_url: e.scm_url,
    webscm_url: e.webscm_url,
    maintainers: maintainers.map((u) => embedUser(ctx, u)),
    subject_match: show.subject_match ? '' : undefined,
    list_archive_url: show.list_archive_url ? e.list_archive_url : undefined,
    list_archive_url_format: show.list_archive_url_format ? e.list_archive_url_format : undefined,
    commit_url_format: show.commit_url_format ? e.commit_url_format : undefined,
    show_dependencies: show.show_dependencies ? (ctx.projects.get(id)?.showDependencies ?? false) : undefined,
  };
}

/** Patchwork's profile settings as a user without a row in user_settings has them (UserProfile's defaults). */
export const DEFAULT_SETTINGS: UserSettings = Object.freeze({ send_email: false, items_per_page: 100, show_ids: false });

export interface UserSettings {
  send_email: boolean;
  items_per_page: number;
  show_ids: boolean;
}

/** `settings` is shown only to the user themself (null: another user asks), from 1.2. */
export function userOut(ctx: Ctx, u: UserLike, settings: UserSettings | null): Out {
  return {
    id: u.id,
    url: `${ctx.api}/users/${u.id}/`,
    username: u.username,
    first_name: u.first_name,
    last_name: u.last_name,
    email: u.email,
    settings: settings && ctx.show.userDetail.settings ? { send_email: settings.send_email, items_per_page: settings.items_per_page, show_ids: settings.show_ids } : undefined,
  };
}

export function personOut(ctx: Ctx, p: PersonLike, user: UserLike | null): Out {
  return { id: p.id, url: `${ctx.api}/people/${p.id}/`, name: p.name, email: p.email, user: user ? embedUser(ctx, user) : null };
}

export interface PatchOutRow extends PatchLike {
  commit_ref: string | null;
  pull_url: string | null;
  state: string;
  archived: 0 | 1;
  hash: string | null;
}

export interface PatchDetailExtra {
  headers: Record<string, string | string[]>;
  content: string;
  diff: string | null;
}

/** Patchwork's API hard-wires tags to {} (counting them per row was too slow: patchwork#580); never mutated. */
const NO_TAGS = Object.freeze({});
const NO_RELATED: readonly never[] = Object.freeze([]);

export function patchOut(
  ctx: Ctx,
  p: PatchOutRow,
  rel: { submitter: PersonLike; delegate: UserLike | null; series: SeriesLike | null; check: string; related?: readonly PatchLike[] },
  detail?: PatchDetailExtra,
): Out {
  const show = ctx.show.patch;
  const item: Out = {
    id: p.id,
    url: `${ctx.api}/patches/${p.id}/`,
    web_url: show.web_url ? webUrls.patch(ctx, p.id) : undefined,
    project: embedProject(ctx, p.project_id),
    msgid: apiMsgid(p.msgid),
    list_archive_url: show.list_archive_url ? archiveUrl(ctx, p.project_id, p.msgid) : undefined,
    date: apiDate(p.date),
    name: p.name,
    commit_ref: p.commit_ref,
    pull_url: p.pull_url,
    state: p.state,
    archived: p.archived === 1,
    hash: p.hash,
    submitter: embedPerson(ctx, rel.submitter),
    delegate: rel.delegate ? embedUser(ctx, rel.delegate) : null,
    mbox: webUrls.patchMbox(ctx, p.id),
    // Always a list of 0 or 1 (Patchwork kept the shape of its old many-to-many relation).
    series: rel.series ? [embedSeries(ctx, rel.series)] : [],
    comments: show.comments ? `${ctx.api}/patches/${p.id}/comments/` : undefined,
    check: rel.check,
    checks: `${ctx.api}/patches/${p.id}/checks/`,
    tags: NO_TAGS,
    // The other patches of its relation (Patchwork drops the patch itself from the list).
    related: show.related ? (rel.related?.length ? rel.related.map((r) => embedPatch(ctx, r)) : NO_RELATED) : undefined,
  };
  if (detail) {
    // patchDetail: the list's fields, then these (both tables in versions.ts end alike).
    item.headers = detail.headers;
    item.content = detail.content;
    item.diff = detail.diff;
    item.prefixes = prefixesOf(p.name);
  }
  return item;
}

export function coverOut(
  ctx: Ctx,
  c: CoverLike,
  rel: { submitter: PersonLike; series: SeriesLike | null },
  detail?: { headers: Record<string, string | string[]>; content: string },
): Out {
  const show = ctx.show.cover;
  const item: Out = {
    id: c.id,
    url: `${ctx.api}/covers/${c.id}/`,
    web_url: show.web_url ? webUrls.cover(ctx, c.id) : undefined,
    project: embedProject(ctx, c.project_id),
    msgid: apiMsgid(c.msgid),
    list_archive_url: show.list_archive_url ? archiveUrl(ctx, c.project_id, c.msgid) : undefined,
    date: apiDate(c.date),
    name: c.name,
    submitter: embedPerson(ctx, rel.submitter),
    mbox: show.mbox ? webUrls.coverMbox(ctx, c.id) : undefined,
    series: rel.series ? [embedSeries(ctx, rel.series)] : [],
    comments: show.comments ? `${ctx.api}/covers/${c.id}/comments/` : undefined,
  };
  if (detail) {
    item.headers = detail.headers;
    item.content = detail.content;
  }
  return item;
}

export function seriesOut(
  ctx: Ctx,
  s: SeriesLike & { total: number },
  rel: { submitter: PersonLike; cover: CoverLike | null; patches: PatchLike[]; dependencies?: readonly number[]; dependents?: readonly number[] },
): Out {
  // Patchwork's SeriesSerializer leaves both fields out unless the project's show_dependencies is set.
  const deps = ctx.show.series.dependencies && ctx.projects.get(s.project_id)?.showDependencies === true;
  const urls = (ids: readonly number[] | undefined) => (ids ?? []).map((id) => `${ctx.api}/series/${id}/`);
  return {
    id: s.id,
    url: `${ctx.api}/series/${s.id}/`,
    web_url: ctx.show.series.web_url ? webUrls.series(ctx, s.id) : undefined,
    project: embedProject(ctx, s.project_id),
    name: s.name,
    date: apiDate(s.date),
    submitter: embedPerson(ctx, rel.submitter),
    version: s.version,
    total: s.total,
    received_total: rel.patches.length,
    received_all: s.total <= rel.patches.length,
    mbox: webUrls.seriesMbox(ctx, s.id),
    cover_letter: rel.cover ? embedCover(ctx, rel.cover) : null,
    patches: rel.patches.map((p) => embedPatch(ctx, p)),
    dependencies: deps ? urls(rel.dependencies) : undefined,
    dependents: deps ? urls(rel.dependents) : undefined,
  };
}

export function commentOut(
  ctx: Ctx,
  c: CommentLike & { content: string; addressed: 0 | 1 | null },
  rel: { submitter: PersonLike; subject: string; headers: Record<string, string | string[]> },
): Out {
  const show = ctx.show.comment;
  return {
    id: c.id,
    url: show.url ? commentUrl(ctx, c) : undefined,
    web_url: show.web_url ? webUrls.comment(ctx, c.id) : undefined,
    msgid: apiMsgid(c.msgid),
    list_archive_url: show.list_archive_url ? archiveUrl(ctx, c.project_id, c.msgid) : undefined,
    date: apiDate(c.date),
    subject: rel.subject,
    submitter: embedPerson(ctx, rel.submitter),
    content: c.content,
    headers: rel.headers,
    // Patchwork's BooleanField(null=True): null until someone sets it.
    addressed: show.addressed ? (c.addressed === null ? null : c.addressed === 1) : undefined,
  };
}

export function checkOut(ctx: Ctx, c: CheckLike, user: UserLike | null): Out {
  return {
    id: c.id,
    url: `${ctx.api}/patches/${c.patch_id}/checks/${c.id}/`,
    user: user ? embedUser(ctx, user) : null,
    date: apiDate(c.date),
    state: c.state,
    target_url: c.target_url,
    context: c.context,
    description: c.description,
  };
}

export function eventOut(ctx: Ctx, e: { id: number; category: string; project_id: number; date: string }, actor: UserLike | null, payload: Out): Out {
  return {
    id: e.id,
    category: e.category,
    project: embedProject(ctx, e.project_id),
    date: apiDate(e.date),
    actor: ctx.show.event.actor ? (actor ? embedUser(ctx, actor) : null) : undefined,
    payload,
  };
}

export function bundleOut(ctx: Ctx, b: { id: number; project_id: number; name: string; public: 0 | 1 }, owner: UserLike, patches: PatchLike[]): Out {
  return {
    id: b.id,
    url: `${ctx.api}/bundles/${b.id}/`,
    web_url: ctx.show.bundle.web_url ? webUrls.bundle(ctx, owner.username, b.name) : undefined,
    project: embedProject(ctx, b.project_id),
    name: b.name,
    owner: embedUser(ctx, owner),
    patches: patches.map((p) => embedPatch(ctx, p)),
    public: b.public === 1,
    mbox: webUrls.bundleMbox(ctx, owner.username, b.name),
  };
}

/** Patchwork's clean_subject(name)[1]: the prefixes the API shows, read back from a stored name. */
export const prefixesOf: (name: string) => string[] = namePrefixes;

/** A mail's header block as Patchwork's `headers`: each field once, a list when it repeats, values unfolded. */
export function headersDict(header: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const lines = header.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0 || line[0] === ' ' || line[0] === '\t' || line.startsWith('From ')) continue;
    const key = line.slice(0, colon).trim();
    let value = line.slice(colon + 1).trim();
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1]!)) value += ' ' + lines[++i]!.trim();
    const seen = Object.keys(out).find((k) => k.toLowerCase() === key.toLowerCase());
    if (seen === undefined) out[key] = value;
    else out[seen] = Array.isArray(out[seen]) ? [...(out[seen] as string[]), value] : [out[seen] as string, value];
  }
  return out;
}

/** Patchwork's Patch.checks: the newest check of each (user, context), given in id order, in order of their last one. */
export function latestChecks<C extends { user_id: number | null; context: string }>(checks: readonly C[]): C[] {
  const latest = new Map<string, C>();
  for (const c of checks) {
    const key = `${c.user_id ?? ''}\u0000${c.context}`;
    latest.delete(key);
    latest.set(key, c);
  }
  return [...latest.values()];
}

/**
 * Patchwork's Patch.combined_check_state: the newest check per (user, context) counts; none is "pending"; otherwise
 * the first of fail, warning, pending present wins, and "success" when all succeeded.
 */
export function combinedCheckState(checks: { user_id: number | null; context: string; state: string }[]): string {
  const latest = latestChecks(checks);
  if (!latest.length) return 'pending';
  const states = new Set(latest.map((c) => c.state));
  for (const s of ['fail', 'warning', 'pending']) if (states.has(s)) return s;
  return 'success';
}

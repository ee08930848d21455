// Pure JSON representations of Patchwork's API resources from rows; every URL absolute, every field as its version shows it.
import { archiveRoot, msgidSegment } from '../mail/archive-layout.js';
import { listIdOf } from '../mail/list-headers.js';
import { LATEST, shape, type ApiVersion } from './versions.js';

/** What a project looks like to the API: its file and its database id. */
export interface ProjectInfo {
  id: number;
  slug: string;
  name: string;
  list: string;
  scmUrl: string | null;
  /** Maintainers' emails from the project file. */
  maintainers: string[];
}

export interface Ctx {
  /** Public base URL without a trailing slash. */
  base: string;
  /** The version the request asked for (`/api/` asks for the latest). */
  v: ApiVersion;
  /** `BASE/api` or `BASE/api/1.2`: resource URLs stay under the version they were requested with, as in DRF. */
  api: string;
  projects: ReadonlyMap<number, ProjectInfo>;
}

export function makeCtx(base: string, version: ApiVersion | null, projects: ReadonlyMap<number, ProjectInfo>): Ctx {
  return { base, v: version ?? LATEST, api: `${base}/api${version ? `/${version}` : ''}`, projects };
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
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})/.exec(iso);
  if (m && iso.endsWith('Z')) return m[1]!;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 19);
}

/** Message-IDs are stored without angle brackets; Patchwork stores and shows them with. */
export const apiMsgid = (msgid: string) => `<${msgid}>`;

function project(ctx: Ctx, id: number): ProjectInfo {
  const p = ctx.projects.get(id);
  if (!p) throw new Error(`project ${id} is not configured`);
  return p;
}

function archiveUrl(ctx: Ctx, projectId: number, msgid: string): string {
  return `${ctx.base}/${encodeURIComponent(archiveRoot(project(ctx, projectId).slug))}/${msgidSegment(msgid)}/`;
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

/** Every item of a page embeds its project: built once per request and project (callers never mutate it). */
const projectMemo = new WeakMap<Ctx, Map<number, Record<string, unknown>>>();

export function embedProject(ctx: Ctx, id: number): Record<string, unknown> {
  let memo = projectMemo.get(ctx);
  if (!memo) projectMemo.set(ctx, (memo = new Map()));
  let out = memo.get(id);
  if (!out) memo.set(id, (out = buildEmbeddedProject(ctx, id)));
  return out;
}

function buildEmbeddedProject(ctx: Ctx, id: number): Record<string, unknown> {
  const p = project(ctx, id);
  const root = `${ctx.base}/${encodeURIComponent(archiveRoot(p.slug))}/`;
  return shape('embeddedProject', ctx.v, {
    id: p.id,
    url: `${ctx.api}/projects/${p.id}/`,
    name: p.name,
    link_name: p.slug,
    list_id: listIdOf(p.list),
    list_email: p.list,
    // Patchwork's web_url/webscm_url/commit_url_format are the project's own sites, blank unless configured.
    web_url: '',
    scm_url: p.scmUrl ?? '',
    webscm_url: '',
    list_archive_url: root,
    list_archive_url_format: `${root}{}/`,
    commit_url_format: '',
  });
}

export function embedPerson(ctx: Ctx, p: PersonLike): Record<string, unknown> {
  return shape('embeddedPerson', ctx.v, { id: p.id, url: `${ctx.api}/people/${p.id}/`, name: p.name, email: p.email });
}

export function embedUser(ctx: Ctx, u: UserLike): Record<string, unknown> {
  return shape('embeddedUser', ctx.v, { id: u.id, url: `${ctx.api}/users/${u.id}/`, username: u.username, first_name: u.first_name, last_name: u.last_name, email: u.email });
}

export function embedPatch(ctx: Ctx, p: PatchLike): Record<string, unknown> {
  return shape('embeddedPatch', ctx.v, {
    id: p.id,
    url: `${ctx.api}/patches/${p.id}/`,
    web_url: webUrls.patch(ctx, p.id),
    msgid: apiMsgid(p.msgid),
    list_archive_url: archiveUrl(ctx, p.project_id, p.msgid),
    date: apiDate(p.date),
    name: p.name,
    mbox: webUrls.patchMbox(ctx, p.id),
  });
}

export function embedCover(ctx: Ctx, c: CoverLike): Record<string, unknown> {
  return shape('embeddedCover', ctx.v, {
    id: c.id,
    url: `${ctx.api}/covers/${c.id}/`,
    web_url: webUrls.cover(ctx, c.id),
    msgid: apiMsgid(c.msgid),
    list_archive_url: archiveUrl(ctx, c.project_id, c.msgid),
    date: apiDate(c.date),
    name: c.name,
    mbox: webUrls.coverMbox(ctx, c.id),
  });
}

export function embedSeries(ctx: Ctx, s: SeriesLike): Record<string, unknown> {
  return shape('embeddedSeries', ctx.v, {
    id: s.id,
    url: `${ctx.api}/series/${s.id}/`,
    web_url: webUrls.series(ctx, s.id),
    date: apiDate(s.date),
    name: s.name,
    version: s.version,
    mbox: webUrls.seriesMbox(ctx, s.id),
  });
}

export function embedCheck(ctx: Ctx, c: CheckLike): Record<string, unknown> {
  return shape('embeddedCheck', ctx.v, {
    id: c.id,
    url: `${ctx.api}/patches/${c.patch_id}/checks/${c.id}/`,
    date: apiDate(c.date),
    state: c.state,
    target_url: c.target_url,
    context: c.context,
  });
}

function commentUrl(ctx: Ctx, c: CommentLike): string {
  return c.patch_id !== null ? `${ctx.api}/patches/${c.patch_id}/comments/${c.id}/` : `${ctx.api}/covers/${c.cover_id}/comments/${c.id}/`;
}

export function embedComment(ctx: Ctx, c: CommentLike): Record<string, unknown> {
  return shape('embeddedComment', ctx.v, {
    id: c.id,
    url: commentUrl(ctx, c),
    web_url: webUrls.comment(ctx, c.id),
    msgid: apiMsgid(c.msgid),
    list_archive_url: archiveUrl(ctx, c.project_id, c.msgid),
    date: apiDate(c.date),
  });
}

// Full representations.

export function projectOut(ctx: Ctx, id: number, maintainers: UserLike[]): Record<string, unknown> {
  const embedded = embedProject(ctx, id);
  return shape('project', ctx.v, { ...embedded, maintainers: maintainers.map((u) => embedUser(ctx, u)), subject_match: '' });
}

/** Patchwork's profile settings; patchbay keeps none per user, so these are Patchwork's defaults. */
export const DEFAULT_SETTINGS = { send_email: false, items_per_page: 100, show_ids: false } as const;

export function userOut(ctx: Ctx, u: UserLike, self: boolean): Record<string, unknown> {
  const embedded = embedUser(ctx, u);
  return self ? shape('userDetail', ctx.v, { ...embedded, settings: { ...DEFAULT_SETTINGS } }) : shape('user', ctx.v, embedded);
}

export function personOut(ctx: Ctx, p: PersonLike, user: UserLike | null): Record<string, unknown> {
  return shape('person', ctx.v, { ...embedPerson(ctx, p), user: user ? embedUser(ctx, user) : null });
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

export function patchOut(
  ctx: Ctx,
  p: PatchOutRow,
  rel: { submitter: PersonLike; delegate: UserLike | null; series: SeriesLike | null; check: string },
  detail?: PatchDetailExtra,
): Record<string, unknown> {
  const full: Record<string, unknown> = {
    id: p.id,
    url: `${ctx.api}/patches/${p.id}/`,
    web_url: webUrls.patch(ctx, p.id),
    project: embedProject(ctx, p.project_id),
    msgid: apiMsgid(p.msgid),
    list_archive_url: archiveUrl(ctx, p.project_id, p.msgid),
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
    comments: `${ctx.api}/patches/${p.id}/comments/`,
    check: rel.check,
    checks: `${ctx.api}/patches/${p.id}/checks/`,
    // Patchwork's API hard-wires tags to {} (counting them per row was too slow: patchwork#580).
    tags: {},
    // Patch relations are not kept by patchbay: revisions link whole series instead (/api/patchbay/series/N/revision/).
    related: [],
  };
  if (!detail) return shape('patch', ctx.v, full);
  return shape('patchDetail', ctx.v, { ...full, headers: detail.headers, content: detail.content, diff: detail.diff, prefixes: prefixesOf(p.name) });
}

export function coverOut(
  ctx: Ctx,
  c: CoverLike,
  rel: { submitter: PersonLike; series: SeriesLike | null },
  detail?: { headers: Record<string, string | string[]>; content: string },
): Record<string, unknown> {
  const full: Record<string, unknown> = {
    ...embedCover(ctx, c),
    web_url: webUrls.cover(ctx, c.id),
    mbox: webUrls.coverMbox(ctx, c.id),
    list_archive_url: archiveUrl(ctx, c.project_id, c.msgid),
    project: embedProject(ctx, c.project_id),
    submitter: embedPerson(ctx, rel.submitter),
    series: rel.series ? [embedSeries(ctx, rel.series)] : [],
    comments: `${ctx.api}/covers/${c.id}/comments/`,
  };
  return detail ? shape('coverDetail', ctx.v, { ...full, ...detail }) : shape('cover', ctx.v, full);
}

export function seriesOut(
  ctx: Ctx,
  s: SeriesLike & { total: number },
  rel: { submitter: PersonLike; cover: CoverLike | null; patches: PatchLike[] },
): Record<string, unknown> {
  return shape('series', ctx.v, {
    id: s.id,
    url: `${ctx.api}/series/${s.id}/`,
    web_url: webUrls.series(ctx, s.id),
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
  });
}

export function commentOut(
  ctx: Ctx,
  c: CommentLike & { content: string; addressed: 0 | 1 },
  rel: { submitter: PersonLike; subject: string; headers: Record<string, string | string[]> },
): Record<string, unknown> {
  return shape('comment', ctx.v, {
    id: c.id,
    url: commentUrl(ctx, c),
    web_url: webUrls.comment(ctx, c.id),
    msgid: apiMsgid(c.msgid),
    list_archive_url: archiveUrl(ctx, c.project_id, c.msgid),
    date: apiDate(c.date),
    subject: rel.subject,
    submitter: embedPerson(ctx, rel.submitter),
    content: c.content,
    headers: rel.headers,
    addressed: c.addressed === 1,
  });
}

export function checkOut(ctx: Ctx, c: CheckLike, user: UserLike | null): Record<string, unknown> {
  return shape('check', ctx.v, {
    id: c.id,
    url: `${ctx.api}/patches/${c.patch_id}/checks/${c.id}/`,
    user: user ? embedUser(ctx, user) : null,
    date: apiDate(c.date),
    state: c.state,
    target_url: c.target_url,
    context: c.context,
    description: c.description,
  });
}

export function eventOut(
  ctx: Ctx,
  e: { id: number; category: string; project_id: number; date: string },
  actor: UserLike | null,
  payload: Record<string, unknown>,
): Record<string, unknown> {
  return shape('event', ctx.v, { id: e.id, category: e.category, project: embedProject(ctx, e.project_id), date: apiDate(e.date), actor: actor ? embedUser(ctx, actor) : null, payload });
}

export function bundleOut(
  ctx: Ctx,
  b: { id: number; project_id: number; name: string; public: 0 | 1 },
  owner: UserLike,
  patches: PatchLike[],
): Record<string, unknown> {
  return shape('bundle', ctx.v, {
    id: b.id,
    url: `${ctx.api}/bundles/${b.id}/`,
    web_url: webUrls.bundle(ctx, owner.username, b.name),
    project: embedProject(ctx, b.project_id),
    name: b.name,
    owner: embedUser(ctx, owner),
    patches: patches.map((p) => embedPatch(ctx, p)),
    public: b.public === 1,
    mbox: webUrls.bundleMbox(ctx, owner.username, b.name),
  });
}

/** Patchwork's clean_subject(name)[1]: the tokens of the leading [...] groups of a stored name. */
export function prefixesOf(name: string): string[] {
  const out: string[] = [];
  let rest = name;
  for (let m = /^\[([^\]]*)\]\s*(.*)$/s.exec(rest); m; m = /^\[([^\]]*)\]\s*(.*)$/s.exec(rest)) {
    out.push(...m[1]!.split(/[,\s]+/).filter(Boolean));
    rest = m[2]!;
  }
  return out;
}

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

/**
 * Patchwork's Patch.combined_check_state: the newest check per (user, context) counts; none is "pending"; otherwise
 * the first of fail, warning, pending present wins, and "success" when all succeeded.
 */
export function combinedCheckState(checks: { user_id: number | null; context: string; state: string }[]): string {
  const latest = new Map<string, string>();
  for (const c of checks) latest.set(`${c.user_id ?? ''}\u0000${c.context}`, c.state);
  if (!latest.size) return 'pending';
  const states = new Set(latest.values());
  for (const s of ['fail', 'warning', 'pending']) if (states.has(s)) return s;
  return 'success';
}

// The REST API's reads: resolves Patchwork's filters, pages on indexes, loads each embedded relation of a page in one query.
import type { Db } from '../db/database.js';
import type { Page } from '../db/api-list.repository.js';
import { projectOfRow } from '../db/cache-generation.repository.js';
import { anyEventOf, checkRows, checkStatesOf, checksOfPatch, countEvents, eventRows, existingIds, getCheck, pageEventIds, type EventFilter } from '../db/api-event.repository.js';
import {
  commentRow,
  commentRows,
  commentsOf,
  COMMENT_SORT_FIELDS,
  countCovers,
  countPatches,
  COVER_SORT_FIELDS,
  coverDetailRow,
  coverRows,
  embeddedPatches,
  mailHeaders,
  inOrder,
  pageCoverIds,
  pagePatchIds,
  patchListRows,
  patchDetailRow,
  patchesOfSeriesList,
  PATCH_SORT_FIELDS,
  type CoverFilter,
  type PatchFilter,
} from '../db/api-patch.repository.js';
import { countSeries, listPeople, pageSeriesIds, peopleRows, PERSON_SORT_FIELDS, resolvePeople, seriesRows, SERIES_SORT_FIELDS, type SeriesFilter } from '../db/api-series.repository.js';
import { BUNDLE_SORT_FIELDS, bundlePatchIds, countBundles, findBundle, getBundle, pageBundles, type BundleFilter } from '../db/bundle.repository.js';
import { findUserByUsername, getUser, getUsers, listUsers, resolveUsers, usersByEmails, type UserSummary } from '../db/user.repository.js';
import type { BundleRow, CheckRow, ProjectApiSettingsRow } from '../db/api-schema.js';
import { allProjectApiSettings, userSettingsOf } from '../db/api-settings.repository.js';
import { anyRelation, relatedOf } from '../db/patch-relation.repository.js';
import { dependenciesOf, dependentsOf } from '../db/series-dependency.repository.js';
import type { EventRow } from '../db/series-schema.js';
import { notFound } from '../errors.js';
import { splitHeader } from '../mail/raw.js';
import { maintains, requireUser, type Principal } from './auth.service.js';
import {
  boolParam,
  dateParam,
  idsParam,
  NoMatch,
  orderParam,
  pageParam,
  resolvePage,
  searchTerms,
  single,
  statesParam,
  values,
  type PageRequest,
  type RawQuery,
  type SortKey,
} from './query.js';
import {
  bundleOut,
  checkOut,
  combinedCheckState,
  commentOut,
  coverOut,
  embedCheck,
  embedComment,
  embedCover,
  embedPatch,
  embedSeries,
  embedUser,
  eventOut,
  headersDict,
  makeCtx,
  patchOut,
  personOut,
  projectOut,
  seriesOut,
  userOut,
  type Ctx,
  type Out,
  type PatchLike,
  type PersonLike,
  type ProjectInfo,
  type ProjectOverrides,
  type UserLike,
  type UserSettings,
  DEFAULT_SETTINGS,
} from './represent.js';
import { ANY_CHANGE, ChangeGenerations, type ChangeScope, type GenerationSnapshot } from './change-generations.js';
import { RowMemo } from './row-memo.js';
import { VisibilityService } from './visibility.service.js';
import { hasVersion, type ApiVersion } from './versions.js';

export interface ListResult {
  page: number;
  lastPage: number;
  /** The page's items, built when asked: a kept answer with the same `contents` makes building them unnecessary. */
  items: () => Promise<Out[]>;
  /**
   * What the page shows, when known before its items are built: the resource and its ids in order. Under one change
   * marker, one context (base URL, version) and the same contents, the items are the same whatever the query was
   * (a poller's `since=` moves each time, the newest page seldom does).
   */
  contents?: string;
}

export type Parent = { kind: 'patch' | 'cover'; id: number };

/** Patchwork's event categories; the comment events only from 1.3 (Patchwork's EventList excludes them before). */
const CATEGORIES_1_0 = ['cover-created', 'patch-created', 'patch-completed', 'patch-state-changed', 'patch-relation-changed', 'patch-delegated', 'check-created', 'series-created', 'series-completed'];
const CATEGORIES_1_3 = ['cover-comment-created', 'patch-comment-created'];
/**
 * patchbay's own categories, in no Patchwork schema: listed only for a client that asks for them by name
 * (`category=series-new-revision`), in any version; never in an unfiltered list (docs/api.md, "Events").
 */
export const PATCHBAY_CATEGORIES = ['series-new-revision', 'series-run-cancelled', 'series-run-requested'];
/**
 * The categories whose events Patchwork links to a series, a patch or a cover letter (signals.py): its `series`,
 * `patch` and `cover` filters match only these. patchbay also notes the series of a patch-created or cover-created
 * event (the pipeline reads it), which Patchwork's filter never returns.
 */
const LINKED: Record<'series' | 'patch' | 'cover', string[]> = {
  series: ['patch-completed', 'series-created', 'series-completed', ...PATCHBAY_CATEGORIES],
  patch: ['patch-created', 'patch-completed', 'patch-state-changed', 'patch-relation-changed', 'patch-delegated', 'check-created', 'patch-comment-created'],
  cover: ['cover-created', 'cover-comment-created'],
};
export const CHECK_STATES = ['pending', 'success', 'warning', 'fail'] as const;

const ID_ASC: SortKey[] = [{ field: 'id', desc: false }];
/** Counts kept per filter while nothing is written; bounded, oldest dropped first. */
const COUNT_CACHE_SIZE = 512;
/** Contexts kept per (base URL, version): a handful in practice; a Host header per request cannot grow it. */
const CTX_CACHE_SIZE = 32;
/** People and users kept by id while nothing is written (a course has a few thousand). */
const MEMO_ROWS = 20_000;
const DAY_MS = 86_400_000;

const DELETED_PERSON: PersonLike = { id: 0, name: null, email: '' };

export class ApiService {
  /** The projects as the API shows them: the project files' values with what maintainers set through the API. */
  readonly projects = new Map<number, ProjectInfo>();
  /** The project files' values, before the API's settings. */
  private readonly fileProjects: ReadonlyMap<number, ProjectInfo>;
  private readonly counts = new Map<string, { marker: string; n: number }>();
  private readonly generations: ChangeGenerations;
  private readonly contexts = new Map<string, Ctx>();
  private readonly personRows = new RowMemo<PersonLike>(MEMO_ROWS);
  private readonly userRows = new RowMemo<UserLike>(MEMO_ROWS);
  /** Whether any event of patchbay's own categories exists, under the change marker it was read at. */
  private ownEvents: { marker: string; any: Promise<boolean> } = { marker: '', any: Promise.resolve(false) };
  /** Whether any relation exists, under the change marker it was read at (most trackers have none). */
  private relations: { marker: string; any: Promise<boolean> } = { marker: '', any: Promise.resolve(false) };

  constructor(
    private readonly db: Db,
    projects: ProjectInfo[],
    /** Who sees what of private projects (issue 14); default: every project public. */
    readonly visibility: VisibilityService = new VisibilityService(db, []),
  ) {
    this.generations = new ChangeGenerations(db);
    this.fileProjects = new Map(projects.map((p) => [p.id, p]));
    for (const p of projects) this.projects.set(p.id, p);
  }

  /** Reads what maintainers set through the API (at start, by the API's routes, and after each such write). */
  async loadProjectSettings(): Promise<void> {
    for (const row of await allProjectApiSettings(this.db)) this.applyProjectSettings(row);
  }

  /** A project's settings row over its file's values; the contexts, which embed projects, are built afresh. */
  applyProjectSettings(row: ProjectApiSettingsRow): void {
    const base = this.fileProjects.get(row.project_id);
    if (!base) return;
    const overrides: ProjectOverrides = {};
    for (const k of ['web_url', 'scm_url', 'webscm_url', 'list_archive_url', 'list_archive_url_format', 'commit_url_format'] as const) {
      const v = row[k];
      if (v !== null) overrides[k] = v;
    }
    this.projects.set(row.project_id, { ...base, overrides, showDependencies: row.show_dependencies === null ? base.showDependencies : row.show_dependencies === 1 });
    this.contexts.clear();
  }

  /** The context of a base URL and version, kept with the embedded objects it has built. */
  ctx(base: string, version: ApiVersion | null): Ctx {
    const key = `${version ?? ''} ${base}`;
    let ctx = this.contexts.get(key);
    if (!ctx) {
      if (this.contexts.size >= CTX_CACHE_SIZE) this.contexts.delete(this.contexts.keys().next().value!);
      this.contexts.set(key, (ctx = makeCtx(base, version, this.projects)));
    }
    return ctx;
  }

  /** The change generations read now; reading them also drops the people and users kept under older ones. */
  private async snapshot(): Promise<GenerationSnapshot> {
    const g = await this.generations.read();
    this.personRows.advance(g.global);
    this.userRows.advance(g.global);
    return g;
  }

  /**
   * The marker of the answers of `scope` (any committed write that they can show moves it, also another process's):
   * what a reply computed now is valid for until it moves.
   */
  async marker(scope: ChangeScope = ANY_CHANGE): Promise<string> {
    return (await this.snapshot()).of(scope);
  }

  /** The project of a patch, cover letter or series (the scope of its answers); null when there is none. */
  async projectOf(table: 'patches' | 'covers' | 'series', id: number): Promise<number | null> {
    return (await projectOfRow(this.db, table, id)) ?? null;
  }

  /** The one project a list's `project` filter names, or null (none, several, or one that does not exist). */
  oneProject(q: RawQuery): number | null {
    const list = values(q, 'project');
    if (list?.length !== 1) return null;
    try {
      return this.project(list[0]!).id;
    } catch {
      return null;
    }
  }

  index(ctx: Ctx): Record<string, string> {
    const r = (name: string) => `${ctx.api}/${name}/`;
    return { projects: r('projects'), users: r('users'), people: r('people'), patches: r('patches'), covers: r('covers'), series: r('series'), events: r('events'), bundles: r('bundles') };
  }

  project(idOrSlug: string): ProjectInfo {
    const byId = /^\d+$/.test(idOrSlug) ? this.projects.get(Number(idOrSlug)) : undefined;
    const found = byId ?? [...this.projects.values()].find((p) => p.slug.toLowerCase() === idOrSlug.toLowerCase());
    if (!found) throw notFound('project_not_found', 'No Project matches the given query.');
    return found;
  }

  // Projects: a handful, from the project files, served from memory.

  async listProjects(ctx: Ctx, q: RawQuery, who: Principal | null = null): Promise<ListResult> {
    const rq = pageParam(q);
    const terms = searchTerms(q);
    let list = (await this.visibility.visibleProjects(who, [...this.projects.values()])).filter((p) =>
      terms.every((t) => [p.slug, p.list, p.scmUrl ?? ''].some((f) => f.toLowerCase().includes(t.toLowerCase()))),
    );
    const sort = orderParam(q, ['id', 'name', 'link_name', 'list_id'], ID_ASC);
    const key = (p: ProjectInfo, f: string): string | number => (f === 'name' ? p.name : f === 'link_name' ? p.slug : f === 'list_id' ? p.list : p.id);
    list = list.sort((a, b) => {
      for (const s of sort) {
        const x = key(a, s.field);
        const y = key(b, s.field);
        if (x !== y) return (x < y ? -1 : 1) * (s.desc ? -1 : 1);
      }
      return a.id - b.id;
    });
    const pg = resolvePage(rq, list.length);
    const slice = list.slice(pg.offset, pg.offset + pg.limit);
    const maintainers = await usersByEmails(this.db, slice.flatMap((p) => p.maintainers));
    return { ...pg, items: async () => slice.map((p) => projectOut(ctx, p.id, this.maintainersOf(p, maintainers))) };
  }

  async getProject(ctx: Ctx, idOrSlug: string): Promise<Out> {
    const p = this.project(idOrSlug);
    return projectOut(ctx, p.id, this.maintainersOf(p, await usersByEmails(this.db, p.maintainers)));
  }

  /** Someone else's address, blanked for a reader who may not see it (course projects: VisibilityService.seesEmails). */
  private emailFor<T extends { email: string; id?: number } | null>(who: Principal | null, row: T): T {
    if (row === null || this.visibility.seesEmails(who)) return row;
    if (who && row.email.toLowerCase() === who.email.toLowerCase()) return row;
    return { ...row, email: '' };
  }

  private maintainersOf(p: ProjectInfo, users: UserSummary[]): UserSummary[] {
    const emails = new Set(p.maintainers.map((m) => m.toLowerCase()));
    return users.filter((u) => emails.has(u.email)).sort((a, b) => a.id - b.id);
  }

  // Users and people: Patchwork lets only authenticated users list them.

  async listUsers(ctx: Ctx, q: RawQuery, who: Principal | null): Promise<ListResult> {
    requireUser(who);
    const rq = pageParam(q);
    const sort = orderParam(q, ['id', 'username', 'email'], ID_ASC);
    const run = (page: Page) => listUsers(this.db, { terms: searchTerms(q), sort, page, byEmail: this.visibility.seesEmails(who) });
    let { total, rows } = await run(windowOf(rq));
    const pg = resolvePage(rq, total);
    if (rq.page === -1) ({ total, rows } = await run(pg));
    return { ...pg, items: async () => rows.map((u) => userOut(ctx, this.emailFor(who, u), null)) };
  }

  async getUser(ctx: Ctx, id: number, who: Principal | null): Promise<Out> {
    const me = requireUser(who);
    const u = await getUser(this.db, id);
    if (!u) throw notFound('user_not_found', 'No User matches the given query.');
    return userOut(ctx, this.emailFor(me, u), me.id === u.id ? await this.userSettings(u.id) : null);
  }

  /** A user's profile settings: their row, or Patchwork's defaults. */
  async userSettings(userId: number): Promise<UserSettings> {
    const s = await userSettingsOf(this.db, userId);
    return s ? { send_email: s.send_email === 1, items_per_page: s.items_per_page, show_ids: s.show_ids === 1 } : DEFAULT_SETTINGS;
  }

  async listPeople(ctx: Ctx, q: RawQuery, who: Principal | null): Promise<ListResult> {
    requireUser(who);
    const rq = pageParam(q);
    const sort = orderParam(q, PERSON_SORT_FIELDS, ID_ASC);
    const run = (page: Page) => listPeople(this.db, { terms: searchTerms(q), sort, page, byEmail: this.visibility.seesEmails(who) });
    let { total, rows } = await run(windowOf(rq));
    const pg = resolvePage(rq, total);
    if (rq.page === -1) ({ total, rows } = await run(pg));
    const users = byEmail(await usersByEmails(this.db, rows.map((p) => p.email)));
    return { ...pg, items: async () => rows.map((p) => personOut(ctx, this.emailFor(who, p), this.emailFor(who, users.get(p.email) ?? null))) };
  }

  async getPerson(ctx: Ctx, id: number, who: Principal | null): Promise<Out> {
    requireUser(who);
    const [p] = await peopleRows(this.db, [id]);
    if (!p) throw notFound('person_not_found', 'No Person matches the given query.');
    const [u] = await usersByEmails(this.db, [p.email]);
    return personOut(ctx, this.emailFor(who, p), this.emailFor(who, u ?? null));
  }

  // Patches.

  async listPatches(ctx: Ctx, q: RawQuery, who: Principal | null = null): Promise<ListResult> {
    const rq = pageParam(q);
    const g = await this.snapshot();
    const m = g.global;
    return this.filteredList<PatchFilter>({
      rq,
      countMarker: g.of({ project: this.oneProject(q), kinds: ['p'] }),
      kind: 'patches',
      filter: async () => {
        return {
          projectIds: this.projectIds(q),
          scope: await this.visibility.scope(who),
          seriesIds: await this.existing('series', idsParam(q, 'series')),
          submitterIds: await this.people(q, 'submitter'),
          delegateIds: await this.users(q, 'delegate'),
          states: statesParam(q),
          archived: boolParam(q, 'archived'),
          // hash and msgid arrived in 1.2; older versions ignore them (Patchwork's versioned filter fields).
          hash: hasVersion(ctx.v, '1.2') ? single(q, 'hash') : undefined,
          msgid: hasVersion(ctx.v, '1.2') ? bareMsgid(single(q, 'msgid')) : undefined,
          since: dateParam(q, 'since'),
          before: dateParam(q, 'before'),
          terms: searchTerms(q),
        };
      },
      sort: () => orderParam(q, PATCH_SORT_FIELDS, ID_ASC),
      count: (g) => countPatches(this.db, g),
      page: (g, sort, pg) => pagePatchIds(this.db, g, sort, pg),
      items: (ids) => this.patchItems(ctx, ids, g),
    });
  }

  private async patchItems(ctx: Ctx, ids: number[], g: GenerationSnapshot): Promise<Out[]> {
    const m = g.global;
    const rows = inOrder(ids, await patchListRows(this.db, ids));
    const [people, users, series, checks, related] = await Promise.all([
      this.peopleMap(rows.map((r) => r.submitter_id), m),
      this.usersMap(rows.flatMap((r) => (r.delegate_id === null ? [] : [r.delegate_id])), m),
      this.seriesMap(rows.map((r) => r.series_id)),
      checkStatesOf(this.db, rows.map((r) => r.id)),
      this.relatedMap(ctx, rows.map((r) => r.id), g.of({ project: null, kinds: ['p'] })),
    ]);
    const checksOf = groupBy(checks, (c) => c.patch_id);
    return rows.map((p) =>
      patchOut(ctx, p, {
        submitter: people.get(p.submitter_id) ?? DELETED_PERSON,
        delegate: p.delegate_id === null ? null : (users.get(p.delegate_id) ?? null),
        series: series.get(p.series_id) ?? null,
        check: combinedCheckState(checksOf.get(p.id) ?? []),
        related: related.get(p.id),
      }),
    );
  }

  /** The other patches of each patch's relation (1.2+): one query for the page, a second only when any has some. */
  private async relatedMap(ctx: Ctx, patchIds: number[], m: string): Promise<Map<number, PatchLike[]>> {
    const out = new Map<number, PatchLike[]>();
    if (!ctx.show.patch.related) return out;
    if (this.relations.marker !== m) this.relations = { marker: m, any: anyRelation(this.db) };
    if (!(await this.relations.any)) return out;
    const pairs = await relatedOf(this.db, patchIds);
    if (!pairs.length) return out;
    const rows = new Map((await embeddedPatches(this.db, pairs.map((r) => r.related_id))).map((p) => [p.id, p]));
    for (const { patch_id, related_id } of pairs) {
      const r = rows.get(related_id);
      if (!r) continue;
      const list = out.get(patch_id);
      if (list) list.push(r);
      else out.set(patch_id, [r]);
    }
    return out;
  }

  async getPatch(ctx: Ctx, id: number): Promise<Out> {
    const g = await this.snapshot();
    const m = g.global;
    const p = await patchDetailRow(this.db, id);
    if (!p) throw notFound('patch_not_found', 'No Patch matches the given query.');
    const [people, delegates, series, checks, mails, related] = await Promise.all([
      this.peopleMap([p.submitter_id], m),
      this.usersMap(p.delegate_id === null ? [] : [p.delegate_id], m),
      this.seriesMap([p.series_id]),
      checkStatesOf(this.db, [p.id]),
      mailHeaders(this.db, [p.mail_id]),
      this.relatedMap(ctx, [p.id], g.of({ project: null, kinds: ['p'] })),
    ]);
    return patchOut(
      ctx,
      p,
      {
        submitter: people.get(p.submitter_id) ?? DELETED_PERSON,
        delegate: p.delegate_id === null ? null : (delegates.get(p.delegate_id) ?? null),
        series: series.get(p.series_id) ?? null,
        check: combinedCheckState(checks),
        related: related.get(p.id),
      },
      { headers: headersOf(mails.get(p.mail_id)?.raw), content: p.content, diff: p.diff },
    );
  }

  // Cover letters.

  async listCovers(ctx: Ctx, q: RawQuery, who: Principal | null = null): Promise<ListResult> {
    const rq = pageParam(q);
    const g = await this.snapshot();
    const m = g.global;
    return this.filteredList<CoverFilter>({
      rq,
      countMarker: g.of({ project: this.oneProject(q), kinds: ['p'] }),
      kind: 'covers',
      filter: async () => {
        return {
          projectIds: this.projectIds(q),
          scope: await this.visibility.scope(who),
          seriesIds: await this.existing('series', idsParam(q, 'series')),
          submitterIds: await this.people(q, 'submitter'),
          msgid: bareMsgid(single(q, 'msgid')),
          since: dateParam(q, 'since'),
          before: dateParam(q, 'before'),
          terms: searchTerms(q),
        };
      },
      sort: () => orderParam(q, COVER_SORT_FIELDS, ID_ASC),
      count: (g) => countCovers(this.db, g),
      page: (g, sort, pg) => pageCoverIds(this.db, g, sort, pg),
      items: (ids) => this.coverItems(ctx, ids, m),
    });
  }

  private async coverItems(ctx: Ctx, ids: number[], m: string): Promise<Out[]> {
    const rows = inOrder(ids, await coverRows(this.db, ids));
    const [people, series] = await Promise.all([this.peopleMap(rows.map((r) => r.submitter_id), m), this.seriesMap(rows.flatMap((r) => (r.series_id === null ? [] : [r.series_id])))]);
    return rows.map((c) => coverOut(ctx, c, { submitter: people.get(c.submitter_id) ?? DELETED_PERSON, series: c.series_id === null ? null : (series.get(c.series_id) ?? null) }));
  }

  async getCover(ctx: Ctx, id: number): Promise<Out> {
    const g = await this.snapshot();
    const m = g.global;
    const c = await coverDetailRow(this.db, id);
    if (!c) throw notFound('cover_not_found', 'No Cover matches the given query.');
    const [people, series, mails] = await Promise.all([this.peopleMap([c.submitter_id], m), this.seriesMap(c.series_id === null ? [] : [c.series_id]), mailHeaders(this.db, [c.mail_id])]);
    return coverOut(
      ctx,
      c,
      { submitter: people.get(c.submitter_id) ?? DELETED_PERSON, series: c.series_id === null ? null : (series.get(c.series_id) ?? null) },
      { headers: headersOf(mails.get(c.mail_id)?.raw), content: c.content },
    );
  }

  // Series.

  async listSeries(ctx: Ctx, q: RawQuery, who: Principal | null = null): Promise<ListResult> {
    const rq = pageParam(q);
    const g = await this.snapshot();
    const m = g.global;
    return this.filteredList<SeriesFilter>({
      rq,
      countMarker: g.of({ project: this.oneProject(q), kinds: ['p'] }),
      kind: 'series',
      filter: async () => {
        return { projectIds: this.projectIds(q), scope: await this.visibility.scope(who), submitterIds: await this.people(q, 'submitter'), since: dateParam(q, 'since'), before: dateParam(q, 'before'), terms: searchTerms(q) };
      },
      sort: () => orderParam(q, SERIES_SORT_FIELDS, ID_ASC),
      count: (g) => countSeries(this.db, g),
      page: (g, sort, pg) => pageSeriesIds(this.db, g, sort, pg),
      items: async (ids) => this.seriesItems(ctx, inOrder(ids, await seriesRows(this.db, ids)), m),
    });
  }

  async getSeries(ctx: Ctx, id: number): Promise<Out> {
    const g = await this.snapshot();
    const m = g.global;
    const rows = await seriesRows(this.db, [id]);
    if (!rows.length) throw notFound('series_not_found', 'No Series matches the given query.');
    return (await this.seriesItems(ctx, rows, m))[0]!;
  }

  private async seriesItems(ctx: Ctx, rows: Awaited<ReturnType<typeof seriesRows>>, m: string): Promise<Out[]> {
    // Dependencies are read only where they are shown: 1.4, a project with show_dependencies.
    const depIds = ctx.show.series.dependencies ? rows.filter((r) => this.projects.get(r.project_id)?.showDependencies).map((r) => r.id) : [];
    const [people, covers, patches, dependencies, dependents] = await Promise.all([
      this.peopleMap(rows.map((r) => r.submitter_id), m),
      coverRows(this.db, rows.flatMap((r) => (r.cover_id === null ? [] : [r.cover_id]))),
      patchesOfSeriesList(this.db, rows.map((r) => r.id)),
      dependenciesOf(this.db, depIds),
      dependentsOf(this.db, depIds),
    ]);
    const coverById = new Map(covers.map((c) => [c.id, c]));
    const patchesOf = groupBy(patches, (p) => p.series_id);
    const dependenciesOfSeries = groupBy(dependencies, (d) => d.series_id);
    const dependentsOfSeries = groupBy(dependents, (d) => d.depends_on_id);
    return rows.map((s) =>
      seriesOut(ctx, s, {
        submitter: people.get(s.submitter_id) ?? DELETED_PERSON,
        cover: s.cover_id === null ? null : (coverById.get(s.cover_id) ?? null),
        patches: patchesOf.get(s.id) ?? [],
        dependencies: (dependenciesOfSeries.get(s.id) ?? []).map((d) => d.depends_on_id),
        dependents: (dependentsOfSeries.get(s.id) ?? []).map((d) => d.series_id),
      }),
    );
  }

  // Comments (1.1+): every comment of one patch or cover letter.

  async listComments(ctx: Ctx, parent: Parent, q: RawQuery): Promise<ListResult> {
    const g = await this.snapshot();
    const m = g.global;
    await this.requireParent(parent);
    const rq = pageParam(q);
    const rows = await commentsOf(this.db, parent, { terms: searchTerms(q), sort: orderParam(q, COMMENT_SORT_FIELDS, ID_ASC) });
    const pg = resolvePage(rq, rows.length);
    return { ...pg, items: () => this.commentItems(ctx, rows.slice(pg.offset, pg.offset + pg.limit), m) };
  }

  async getComment(ctx: Ctx, parent: Parent, id: number): Promise<Out> {
    const g = await this.snapshot();
    const m = g.global;
    await this.requireParent(parent);
    const c = await commentRow(this.db, id);
    if (!c || (parent.kind === 'patch' ? c.patch_id : c.cover_id) !== parent.id) throw notFound('comment_not_found', 'No comment matches the given query.');
    return (await this.commentItems(ctx, [c], m))[0]!;
  }

  private async commentItems(ctx: Ctx, rows: Awaited<ReturnType<typeof commentRows>>, m: string): Promise<Out[]> {
    const [people, mails] = await Promise.all([this.peopleMap(rows.map((r) => r.submitter_id), m), mailHeaders(this.db, rows.map((r) => r.mail_id))]);
    return rows.map((c) => {
      const mail = mails.get(c.mail_id);
      return commentOut(ctx, c, { submitter: people.get(c.submitter_id) ?? DELETED_PERSON, subject: mail?.subject ?? '', headers: headersOf(mail?.raw) });
    });
  }

  async requireParent(parent: Parent): Promise<void> {
    const found = await existingIds(this.db, parent.kind === 'patch' ? 'patches' : 'covers', [parent.id]);
    if (!found.length) throw notFound(`${parent.kind}_not_found`, `No ${parent.kind === 'patch' ? 'Patch' : 'Cover'} matches the given query.`);
  }

  // Checks.

  async listChecks(ctx: Ctx, patchId: number, q: RawQuery): Promise<ListResult> {
    const g = await this.snapshot();
    const m = g.global;
    await this.requireParent({ kind: 'patch', id: patchId });
    const rq = pageParam(q);
    let rows: CheckRow[];
    try {
      const states = values(q, 'state');
      if (states && !states.every((s) => (CHECK_STATES as readonly string[]).includes(s))) throw new NoMatch('state');
      rows = await checksOfPatch(this.db, patchId, {
        userIds: await this.users(q, 'user'),
        states,
        contexts: values(q, 'context'),
        since: dateParam(q, 'since'),
        before: dateParam(q, 'before'),
      });
    } catch (e) {
      if (e instanceof NoMatch) return empty(rq);
      throw e;
    }
    const sort = orderParam(q, ['id', 'date'], ID_ASC);
    if (sort[0]!.desc) rows.reverse();
    const pg = resolvePage(rq, rows.length);
    const slice = rows.slice(pg.offset, pg.offset + pg.limit);
    const users = await this.usersMap(slice.flatMap((c) => (c.user_id === null ? [] : [c.user_id])), m);
    return { ...pg, items: async () => slice.map((c) => checkOut(ctx, c, c.user_id === null ? null : (users.get(c.user_id) ?? null))) };
  }

  async getCheck(ctx: Ctx, patchId: number, id: number): Promise<Out> {
    const g = await this.snapshot();
    const m = g.global;
    await this.requireParent({ kind: 'patch', id: patchId });
    const c = await getCheck(this.db, patchId, id);
    if (!c) throw notFound('check_not_found', 'No Check matches the given query.');
    const users = await this.usersMap(c.user_id === null ? [] : [c.user_id], m);
    return checkOut(ctx, c, c.user_id === null ? null : (users.get(c.user_id) ?? null));
  }

  // Events.

  async listEvents(ctx: Ctx, q: RawQuery, who: Principal | null = null): Promise<ListResult> {
    const rq = pageParam(q);
    const g = await this.snapshot();
    const m = g.global;
    const shown = hasVersion(ctx.v, '1.3') ? [...CATEGORIES_1_0, ...CATEGORIES_1_3] : CATEGORIES_1_0;
    return this.filteredList<EventFilter>({
      rq,
      countMarker: g.of({ project: this.oneProject(q), kinds: ['e'] }),
      kind: 'events',
      filter: async () => {
        const asked = values(q, 'category');
        // A category this version does not list, or no category at all, names nothing (Patchwork: an empty list).
        let categories = asked?.filter((c) => shown.includes(c) || PATCHBAY_CATEGORIES.includes(c));
        if (asked && !categories!.length) throw new NoMatch('category');
        // Patchwork's series/patch/cover filters match the events it links to one (LINKED).
        for (const key of ['series', 'patch', 'cover'] as const) {
          if (!values(q, key)) continue;
          categories = (categories ?? shown).filter((c) => LINKED[key].includes(c));
          if (!categories.length) throw new NoMatch(key);
        }
        return {
          projectIds: this.projectIds(q),
          scope: await this.visibility.scope(who),
          categories,
          // Without a category filter: this version's categories only (not the 1.3 ones before 1.3, not patchbay's).
          // Leaving a category out costs a `since=` count a row read per event (the date index has no category),
          // so patchbay's are left out only once there are some.
          excludeCategories: categories ? [] : [...CATEGORIES_1_3.filter((c) => !shown.includes(c)), ...((await this.anyOwnEvents(g.of({ project: null, kinds: ['e'] }))) ? PATCHBAY_CATEGORIES : [])],
          seriesIds: await this.existing('series', idsParam(q, 'series')),
          patchIds: await this.existing('patches', idsParam(q, 'patch')),
          coverIds: await this.existing('covers', idsParam(q, 'cover')),
          actorIds: hasVersion(ctx.v, '1.2') ? await this.users(q, 'actor') : undefined,
          since: dateParam(q, 'since'),
          before: dateParam(q, 'before'),
        };
      },
      sort: () => orderParam(q, ['date'], [{ field: 'date', desc: true }]),
      count: (g) => countEvents(this.db, g),
      page: (g, sort, pg) => pageEventIds(this.db, g, sort, pg),
      items: async (ids) => this.eventItems(ctx, inOrder(ids, await eventRows(this.db, ids)), m),
    });
  }

  private anyOwnEvents(m: string): Promise<boolean> {
    if (this.ownEvents.marker !== m) this.ownEvents = { marker: m, any: anyEventOf(this.db, PATCHBAY_CATEGORIES) };
    return this.ownEvents.any;
  }

  private async eventItems(ctx: Ctx, rows: EventRow[], m: string): Promise<Out[]> {
    const payloads = rows.map((e) => parsePayload(e.payload));
    const userIds = rows.flatMap((e, i) => [e.actor_id, numberOr(payloads[i]!.previous_delegate), numberOr(payloads[i]!.current_delegate)]).filter((x): x is number => typeof x === 'number');
    const seriesIds = rows.flatMap((e, i) => [e.series_id, numberOr(payloads[i]!.previous_series)]).filter((x): x is number => typeof x === 'number');
    const checkIds = payloads.map((p) => numberOr(p.check)).filter((x): x is number => typeof x === 'number');
    const [users, series, patches, covers, comments, checks] = await Promise.all([
      this.usersMap(userIds, m),
      this.seriesMap(seriesIds),
      embeddedPatches(this.db, rows.flatMap((e) => (e.patch_id === null ? [] : [e.patch_id]))),
      coverRows(this.db, rows.flatMap((e) => (e.cover_id === null ? [] : [e.cover_id]))),
      commentRows(this.db, rows.flatMap((e) => (e.comment_id === null ? [] : [e.comment_id]))),
      checkRows(this.db, checkIds),
    ]);
    const patchById = new Map(patches.map((p) => [p.id, p]));
    const coverById = new Map(covers.map((c) => [c.id, c]));
    const commentById = new Map(comments.map((c) => [c.id, c]));
    const checkById = new Map(checks.map((c) => [c.id, c]));
    const ref = <T>(map: Map<number, T>, id: unknown, embed: (x: T) => Out) => {
      const x = typeof id === 'number' ? map.get(id) : undefined;
      return x ? embed(x) : null;
    };
    const patch = (e: EventRow) => ref(patchById, e.patch_id, (p) => embedPatch(ctx, p));
    const seriesOf = (id: unknown) => ref(series, id, (s) => embedSeries(ctx, s));
    const user = (id: unknown) => ref(users, id, (u) => embedUser(ctx, u));
    return rows.map((e, i) => {
      const pl = payloads[i]!;
      let payload: Out;
      switch (e.category) {
        case 'cover-created':
          payload = { cover: ref(coverById, e.cover_id, (c) => embedCover(ctx, c)) };
          break;
        case 'patch-created':
          payload = { patch: patch(e) };
          break;
        case 'patch-completed':
          payload = { patch: patch(e), series: seriesOf(e.series_id) };
          break;
        case 'patch-state-changed':
          payload = { patch: patch(e), previous_state: pl.previous_state ?? null, current_state: pl.current_state ?? null };
          break;
        case 'patch-delegated':
          payload = { patch: patch(e), previous_delegate: user(pl.previous_delegate), current_delegate: user(pl.current_delegate) };
          break;
        case 'patch-relation-changed':
          // Patchwork's EventSerializer writes both as null (get_previous_relation/get_current_relation).
          payload = { patch: patch(e), previous_relation: null, current_relation: null };
          break;
        case 'check-created':
          payload = { patch: patch(e), check: ref(checkById, pl.check, (c) => embedCheck(ctx, c)) };
          break;
        case 'series-created':
        case 'series-completed':
          payload = { series: seriesOf(e.series_id) };
          break;
        case 'cover-comment-created':
          payload = { cover: ref(coverById, e.cover_id, (c) => embedCover(ctx, c)), comment: ref(commentById, e.comment_id, (c) => embedComment(ctx, c)) };
          break;
        case 'patch-comment-created':
          payload = { patch: patch(e), comment: ref(commentById, e.comment_id, (c) => embedComment(ctx, c)) };
          break;
        case 'series-new-revision':
          payload = { series: seriesOf(e.series_id), previous_series: seriesOf(pl.previous_series), reason: typeof pl.reason === 'string' ? pl.reason : null };
          break;
        // A maintainer's hands on the series' runs (run ids as the run pages and /series/N/runs/ name them).
        case 'series-run-cancelled':
          payload = { series: seriesOf(e.series_id), run: typeof pl.run === 'number' ? pl.run : null, reason: typeof pl.reason === 'string' ? pl.reason : null };
          break;
        case 'series-run-requested':
          payload = { series: seriesOf(e.series_id), run: typeof pl.run === 'number' ? pl.run : null, previous_run: typeof pl.previous_run === 'number' ? pl.previous_run : null };
          break;
        default:
          payload = {};
      }
      return eventOut(ctx, e, e.actor_id === null ? null : (users.get(e.actor_id) ?? null), payload);
    });
  }

  // Bundles: your own and the public ones; someone else's private bundle does not exist (404, not 403).

  async listBundles(ctx: Ctx, q: RawQuery, who: Principal | null): Promise<ListResult> {
    const rq = pageParam(q);
    const g = await this.snapshot();
    const m = g.global;
    let f: BundleFilter;
    try {
      // A private project's bundles are listed only to those who see all of it (its students reach theirs by id).
      const scope = await this.visibility.scope(who);
      const shut = new Set([...(scope?.hidden ?? []), ...(scope?.restricted ?? [])]);
      const projectIds = shut.size ? (this.projectIds(q) ?? [...this.projects.keys()]).filter((id) => !shut.has(id)) : this.projectIds(q);
      f = { viewerId: who?.id ?? null, projectIds, ownerIds: await this.users(q, 'owner'), public: boolParam(q, 'public'), terms: searchTerms(q) };
    } catch (e) {
      if (e instanceof NoMatch) return empty(rq);
      throw e;
    }
    const sort = orderParam(q, BUNDLE_SORT_FIELDS, ID_ASC);
    const pg = resolvePage(rq, await countBundles(this.db, f));
    const rows = await pageBundles(this.db, f, sort, pg);
    return { ...pg, items: () => this.bundleItems(ctx, rows, m) };
  }

  async getBundle(ctx: Ctx, id: number, who: Principal | null): Promise<Out> {
    const g = await this.snapshot();
    const m = g.global;
    const b = await this.visibleBundle(id, who);
    return (await this.bundleItems(ctx, [b], m))[0]!;
  }

  async visibleBundle(id: number, who: Principal | null): Promise<BundleRow> {
    const b = await getBundle(this.db, id);
    if (!b || (b.public !== 1 && b.owner_id !== who?.id) || !this.visibility.seesBundle(who, b)) throw notFound('bundle_not_found', 'No Bundle matches the given query.');
    return b;
  }

  private async bundleItems(ctx: Ctx, rows: BundleRow[], m: string): Promise<Out[]> {
    const ids = await bundlePatchIds(this.db, rows.map((b) => b.id));
    const [owners, patches] = await Promise.all([this.usersMap(rows.map((b) => b.owner_id), m), embeddedPatches(this.db, [...ids.values()].flat())]);
    const patchById = new Map(patches.map((p) => [p.id, p]));
    return rows.map((b) =>
      bundleOut(
        ctx,
        b,
        owners.get(b.owner_id)!,
        (ids.get(b.id) ?? []).flatMap((id) => patchById.get(id) ?? []),
      ),
    );
  }

  /**
   * The patch ids, in order, of the bundle at /bundle/<owner>/<name>/ (for its mbox download), if the requester may
   * see it: public, or theirs. Undefined when there is no such bundle to show.
   */
  async bundleForMbox(owner: string, name: string, who: Principal | null): Promise<{ id: number; name: string; patchIds: number[] } | undefined> {
    const user = await findUserByUsername(this.db, owner);
    const b = user && (await findBundle(this.db, user.id, name));
    if (!b || (b.public !== 1 && b.owner_id !== who?.id) || !this.visibility.seesBundle(who, b)) return undefined;
    return { id: b.id, name: b.name, patchIds: (await bundlePatchIds(this.db, [b.id])).get(b.id) ?? [] };
  }

  /** Whether the user maintains the project: its file lists them, or they are an admin. */
  maintains(who: Principal | null, projectId: number): boolean {
    const p = this.projects.get(projectId);
    return p !== undefined && maintains(who, p);
  }

  // Filter values to ids. Any value that names nothing empties the list, as Patchwork's filter backend does.

  private projectIds(q: RawQuery): number[] | undefined {
    const list = values(q, 'project');
    if (!list) return undefined;
    return list.map((v) => {
      try {
        return this.project(v).id;
      } catch {
        throw new NoMatch('project');
      }
    });
  }

  private async people(q: RawQuery, key: string): Promise<number[] | undefined> {
    const list = values(q, key);
    if (!list) return undefined;
    const ids = await resolvePeople(this.db, list);
    if (ids.length < list.length) throw new NoMatch(key);
    return ids;
  }

  private async users(q: RawQuery, key: string): Promise<number[] | undefined> {
    const list = values(q, key);
    if (!list) return undefined;
    const ids = await resolveUsers(this.db, list);
    if (ids.length < list.length) throw new NoMatch(key);
    return ids;
  }

  private async existing(table: 'patches' | 'covers' | 'series', ids: number[] | undefined): Promise<number[] | undefined> {
    if (!ids) return undefined;
    const found = await existingIds(this.db, table, ids);
    if (found.length < ids.length) throw new NoMatch(table);
    return found;
  }

  private peopleMap(ids: number[], m: string): Promise<Map<number, PersonLike>> {
    return this.personRows.get(ids, m, (missing) => peopleRows(this.db, missing));
  }

  private usersMap(ids: number[], m: string): Promise<Map<number, UserLike>> {
    return this.userRows.get(ids, m, (missing) => getUsers(this.db, missing));
  }

  private async seriesMap(ids: number[]) {
    return new Map((await seriesRows(this.db, ids)).map((s) => [s.id, s]));
  }

  /**
   * A count of a list with a `since` and no `before` is the rest of that day, counted, plus the count from the next
   * midnight on, kept: pollers ask `since=<their last run>`, a new value each time, and the days after it hold the
   * same count until something is written.
   */
  /**
   * The filtered lists (patches, covers, series, events): the filter (a filter value that names nothing empties
   * the page, as in Patchwork), the count kept per change marker, one page of ids, and items built only when the
   * answer is not already cached (`contents` names the page for the response cache).
   */
  private async filteredList<F extends { since?: string; before?: string }>(o: {
    rq: PageRequest;
    /** The marker the list's count is kept under: the rows it counts, of the filter's project. */
    countMarker: string;
    kind: 'patches' | 'covers' | 'series' | 'events';
    filter: () => Promise<F>;
    /** Read after the filter, as before: an empty filter answers before a bad `order` is refused. */
    sort: () => SortKey[];
    count: (f: F) => Promise<number>;
    page: (f: F, sort: SortKey[], pg: ReturnType<typeof resolvePage>) => Promise<number[]>;
    items: (ids: number[]) => Promise<Out[]>;
  }): Promise<ListResult> {
    let f: F;
    try {
      f = await o.filter();
    } catch (e) {
      if (e instanceof NoMatch) return empty(o.rq);
      throw e;
    }
    const sort = o.sort();
    const pg = resolvePage(o.rq, await this.countSince(o.kind, f, o.countMarker, o.count));
    const ids = await o.page(f, sort, pg);
    return { ...pg, contents: `${o.kind} ${ids.join(',')}`, items: () => o.items(ids) };
  }

  private async countSince<F extends { since?: string; before?: string }>(kind: string, f: F, m: string, run: (f: F) => Promise<number>): Promise<number> {
    const day = f.since === undefined || f.before !== undefined ? NaN : Date.parse(`${f.since.slice(0, 10)}T00:00:00.000Z`);
    if (Number.isNaN(day) || f.since === new Date(day).toISOString()) return this.count(`${kind} ${JSON.stringify(f)}`, m, () => run(f));
    const midnight = new Date(day + DAY_MS).toISOString();
    const rest = { ...f, since: midnight };
    const [head, tail] = await Promise.all([run({ ...f, before: midnight }), this.count(`${kind} ${JSON.stringify(rest)}`, m, () => run(rest))]);
    return head + tail;
  }

  /** COUNT(*) for the Link header's last page, kept until a write its marker covers. */
  private async count(key: string, marker: string, run: () => Promise<number>): Promise<number> {
    const hit = this.counts.get(key);
    if (hit && hit.marker === marker) return hit.n;
    const n = await run();
    if (this.counts.size >= COUNT_CACHE_SIZE) this.counts.delete(this.counts.keys().next().value!);
    this.counts.delete(key);
    this.counts.set(key, { marker, n });
    return n;
  }
}

function windowOf(rq: PageRequest): Page {
  // People and users count and page in one call; page=last needs the count first, so it reads page 1, then the last.
  return rq.page > 0 ? { limit: rq.perPage, offset: (rq.page - 1) * rq.perPage } : { limit: rq.perPage, offset: 0 };
}

function empty(rq: PageRequest): ListResult {
  const pg = resolvePage(rq, 0);
  return { items: async () => [], page: pg.page, lastPage: pg.lastPage };
}

function groupBy<T>(rows: T[], key: (r: T) => number): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

function byEmail(users: UserSummary[]): Map<string, UserSummary> {
  return new Map(users.map((u) => [u.email, u]));
}

/** Patchwork's msgid filter takes the id without `<>` and adds them; patchbay stores it without, and takes either. */
function bareMsgid(v: string | undefined): string | undefined {
  return v === undefined ? undefined : v.replace(/^<|>$/g, '');
}

function headersOf(raw: Buffer | undefined): Record<string, string | string[]> {
  if (!raw) return {};
  return headersDict(raw.subarray(0, splitHeader(raw).headerEnd).toString('utf8'));
}

function parsePayload(json: string | null): Record<string, unknown> {
  if (!json) return {};
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function numberOr(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

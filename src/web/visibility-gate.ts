// The visibility rule at the HTTP edge (issue 14): one table from route pattern to the thing the route shows, checked
// before any handler runs, for every page, download, log and archive route and for the REST API's detail routes. The
// rule itself is src/api/visibility.service.ts; lists filter by its scope in the API's queries.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Reader, VisibilityService } from '../api/visibility.service.js';
import { notFound } from '../errors.js';
import { viewerOf } from './viewer.js';

type Params = Record<string, string | number | undefined>;
type Check = (v: VisibilityService, reader: Reader | null, p: Params, req: FastifyRequest) => Promise<void>;

export interface GateProject {
  id: number;
  slug: string;
}

const num = (x: string | number | undefined) => Number(x);

/** Project slugs and archive roots to ids (an unknown one is left to its route's own 404). */
function projectRules(projects: readonly GateProject[]) {
  const bySlug = new Map(projects.map((p) => [p.slug, p.id]));
  const byIdOrSlug = (x: string | number | undefined) => (/^\d+$/.test(String(x)) ? num(x) : bySlug.get(String(x)));
  const project: Check = async (v, r, p) => {
    const id = bySlug.get(String(p['slug']));
    if (id !== undefined) await v.requireProject(r, id);
  };
  /** The project's pages that list everyone's work: its maintainers only in a private project. */
  const allOf: Check = async (v, r, p) => {
    const id = bySlug.get(String(p['slug']));
    if (id !== undefined) v.requireAllOf(r, id);
  };
  /** The gradebook (page and CSV): the project's maintainers and admins, in every project (issue 14). */
  const gradebook: Check = async (v, r, p) => {
    const id = bySlug.get(String(p['slug']));
    if (id !== undefined && !v.maintains(r, id)) throw notFound('not_found', 'Not found.');
  };
  /** A private project's series list shows a student their own series only (its student filter, forced). */
  const seriesList: Check = async (v, r, p, req) => {
    const id = bySlug.get(String(p['slug']));
    if (id === undefined) return;
    await v.requireProject(r, id);
    const login = await v.ownLogin(r, id);
    if (login !== null) Object.assign(req.query as Record<string, unknown>, { student: login, onlyStudent: login });
  };
  const submission =
    (kind: 'patch' | 'cover'): Check =>
    async (v, r, p) => {
      const id = bySlug.get(String(p['slug']));
      if (id !== undefined) await v.requireSubmission(r, kind, id, String(p['msgid']));
    };
  const archiveIndex: Check = async (v, r, p) => {
    const id = bySlug.get(String(p['list']));
    if (id !== undefined) v.requireAllOf(r, id);
  };
  const archived: Check = async (v, r, p) => {
    const id = bySlug.get(String(p['list']));
    if (id !== undefined) await v.requireArchived(r, id, String(p['msgid']));
  };
  const apiProject: Check = async (v, r, p) => {
    const id = byIdOrSlug(p['id']);
    if (id !== undefined) await v.requireProject(r, id);
  };
  return { project, allOf, gradebook, seriesList, submission, archiveIndex, archived, apiProject };
}

const series: Check = (v, r, p) => v.requireSeries(r, num(p['id']));
/** The series page, and the two series of a range-diff it is asked for (?from=&to=): any series may be named there. */
const seriesPage: Check = async (v, r, p, req) => {
  await v.requireSeries(r, num(p['id']));
  const q = (req.query ?? {}) as { from?: number; to?: number };
  for (const other of [q.from, q.to]) if (other !== undefined) await v.requireSeries(r, num(other));
};
const patch: Check = (v, r, p) => v.requirePatch(r, num(p['id']));
const cover: Check = (v, r, p) => v.requireCover(r, num(p['id']));
const comment: Check = (v, r, p) => v.requireComment(r, num(p['id']));
const run: Check = (v, r, p) => v.requireRun(r, num(p['id']));
const bundle: Check = (v, r, p) => v.requireBundle(r, String(p['owner']), String(p['name']));

/** The web routes (pages, downloads, logs, archive) by their fastify pattern. */
export function webRules(projects: readonly GateProject[]): Record<string, Check> {
  const pr = projectRules(projects);
  return {
    '/series/:id/': seriesPage,
    '/series/:id/pipeline/': series,
    '/series/:id/runs/': series,
    '/series/:id/events': series,
    '/series/:id/mbox/': series,
    '/patch/:id/': patch,
    '/patch/:id/mbox/': patch,
    '/patch/:id/raw/': patch,
    '/cover/:id/': cover,
    '/cover/:id/mbox/': cover,
    '/comment/:id/': comment,
    '/runs/:id/': run,
    '/runs/:id/logs/:step': run,
    '/runs/:id/logs/:step/:job': run,
    '/runs/:id/log/:step/': run,
    '/runs/:id/log/:step/:job/': run,
    '/runs/:id/artifacts/*': run,
    '/actions/patch/:id/': patch,
    '/actions/series/:id/': series,
    '/bundle/:owner/:name/': bundle,
    '/bundle/:owner/:name/mbox/': bundle,
    '/project/:slug/': pr.project,
    '/project/:slug/list/': pr.seriesList,
    '/project/:slug/students/': pr.gradebook,
    '/project/:slug/students.csv': pr.gradebook,
    '/project/:slug/patch/:msgid/': pr.submission('patch'),
    '/project/:slug/cover/:msgid/': pr.submission('cover'),
    '/project/:slug/pwclientrc/': pr.project,
    '/lists/:slug/subscribe': pr.allOf,
    '/:list': pr.archiveIndex,
    '/:list/': pr.archiveIndex,
    '/:list/:msgid': pr.archived,
    '/:list/:msgid/': pr.archived,
    '/:list/:msgid/raw': pr.archived,
    '/:list/:msgid/t.mbox.gz': pr.archived,
  };
}

/** The REST API's detail routes, by their pattern without the /api[/1.x] prefix and the id's regular expression. */
export function apiRules(projects: readonly GateProject[]): Record<string, Check> {
  const pr = projectRules(projects);
  return {
    '/projects/:id/': pr.apiProject,
    '/patches/:id/': patch,
    '/patches/:id/comments/': patch,
    '/patches/:id/comments/:child/': patch,
    '/patches/:id/checks/': patch,
    '/patches/:id/checks/:child/': patch,
    '/covers/:id/': cover,
    '/covers/:id/comments/': cover,
    '/covers/:id/comments/:child/': cover,
    '/series/:id/': series,
    '/series/:id/revision/': series,
    '/series/:id/split/': series,
    '/series/:id/merge/': series,
  };
}

/** A route pattern as the tables name it: `/api/1.2/patches/:id(^\d+)/` → `/patches/:id/`. */
export function apiPattern(url: string): string {
  return url
    .replace(/^\/api(\/patchbay|\/\d+\.\d+)?(?=\/)/, '')
    .replace(/\(\^\\d\+\)/g, '')
    .replace(/(?<!\/)$/, '/');
}

/** Runs the table's check for the request's route, if it has one. */
export async function checkRoute(rules: Record<string, Check>, pattern: string, v: VisibilityService, reader: Reader | null, req: FastifyRequest): Promise<void> {
  const check = rules[pattern];
  if (check) await check(v, reader, (req.params ?? {}) as Params, req);
}

const seenRoutes = new WeakMap<object, string[]>();

/**
 * Parameterised GET routes that need no visibility check: their own guard (admins, worker tokens) or a secret in the
 * URL (mailed tokens, the per-run secret of the artefacts a LAVA worker downloads), or nothing of a project (static files).
 */
const NOT_PROJECT_DATA = [/^\/admin\//, /^\/worker\//, /^\/static\//, /^\/lists\/:slug\/(confirm|unsubscribe)\/:token$/, /^\/password\/set\/:token\/$/, /^\/runs\/:id\/lava\/:secret\/\*$/];

/** The parameterised GET routes registered after the gate (the app's pages, downloads, logs, archive). */
export function routesAfterGate(app: object): string[] {
  return [...(seenRoutes.get(app) ?? [])];
}

/** The parameterised GET routes of the app that the gate's table does not name (a test keeps this empty). */
export function unguardedRoutes(app: object, projects: readonly GateProject[] = []): string[] {
  const rules = webRules(projects);
  return [...new Set(seenRoutes.get(app) ?? [])].filter((u) => !rules[u] && !NOT_PROJECT_DATA.some((re) => re.test(u)));
}

export interface GateDeps {
  visibility: VisibilityService;
  projects: readonly GateProject[];
  /** The API's credentials (Token or Basic), for scripts and b4 that fetch mbox, logs and the archive with a token. */
  authenticate(authorization: string | undefined, address: string): Promise<Reader | null>;
}

/**
 * The gate for the web routes: the session's user, else the request's API credentials, else anonymous. Unencapsulated,
 * so its hook reaches the routes of every plugin registered after it; the API's routes run their own table
 * (src/web/routes/api.route.ts) with the principal they authenticate.
 */
export function visibilityGate(deps: GateDeps): FastifyPluginAsync {
  const rules = webRules(deps.projects);
  const plugin: FastifyPluginAsync = async (app) => {
    // Every GET route with a parameter registered after the gate, so a test can tell which the table leaves out.
    const seen: string[] = [];
    seenRoutes.set(app, seen);
    app.addHook('onRoute', (r) => {
      const methods = Array.isArray(r.method) ? r.method : [r.method];
      if (methods.includes('GET') && /[:*]/.test(r.url) && !r.url.startsWith('/api/')) seen.push(r.url);
    });
    app.addHook('preHandler', async (req) => {
      // Not skipped without private projects: the gradebook's rule holds in every project.
      const pattern = req.routeOptions.url;
      if (!pattern || pattern.startsWith('/api/') || !rules[pattern]) return;
      const user = viewerOf(req).user;
      const reader = user ?? (req.headers.authorization ? await deps.authenticate(req.headers.authorization, req.ip) : null);
      await checkRoute(rules, pattern, deps.visibility, reader, req);
    });
  };
  Object.assign(plugin, { [Symbol.for('skip-override')]: true });
  return plugin;
}

// /api/, /api/1.0/ … /api/1.4/: Patchwork's REST API (git-pw, pwclient, b4 and scripts work unchanged); /api/patchbay/:
// the maintainers' corrections Patchwork lacks (revision links, split, merge). Handlers call the API services only.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HTTPMethods, RouteShorthandOptions } from 'fastify';
import type { ApiService, ListResult, Parent } from '../../api/api.service.js';
import type { ApiReaders, ReaderList, ReaderTask } from '../../api/api-readers.js';
import type { ApiWriteService, Body } from '../../api/api-write.service.js';
import type { AuthService, Principal } from '../../api/auth.service.js';
import { linkHeader, type RawQuery } from '../../api/query.js';
import type { Out } from '../../api/represent.js';
import type { ChangeKind, ChangeScope } from '../../api/change-generations.js';
import { jsonBytes } from '../../api/json-bytes.js';
import { etagOf, noneMatchHits, type CachedAnswer, type ResponseCache } from '../../api/response-cache.js';
import { hasVersion, LATEST, VERSIONS, type ApiVersion } from '../../api/versions.js';
import { invalid, notAllowed, notFound } from '../../errors.js';
import * as S from '../api-schemas.js';
import { CREATED, NO_CONTENT, NOT_MODIFIED, OK } from '../error-handler.js';
import { borrowMovableSlab, giveBackWhenWritten, jsonForResponse } from '../body-slabs.js';
import { publicBase } from '../headers.js';
import { apiPattern, apiRules, checkRoute, type GateProject } from '../visibility-gate.js';

export interface ApiDeps {
  api: ApiService;
  writes: ApiWriteService;
  auth: Pick<AuthService, 'authenticate'>;
  /** Configured public base URL; null: built from each request's Host (X-Forwarded-Host/-Proto only from a --trust-proxy peer). */
  baseUrl: string | null;
  /** Answers of the GETs that are the same for everyone, kept while nothing is written; null or absent: none kept. */
  responses?: ResponseCache | null;
  /** The projects' ids and slugs, for the visibility rule's table of detail routes (private projects, issue 14). */
  projects?: readonly GateProject[];
  /** Worker threads that compute list pages (`--api-threads`); null or absent: this thread computes them. */
  readers?: ApiReaders | null;
}

const JSON_TYPE = 'application/json; charset=utf-8';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The API route's `Allow` header (resource() sets it). */
    allow?: string;
  }
}

const METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** Django's View.http_method_names order, in which DRF writes `Allow` (HEAD comes with GET, OPTIONS always). */
const ALLOW_ORDER = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
/** What DRF's OPTIONS (SimpleMetadata) says a view renders and parses. */
const RENDERS = ['application/json'];
const PARSES = ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'];
const ID = ':id(^\\d+)';
const CHILD = ':child(^\\d+)';

const principals = new WeakMap<FastifyRequest, Principal | null>();
const who = (req: FastifyRequest) => principals.get(req) ?? null;

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
interface Resource {
  tags: string[];
  params?: object;
  get?: { summary: string; query?: object; response: object; list?: boolean; handler: Handler };
  post?: { summary: string; body: object; response: object; status?: number; handler: Handler };
  patch?: { summary: string; body: object; response: object; handler: Handler };
  delete?: { summary: string; handler: Handler };
}

/** The query parameters the route's schema names: what a long Link header keeps of the request's query. */
function queryNames(req: FastifyRequest): string[] {
  const props = (req.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props) : [];
}

function baseOf(deps: ApiDeps, req: FastifyRequest): string {
  return publicBase(deps.baseUrl, req);
}

/**
 * What a GET handler hands over: the body to serialise (built on demand) or, from a reader thread, its bytes already
 * serialised with their ETag; a list's Link and contents (ListResult).
 */
type Computed = ({ body: () => Promise<unknown> } | { serialised: { body: Buffer; etag: string } }) & {
  link?: string | undefined;
  contents?: string | undefined;
};

/**
 * Writes a GET's answer: JSON bytes serialised once (the objects come out of represent.ts in Patchwork's field order,
 * so fastify's schema serialiser has nothing left to do), a strong ETag, 304 for a matching If-None-Match. A
 * `shared` answer (the same for every requester) is served from and kept in the response cache under the change
 * marker of what it shows (its scope: change-generations.ts) read before computing it, by URL and, for a list page, by what it contains (another URL showing the same
 * page reuses its bytes); the others (users, people, bundles) depend on who asks and are computed each time.
 */
async function answer(
  deps: ApiDeps,
  version: ApiVersion | null,
  req: FastifyRequest,
  reply: FastifyReply,
  shared: Scoped | false,
  /** `kept`: the bytes go into the response cache (memory of their own), else they are sent once. */
  compute: (kept: boolean) => Promise<Computed>,
): Promise<FastifyReply> {
  // A reader who may not see all of a private project gets answers of their own, never the shared ones.
  const everything = !deps.api.visibility.anyPrivate || (await deps.api.visibility.scope(who(req))) === undefined;
  const cache = shared && everything ? (deps.responses ?? null) : null;
  // The version is also in the path; the base URL is not (it comes from the Host header when none is configured).
  const context = `${version ?? 'latest'} ${baseOf(deps, req)}`;
  const marker = cache && shared ? await deps.api.marker(await shared(req)) : '';
  const fresh = async (): Promise<CachedAnswer> => {
    const r = await compute(cache !== null);
    const serialise = async (): Promise<CachedAnswer> => {
      if ('serialised' in r) return { ...r.serialised, link: undefined };
      const value = await r.body();
      // Kept in the cache: bytes of their own. Sent once: reused memory (body-slabs.ts).
      const body = cache ? jsonBytes(value) : jsonForResponse(value, reply.raw);
      return { body, etag: etagOf(body), link: undefined };
    };
    const b = cache && r.contents !== undefined ? await cache.serve(`contents ${context} ${r.contents}`, marker, serialise) : await serialise();
    return { ...b, link: r.link };
  };
  const a = cache ? await cache.serve(`url ${context} ${req.url}`, marker, fresh) : await fresh();
  if (a.link !== undefined) reply.header('link', a.link);
  reply.header('etag', a.etag);
  if (noneMatchHits(req.headers['if-none-match'], a.etag)) return reply.code(NOT_MODIFIED).send();
  return reply.type(JSON_TYPE).send(a.body);
}

/** What a shared answer shows (its project and kinds of rows), for its change marker; false: an answer of its reader's own, never kept. */
type Scoped = (req: FastifyRequest) => Promise<ChangeScope>;

/** Only what any answer may show (users, project settings): the index and the projects. */
const GLOBAL: Scoped = async () => ({ project: null, kinds: [] });

/** A write's answer (the object written, as a GET would show it), serialised as GETs are. */
function sendJson(reply: FastifyReply, body: Out): FastifyReply {
  return reply.type(JSON_TYPE).send(Buffer.from(JSON.stringify(body)));
}

/** DRF's name of the view behind a path (its class name in words), which OPTIONS shows: "Patch Detail". */
function viewName(path: string): string {
  const parts = path.split('/').filter(Boolean).map((p) => (p.startsWith(':') ? ':' : p));
  const noun: Record<string, string> = { projects: 'Project', users: 'User', people: 'Person', patches: 'Patch', covers: 'Cover', series: 'Series', events: 'Event', bundles: 'Bundle', checks: 'Check', comments: 'Comment', revision: 'Revision', split: 'Split', merge: 'Merge' };
  if (!parts.length) return 'Index';
  const last = parts[parts.length - 1]!;
  const detail = last === ':';
  const nouns = parts.filter((p) => p !== ':').map((p) => noun[p] ?? p);
  // Nested comments keep their parent's noun (PatchCommentList); a check list also creates (CheckListCreate).
  const words = nouns.length > 1 && nouns[nouns.length - 1] === 'Comment' ? nouns.slice(-2) : nouns.slice(-1);
  const kind = detail ? 'Detail' : words[0] === 'Check' ? 'List Create' : ['Revision', 'Split', 'Merge'].includes(words[0]!) ? '' : 'List';
  return [...words, kind].filter(Boolean).join(' ');
}

/** The `Allow` header of a route (its config, set by resource()): DRF sends it with every answer of a view. */
function allowOf(req: FastifyRequest): string | undefined {
  return req.routeOptions.config?.allow;
}

/** Sets `Allow` before anything else can answer (authentication included), as DRF's finalize_response does. */
async function allowHeader(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const allow = allowOf(req);
  if (allow) reply.header('allow', allow);
}

/**
 * Registers one resource path: the methods it serves (each with its schemas), OPTIONS (DRF's metadata), 405 in
 * Patchwork's shape for the others, every answer with DRF's `Allow`; and the same without the trailing slash
 * (Patchwork requires it; clients that drop it still get an answer).
 */
function resource(app: FastifyInstance, path: string, r: Resource, hidden: boolean): void {
  // fastify serves a prefixed '/' with and without the slash already (prefixTrailingSlash).
  const paths = path.endsWith('/') && path !== '/' ? [path, path.slice(0, -1)] : [path];
  const methods = [...(r.get ? ['GET'] : []), ...(r.post ? ['POST'] : []), ...(r.patch ? ['PUT', 'PATCH'] : []), ...(r.delete ? ['DELETE'] : []), ...(r.get ? ['HEAD'] : []), 'OPTIONS'];
  const allow = ALLOW_ORDER.filter((m) => methods.includes(m)).join(', ');
  const description = (r.get ?? r.post ?? r.patch ?? r.delete)!.summary;
  const name = viewName(path);
  for (const p of paths) {
    const hide = hidden || p !== path;
    const served: HTTPMethods[] = [];
    const opts = (schema: Record<string, unknown>): RouteShorthandOptions => ({
      config: { allow },
      schema: { tags: r.tags, ...(r.params ? { params: r.params } : {}), ...schema, ...(hide ? { hide: true } : {}) },
    });
    if (r.get) {
      const g = r.get;
      served.push('GET');
      app.get(p, opts({ summary: g.summary, ...(g.query ? { querystring: g.query } : {}), response: { [OK]: g.list ? { type: 'array', items: g.response } : g.response, '4xx': S.error } }), g.handler);
    }
    if (r.post) {
      const w = r.post;
      served.push('POST');
      app.post(p, opts({ summary: w.summary, body: w.body, response: { [w.status ?? CREATED]: w.response, '4xx': S.error } }), w.handler);
    }
    if (r.patch) {
      const w = r.patch;
      served.push('PATCH', 'PUT');
      app.route({ method: ['PATCH', 'PUT'], url: p, ...opts({ summary: w.summary, body: w.body, response: { [OK]: w.response, '4xx': S.error } }), handler: w.handler });
    }
    if (r.delete) {
      served.push('DELETE');
      app.delete(p, opts({ summary: r.delete.summary, response: { [NO_CONTENT]: { type: 'null' }, '4xx': S.error } }), r.delete.handler);
    }
    // DRF's OPTIONS: 200 with the view's metadata and its Allow (SimpleMetadata; no "actions", which depend on who asks).
    app.options(p, { config: { allow }, schema: { hide: true } }, async (_req, reply) => sendJson(reply, { name, description, renders: RENDERS, parses: PARSES }));
    const others: HTTPMethods[] = [...METHODS.filter((m) => !served.includes(m)), ...(served.includes('GET') ? [] : (['HEAD'] as HTTPMethods[]))];
    if (others.length) {
      app.route({
        method: others,
        url: p,
        config: { allow },
        schema: { hide: true, response: { '4xx': S.error } },
        handler: async (req) => {
          throw notAllowed('method_not_allowed', `Method "${req.method}" not allowed.`);
        },
      });
    }
  }
}

type IdReq = FastifyRequest<{ Params: { id: number } }>;
type ChildReq = FastifyRequest<{ Params: { id: number; child: number } }>;

function versionRoutes(deps: ApiDeps, version: ApiVersion | null): FastifyPluginAsync {
  const rules = apiRules(deps.projects ?? []);
  return async (app) => {
    // Documented once, at /api/ (the latest); the versioned copies have the same schemas and stay out of /api/docs.
    const hidden = version !== null;
    const { api, writes } = deps;
    const ctx = (req: FastifyRequest) => api.ctx(baseOf(deps, req), version);
    const q = (req: FastifyRequest) => (req.query ?? {}) as RawQuery;
    // GET handlers: `shared` (what the answer shows, for its change marker) unless the answer depends on who asks.
    // A list whose page reads the database names its `task`: with reader threads, one of them computes the page (the
    // same ApiService method on its own connection), and this thread only writes the bytes out.
    const list =
      (run: (req: FastifyRequest) => Promise<ListResult>, shared: Scoped | false, task?: (req: FastifyRequest) => ReaderTask): Handler =>
      (req, reply) =>
        answer(deps, version, req, reply, shared, async (kept) => {
          const link = (r: { page: number; lastPage: number }) => linkHeader(`${baseOf(deps, req)}${req.url}`, r.page, r.lastPage, queryNames(req));
          const readers = deps.readers;
          if (task && readers) {
            const t = task(req);
            // Sent once: written by the thread into reused memory, taken back once the response is written (body-slabs.ts).
            const r = kept ? await readers.read(t) : await readers.read(t, borrowMovableSlab());
            if (r.slab) giveBackWhenWritten(reply.raw, r.slab);
            return { serialised: { body: r.body, etag: r.etag }, contents: r.contents, link: link(r) };
          }
          const r = await run(req);
          return { body: r.items, contents: r.contents, link: link(r) };
        });
    // A reader thread's task: the list, what its context is built from, the query and who asks (all plain data).
    const task = (req: FastifyRequest) => ({ base: baseOf(deps, req), version, query: q(req), who: who(req) });
    const listTask =
      (list: ReaderList) =>
      (req: FastifyRequest): ReaderTask => ({ ...task(req), list });
    const read =
      (run: (req: FastifyRequest) => Promise<Out>, shared: Scoped | false): Handler =>
      (req, reply) =>
        answer(deps, version, req, reply, shared, async () => {
          const out = await run(req);
          return { body: async () => out };
        });
    // A list shows the rows of the project its `project` filter names (of every project without one, or with several).
    const ofFilter =
      (...kinds: ChangeKind[]): Scoped =>
      async (req) => ({ project: api.oneProject(q(req)), kinds });
    // A patch's, cover letter's or series' own answers show rows of its project (of any, when there is no such row).
    const ofRow =
      (table: 'patches' | 'covers' | 'series', ...kinds: ChangeKind[]): Scoped =>
      async (req) => ({ project: await api.projectOf(table, (req as IdReq).params.id), kinds });
    // What shows a patch's check state (its `check` summary, its checks) reads the checks' generation; the rest not.
    const PATCH = ofRow('patches', 'p', 'k');
    const write =
      (run: (req: FastifyRequest) => Promise<Out>, status = OK): Handler =>
      async (req, reply) => {
        const body = await run(req);
        return sendJson(reply.status(status), body);
      };
    const parentOf = (kind: Parent['kind'], id: number): Parent => ({ kind, id });
    const comments = (kind: Parent['kind']): Resource => ({
      tags: ['comments'],
      params: S.idParam,
      get: {
        summary: `List the comments on a ${kind === 'patch' ? 'patch' : 'cover letter'} (1.1+)`,
        query: S.queries.plain,
        response: S.comment,
        list: true,
        handler: list(
          async (req) => {
            if (version === '1.0') throw notFoundForVersion();
            return api.listComments(ctx(req), parentOf(kind, (req as IdReq).params.id), q(req));
          },
          ofRow(kind === 'patch' ? 'patches' : 'covers', 'p'),
          (req) => {
            if (version === '1.0') throw notFoundForVersion();
            return { ...task(req), list: 'comments', parent: parentOf(kind, (req as IdReq).params.id) };
          },
        ),
      },
    });
    const comment = (kind: Parent['kind']): Resource => ({
      tags: ['comments'],
      params: S.childParam,
      get: {
        summary: 'Show a comment (1.3+)',
        response: S.comment,
        handler: read(async (req) => {
          if (!hasVersion(version ?? LATEST, '1.3')) throw notFoundForVersion();
          const { id, child } = (req as ChildReq).params;
          return api.getComment(ctx(req), parentOf(kind, id), child);
        }, ofRow(kind === 'patch' ? 'patches' : 'covers', 'p')),
      },
      patch: {
        summary: 'Mark a comment addressed or not (1.3+): its author, the parent’s submitter or delegate, a maintainer',
        body: S.bodies.comment,
        response: S.comment,
        handler: write(async (req) => {
          const { id, child } = (req as ChildReq).params;
          return writes.updateComment(ctx(req), parentOf(kind, id), child, req.body as Body, who(req));
        }),
      },
    });

    app.addHook('onRequest', async (req, reply) => {
      await allowHeader(req, reply);
      principals.set(req, await deps.auth.authenticate(req.headers.authorization, req.ip));
    });
    // The visibility rule for the detail routes (a private project's series, patches, covers, checks, comments).
    app.addHook('preHandler', async (req) => {
      if (!deps.api.visibility.anyPrivate || !req.routeOptions.url) return;
      await checkRoute(rules, apiPattern(req.routeOptions.url), deps.api.visibility, who(req), req);
    });
    // Patchwork ignores a write without a body (its docs warn of exactly that); an empty body is an empty change here too.
    app.addHook('preValidation', async (req) => {
      if (req.body === undefined && req.method !== 'GET' && req.method !== 'HEAD') req.body = {};
    });

    resource(app, '/', { tags: ['index'], get: { summary: 'The API’s resources', response: S.index, handler: read(async (req) => api.index(ctx(req)), GLOBAL) } }, hidden);

    resource(app, '/projects/', { tags: ['projects'], get: { summary: 'List projects', query: S.queries.plain, response: S.project, list: true, handler: list((req) => api.listProjects(ctx(req), q(req), who(req)), GLOBAL) } }, hidden);
    resource(
      app,
      '/projects/:id/',
      {
        tags: ['projects'],
        params: S.projectParam,
        get: { summary: 'Show a project (by id or link name)', response: S.project, handler: read((req) => api.getProject(ctx(req), (req as FastifyRequest<{ Params: { id: string } }>).params.id), GLOBAL) },
        patch: {
          summary: 'Update a project (its maintainers): web_url, scm_url, webscm_url; 1.2+ list_archive_url(_format), commit_url_format; 1.4 show_dependencies',
          body: S.bodies.project,
          response: S.project,
          handler: write((req) => writes.updateProject(ctx(req), (req as FastifyRequest<{ Params: { id: string } }>).params.id, req.body as Body, who(req))),
        },
      },
      hidden,
    );

    resource(app, '/users/', { tags: ['users'], get: { summary: 'List users (authenticated)', query: S.queries.plain, response: S.user, list: true, handler: list((req) => api.listUsers(ctx(req), q(req), who(req)), false, listTask('users')) } }, hidden);
    resource(
      app,
      `/users/${ID}/`,
      {
        tags: ['users'],
        params: S.idParam,
        get: { summary: 'Show a user (authenticated; settings only on yourself)', response: S.user, handler: read((req) => api.getUser(ctx(req), (req as IdReq).params.id, who(req)), false) },
        patch: {
          summary: 'Update yourself: first_name, last_name, and (1.2+) settings',
          body: S.bodies.user,
          response: S.user,
          handler: write((req) => writes.updateUser(ctx(req), (req as IdReq).params.id, req.body as Body, who(req))),
        },
      },
      hidden,
    );
    resource(app, '/people/', { tags: ['people'], get: { summary: 'List people (authenticated)', query: S.queries.plain, response: S.person, list: true, handler: list((req) => api.listPeople(ctx(req), q(req), who(req)), false, listTask('people')) } }, hidden);
    resource(
      app,
      `/people/${ID}/`,
      { tags: ['people'], params: S.idParam, get: { summary: 'Show a person (authenticated)', response: S.person, handler: read((req) => api.getPerson(ctx(req), (req as IdReq).params.id, who(req)), false) } },
      hidden,
    );

    resource(app, '/patches/', { tags: ['patches'], get: { summary: 'List patches', query: S.queries.patches, response: S.patch, list: true, handler: list((req) => api.listPatches(ctx(req), q(req), who(req)), ofFilter('p', 'k'), listTask('patches')) } }, hidden);
    resource(
      app,
      `/patches/${ID}/`,
      {
        tags: ['patches'],
        params: S.idParam,
        get: { summary: 'Show a patch', response: S.patchDetail, handler: read((req) => api.getPatch(ctx(req), (req as IdReq).params.id), PATCH) },
        patch: {
          summary: 'Update a patch (state, delegate, archived, commit_ref, pull_url; related from 1.2): maintainers, the delegate, the submitter',
          body: S.bodies.patch,
          response: S.patchDetail,
          handler: write((req) => writes.updatePatch(ctx(req), (req as IdReq).params.id, req.body as Body, who(req))),
        },
      },
      hidden,
    );
    resource(app, `/patches/${ID}/comments/`, comments('patch'), hidden);
    resource(app, `/patches/${ID}/comments/${CHILD}/`, comment('patch'), hidden);
    resource(
      app,
      `/patches/${ID}/checks/`,
      {
        tags: ['checks'],
        params: S.idParam,
        get: { summary: 'List the checks of a patch', query: S.queries.checks, response: S.check, list: true, handler: list((req) => api.listChecks(ctx(req), (req as IdReq).params.id, q(req)), PATCH, (req) => ({ ...task(req), list: 'checks', patch: (req as IdReq).params.id })) },
        post: {
          summary: 'Add a check to a patch (whoever may update the patch)',
          body: S.bodies.check,
          response: S.check,
          handler: write((req) => writes.createCheck(ctx(req), (req as IdReq).params.id, req.body as Body, who(req)), CREATED),
        },
      },
      hidden,
    );
    resource(
      app,
      `/patches/${ID}/checks/${CHILD}/`,
      {
        tags: ['checks'],
        params: S.childParam,
        get: { summary: 'Show a check', response: S.check, handler: read((req) => api.getCheck(ctx(req), (req as ChildReq).params.id, (req as ChildReq).params.child), PATCH) },
      },
      hidden,
    );

    resource(app, '/covers/', { tags: ['covers'], get: { summary: 'List cover letters', query: S.queries.covers, response: S.cover, list: true, handler: list((req) => api.listCovers(ctx(req), q(req), who(req)), ofFilter('p'), listTask('covers')) } }, hidden);
    resource(
      app,
      `/covers/${ID}/`,
      { tags: ['covers'], params: S.idParam, get: { summary: 'Show a cover letter', response: S.coverDetail, handler: read((req) => api.getCover(ctx(req), (req as IdReq).params.id), ofRow('covers', 'p')) } },
      hidden,
    );
    resource(app, `/covers/${ID}/comments/`, comments('cover'), hidden);
    resource(app, `/covers/${ID}/comments/${CHILD}/`, comment('cover'), hidden);

    resource(app, '/series/', { tags: ['series'], get: { summary: 'List series', query: S.queries.series, response: S.series, list: true, handler: list((req) => api.listSeries(ctx(req), q(req), who(req)), ofFilter('p'), listTask('series')) } }, hidden);
    resource(
      app,
      `/series/${ID}/`,
      { tags: ['series'], params: S.idParam, get: { summary: 'Show a series', response: S.series, handler: read((req) => api.getSeries(ctx(req), (req as IdReq).params.id), ofRow('series', 'p')) } },
      hidden,
    );

    resource(
      app,
      '/events/',
      { tags: ['events'], get: { summary: 'List events, newest first', query: S.queries.events, response: S.event, list: true, handler: list((req) => api.listEvents(ctx(req), q(req), who(req)), ofFilter('e', 'p'), listTask('events')) } },
      hidden,
    );

    resource(
      app,
      '/bundles/',
      {
        tags: ['bundles'],
        get: { summary: 'List your bundles and the public ones', query: S.queries.bundles, response: S.bundle, list: true, handler: list((req) => api.listBundles(ctx(req), q(req), who(req)), false, listTask('bundles')) },
        post: {
          summary: 'Create a bundle (1.2+, authenticated)',
          body: S.bodies.bundle,
          response: S.bundle,
          handler: write((req) => writes.createBundle(ctx(req), req.body as Body, who(req)), CREATED),
        },
      },
      hidden,
    );
    resource(
      app,
      `/bundles/${ID}/`,
      {
        tags: ['bundles'],
        params: S.idParam,
        get: { summary: 'Show a bundle', response: S.bundle, handler: read((req) => api.getBundle(ctx(req), (req as IdReq).params.id, who(req)), false) },
        patch: {
          summary: 'Update a bundle (1.2+, its owner): name, public, patches (replaces the list)',
          body: S.bodies.bundle,
          response: S.bundle,
          handler: write((req) => writes.updateBundle(ctx(req), (req as IdReq).params.id, req.body as Body, who(req), req.method === 'PUT' ? 'PUT' : 'PATCH')),
        },
        delete: {
          summary: 'Delete a bundle (1.2+, its owner)',
          handler: async (req, reply) => {
            await writes.deleteBundle(ctx(req), (req as IdReq).params.id, who(req));
            return reply.status(NO_CONTENT).send();
          },
        },
      },
      hidden,
    );
  };
}

/** /api/patchbay/…: series corrections for the project's maintainers (docs/api.md). */
function patchbayRoutes(deps: ApiDeps): FastifyPluginAsync {
  const rules = apiRules(deps.projects ?? []);
  return async (app) => {
    const { writes } = deps;
    app.addHook('onRequest', async (req, reply) => {
      await allowHeader(req, reply);
      principals.set(req, await deps.auth.authenticate(req.headers.authorization, req.ip));
    });
    // The visibility rule for the detail routes (a private project's series, patches, covers, checks, comments).
    app.addHook('preHandler', async (req) => {
      if (!deps.api.visibility.anyPrivate || !req.routeOptions.url) return;
      await checkRoute(rules, apiPattern(req.routeOptions.url), deps.api.visibility, who(req), req);
    });
    resource(
      app,
      `/series/${ID}/revision/`,
      {
        tags: ['patchbay'],
        params: S.idParam,
        get: { summary: 'The earlier revision this series is linked to', response: S.revision, handler: async (req) => writes.revision((req as IdReq).params.id) },
        post: {
          summary: 'Link this series as a newer revision of `previous` (maintainers)',
          body: S.bodies.revision,
          response: S.revision,
          status: OK,
          handler: async (req) => writes.linkRevision((req as IdReq).params.id, intField(req.body, 'previous'), who(req)),
        },
        delete: {
          summary: 'Unlink this series from its earlier revision (maintainers)',
          handler: async (req, reply) => {
            await writes.unlinkRevision((req as IdReq).params.id, who(req));
            return reply.status(NO_CONTENT).send();
          },
        },
      },
      false,
    );
    resource(
      app,
      `/series/${ID}/assignment/`,
      {
        tags: ['patchbay'],
        params: S.idParam,
        get: { summary: "The project file's assignment this series is an attempt at, and whether it came after the deadline", response: S.seriesAssignment, handler: async (req) => writes.assignment((req as IdReq).params.id) },
      },
      false,
    );
    resource(
      app,
      `/series/${ID}/split/`,
      {
        tags: ['patchbay'],
        params: S.idParam,
        post: {
          summary: 'Move the given patches of this series into a new series (maintainers); answers the new series id',
          body: S.bodies.split,
          response: S.seriesRef,
          handler: async (req, reply) => {
            const raw = (req.body as Record<string, unknown>).patches;
            const ids = (Array.isArray(raw) ? raw : [raw]).map((v) => toInt(v, 'patches'));
            const id = await writes.split((req as IdReq).params.id, ids, who(req));
            reply.status(CREATED);
            return { series: id };
          },
        },
      },
      false,
    );
    resource(
      app,
      `/series/${ID}/merge/`,
      {
        tags: ['patchbay'],
        params: S.idParam,
        post: {
          summary: 'Merge the series `series` into this one (maintainers of both)',
          body: S.bodies.merge,
          response: S.seriesRef,
          status: OK,
          handler: async (req) => {
            const into = (req as IdReq).params.id;
            await writes.merge(into, intField(req.body, 'series'), who(req));
            return { series: into };
          },
        },
      },
      false,
    );
    // A run of a series: its maintainers (and admins) stop a live one, or ask for a new one (an event each).
    resource(
      app,
      `/runs/${ID}/cancel/`,
      {
        tags: ['patchbay'],
        params: S.idParam,
        post: {
          summary: 'Cancel this live run: its steps stop and no reply is sent (maintainers); emits `series-run-cancelled`',
          body: S.noFields,
          response: S.runCancelled,
          status: OK,
          handler: async (req) => writes.cancelRun((req as IdReq).params.id, who(req)),
        },
      },
      false,
    );
    resource(
      app,
      `/runs/${ID}/rerun/`,
      {
        tags: ['patchbay'],
        params: S.idParam,
        post: {
          summary: "Run the series' pipeline again from this ended run (the series' latest); one new reply (maintainers); emits `series-run-requested`",
          body: S.noFields,
          response: S.runRequested,
          handler: async (req, reply) => {
            const made = await writes.rerun((req as IdReq).params.id, who(req));
            reply.status(CREATED);
            return made;
          },
        },
      },
      false,
    );
  };
}

function toInt(v: unknown, field: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  if (typeof v === 'string' && /^\d{1,15}$/.test(v.trim())) return Number(v);
  throw invalid(`${field}_invalid`, `${field}: expected an id`, { fields: { [field]: ['A valid integer is required.'] } });
}

function intField(body: unknown, field: string): number {
  const v = (body as Record<string, unknown>)[field];
  return toInt(Array.isArray(v) ? v[v.length - 1] : v, field);
}

/** A resource that a version did not have does not exist there (Patchwork's URL patterns are per version). */
function notFoundForVersion() {
  return notFound('not_found', 'Not found.');
}

export function apiRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    // What maintainers set through PATCH /api/projects/N/ is kept in the database.
    await deps.api.loadProjectSettings();
    await app.register(versionRoutes(deps, null), { prefix: '/api' });
    for (const v of VERSIONS) await app.register(versionRoutes(deps, v), { prefix: `/api/${v}` });
    await app.register(patchbayRoutes(deps), { prefix: '/api/patchbay' });
  };
}

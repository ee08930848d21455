// The whole web app in-process on a temp database: the fixture mail filed through the ingest harness, the REST API,
// the archive, the runs, and the reviewer web view (createWebParts) as main.ts wires them; users with passwords and
// tokens; and a small cookie-keeping browser over app.inject() that logs in through the login form.
import { XmlRpcService } from '../../src/api/xmlrpc.service.js';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { createApi } from '../../src/api/create-api.js';
import type { LoginLimits } from '../../src/api/login-guard.js';
import { addUser, createToken } from '../../src/api/user.service.js';
import { parseProjectFile, type Project } from '../../src/config/projects.js';
import { createLogger } from '../../src/log.js';
import { createRunViewService } from '../../src/pipeline/run-view.service.js';
import { compileAssignments } from '../../src/series/assignment.js';
import { SeriesIngestService } from '../../src/series/ingest.service.js';
import { fileWithArchive } from '../../src/smtp/archive.service.js';
import { createSubscriptionService } from '../../src/smtp/subscription.service.js';
import { buildApp } from '../../src/web/app.js';
import type { LavaRoutes } from '../../src/web/routes/runs.route.js';
import { createArchiveService } from '../../src/web/archive.service.js';
import { createWebParts } from '../../src/web/create-web.js';
import { durationsFrom, LocalQueueView } from '../../src/queue/local-view.service.js';
import type { QueueWatch } from '../../src/queue/queue-view.js';
import { UPLOAD_LIMITS, WorkerFilesService, type FileKind } from '../../src/queue/worker-files.service.js';
import { WorkerTokenService } from '../../src/queue/worker-token.service.js';
import { readInThread } from '../../src/smtp/mail-reading.js';
import { MAX_ATTEMPTS } from '../../src/smtp/processing.service.js';
import { QuarantineService } from '../../src/smtp/quarantine.service.js';
import { FIXTURES, PEOPLE, type Who } from './api-app.js';
import { tempDir } from './dirs.js';
import { LIST, startIngestHarness, type Harness, type HarnessOptions } from './ingest-harness.js';

export { PEOPLE, type Who };

/** Every seeded user's password (the login form needs one; the API's Basic auth takes it too). */
export const passwordOf = (who: Who) => `${PEOPLE[who].username}-secret-pw`;

export interface WebAppOptions extends HarnessOptions {
  /** Fixture mboxes under test/fixtures/series, delivered in order before the app starts. */
  fixtures?: string[];
  /** Extra keys of the project file (policy, builds …); maintainers default to the teacher. */
  project?: Record<string, unknown>;
  /** PATCHBAY_BASE_URL; default: none (URLs from the request's host). */
  baseUrl?: string | null;
  /** PATCHBAY_TRUST_PROXY; default: none (X-Forwarded-* ignored). */
  trustProxy?: string[];
  /** Failed-login limits (web form and API share them); default: the server's. */
  loginLimits?: Partial<LoginLimits>;
  /** The queue pages' source; default the in-process view over this database (as serve without --queue). */
  queue?: QueueWatch;
  /** Bounds of the workers' uploads; default the server's. */
  uploadLimits?: Record<FileKind, number>;
  /** The LAVA runner's per-run secret URLs (issue 15); default: no /runs/R/lava/… routes. */
  lava?: LavaRoutes;
}

export type Page = LightMyRequestResponse & { json: () => any };

export interface WebApp {
  h: Harness;
  app: FastifyInstance;
  project: Project & { id: number };
  api: ReturnType<typeof createApi>;
  dataDir: string;
  /** The workers' tokens (patchbay worker token …). */
  workerTokens: WorkerTokenService;
  userIds: Record<Who, number>;
  tokens: Record<Who, string>;
  /** How often a page woke the outbound queue. */
  kicks(): number;
  /** A browser without a session (from 127.0.0.1 unless told). */
  browser(address?: string): Browser;
  /** A browser logged in as `who` through GET and POST /login/, with the session's CSRF token read from a page. */
  login(who: Who, address?: string): Promise<Browser>;
  /** GET on the API with the user's token, JSON parsed. */
  apiGet(url: string, as?: Who): Promise<any>;
  close(): Promise<void>;
}

/** The value of the hidden csrf field of the form posting to `action` in a page. */
export function csrfOf(html: string, action: string): string {
  const form = new RegExp(`<form[^>]*action="${action.replace(/[/.]/g, '\\$&')}"[^>]*>([\\s\\S]*?)</form>`).exec(html);
  const m = form && /<input type="hidden" name="csrf" value="([^"]*)"/.exec(form[1]!);
  if (!m) throw new Error(`no csrf field in a form posting to ${action}`);
  return m[1]!;
}

/** Keeps cookies across app.inject() calls as a browser would (no expiry: Max-Age=0 removes). */
export class Browser {
  readonly cookies = new Map<string, string>();
  /** The session's CSRF token (set by WebApp.login). */
  csrf = '';

  /** @param address the client address the app sees (req.ip): login limits count per address. */
  constructor(
    private readonly app: FastifyInstance,
    readonly address = '127.0.0.1',
  ) {}

  async request(o: InjectOptions): Promise<Page> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers = { accept: 'text/html', ...(cookie ? { cookie } : {}), ...(o.headers ?? {}) };
    const r = await this.app.inject({ remoteAddress: this.address, ...o, headers });
    const set = r.headers['set-cookie'];
    for (const c of set === undefined ? [] : Array.isArray(set) ? set : [set]) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, pair!.slice(eq + 1).trim());
    }
    return Object.assign(r, { json: () => JSON.parse(r.body) });
  }

  get(url: string, headers: Record<string, string> = {}): Promise<Page> {
    return this.request({ method: 'GET', url, headers });
  }

  /** A form post (urlencoded); the session's csrf is added unless `csrf` says otherwise (false: none). */
  post(url: string, form: Record<string, string | string[]> = {}, o: { csrf?: string | false; headers?: Record<string, string> } = {}): Promise<Page> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    const csrf = o.csrf === undefined ? this.csrf : o.csrf;
    if (csrf !== false && !body.has('csrf')) body.append('csrf', csrf);
    return this.request({ method: 'POST', url, payload: body.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...(o.headers ?? {}) } });
  }
}

function projectYaml(extra: Record<string, unknown>): string {
  const file = { name: 'Proctree Syscall', slug: 'proctree', list: LIST, maintainers: [PEOPLE.teacher.email], ...extra };
  return JSON.stringify(file); // JSON is YAML
}

export async function startWebApp(opts: WebAppOptions = {}): Promise<WebApp> {
  const dataDir = tempDir('patchbay-web-');
  const file = parseProjectFile(path.join(dataDir, 'proctree.yaml'), projectYaml(opts.project ?? {}));
  // Mail is filed with the project file's assignments, as main.ts's ingest files it.
  const h = await startIngestHarness({ assignments: compileAssignments(file.assignments), ...opts });
  for (const f of opts.fixtures ?? []) await h.deliverMbox(path.join(FIXTURES, `${f}.mbox`));
  const project = { ...file, id: h.projectId };
  const projects = [project];
  const log = createLogger('silent');
  const urls = { base: opts.baseUrl ?? '' };
  const api = createApi(h.db, projects, opts.baseUrl ?? null, { loginLimits: opts.loginLimits });
  const ingest = new SeriesIngestService(new Map([[project.id, { id: project.id, slug: project.slug, supersede: project.supersede, assignments: compileAssignments(project.assignments) }]]), log);
  const fileMail = fileWithArchive(ingest.ingest.bind(ingest));
  let kicks = 0;
  const kick = () => void kicks++;
  const subscriptions = createSubscriptionService({ db: h.db, projects, urls, hostname: 'lists.example.org', kick, log });
  const archive = createArchiveService({ db: h.db, lists: projects.map((p) => ({ id: p.id, slug: p.slug, name: p.name, private: p.visibility === 'private' })) });
  const runs = createRunViewService(h.db, () => urls.base || 'http://localhost', dataDir);
  const workerTokens = new WorkerTokenService(h.db);
  const queue: QueueWatch = opts.queue ?? {
    view: new LocalQueueView(h.db, { name: 'patchbay-test', host: 'localhost', arches: async () => ['x86_64'], startedAt: new Date().toISOString() }),
    durations: { durations: () => durationsFrom(h.db) },
  };
  const parts = createWebParts({
    db: h.db,
    projects,
    urls,
    dataDir,
    api,
    runs,
    archive,
    subscriptions,
    moderation: { db: h.db, projects, urls, hostname: 'lists.example.org', file: fileMail, read: readInThread },
    quarantine: new QuarantineService(h.db, projects, MAX_ATTEMPTS, () => {}),
    kickOutbound: kick,
    log,
    queue,
  });
  const app = await buildApp({
    log,
    trustProxy: opts.trustProxy,
    health: { snapshot: async () => ({ mails: 0, pending: 0, outboundQueued: 0 }) },
    lists: subscriptions,
    archive: { service: archive, publicBase: opts.baseUrl ?? null, authenticate: (a, ip) => api.auth.authenticate(a, ip) },
    api,
    runs,
    runPage: parts.runPage,
    ...(opts.lava ? { lava: opts.lava } : {}),
    worker: { tokens: workerTokens, files: new WorkerFilesService(h.db, dataDir, opts.uploadLimits ?? UPLOAD_LIMITS) },
    xmlrpc: { service: new XmlRpcService({ db: h.db, api: api.api, writes: api.writes, auth: api.auth, mbox: archive }), baseUrl: opts.baseUrl ?? null },
    web: parts.plugins,
    gate: { visibility: api.visibility, projects, authenticate: (a, ip) => api.auth.authenticate(a, ip) },
  });

  const userIds = {} as Record<Who, number>;
  const tokens = {} as Record<Who, string>;
  for (const [who, p] of Object.entries(PEOPLE) as [Who, (typeof PEOPLE)[Who]][]) {
    userIds[who] = (await addUser(h.db, { email: p.email, name: p.name, role: p.role, username: p.username, password: passwordOf(who) })).id;
    tokens[who] = await createToken(h.db, p.email);
  }

  const web: WebApp = {
    h,
    app,
    project,
    api,
    dataDir,
    workerTokens,
    userIds,
    tokens,
    kicks: () => kicks,
    browser: (address) => new Browser(app, address),
    async login(who, address) {
      const b = new Browser(app, address);
      const form = await b.get('/login/');
      const r = await b.post('/login/', { username: PEOPLE[who].username, password: passwordOf(who) }, { csrf: csrfOf(form.body, '/login/') });
      if (r.statusCode !== 303) throw new Error(`login as ${who}: ${r.statusCode} ${r.body.slice(0, 300)}`);
      b.csrf = csrfOf((await b.get('/login/')).body, '/logout/');
      return b;
    },
    async apiGet(url, as) {
      const r = await app.inject({ url, headers: as ? { authorization: `Token ${tokens[as]}` } : {} });
      if (r.statusCode !== 200) throw new Error(`GET ${url}: ${r.statusCode} ${r.body}`);
      return JSON.parse(r.body);
    },
    async close() {
      await app.close();
      await queue.view.close();
      await h.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return web;
}

/** A fixture mail as Olga sent it (her address everywhere Zoé's was), with another subject; `ownMsgid`: a Message-ID of its own. */
export function asOlga(raw: Buffer, subject: string, opts: { ownMsgid?: boolean } = {}): Buffer {
  let text = raw
    .toString('latin1')
    .split('zoe@students.example.org')
    .join('olga@students.example.org')
    .split('=?UTF-8?q?Zo=C3=A9=20=C3=89tudiante?=')
    .join('Olga Other')
    .replace(/^Subject: .*$/m, `Subject: [PATCH] ${subject}`);
  if (opts.ownMsgid) text = text.replace(/^Message-I[Dd]: <([^>]*)>/m, 'Message-ID: <olga-$1>');
  return Buffer.from(text, 'latin1');
}

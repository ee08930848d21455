// The REST API in-process: real fixture mail filed through the ingest harness, the fastify app, users with tokens.
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { createApi } from '../../src/api/create-api.js';
import type { LoginLimits } from '../../src/api/login-guard.js';
import { addUser, createToken } from '../../src/api/user.service.js';
import { addressesFor, type Project } from '../../src/config/projects.js';
import { createLogger } from '../../src/log.js';
import { buildApp } from '../../src/web/app.js';
import { LIST, startIngestHarness, type Harness } from './ingest-harness.js';

export const FIXTURES = path.resolve('test/fixtures/series');

/** Who is who: the teacher maintains the project (its file lists him), Zoé sends the patches, Olga is a bystander. */
export const PEOPLE = {
  teacher: { email: 'teacher@example.org', name: 'Tom Teacher', role: 'maintainer', username: 'teacher' },
  zoe: { email: 'zoe@students.example.org', name: 'Zoé Étudiante', role: 'student', username: 'zoe' },
  olga: { email: 'olga@students.example.org', name: 'Olga Other', role: 'student', username: 'olga' },
  admin: { email: 'root@example.org', name: 'Ada Admin', role: 'admin', username: 'root', password: 'sesame-sesame' },
  // A maintainer by role whom the project file does not list: maintains nothing here.
  outsider: { email: 'outsider@example.org', name: 'Out Sider', role: 'maintainer', username: 'outsider' },
} as const;
export type Who = keyof typeof PEOPLE;

export interface ApiApp {
  h: Harness;
  app: FastifyInstance;
  /** The services behind /api/ (for what another route, such as the bundle mbox, asks of them). */
  api: ReturnType<typeof createApi>;
  tokens: Record<Who, string>;
  userIds: Record<Who, number>;
  /** app.inject with the user's token (none for anonymous); JSON body parsed. */
  req(opts: InjectOptions & { as?: Who }): Promise<LightMyRequestResponse & { json: () => any }>;
  get(url: string, as?: Who): Promise<any>;
  close(): Promise<void>;
}

export async function startApiApp(
  fixtures: string[],
  opts: { baseUrl?: string | null; trustProxy?: string[]; loginLimits?: Partial<LoginLimits>; showDependencies?: boolean; tree?: { url: string; branch: string; public_url?: string } } = {},
): Promise<ApiApp> {
  const h = await startIngestHarness();
  for (const f of fixtures) await h.deliverMbox(path.join(FIXTURES, `${f}.mbox`));
  const project = {
    id: h.projectId,
    slug: 'proctree',
    name: 'Proctree Syscall',
    list: LIST,
    addresses: addressesFor(LIST),
    maintainers: [PEOPLE.teacher.email],
    tree: opts.tree ?? { url: 'https://git.example.org/proctree.git', branch: 'master' },
    show_dependencies: opts.showDependencies ?? false,
  } as unknown as Project & { id: number };
  const api = createApi(h.db, [project], opts.baseUrl ?? null, { loginLimits: opts.loginLimits });
  const app = await buildApp({
    log: createLogger('silent'),
    trustProxy: opts.trustProxy,
    health: { snapshot: async () => ({ mails: 0, pending: 0, outboundQueued: 0 }) },
    lists: {} as never,
    api,
  });
  const tokens = {} as Record<Who, string>;
  const userIds = {} as Record<Who, number>;
  for (const [who, p] of Object.entries(PEOPLE) as [Who, (typeof PEOPLE)[Who]][]) {
    userIds[who] = (await addUser(h.db, { ...p, password: 'password' in p ? p.password : undefined })).id;
    tokens[who] = await createToken(h.db, p.email);
  }
  const req: ApiApp['req'] = async ({ as, ...o }) => {
    const r = await app.inject({ ...o, headers: { ...(o.headers ?? {}), ...(as ? { authorization: `Token ${tokens[as]}` } : {}) } });
    return Object.assign(r, { json: () => JSON.parse(r.body) });
  };
  return {
    h,
    app,
    api,
    tokens,
    userIds,
    req,
    async get(url, as) {
      const r = await req({ url, as });
      if (r.statusCode !== 200) throw new Error(`GET ${url}: ${r.statusCode} ${r.body}`);
      return JSON.parse(r.body);
    },
    async close() {
      await app.close();
      await h.close();
    },
  };
}

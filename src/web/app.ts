// Builds the fastify application from its services; only main.ts makes it listen.
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import { installErrorHandler } from './error-handler.js';
import { healthRoutes, type HealthDeps } from './routes/health.route.js';
import { listsRoutes, type ListsDeps } from './routes/lists.route.js';
import type { ArchiveService } from './archive.service.js';
import { archiveRoutes } from './routes/archive.route.js';
import { mboxRoutes, type MboxRouteOptions } from './routes/mbox.route.js';
import { apiRoutes, type ApiDeps } from './routes/api.route.js';
import { apiDocsRoutes, openapiOptions } from './routes/api-docs.route.js';
import { runsRoutes, type LavaRoutes } from './routes/runs.route.js';
import { workerRoutes, type WorkerRouteDeps } from './routes/worker.route.js';
import { xmlrpcRoutes, type XmlRpcRouteDeps } from './routes/xmlrpc.route.js';
import type { RunViewService } from '../pipeline/run-view.service.js';
import type { RunPage } from './run-page.js';
import type { FastifyPluginAsync } from 'fastify';
import { visibilityGate, type GateDeps } from './visibility-gate.js';

export interface AppDeps {
  log: Logger;
  health: HealthDeps;
  lists: ListsDeps;
  /**
   * mbox downloads and the list archive (public-inbox layout); publicBase: configured base URL for redirects;
   * authenticate: the API's credentials, for private bundles (anonymous without it).
   */
  archive?: { service: ArchiveService; publicBase: string | null; authenticate?: MboxRouteOptions['authenticate'] };
  /** The Patchwork-compatible REST API under /api/ (and its OpenAPI description at /api/docs). */
  api?: ApiDeps;
  /** The CI pipeline's runs and step logs. */
  runs?: RunViewService;
  /** GET /runs/R/ for a browser: the web view's page of the run (createWebParts); without it, JSON for everyone. */
  runPage?: RunPage;
  /** The LAVA runner's per-run secret URLs: artefacts and notify callback (issue 15); absent: no /runs/R/lava/… routes. */
  lava?: LavaRoutes;
  /** Private projects (issue 14): the visibility rule checked before every page, download, log and archive route. */
  gate?: GateDeps;
  /** The reviewer web view's plugins (src/web/create-web.ts), session first. */
  web?: FastifyPluginAsync[];
  /**
   * `--trust-proxy`: peers (addresses, CIDRs, loopback …) whose X-Forwarded-For/-Host/-Proto are believed; empty or
   * absent: none, so request.ip is the TCP peer, request.host the Host header, request.protocol the socket's.
   */
  trustProxy?: readonly string[];
  /** Uploads of remote steps' logs and artefacts by `patchbay worker` machines, with their tokens (issue 12). */
  worker?: WorkerRouteDeps;
  /** Patchwork's XML-RPC interface for pwclient at /xmlrpc/, and /project/SLUG/pwclientrc/. */
  xmlrpc?: XmlRpcRouteDeps;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    // Request lines are logged at info; the web logger keeps warnings and errors only.
    loggerInstance: deps.log.child({}, { level: 'warn' }) as FastifyBaseLogger,
    // Never `true`: that believes any client's X-Forwarded-For (login limits per address) and X-Forwarded-Host
    // (absolute URLs and redirects). fastify's proxy-addr walks X-Forwarded-For back only through these peers.
    trustProxy: deps.trustProxy?.length ? [...deps.trustProxy] : false,
  });
  installErrorHandler(app);
  await app.register(formbody);
  // Before any route: it collects every route's schema for /api/docs.
  await app.register(swagger, openapiOptions);
  app.addHook('onSend', async (_req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    // Strict CSP for every answer (mail content is hostile): scripts and styles from /static/ only, never inline.
    reply.header(
      'content-security-policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
  });
  const [session, ...pages] = deps.web ?? [];
  // The session first (it sets request.viewer), then the gate, whose hook then reaches every route after it.
  if (session) await app.register(session);
  if (deps.gate) await app.register(visibilityGate(deps.gate));
  for (const plugin of pages) await app.register(plugin);
  await app.register(healthRoutes(deps.health));
  await app.register(listsRoutes(deps.lists));
  if (deps.archive) {
    await app.register(mboxRoutes(deps.archive.service, { authenticate: deps.archive.authenticate ?? (async () => null) }));
    await app.register(archiveRoutes(deps.archive.service, { publicBase: deps.archive.publicBase }));
  }
  if (deps.runs) await app.register(runsRoutes(deps.runs, deps.runPage, deps.lava));
  if (deps.worker) await app.register(workerRoutes(deps.worker));
  if (deps.api) {
    await app.register(apiRoutes(deps.api));
    await app.register(apiDocsRoutes());
  }
  if (deps.xmlrpc) await app.register(xmlrpcRoutes(deps.xmlrpc));
  return app;
}

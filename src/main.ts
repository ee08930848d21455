// Composition root: config -> database -> migrations -> services -> edges (SMTP, HTTP); and the orderly stop. What
// every command opens is core.ts's (re-exported here); `patchbay serve` loads this module, the other commands do not.
import type { AddressInfo } from 'node:net';
import type { Config, Flags, PublicUrls } from './config/config.js';
import type { Project } from './config/projects.js';
import { countMails, idsInState } from './db/mail.repository.js';
import { countOutbound } from './db/outbound.repository.js';
import { OutboundService } from './mail/outbound.service.js';
import { IntakeService } from './smtp/intake.service.js';
import { IntakeFirst } from './smtp/intake-first.js';
import { QuarantineService } from './smtp/quarantine.service.js';
import type { MailRoute } from './db/schema.js';
import { createListHandler } from './smtp/list.service.js';
import { ProcessingService, type RouteHandler } from './smtp/processing.service.js';
import { createBounceHandler } from './smtp/bounce.service.js';
import { createBotHandler } from './smtp/bot.service.js';
import { createPostmasterHandler } from './smtp/postmaster.service.js';
import { createRequestHandler } from './smtp/request.service.js';
import { createSubscriptionService, type SubscriptionService } from './smtp/subscription.service.js';
import { buildRecipientTable } from './smtp/recipients.js';
import { SmtpEdge } from './smtp/server.js';
import { buildApp } from './web/app.js';
import { createApi } from './api/create-api.js';
import { XmlRpcService } from './api/xmlrpc.service.js';
import { createArchiveService } from './web/archive.service.js';
import { createPipeline, type Pipeline } from './pipeline/create-pipeline.js';
import { missingLocalTree } from './pipeline/tree.service.js';
import { createWebParts } from './web/create-web.js';
import { createQueueWatch } from './queue/create-queue-watch.js';
import { QueueTransport } from './queue/queue-transport.service.js';
import { WorkerFilesService } from './queue/worker-files.service.js';
import { WorkerTokenService } from './queue/worker-token.service.js';
import { openCore, processingOptions, type Core } from './core.js';

export { openCore, processingOptions, type Core } from './core.js';

export interface Running {
  config: Readonly<Config>;
  smtp: AddressInfo;
  http: AddressInfo;
  baseUrl: string;
  stop(): Promise<void>;
}

/** The handler of each route as the server wires them; `patchbay quarantine retry` processes a mail through them too. */
export function routeHandlers(core: Core, urls: PublicUrls, kickOutbound: () => void): { handlers: Record<MailRoute, RouteHandler>; subscriptions: SubscriptionService } {
  const { config, log, db, projects } = core;
  const subscriptions = createSubscriptionService({
    db,
    projects,
    urls,
    hostname: config.hostname,
    // Mail queued from the web (confirmations, welcomes) wakes the outbound worker after its own commit.
    kick: kickOutbound,
    log: log.child({ subsystem: 'subscriptions' }),
  });
  const handlers: Record<MailRoute, RouteHandler> = {
    list: createListHandler({ projects, urls, file: core.file, log: log.child({ subsystem: 'list' }) }),
    request: createRequestHandler({ subscriptions, projects, log: log.child({ subsystem: 'request' }) }),
    bounces: createBounceHandler({ bounceThreshold: config.bounceThreshold, log: log.child({ subsystem: 'bounces' }) }),
    bot: createBotHandler({ projects, urls, file: core.ingest.ingest.bind(core.ingest), log: log.child({ subsystem: 'bot' }) }),
    postmaster: createPostmasterHandler({ projects, log: log.child({ subsystem: 'postmaster' }) }),
  };
  return { handlers, subscriptions };
}

/** `patchbay serve`: starts every service and both edges; resolves once both are listening. */
export async function serve(flags: Flags, env?: NodeJS.ProcessEnv): Promise<Running> {
  const core = await openCore(flags, env);
  const { config, log, db, projects } = core;
  // --- the queue (issue 12): watched at /admin/queue/ and /metrics. First: a Redis refusing --queue's password stops the start. ---
  const queueWatch = await createQueueWatch(db, config, log.child({ subsystem: 'queue' })).catch(async (e: unknown) => {
    await core.close();
    throw e;
  });

  // The public base URL is known only once HTTP listens (port 0); services read it through this holder.
  const urls: PublicUrls = { base: config.baseUrl ?? '' };

  const outbound = new OutboundService({
    db,
    mode: config.outbound,
    dataDir: config.dataDir,
    retry: config.outboundRetry,
    bounceThreshold: config.bounceThreshold,
    hostname: config.hostname,
    log: log.child({ subsystem: 'outbound' }),
  });
  const { handlers, subscriptions } = routeHandlers(core, urls, () => outbound.kick());
  // SMTP's 250 goes before processing: while mail keeps arriving, filing it takes only a share of this thread.
  const intakeFirst = new IntakeFirst();
  const processing = new ProcessingService(
    db,
    handlers,
    log.child({ subsystem: 'processing' }),
    () => {
      outbound.kick();
      pipeline?.engine.kick();
    },
    { ...processingOptions(core), intakeFirst },
  );
  // An admin's retry (web) puts the mail back in processing's queue; the page shows where it went.
  const quarantine = new QuarantineService(db, projects, config.mail.attempts, (id) => processing.enqueue([id]));
  const archiveService = createArchiveService({ db, lists: projects.map((p) => ({ id: p.id, slug: p.slug, name: p.name, private: p.visibility === 'private' })) });
  const pipeline: Pipeline | null = createPipeline({
    db,
    config,
    projects,
    urls,
    source: archiveService,
    // A report queued for the student, or posted to the list (processed like any post).
    delivered: (mailIds) => {
      outbound.kick();
      if (mailIds.length) processing.enqueue(mailIds);
    },
    // --queue: no step runs here; `patchbay worker` machines take the units from Redis.
    ...(config.queue
      ? {
          remote: new QueueTransport({
            settings: config.queue,
            dataDir: config.dataDir,
            arches: [...new Set(projects.flatMap((p) => p.builds.map((b) => b.arch)))],
            log: log.child({ subsystem: 'queue' }),
          }),
        }
      : {}),
    log,
  });
  const intake = new IntakeService(
    db,
    config.hostname,
    log.child({ subsystem: 'intake' }),
    (ids) => processing.enqueue(ids),
    () => intakeFirst.arrived(),
  );

  const smtp = new SmtpEdge({
    host: config.smtpHost,
    port: config.smtpPort,
    hostname: config.hostname,
    limits: config.smtp,
    tls: config.tls,
    recipients: buildRecipientTable(projects),
    intake,
    log: log.child({ subsystem: 'smtp' }),
  });
  const api = createApi(db, projects, config.baseUrl, {
    cacheBytes: config.apiCacheMiB * 2 ** 20,
    runs: pipeline?.admin ?? null,
    readers: {
      file: core.dbFile,
      threads: config.apiThreads,
      onWorkerError: (err) => log.error({ err, subsystem: 'api-readers' }, 'an API reader thread failed outside any request'),
    },
  });

  const web = createWebParts({
    db,
    projects,
    urls,
    hostname: config.hostname,
    dataDir: config.dataDir,
    api,
    runs: pipeline?.runs ?? null,
    runAdmin: pipeline?.admin ?? null,
    lava: pipeline?.lava ?? null,
    archive: archiveService,
    subscriptions,
    moderation: { db, projects, urls, hostname: config.hostname, file: core.file, read: core.reader().read },
    quarantine,
    kickOutbound: () => outbound.kick(),
    log: log.child({ subsystem: 'web' }),
    queue: queueWatch,
  });
  const app = await buildApp({
    log: log.child({ subsystem: 'http' }),
    trustProxy: config.trustProxy,
    health: {
      snapshot: async () => ({
        mails: await countMails(db),
        pending: (await idsInState(db, 'stored')).length,
        outboundQueued: await countOutbound(db, 'queued'),
      }),
    },
    lists: subscriptions,
    archive: {
      service: archiveService,
      publicBase: config.baseUrl ?? null,
      authenticate: (authorization, address) => api.auth.authenticate(authorization, address),
    },
    api,
    xmlrpc: { service: new XmlRpcService({ db, api: api.api, writes: api.writes, auth: api.auth, mbox: archiveService }), baseUrl: config.baseUrl },
    runs: pipeline?.runs,
    runPage: web.runPage,
    ...(pipeline?.lava ? { lava: pipeline.lava } : {}),
    worker: { tokens: new WorkerTokenService(db), files: new WorkerFilesService(db, config.dataDir) },
    web: web.plugins,
    gate: { visibility: api.visibility, projects, authenticate: (authorization, address) => api.auth.authenticate(authorization, address) },
  });

  await app.listen({ host: config.httpHost, port: config.httpPort });
  const httpAddress = app.server.address() as AddressInfo;
  urls.base ||= `http://${hostForUrl(httpAddress.address)}:${httpAddress.port}`;
  await outbound.start();
  // Before processing resumes: the pipeline's cursor starts after the series already on a database that had none.
  await pipeline?.start();
  await processing.resume();
  const smtpAddress = await smtp.start();
  process.stdout.write(`smtp listening on ${hostForUrl(smtpAddress.address)}:${smtpAddress.port}\n`);
  process.stdout.write(`http listening on http://${hostForUrl(httpAddress.address)}:${httpAddress.port}\n`);
  warnMissingTrees(projects);

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('stopping: draining SMTP, processing, HTTP, the API readers, then the database');
      await smtp.stop();
      await intake.drain();
      await processing.stop();
      await pipeline?.stop();
      await outbound.stop();
      await app.close();
      // After HTTP: no request is left to hand a page to the reader threads.
      await api.stop();
      await queueWatch.view.close();
      await core.close();
    })());
  return { config, smtp: smtpAddress, http: httpAddress, baseUrl: urls.base, stop };
}

/** One plain line per local tree that does not exist, naming its projects and how the demo's tree is made. */
function warnMissingTrees(projects: readonly Project[]): void {
  const missing = new Map<string, string[]>();
  for (const p of projects) if (p.tree && missingLocalTree(p.tree.url)) missing.set(p.tree.url, [...(missing.get(p.tree.url) ?? []), p.slug]);
  for (const [url, slugs] of missing) {
    process.stderr.write(
      `patchbay: no git tree at ${url} (project${slugs.length > 1 ? 's' : ''} ${slugs.join(', ')}): their series get no CI run until it exists; make the demo tree with: bash scripts/kernel-tree.sh\n`,
    );
  }
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

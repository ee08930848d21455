// Composition root: config -> database -> migrations -> services -> edges (SMTP, HTTP); and the orderly stop.
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig, type Config, type Flags, type PublicUrls } from './config/config.js';
import { loadProjects, type Project } from './config/projects.js';
import { migrate, openDatabase, type Db } from './db/database.js';
import { countMails, idsInState } from './db/mail.repository.js';
import { countOutbound } from './db/outbound.repository.js';
import { upsertProjects } from './db/project.repository.js';
import { createLogger, type Logger } from './log.js';
import { OutboundService } from './mail/outbound.service.js';
import { IntakeService } from './smtp/intake.service.js';
import { createParserPool, type ParserPool } from './mail/parser-pool.js';
import { SeriesIngestService } from './series/ingest.service.js';
import { backfillArchive, fileWithArchive } from './smtp/archive.service.js';
import { createListHandler, type FileMail } from './smtp/list.service.js';
import { createBackfillHandler, ProcessingService, type RouteHandler } from './smtp/processing.service.js';
import { createBounceHandler } from './smtp/bounce.service.js';
import { createPostmasterHandler } from './smtp/postmaster.service.js';
import { createRequestHandler } from './smtp/request.service.js';
import { createSubscriptionService } from './smtp/subscription.service.js';
import { buildRecipientTable } from './smtp/recipients.js';
import { SmtpEdge } from './smtp/server.js';
import { buildApp } from './web/app.js';
import { createApi } from './api/create-api.js';
import { createArchiveService } from './web/archive.service.js';
import { createPipeline, type Pipeline } from './pipeline/create-pipeline.js';
import { createWeb } from './web/create-web.js';

export interface Running {
  config: Readonly<Config>;
  smtp: AddressInfo;
  http: AddressInfo;
  baseUrl: string;
  stop(): Promise<void>;
}

export interface Core {
  config: Readonly<Config>;
  log: Logger;
  db: Db;
  projects: (Project & { id: number })[];
  /** Mail parsing in worker threads, started on first use and stopped by close(). */
  parser(): ParserPool;
  /** The series engine: files accepted list posts (from processing and from moderation). */
  ingest: SeriesIngestService;
  /** Files an accepted list post: the archive's index, then the series engine, in the caller's transaction. */
  file: FileMail;
  close(): Promise<void>;
}

/** Opens what every command needs: configuration, project files, the migrated database. */
export async function openCore(flags: Flags, env?: NodeJS.ProcessEnv): Promise<Core> {
  const config = loadConfig(flags, env);
  const log = createLogger(config.logLevel);
  const files = loadProjects(config.projectsDir);
  const { db } = openDatabase(path.join(config.dataDir, 'patchbay.sqlite'));
  await migrate(db);
  const ids = await upsertProjects(
    db,
    files.map((p) => ({ slug: p.slug, name: p.name, listAddress: p.addresses.list, policy: p.policy })),
  );
  const projects = files.map((p) => ({ ...p, id: ids.get(p.slug)! }));
  await backfillArchive(db, log.child({ subsystem: 'archive' }));
  const ingest = new SeriesIngestService(
    new Map(projects.map((p) => [p.id, { id: p.id, slug: p.slug, supersede: p.supersede }])),
    log.child({ subsystem: 'series' }),
  );
  let pool: ParserPool | null = null;
  const parser = () => (pool ??= createParserPool(config.parseThreads));
  const close = async () => {
    await pool?.destroy();
    await db.destroy();
  };
  return { config, log, db, projects, ingest, file: fileWithArchive(ingest.ingest.bind(ingest)), parser, close };
}

const archiveOnly: RouteHandler = { handle: async () => ({ state: 'processed', reason: 'archived' }) };

/** `patchbay serve`: starts every service and both edges; resolves once both are listening. */
export async function serve(flags: Flags, env?: NodeJS.ProcessEnv): Promise<Running> {
  const core = await openCore(flags, env);
  const { config, log, db, projects } = core;

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
  const subscriptions = createSubscriptionService({
    db,
    projects,
    urls,
    hostname: config.hostname,
    // Mail queued from the web (confirmations, welcomes) wakes the outbound worker after its own commit.
    kick: () => outbound.kick(),
    log: log.child({ subsystem: 'subscriptions' }),
  });

  const processing = new ProcessingService(
    db,
    {
      list: createListHandler({ projects, urls, file: core.file, log: log.child({ subsystem: 'list' }) }),
      request: createRequestHandler({ subscriptions, projects, log: log.child({ subsystem: 'request' }) }),
      bounces: createBounceHandler({ bounceThreshold: config.bounceThreshold, log: log.child({ subsystem: 'bounces' }) }),
      bot: archiveOnly,
      postmaster: createPostmasterHandler({ projects, log: log.child({ subsystem: 'postmaster' }) }),
    },
    log.child({ subsystem: 'processing' }),
    () => {
      outbound.kick();
      pipeline?.engine.kick();
    },
    { backfill: createBackfillHandler(core.file), parse: core.parser().parse },
  );
  const archiveService = createArchiveService({ db, lists: projects.map((p) => ({ id: p.id, slug: p.slug, name: p.name })) });
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
    log,
  });
  const intake = new IntakeService(db, config.hostname, log.child({ subsystem: 'intake' }), (ids) => processing.enqueue(ids));

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
  const api = createApi(db, projects, config.baseUrl, { cacheBytes: config.apiCacheMiB * 2 ** 20 });
  const app = await buildApp({
    log: log.child({ subsystem: 'http' }),
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
      authenticate: (authorization) => api.auth.authenticate(authorization),
    },
    api,
    runs: pipeline?.runs,
    web: createWeb({
      db,
      projects,
      urls,
      dataDir: config.dataDir,
      api,
      runs: pipeline?.runs ?? null,
      archive: archiveService,
      subscriptions,
      moderation: { db, projects, urls, hostname: config.hostname, file: core.file },
      kickOutbound: () => outbound.kick(),
      log: log.child({ subsystem: 'web' }),
    }),
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

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('stopping: draining SMTP, processing, HTTP, then the database');
      await smtp.stop();
      await intake.drain();
      await processing.stop();
      await pipeline?.stop();
      await outbound.stop();
      await app.close();
      await core.close();
    })());
  return { config, smtp: smtpAddress, http: httpAddress, baseUrl: urls.base, stop };
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

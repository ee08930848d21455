// Assembles the CI pipeline from the configuration: tree mirrors and worktrees, the step pool, the engine and its
// read side. Off (null) when --pipeline-runs is 0 or no project has a tree. With a remote (serve --queue) no step
// runs here: the pools have no threads, the mirrors serve only the engine's look-ups (a branch's commit). With
// --ccache-remote, the socket the trusted base builds reach the ccache's Redis through (./ccache-remote.service.ts).
import type { Config, PublicUrls } from '../config/config.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../log.js';
import type { JobSource, PipelineProject } from './job.js';
import { CcacheRemote } from './ccache-remote.service.js';
import { PipelineService } from './pipeline.service.js';
import type { PipelineRemote } from './remote.js';
import { pruneArtifacts } from './artifacts.js';
import { createRunAdminService, type RunAdminService } from './run-admin.service.js';
import { createRunViewService, type RunViewService } from './run-view.service.js';
import { createStepPool } from './step-pool.js';
import { TreeService } from './tree.service.js';
import { invalid } from '../errors.js';
import { LavaJobs } from './lava/lava-jobs.service.js';

export interface Pipeline {
  engine: PipelineService;
  runs: RunViewService;
  /** The admin's runs board and its cancel and retry (/admin/queue/, /admin/runs/R/…). */
  admin: RunAdminService;
  /** The LAVA runner's engine side (issue 15); null: no --lava-url. */
  lava: LavaJobs | null;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface PipelineOptions {
  db: Db;
  config: Readonly<Config>;
  projects: PipelineProject[];
  urls: PublicUrls;
  source: JobSource;
  delivered(mailIds: number[]): void;
  /** serve --queue: the units go to `patchbay worker` machines through it. */
  remote?: PipelineRemote;
  log: Logger;
}

/** Per git call of tree maintenance (clone, fetch, worktree add of a big tree). */
const TREE_GIT_TIMEOUT_MS = 15 * 60_000;

export function createPipeline(o: PipelineOptions): Pipeline | null {
  const { config } = o;
  if (config.pipeline.runs === 0) return null;
  const projects = o.projects.filter((p) => p.tree);
  checkLavaProjects(o.projects, config, Boolean(o.remote));
  const lava = config.lava ? new LavaJobs({ settings: config.lava, dataDir: config.dataDir, baseUrl: () => o.urls.base, log: o.log.child({ subsystem: 'lava' }) }) : null;
  const trees = new TreeService({
    dataDir: config.dataDir,
    projects,
    fetchEveryMs: config.pipeline.fetchEveryMs,
    maxAgeMs: 5 * 60_000,
    slots: config.pipeline.runs,
    gateSlots: config.pipeline.gateRuns,
    timeoutMs: TREE_GIT_TIMEOUT_MS,
    log: o.log.child({ subsystem: 'trees' }),
  });
  const pool = createStepPool(o.remote ? 0 : config.pipeline.threads);
  const ccacheRemote = config.pipeline.ccacheRemote && !o.remote ? new CcacheRemote({ redis: config.pipeline.ccacheRemote, log: o.log.child({ subsystem: 'ccache-remote' }) }) : null;
  // The gate lane's own threads: a gate never waits for a thread a build or a boot holds.
  const gatePool = createStepPool(o.remote ? 0 : config.pipeline.gateRuns);
  const engine = new PipelineService({
    db: o.db,
    projects: o.projects,
    trees,
    pool,
    gatePool,
    dataDir: config.dataDir,
    ccacheDir: config.pipeline.ccacheDir,
    ccacheRemote: ccacheRemote?.socketPath ?? null,
    urls: o.urls,
    hostname: config.hostname,
    runs: config.pipeline.runs,
    gateRuns: config.pipeline.gateRuns,
    cpus: config.pipeline.cpus,
    source: o.source,
    delivered: o.delivered,
    ...(o.remote ? { remote: o.remote } : {}),
    lava,
    log: o.log.child({ subsystem: 'pipeline' }),
  });
  const log = o.log.child({ subsystem: 'pipeline' });
  const prune = () => {
    try {
      const n = pruneArtifacts(config.dataDir, config.pipeline.artifactsKeepMs);
      if (n) log.info({ runs: n }, 'old artefacts deleted');
    } catch (e) {
      log.warn({ err: e }, 'could not delete old artefacts');
    }
  };
  let pruner: NodeJS.Timeout | null = null;
  return {
    engine,
    runs: createRunViewService(o.db, () => o.urls.base, config.dataDir, (id) => engine.position(id)),
    lava,
    admin: createRunAdminService({ db: o.db, control: engine, projects: o.projects, localWorker: o.remote ? null : config.hostname, log }),
    async start() {
      await ccacheRemote?.start();
      trees.start();
      prune();
      pruner = setInterval(prune, 3_600_000);
      pruner.unref();
      await engine.start();
    },
    async stop() {
      if (pruner) clearInterval(pruner);
      await engine.stop();
      await trees.close();
      await Promise.all([pool.destroy(), gatePool.destroy()]);
      await ccacheRemote?.stop();
      lava?.close();
    },
  };
}

/** A project that boots through LAVA needs the server's --lava-url, and the steps in this process (not --queue yet). */
function checkLavaProjects(projects: readonly PipelineProject[], config: Readonly<Config>, remote: boolean): void {
  for (const p of projects) {
    const lavaBuilds = p.builds.filter((b) => b.lava && (b.runner ?? p.runner) === 'lava');
    if (!lavaBuilds.length) continue;
    if (!config.lava) {
      throw invalid('config_invalid', `${p.file}: runner: lava needs a LAVA server: start patchbay serve with --lava-url URL --lava-token-file FILE (PATCHBAY_LAVA_URL, PATCHBAY_LAVA_TOKEN_FILE)`);
    }
    if (remote) throw invalid('config_invalid', `${p.file}: runner: lava is not supported with --queue yet: the boots through LAVA run in the server`);
  }
}


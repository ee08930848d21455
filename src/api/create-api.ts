// Wires the REST API's services from the core: the read service, the write service (over SeriesAdminService), auth,
// and the cache of shared GET answers (docs/api.md, "Caching").
import { publicTreeUrl, type Project } from '../config/projects.js';
import type { Db } from '../db/database.js';
import { compileAssignments } from '../series/assignment.js';
import { SeriesAdminService } from '../series/series-admin.service.js';
import { ApiService } from './api.service.js';
import { ApiWriteService, type RunActions } from './api-write.service.js';
import { createApiReaders } from './api-readers.js';
import { AuthService } from './auth.service.js';
import { LoginGuard, type LoginLimits } from './login-guard.js';
import type { ProjectInfo } from './represent.js';
import { DEFAULT_CACHE_LIMITS, ResponseCache } from './response-cache.js';
import { VisibilityService } from './visibility.service.js';

export function projectInfo(p: Project & { id: number }): ProjectInfo {
  return {
    id: p.id,
    slug: p.slug,
    name: p.name,
    list: p.addresses.list,
    scmUrl: publicTreeUrl(p.tree),
    maintainers: p.maintainers,
    showDependencies: p.show_dependencies ?? false,
    assignments: p.assignments,
  };
}

export interface ApiOptions {
  /** Body bytes the response cache keeps; 0 turns it off (`PATCHBAY_API_CACHE=0`). Default: DEFAULT_CACHE_LIMITS. */
  cacheBytes?: number;
  /** Answers it keeps at most. */
  cacheEntries?: number;
  /** Failed-login limits (Basic, Token and the web login form share them); default DEFAULT_LOGIN_LIMITS. */
  loginLimits?: Partial<LoginLimits>;
  /** The pipeline's run actions (cancel, re-run) for the run writes; none without a pipeline. */
  runs?: RunActions | null;
  /**
   * List pages computed in `threads` worker threads, each with a connection to `file` (`--api-threads`); none (the
   * main thread computes them) with 0 threads or an in-memory database, which no other connection can open.
   */
  readers?: { file: string; threads: number; onWorkerError?: (e: unknown) => void };
}

export function createApi(db: Db, projects: (Project & { id: number })[], baseUrl: string | null, options: ApiOptions = {}) {
  const visibilityProjects = projects.map((p) => ({ id: p.id, visibility: p.visibility, maintainers: p.maintainers, roster: p.roster }));
  const visibility = new VisibilityService(db, visibilityProjects);
  const infos = projects.map(projectInfo);
  const api = new ApiService(db, infos, visibility);
  const r = options.readers;
  const readers =
    r && r.threads > 0 && r.file !== ':memory:'
      ? createApiReaders({ file: r.file, threads: r.threads, projects: infos, visibility: visibilityProjects, ...(r.onWorkerError ? { onWorkerError: r.onWorkerError } : {}) })
      : null;
  const guard = new LoginGuard(options.loginLimits);
  const limits = { maxBytes: options.cacheBytes ?? DEFAULT_CACHE_LIMITS.maxBytes, maxEntries: options.cacheEntries ?? DEFAULT_CACHE_LIMITS.maxEntries };
  return {
    api,
    // `?? []`: callers (tests) may hand over partial project objects.
    writes: new ApiWriteService(db, new SeriesAdminService(db, new Map(projects.map((p) => [p.id, compileAssignments(p.assignments ?? [])]))), api, visibility, options.runs ?? null),
    /** Who sees what of private projects (issue 14): the one rule every read path asks. */
    visibility,
    auth: new AuthService(db, guard),
    /** The failed-login limits: the web view's login form counts into the same ones. */
    guard,
    baseUrl,
    /** Ids and slugs, for the visibility rule's route table. */
    projects: projects.map((p) => ({ id: p.id, slug: p.slug })),
    responses: limits.maxBytes > 0 && limits.maxEntries > 0 ? new ResponseCache(limits) : null,
    /** The worker threads that compute list pages (null: the main thread does); destroyed by stop(). */
    readers,
    /** Stops what the API started (its reader threads). */
    stop: async () => readers?.destroy(),
  };
}

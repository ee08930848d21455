// What the reviewer web view's pages get from the core (built by src/web/create-web.ts).
import type { LavaJobs } from '../pipeline/lava/lava-jobs.service.js';
import type { PublicUrls } from '../config/config.js';
import type { Project } from '../config/projects.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../log.js';
import type { createApi } from '../api/create-api.js';
import type { RunAdminService } from '../pipeline/run-admin.service.js';
import type { RunViewService } from '../pipeline/run-view.service.js';
import type { ModerationDeps } from '../smtp/moderation.service.js';
import type { QuarantineService } from '../smtp/quarantine.service.js';
import type { SubscriptionService } from '../smtp/subscription.service.js';
import type { ArchiveService } from './archive.service.js';
import type { Views } from './views.js';
import type { QueueWatch } from '../queue/queue-view.js';

export interface WebContext {
  db: Db;
  projects: readonly (Project & { id: number })[];
  urls: PublicUrls;
  /** The mail domain: the right-hand side of the Message-IDs of the mails the pages queue (password links). */
  hostname?: string;
  dataDir: string;
  views: Views;
  /** The REST API's services: reads, writes (states, delegates, revisions) and auth (users, tokens). */
  api: ReturnType<typeof createApi>;
  /** The pipeline's runs and logs; null when the pipeline is off. */
  runs: RunViewService | null;
  /** The admin's cancel and retry of runs and the runs board (/admin/queue/, /runs/R/); absent or null when the pipeline is off. */
  runAdmin?: RunAdminService | null;
  /** The LAVA runner's live jobs and slots for the queue page (issue 15); null without --lava-url. */
  lava?: Pick<LavaJobs, 'all'> | null;
  archive: ArchiveService;
  subscriptions: SubscriptionService;
  /** Held posts: list, approve (distributed and filed as any accepted post), reject (src/smtp/moderation.service.ts). */
  moderation: ModerationDeps;
  /** Mails whose processing failed on every attempt: listed, and retried by hand (src/smtp/quarantine.service.ts). */
  quarantine: QuarantineService;
  /** Wakes the outbound queue after a page queued mail (moderation decisions, subscriptions). */
  kickOutbound(): void;
  log: Logger;
  /** The queue's lanes and workers for /admin/queue/ and /metrics (issue 12); absent: those routes are not there. */
  queue?: QueueWatch;
}

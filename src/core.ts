// What every command opens (`serve`, `import`, the operator's commands): configuration, project files, the migrated
// database, the mail reader and the series engine. Apart from main.ts (the server's composition root), so that a
// command other than `serve` loads none of the server's edges (HTTP, the API, the pipeline, the queue): their modules
// cost a second of start-up CPU, which `patchbay import` paid in every run.
import path from 'node:path';
import { loadConfig, type Config, type Flags } from './config/config.js';
import { loadProjects, type Project } from './config/projects.js';
import { migrate, openDatabase, type Db } from './db/database.js';
import { upsertProjects } from './db/project.repository.js';
import { createLogger, type Logger } from './log.js';
import { createMailReader, type MailReader } from './smtp/mail-reader.js';
import { SeriesIngestService } from './series/ingest.service.js';
import { compileAssignments } from './series/assignment.js';
import { rematchProject } from './series/assignment.service.js';
import { backfillArchive, fileWithArchive } from './smtp/archive.service.js';
import type { FileMail } from './smtp/list.service.js';
import { createBackfillHandler, type ProcessingOptions } from './smtp/processing.service.js';

export interface Core {
  config: Readonly<Config>;
  log: Logger;
  db: Db;
  /** The database's file (the API's reader threads open connections of their own to it). */
  dbFile: string;
  projects: (Project & { id: number })[];
  /** Each project's slug by id, for the mail reader (a patch's name drops prefixes naming its project). */
  slugs: ReadonlyMap<number, string>;
  /** Mail reading (MIME parse, classification) in worker threads with a time budget; started on first use, stopped by close(). */
  reader(): MailReader;
  /** The series engine: files accepted list posts (from processing and from moderation). */
  ingest: SeriesIngestService;
  /** Files an accepted list post: the archive's index, then the series engine, in the caller's transaction. */
  file: FileMail;
  close(): Promise<void>;
}

/** Opens what every command needs: configuration, project files, the migrated database. */
export async function openCore(flags: Flags, env?: NodeJS.ProcessEnv, o: { checkpointAside?: boolean } = {}): Promise<Core> {
  const config = loadConfig(flags, env);
  const log = createLogger(config.logLevel);
  const files = loadProjects(config.projectsDir);
  const dbFile = path.join(config.dataDir, 'patchbay.sqlite');
  const opened = openDatabase(
    dbFile,
    o.checkpointAside === false
      ? {}
      : { checkpointAside: { onError: (message) => log.warn({ subsystem: 'db', message }, 'the WAL checkpoint failed (the main connection checkpoints past 64 MB of WAL)') } },
  );
  const { db } = opened;
  await migrate(db);
  const ids = await upsertProjects(
    db,
    files.map((p) => ({ slug: p.slug, name: p.name, listAddress: p.addresses.list, policy: p.policy })),
  );
  const projects = files.map((p) => ({ ...p, id: ids.get(p.slug)! }));
  await backfillArchive(db, log.child({ subsystem: 'archive' }));
  // Series filed under other rules (or before assignments existed) are matched to the project file's assignments.
  for (const p of projects) await rematchProject(db, p.id, p.assignments, log.child({ subsystem: 'assignments' }));
  const ingest = new SeriesIngestService(
    new Map(projects.map((p) => [p.id, { id: p.id, slug: p.slug, supersede: p.supersede, assignments: compileAssignments(p.assignments) }])),
    log.child({ subsystem: 'series' }),
  );
  let pool: MailReader | null = null;
  const reader = () =>
    (pool ??= createMailReader({
      threads: config.parseThreads,
      budgetMs: config.mail.budgetMs,
      onWorkerError: (err) => log.error({ err, subsystem: 'mail-reader' }, 'a mail reader thread failed outside any mail'),
    }));
  const close = async () => {
    await pool?.destroy();
    await opened.stopCheckpointer();
    await db.destroy();
  };
  const slugs = new Map(projects.map((p) => [p.id, p.slug]));
  return { config, log, db, dbFile, projects, slugs, ingest, file: fileWithArchive(ingest.ingest.bind(ingest)), reader, close };
}

/** Processing as every command runs it: the mail reader's workers, the configured attempts. */
export function processingOptions(core: Core): ProcessingOptions {
  return { backfill: createBackfillHandler(core.file), slugs: core.slugs, read: core.reader().read, maxAttempts: core.config.mail.attempts };
}

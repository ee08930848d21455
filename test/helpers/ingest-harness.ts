// In-process ingest with the real services: a temp-file SQLite database, intake, processing and the series engine.
import fs from 'node:fs';
import path from 'node:path';
import { migrate, openDatabase, type Db } from '../../src/db/database.js';
import { getMail } from '../../src/db/mail.repository.js';
import { upsertProjects } from '../../src/db/project.repository.js';
import type { MailRoute } from '../../src/db/schema.js';
import type { CommentRow, CoverRow, EventRow, PatchRow, RevisionRow, SeriesRow } from '../../src/db/series-schema.js';
import { getPeople, listComments, listCovers, listEvents, listPatches, listRevisions, listSeries } from '../../src/db/series.repository.js';
import { createLogger } from '../../src/log.js';
import type { CompiledAssignment } from '../../src/series/assignment.js';
import { SeriesIngestService, type IngestResult } from '../../src/series/ingest.service.js';
import { indexPost } from '../../src/smtp/archive.service.js';
import { IntakeService } from '../../src/smtp/intake.service.js';
import { splitMbox } from '../../src/smtp/mbox.js';
import { ProcessingService, type RouteHandler } from '../../src/smtp/processing.service.js';
import { importRoster } from '../../src/smtp/roster.service.js';
import { tempDir } from './dirs.js';

export const LIST = 'proctree@lists.example.org';

export interface HarnessOptions {
  /** A completed newer revision supersedes the older one's open patches (the project setting; default true). */
  supersede?: boolean;
  /** Roster CSV text (login,name,email…), imported as `patchbay students import` does. */
  roster?: string;
  /** How the mail reached us; both are filed the same way. */
  source?: 'import' | 'smtp';
  /** The project file's assignments (compiled), recorded as main.ts's ingest does; default none recorded. */
  assignments?: readonly CompiledAssignment[];
}

export interface Delivered {
  mailId: number;
  msgid: string;
  /** The decoded Subject, as processing recorded it. */
  subject: string;
  /** The Date header as an ISO string (null when missing or unreadable). */
  date: string | null;
  state: string;
  /** The list handler's reason: the ingest result's kind. */
  reason: string | null;
  result: IngestResult | null;
}

export interface PatchView {
  id: number;
  msgid: string;
  /** The mail's Subject, to find a patch by what was sent. */
  subject: string;
  number: number;
  name: string;
  state: string;
  submitter: string;
  signoffOk: boolean;
  studentId: number | null;
  tags: { acked: number; reviewed: number; tested: number };
  diff: string | null;
  hash: string | null;
  pullUrl: string | null;
  baseCommit: string | null;
  content: string;
  /** Message-ID of the patch that replaced this one ([PATCH v5.1 2/3]). */
  replacedBy: string | null;
}

export interface SeriesView {
  id: number;
  version: number;
  total: number;
  name: string | null;
  completed: boolean;
  date: string;
  submitter: string;
  /** Message-ID of the cover letter. */
  cover: string | null;
  /** By number, then arrival. */
  patches: PatchView[];
}

export interface CommentView {
  msgid: string;
  subject: string;
  submitter: string;
  content: string;
  /** What it comments on, by Message-ID. */
  parent: { kind: 'patch' | 'cover'; msgid: string };
}

export interface RevisionView {
  /** The newer series and the one it revises, by id (see SeriesView.id). */
  series: number;
  previous: number;
  reason: string;
  source: string;
  announced: boolean;
}

export interface Harness {
  db: Db;
  /** The database's file (another connection, such as the API's reader threads, opens it too). */
  file: string;
  projectId: number;
  /** Stores the raw mail through intake (as `patchbay import` or SMTP would) and processes it. */
  deliver(raw: Buffer): Promise<Delivered>;
  /**
   * Delivers the messages of an mboxrd file, in file order or in `order` (positions in the file).
   * Returns the deliveries indexed by position in the file, whatever the order.
   */
  deliverMbox(file: string, opts?: { order?: number[] }): Promise<Delivered[]>;
  series(): Promise<SeriesView[]>;
  comments(): Promise<CommentView[]>;
  revisions(): Promise<RevisionView[]>;
  events(): Promise<EventRow[]>;
  /** How many events of each category. */
  eventCounts(): Promise<Record<string, number>>;
  rows(): Promise<{ series: SeriesRow[]; patches: PatchRow[]; covers: CoverRow[]; comments: CommentRow[]; revisions: RevisionRow[]; events: EventRow[] }>;
  close(): Promise<void>;
}

export async function readMboxFile(file: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const m of splitMbox(fs.createReadStream(file))) out.push(m.raw);
  return out;
}

export async function startIngestHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = tempDir('patchbay-ingest-');
  const file = path.join(dir, 'patchbay.sqlite');
  const { db } = openDatabase(file);
  await migrate(db);
  const ids = await upsertProjects(db, [{ slug: 'proctree', name: 'Proctree Syscall', listAddress: LIST, policy: 'open' }]);
  const projectId = ids.get('proctree')!;
  if (opts.roster !== undefined) await importRoster(db, projectId, 'roster.csv', opts.roster);
  const log = createLogger('silent');
  const ingest = new SeriesIngestService(new Map([[projectId, { id: projectId, slug: 'proctree', supersede: opts.supersede ?? true, assignments: opts.assignments }]]), log);

  const results = new Map<number, IngestResult>();
  const failures = new Map<number, unknown>();
  const listHandler: RouteHandler = {
    async handle(tx, mail, read) {
      // As the server files an accepted post (main.ts fileWithArchive): the archive's index, then the series engine.
      await indexPost(tx, mail, read.post!.archive);
      const result = await ingest.ingest(tx, mail, read.post!.filing);
      results.set(mail.id, result);
      return { state: 'processed', reason: result.kind };
    },
  };
  const other: RouteHandler = { handle: async () => ({ state: 'processed', reason: null }) };
  const handlers: Record<MailRoute, RouteHandler> = { list: listHandler, request: other, bounces: other, bot: other, postmaster: other };
  const dispatch: RouteHandler = { handle: (tx, mail, parsed) => handlers[mail.route].handle(tx, mail, parsed) };
  const processing = new ProcessingService(db, handlers, log, () => {}, {
    backfill: dispatch,
    slugs: new Map([[projectId, 'proctree']]),
    // A mail that fails is reported at once (deliver throws), not retried after a delay.
    maxAttempts: 1,
    onProcessed: (id, _state, error) => {
      if (error !== undefined) failures.set(id, error);
    },
  });
  const intake = new IntakeService(db, 'lists.example.org', log, (mailIds) => processing.enqueue(mailIds));

  async function deliver(raw: Buffer): Promise<Delivered> {
    const stored = await intake.accept({
      raw,
      mailFrom: '',
      recipients: [{ mailbox: { projectId, slug: 'proctree', route: 'list' }, address: LIST }],
      envelopeTo: [LIST],
      remoteAddr: opts.source === 'smtp' ? '127.0.0.1' : null,
      source: opts.source ?? 'import',
    });
    await processing.drain();
    const mailId = stored.mails[0]!.id;
    if (failures.has(mailId)) throw failures.get(mailId);
    const row = (await getMail(db, mailId))!;
    return { mailId, msgid: stored.msgid, subject: row.subject ?? '', date: row.date, state: row.state, reason: row.reason, result: results.get(mailId) ?? null };
  }

  async function subjects(): Promise<Map<string, string>> {
    const rows = await db.selectFrom('mails').select(['msgid', 'subject']).where('project_id', '=', projectId).execute();
    return new Map(rows.map((r) => [r.msgid, r.subject ?? '']));
  }

  async function rows() {
    return {
      series: await listSeries(db, projectId),
      patches: await listPatches(db, projectId),
      covers: await listCovers(db, projectId),
      comments: await listComments(db, projectId),
      revisions: await listRevisions(db, projectId),
      events: await listEvents(db, projectId),
    };
  }

  async function people(idList: number[]): Promise<Map<number, string>> {
    return new Map((await getPeople(db, [...new Set(idList)])).map((p) => [p.id, p.email]));
  }

  return {
    db,
    file,
    projectId,
    deliver,
    async deliverMbox(file, o = {}) {
      const mails = await readMboxFile(file);
      const order = o.order ?? mails.map((_, i) => i);
      if ([...order].sort((a, b) => a - b).join() !== mails.map((_, i) => i).join()) throw new Error(`order ${order.join()} is not a permutation of the ${mails.length} mails of ${file}`);
      const out: Delivered[] = [];
      for (const i of order) out[i] = await deliver(mails[i]!);
      return out;
    },
    async series() {
      const r = await rows();
      const subj = await subjects();
      const who = await people([...r.series.map((s) => s.submitter_id), ...r.patches.map((p) => p.submitter_id)]);
      const msgidOf = new Map(r.patches.map((p) => [p.id, p.msgid]));
      return r.series.map((s) => ({
        id: s.id,
        version: s.version,
        total: s.total,
        name: s.name,
        completed: s.completed === 1,
        date: s.date,
        submitter: who.get(s.submitter_id)!,
        cover: r.covers.find((c) => c.id === s.cover_id)?.msgid ?? null,
        patches: r.patches
          .filter((p) => p.series_id === s.id)
          .sort((a, b) => a.number - b.number || a.id - b.id)
          .map((p) => ({
            id: p.id,
            msgid: p.msgid,
            subject: subj.get(p.msgid) ?? '',
            number: p.number,
            name: p.name,
            state: p.state,
            submitter: who.get(p.submitter_id)!,
            signoffOk: p.signoff_ok === 1,
            studentId: p.student_id,
            tags: { acked: p.acked, reviewed: p.reviewed, tested: p.tested },
            diff: p.diff,
            hash: p.hash,
            pullUrl: p.pull_url,
            baseCommit: p.base_commit,
            content: p.content,
            replacedBy: p.replaced_by === null ? null : (msgidOf.get(p.replaced_by) ?? null),
          })),
      }));
    },
    async comments() {
      const r = await rows();
      const subj = await subjects();
      const who = await people(r.comments.map((c) => c.submitter_id));
      return r.comments.map((c) => ({
        msgid: c.msgid,
        subject: subj.get(c.msgid) ?? '',
        submitter: who.get(c.submitter_id)!,
        content: c.content,
        parent:
          c.patch_id !== null
            ? { kind: 'patch' as const, msgid: r.patches.find((p) => p.id === c.patch_id)!.msgid }
            : { kind: 'cover' as const, msgid: r.covers.find((x) => x.id === c.cover_id)!.msgid },
      }));
    },
    async revisions() {
      return (await listRevisions(db, projectId)).map((r) => ({ series: r.series_id, previous: r.previous_id, reason: r.reason, source: r.source, announced: r.announced === 1 }));
    },
    events: () => listEvents(db, projectId),
    async eventCounts() {
      const counts: Record<string, number> = {};
      for (const e of await listEvents(db, projectId)) counts[e.category] = (counts[e.category] ?? 0) + 1;
      return counts;
    },
    rows,
    async close() {
      await processing.stop();
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Harnesses for a folder of `.mbox` fixtures: `deliver(name)` starts one and delivers the file (in `order` when
 * given), `started()` a bare one; `closeAll` (after each test) closes every one started.
 */
export function fixtureHarnesses(dir: string) {
  const open: Harness[] = [];
  const started = async (opts: HarnessOptions = {}): Promise<Harness> => {
    const h = await startIngestHarness(opts);
    open.push(h);
    return h;
  };
  return {
    started,
    async deliver(name: string, opts: HarnessOptions & { order?: number[] } = {}): Promise<{ h: Harness; mails: Delivered[] }> {
      const h = await started(opts);
      const mails = await h.deliverMbox(path.join(dir, `${name}.mbox`), { order: opts.order });
      return { h, mails };
    },
    async closeAll(): Promise<void> {
      for (const h of open.splice(0)) await h.close();
    },
  };
}

// Reads for the archive in public-inbox's layout (messages, raw, threads, search) and Patchwork's mbox downloads.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Db } from '../db/database.js';
import {
  archivedByIds,
  commentContents,
  coverForMbox,
  findArchived,
  HEADER_PREFIX,
  patchForMbox,
  patchesForMboxByIds,
  rawMail,
  rawMails,
  searchArchive,
  seriesForMbox,
  seriesPatchesForMbox,
  threadMailIds,
  type ArchivedMail,
  type ArchiveScope,
  type SubmissionRow,
} from '../db/archive.repository.js';
import { newestMsgids, refsOfPosts } from '../db/archive-threads.repository.js';
import { bundlePatchIds, findBundle } from '../db/bundle.repository.js';
import { findUserByUsername } from '../db/user.repository.js';
import { notFound } from '../errors.js';
import { ALL_LISTS, RESERVED_ROOTS, archiveRoot } from '../mail/archive-layout.js';
import { joinMbox, mboxFilename, mboxrdEntry, renderSubmissionMbox, subjectFilename } from '../mail/mbox-render.js';
import { parseMessage } from '../mail/parse.js';
import { headerText, splitHeader } from '../mail/raw.js';
import { parseSearchQuery } from '../mail/search-query.js';
import { groupThreads, type ThreadEntry } from './archive-threads.js';

const gzip = promisify(zlib.gzip);

export interface ArchiveList {
  id: number;
  slug: string;
  name: string;
  /** visibility: private (issue 14): left out of /all/. */
  private?: boolean;
}

export interface ArchiveDeps {
  db: Db;
  lists: ArchiveList[];
  /** Upper bounds for one answer; the defaults suit a course's list. */
  limits?: Partial<ArchiveLimits>;
}

export interface ArchiveLimits {
  /** Posts in one thread download (t.mbox.gz, a search with t=1). */
  threadMails: number;
  /** Matches of one search. */
  searchMatches: number;
  /** Posts on an index page. */
  indexMails: number;
  /** Posts of the threads an index page shows (the threads of its posts, walked both ways). */
  indexThreadMails: number;
}

const DEFAULT_LIMITS: ArchiveLimits = { threadMails: 5_000, searchMatches: 1_000, indexMails: 100, indexThreadMails: 1_000 };

export interface Download {
  body: Buffer;
  filename: string;
}

export interface MessagePage {
  list: string;
  /** The archive's title: the list's name, or "All lists". */
  title: string;
  mail: ArchivedMail;
  /** The text the author wrote (text/plain parts), decoded. */
  text: string;
  /** The posts of its thread in reading order (each reply under its parent), the message itself included. */
  thread: ThreadEntry<ArchivedMail & { list: string }>[];
}

export interface IndexPage {
  list: string;
  title: string;
  query: string | null;
  /** A search's matches, newest first (empty without a query). */
  mails: (ArchivedMail & { list: string })[];
  /** Without a query: the threads of the page's posts, newest activity first, replies under their parents. */
  threads: { latest: string; entries: ThreadEntry<ArchivedMail & { list: string }>[] }[];
  /** The page's first post (0 for the newest), and the offsets of the pages around it (null: none). */
  offset: number;
  newer: number | null;
  older: number | null;
}

export type ArchiveService = ReturnType<typeof createArchiveService>;

export function createArchiveService(deps: ArchiveDeps) {
  const { db } = deps;
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const byRoot = new Map(deps.lists.filter((l) => archiveRoot(l.slug) === l.slug).map((l) => [l.slug, l]));
  const slugById = new Map(deps.lists.map((l) => [l.id, archiveRoot(l.slug) === l.slug ? l.slug : ALL_LISTS]));

  /** A list's archive root, or all; a reserved name is never an archive (see archive-layout.ts). */
  function scopeOf(list: string): { scope: ArchiveScope; title: string } {
    // A private list's posts are never in /all/ (its maintainers read them at /SLUG/; students their own series).
    if (list === ALL_LISTS) return { scope: deps.lists.some((l) => l.private) ? deps.lists.filter((l) => !l.private).map((l) => l.id) : null, title: 'All lists' };
    const l = RESERVED_ROOTS.has(list) ? undefined : byRoot.get(list);
    if (!l) throw notFound('no_such_list', `no list archive named ${list}`);
    return { scope: l.id, title: l.name };
  }

  async function mustFind(list: string, msgid: string): Promise<{ scope: ArchiveScope; mail: ArchivedMail }> {
    const { scope } = scopeOf(list);
    const mail = await findArchived(db, scope, msgid);
    if (!mail) throw notFound('no_such_message', `no message <${msgid}> in the ${list} archive`);
    return { scope, mail };
  }

  /** The thread of the seeds as mboxrd, oldest first; each Message-ID once (the first list's copy). */
  async function mboxOf(mailIds: number[]): Promise<{ body: Buffer; first: ArchivedMail | undefined }> {
    const seen = new Set<string>();
    const mails = (await archivedByIds(db, mailIds)).filter((m) => !seen.has(m.msgid) && seen.add(m.msgid));
    const raws = await rawMails(
      db,
      mails.map((m) => m.mailId),
    );
    return { body: Buffer.concat(mails.map((m) => mboxrdEntry(raws.get(m.mailId)!))), first: mails[0] };
  }

  /** The posts as threads, each post with the archive root it is served under. */
  async function threadsOf(mailIds: number[]) {
    const [mails, refs] = await Promise.all([archivedByIds(db, mailIds), refsOfPosts(db, mailIds)]);
    return groupThreads(
      mails.map((m) => ({ ...m, list: slugById.get(m.projectId) ?? ALL_LISTS })),
      refs,
    );
  }

  async function headerOf(row: SubmissionRow): Promise<string> {
    let head = row.head;
    // A header block longer than the prefix read with the row: read the whole mail (one more query, rarely).
    if (splitHeader(head).headerEnd === head.length && head.length >= HEADER_PREFIX) head = (await rawMail(db, row.mailId)) ?? head;
    return headerText(head);
  }

  async function renderAll(kind: 'patch' | 'cover', rows: SubmissionRow[]): Promise<Buffer[]> {
    const comments = await commentContents(
      db,
      kind,
      rows.map((r) => r.id),
    );
    const out: Buffer[] = [];
    for (const r of rows) {
      out.push(
        renderSubmissionMbox({
          kind,
          id: r.id,
          date: r.date,
          content: r.content,
          diff: r.diff,
          submitter: { name: r.submitterName, email: r.submitterEmail },
          delegateEmail: r.delegateEmail,
          header: await headerOf(r),
          comments: comments.get(r.id) ?? [],
          listAddress: r.listAddress,
        }),
      );
    }
    return out;
  }

  return {
    /**
     * Patchwork's patch mbox. With `series` (git-pw sends `*` by default): the patches of its series numbered before
     * it, then the patch (views/utils.py series_patch_to_mbox); `*` is the patch's own series, a number must be it.
     */
    async patchMbox(id: number, series?: string): Promise<Download> {
      const patch = await patchForMbox(db, id);
      if (!patch) throw notFound('no_such_patch', `no patch ${id}`);
      let rows = [patch];
      if (series !== undefined && series !== '') {
        if (series !== '*' && !/^\d+$/.test(series)) throw notFound('no_such_series', `expected an integer series or *, got ${JSON.stringify(series)}`);
        if (patch.seriesId === null) throw notFound('no_such_series', `patch ${id} belongs to no series`);
        if (series !== '*' && Number(series) !== patch.seriesId) throw notFound('no_such_series', `patch ${id} does not belong to series ${series}`);
        rows = [...(await seriesPatchesForMbox(db, patch.seriesId, patch.number)), patch];
      }
      return { body: joinMbox(await renderAll('patch', rows)), filename: `${mboxFilename(patch.name, `patch-${id}`)}.patch` };
    },

    /** The diff alone, as Patchwork's /raw/ (git-pw `patch download --diff`). */
    async patchDiff(id: number): Promise<Download> {
      const patch = await patchForMbox(db, id);
      if (!patch) throw notFound('no_such_patch', `no patch ${id}`);
      return { body: Buffer.from(patch.diff ?? '', 'utf8'), filename: `${mboxFilename(patch.name, `patch-${id}`)}.diff` };
    },

    /** Every patch of the series by number, without the cover letter (views/utils.py series_to_mbox). */
    async seriesMbox(id: number): Promise<Download> {
      const series = await seriesForMbox(db, id);
      if (!series) throw notFound('no_such_series', `no series ${id}`);
      const rows = await seriesPatchesForMbox(db, id);
      // Series.__str__: its name, else "Untitled series #N".
      return { body: joinMbox(await renderAll('patch', rows)), filename: `${mboxFilename(series.name ?? `Untitled series #${id}`, `series-${id}`)}.patch` };
    },

    async coverMbox(id: number): Promise<Download> {
      const cover = await coverForMbox(db, id);
      if (!cover) throw notFound('no_such_cover', `no cover letter ${id}`);
      return { body: joinMbox(await renderAll('cover', [cover])), filename: `${mboxFilename(cover.name, `cover-${id}`)}.mbox` };
    },

    /**
     * A bundle's patches in its order (views/bundle.py bundle_mbox): served when the bundle is public or the viewer
     * owns it; anyone else's private bundle does not exist (404, as Patchwork answers).
     */
    async bundleMbox(owner: string, name: string, viewerId: number | null): Promise<Download> {
      const user = await findUserByUsername(db, owner);
      const bundle = user ? await findBundle(db, user.id, name) : undefined;
      if (!bundle || (bundle.public !== 1 && bundle.owner_id !== viewerId)) throw notFound('no_such_bundle', `no bundle ${owner}/${name}`);
      const ids = (await bundlePatchIds(db, [bundle.id])).get(bundle.id) ?? [];
      const rows = await patchesForMboxByIds(db, ids);
      return { body: joinMbox(await renderAll('patch', rows)), filename: `bundle-${bundle.id}-${mboxFilename(bundle.name, 'bundle')}.mbox` };
    },

    /** Throws not_found unless the name is an archive root: a list's own name (not reserved), or all. */
    checkList(list: string): void {
      scopeOf(list);
    },

    async message(list: string, msgid: string): Promise<MessagePage> {
      const { scope, mail } = await mustFind(list, msgid);
      const { title } = scopeOf(list);
      const raw = (await rawMails(db, [mail.mailId])).get(mail.mailId)!;
      const parsed = await parseMessage(raw);
      const threads = await threadsOf(await threadMailIds(db, scope, [msgid], limits.threadMails));
      return { list, title, mail, text: parsed.text, thread: threads.flatMap((t) => t.entries) };
    },

    /** The stored mail as public-inbox's /raw: one mboxrd entry. */
    async raw(list: string, msgid: string): Promise<Download> {
      const { mail } = await mustFind(list, msgid);
      const raw = (await rawMails(db, [mail.mailId])).get(mail.mailId)!;
      return { body: mboxrdEntry(raw), filename: `${subjectFilename(mail.subject)}.txt` };
    },

    /** The whole thread of the message as gzipped mboxrd (public-inbox's t.mbox.gz, what b4 fetches). */
    async threadMbox(list: string, msgid: string): Promise<Download> {
      const { scope } = await mustFind(list, msgid);
      const { body, first } = await mboxOf(await threadMailIds(db, scope, [msgid], limits.threadMails));
      return { body: await gzip(body), filename: `${subjectFilename(first?.subject ?? null)}.mbox.gz` };
    },

    /**
     * Search results as gzipped mboxrd (public-inbox's POST ?x=m): the matching posts, or with `thread` (t=1) their
     * whole threads. Nothing matching is not_found, which b4 reads as "Nothing matching that query".
     */
    async searchMbox(list: string, q: string, opts: { thread: boolean; now?: Date }): Promise<Download> {
      const { scope } = scopeOf(list);
      const tree = parseSearchQuery(q, opts.now);
      const matches = await searchArchive(db, scope, tree, limits.searchMatches);
      if (!matches.length) throw notFound('no_match', 'nothing matches the search');
      const ids = opts.thread
        ? await threadMailIds(
            db,
            scope,
            [...new Set(matches.map((m) => m.msgid))],
            limits.threadMails,
          )
        : matches.map((m) => m.mailId);
      const { body } = await mboxOf(ids);
      return { body: await gzip(body), filename: `results-${mboxFilename(q, 'search')}.mbox.gz` };
    },

    /**
     * The threads of the newest posts (from `offset` on), newest activity first; or the newest matches of a search.
     * A thread is shown whole, so one with posts on two pages appears on both.
     */
    async index(list: string, q: string | null, now?: Date, offset = 0): Promise<IndexPage> {
      const { scope, title } = scopeOf(list);
      const page = { list, title, query: q, offset: 0, newer: null, older: null };
      if (q) {
        const mails = await searchArchive(db, scope, parseSearchQuery(q, now), limits.indexMails);
        return { ...page, mails: mails.map((m) => ({ ...m, list: slugById.get(m.projectId) ?? ALL_LISTS })), threads: [] };
      }
      const seeds = await newestMsgids(db, scope, limits.indexMails + 1, offset);
      const more = seeds.length > limits.indexMails;
      const threads = seeds.length ? await threadsOf(await threadMailIds(db, scope, seeds.slice(0, limits.indexMails), limits.indexThreadMails)) : [];
      return {
        ...page,
        mails: [],
        threads,
        offset,
        newer: offset > 0 ? Math.max(0, offset - limits.indexMails) : null,
        older: more ? offset + limits.indexMails : null,
      };
    },
  };
}

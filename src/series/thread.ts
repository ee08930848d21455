// Threading decisions: where a patch, cover or comment belongs, and which earlier series a new one is a revision of.
import type { Classified } from './classify.js';
import { normalizeTitle } from './subject.js';

/** A mail already filed, as the service finds it by Message-ID. */
export interface KnownMail {
  msgid: string;
  kind: 'patch' | 'cover' | 'comment';
  id: number;
  seriesId: number | null;
  /** For a comment: what it comments on. */
  parent?: { kind: 'patch' | 'cover'; id: number };
  index: number | null;
}

export interface SeriesSummary {
  id: number;
  submitter: string;
  version: number;
  total: number;
  date: string;
  /** Positions already received. */
  indices: number[];
  hasCover: boolean;
  /** git send-email / b4 batch of the Message-IDs, see batchOf. */
  batch: string | null;
  /** Normalized title (cover, else patch 1, else a single patch); null while unknown. */
  title: string | null;
  changeId: string | null;
  /** Has a newer revision already. */
  superseded: boolean;
  /** Is already linked as a revision of an earlier series. */
  revises: boolean;
}

export interface Context {
  /** Known mails for the message's own Message-ID and each of its references. */
  known: Map<string, KnownMail>;
  /** Message-IDs a series has claimed (its mails and what they reference, received or not): msgid -> series id. */
  seriesRefs: Map<string, number>;
  series: Map<number, SeriesSummary>;
  /** Same submitter, version and total, dated within the window: candidates for unthreaded patches and for mails of one send batch. */
  nearby: SeriesSummary[];
}

export interface Message {
  msgid: string;
  inReplyTo: string | null;
  references: string[];
  date: string;
  submitter: string;
  classified: Classified;
}

export interface RevisionHint {
  seriesId: number;
  reason: string;
}

export type Decision =
  /** `version`: the patch states the version its series' cover left out; the series takes it. */
  | { kind: 'patch'; seriesId: number; index: number; how: string; version?: number }
  | { kind: 'patch-new-series'; index: number; version: number; total: number; repliedTo: RevisionHint | null; how: string }
  | { kind: 'patch-replacement'; seriesId: number; index: number; replaces: number; how: string }
  /** `version`: the cover states the version its series' patches left out; the series takes it. */
  | { kind: 'cover'; seriesId: number; how: string; version?: number }
  | { kind: 'cover-new-series'; version: number; total: number; repliedTo: RevisionHint | null; how: string }
  | { kind: 'comment'; parent: { kind: 'patch' | 'cover'; id: number } }
  | { kind: 'plain'; reason: string };

/** ±20 minutes, as Patchwork's SERIES_DELAY_INTERVAL, for patches that are not threaded. */
export const UNTHREADED_WINDOW_MS = 20 * 60 * 1000;

/**
 * The batch a Message-ID belongs to, when the tool that made it says so:
 * git send-email: "20261120100000.12345-2-zoe@host" (time.pid-N-sender); b4: "20261120-topic-v2-2-abcdef@host".
 * Not git send-email's older "1473632524-8585-1-git-send-email-user@host": it was also used by people sending one
 * patch at a time, and Patchwork's base-no-references groups two patches sent 8 minutes apart that way.
 */
export function batchOf(msgid: string): string | null {
  const git = /^(\d{14}\.\d+)-\d+-/.exec(msgid);
  if (git) return `git:${git[1]}`;
  // git format-patch --thread: "cover.1495511998.git.user@host", "<commit sha>.1495511998.git.user@host".
  const fp = /^(?:cover|[0-9a-f]{40}|[0-9a-f]{64})\.(\d{9,12})\.git\./.exec(msgid);
  if (fp) return `format-patch:${fp[1]}.${msgid.slice(fp[0].length)}`;
  const b4 = /^(\d{8}-.+-v\d+)-\d+-[0-9a-f]+@/.exec(msgid);
  if (b4) return `b4:${b4[1]}`;
  return null;
}

/** References to look at, nearest first: own Message-ID, In-Reply-To, then References from the newest. */
export function lookupOrder(m: Pick<Message, 'msgid' | 'inReplyTo' | 'references'>): string[] {
  const out = [m.msgid];
  if (m.inReplyTo) out.push(m.inReplyTo);
  for (let i = m.references.length - 1; i >= 0; i--) out.push(m.references[i]!);
  return [...new Set(out)];
}

function describe(mail: KnownMail | undefined, s: SeriesSummary): string {
  if (mail?.kind === 'cover') return `in reply to v${s.version} cover`;
  if (mail?.kind === 'patch') return `in reply to v${s.version} patch ${mail.index ?? 1}/${s.total}`;
  return `in reply to a v${s.version} mail`;
}

export function decide(m: Message, ctx: Context): Decision {
  const c = m.classified;
  if (c.kind === 'plain') return { kind: 'plain', reason: c.reason };
  if (c.kind === 'comment') {
    // The nearest patch ancestor first (a reply deep in a thread belongs to its patch), then a cover.
    const order = lookupOrder(m).slice(1);
    for (const want of ['patch', 'cover'] as const) {
      for (const ref of order) {
        const k = ctx.known.get(ref);
        if (!k) continue;
        if (k.kind === want) return { kind: 'comment', parent: { kind: want, id: k.id } };
        if (k.kind === 'comment' && k.parent?.kind === want) return { kind: 'comment', parent: k.parent };
      }
    }
    return { kind: 'plain', reason: 'reply-to-unknown-mail' };
  }

  const s = c.subject;
  const version = s.version;
  const total = s.total ?? 1;
  const index = c.kind === 'cover' ? 0 : (s.index ?? 1);
  const t = Date.parse(m.date);
  const near = (series: SeriesSummary) => Math.abs(Date.parse(series.date) - t) <= UNTHREADED_WINDOW_MS;
  // One side stated a version and the other none, and they were sent together: a cover "[PATCH net-next v3 0/4]"
  // whose patches say "[PATCH 1/4]" (Patchwork's base-different-versions), or a cover "[PATCH 0/3]" whose patches
  // say "[PATCH v2 1/3]", whichever arrives first; the series takes the stated version. Patchwork lets a thread win
  // over any version difference; two stated versions that differ still make two series (v2 in reply to v1).
  const looseVersion = (series: SeriesSummary, via: { ref: string; known: KnownMail | undefined }) => {
    if (series.version === version || !near(series)) return false;
    // A cover joins only the series that claimed its own Message-ID: its patches, arrived first, reference it.
    if (c.kind === 'cover') return via.ref === m.msgid && (s.versionGiven ? series.version === 1 : series.version > version);
    if (!s.versionGiven) return series.version > version;
    return series.version === 1 && series.hasCover && series.indices.length === 0 && via.known?.kind === 'cover';
  };
  const fits = (series: SeriesSummary, via?: { ref: string; known: KnownMail | undefined }) =>
    (series.version === version || (via !== undefined && looseVersion(series, via))) &&
    series.total === total &&
    series.submitter === m.submitter &&
    (index === 0 ? !series.hasCover : !series.indices.includes(index));
  const joined = (series: SeriesSummary, how: string): Decision => {
    const takes = s.versionGiven && series.version !== version ? { version } : {};
    if (c.kind === 'cover') return { kind: 'cover', seriesId: series.id, how, ...takes };
    const note = series.version !== version && !s.versionGiven ? ` (v${series.version} by its cover)` : '';
    return { kind: 'patch', seriesId: series.id, index, how: `${how}${note}`, ...takes };
  };

  // [PATCH v5.1 10/12] in reply to patch 10 of v5 replaces that one patch (Patchwork #633).
  if (c.kind !== 'cover' && s.subversion !== null && m.inReplyTo) {
    const parent = ctx.known.get(m.inReplyTo);
    const series = parent?.seriesId != null ? ctx.series.get(parent.seriesId) : undefined;
    if (parent?.kind === 'patch' && series && series.version === version && parent.index === index) {
      return { kind: 'patch-replacement', seriesId: series.id, index, replaces: parent.id, how: `v${version}.${s.subversion} replaces patch ${index}/${series.total}` };
    }
  }

  let repliedTo: RevisionHint | null = null;
  for (const ref of lookupOrder(m)) {
    const known = ctx.known.get(ref);
    const sid = ctx.seriesRefs.get(ref) ?? known?.seriesId ?? null;
    if (sid === null) continue;
    const series = ctx.series.get(sid);
    if (!series) continue;
    if (fits(series, { ref, known })) return joined(series, c.kind === 'cover' ? 'patches arrived first and reference this cover' : 'same thread');
    // The thread leads to another series: a new version in reply to the old one, or a resend into its thread.
    // Never an older version in reply to a newer one (v1 arriving after the v2 that answered it): that is no revision.
    // Nor one patch sent into a longer series' thread (an unnumbered fix-up, "[PATCH v2] …" for one patch of five):
    // taken for a revision, its completion would supersede the whole series (Patchwork's bugs-unnumbered).
    const onePatchIntoMany = total === 1 && series.total > 1;
    if (!onePatchIntoMany && (series.version < version || (series.version === version && series.submitter === m.submitter))) repliedTo = { seriesId: sid, reason: describe(known, series) };
    break;
  }

  const batch = batchOf(m.msgid);
  // No series found through the mail's own Message-ID or anything it references: sent without threading, or in
  // reply to mail we never filed (a list that rewrote the cover's Message-ID, a thread started elsewhere).
  const unanchored = lookupOrder(m).every((ref) => !ctx.seriesRefs.has(ref) && ctx.known.get(ref)?.seriesId == null);
  // Then, as Patchwork falls back to its series markers: same sender, version and length, close in time. Where the
  // Message-IDs name their send batch, the same batch too: two unrelated series sent minutes apart carry different
  // batches, which Patchwork's time window alone merges. A threaded mail whose thread leads to no series it fits (v2,
  // arriving first, claimed the v1 cover that v1's patches reply to) joins the series of its own send batch the
  // same way; without a batch it does not. A cover without a batch joins a series whose patches arrived first only
  // if none of them is older than it: a cover is written first, so a coverless series sent before it is another.
  if (total > 1 && (batch !== null || unanchored)) {
    const match = ctx.nearby
      .filter((x) => fits(x) && near(x))
      .filter((x) => (batch || x.batch ? batch === x.batch : c.kind !== 'cover' || x.date >= m.date))
      .sort((a, b) => b.date.localeCompare(a.date))[0];
    if (match) return joined(match, batch ? 'same send batch' : 'same sender, version and length within 20 minutes');
  }

  return c.kind === 'cover'
    ? { kind: 'cover-new-series', version, total, repliedTo, how: 'new series' }
    : { kind: 'patch-new-series', index, version, total, repliedTo, how: 'new series' };
}

export interface PredecessorQuery {
  seriesId: number;
  submitter: string;
  version: number;
  date: string;
  title: string | null;
  resend: boolean;
  changeId: string | null;
  supersedes: string | null;
}

export interface PredecessorCandidates {
  /** The series that owns the Message-ID named by Supersedes:, if any. */
  bySupersedes: SeriesSummary | null;
  /** Older series of the project with the same change-id. */
  byChangeId: SeriesSummary[];
  /** Older series of the same submitter with the same normalized title. */
  byTitle: SeriesSummary[];
}

/**
 * A newer version that arrived first (v2 delivered before v1): the lowest newer version of the same work that is
 * not yet linked to an earlier one. Patchwork never links these; b4 finds them only by searching.
 */
export function findSuccessor(q: PredecessorQuery, c: PredecessorCandidates): RevisionHint | null {
  const free = (x: SeriesSummary) => x.id !== q.seriesId && !x.revises && x.version > q.version && x.date >= q.date;
  const first = (xs: SeriesSummary[]) => xs.filter(free).sort((a, b) => a.version - b.version || a.date.localeCompare(b.date))[0];
  const byChange = q.changeId ? first(c.byChangeId.filter((x) => x.changeId === q.changeId)) : undefined;
  if (byChange) return { seriesId: byChange.id, reason: `same change-id (v${byChange.version} arrived first)` };
  if (!q.title) return null;
  const title = normalizeTitle(q.title);
  const byTitle = first(c.byTitle.filter((x) => x.submitter === q.submitter && x.title === title));
  return byTitle ? { seriesId: byTitle.id, reason: `same title and submitter (v${byTitle.version} arrived first)` } : null;
}

function newestFirst(a: SeriesSummary, b: SeriesSummary): number {
  return b.version - a.version || b.date.localeCompare(a.date) || b.id - a.id;
}

/** Which earlier series a new one revises, and why; null when it is new work. */
export function findPredecessor(q: PredecessorQuery, c: PredecessorCandidates): RevisionHint | null {
  const older = (x: SeriesSummary) => x.id !== q.seriesId && x.date <= q.date;
  // The newest earlier revision: by version first (a v2 dated before v1 is still the newer), then by date.
  const newest = (xs: SeriesSummary[]) => xs.filter(older).sort(newestFirst)[0];
  if (c.bySupersedes && c.bySupersedes.id !== q.seriesId) return { seriesId: c.bySupersedes.id, reason: `Supersedes: <${q.supersedes}>` };
  if (q.changeId) {
    const hit = newest(c.byChangeId.filter((x) => x.changeId === q.changeId && x.version <= q.version));
    if (hit) return { seriesId: hit.id, reason: 'same change-id' };
  }
  if (q.title) {
    const title = normalizeTitle(q.title);
    const same = c.byTitle.filter((x) => x.submitter === q.submitter && x.title === title && !x.superseded);
    const lower = newest(same.filter((x) => x.version < q.version));
    if (lower) return { seriesId: lower.id, reason: 'same title and submitter' };
    const equal = newest(same.filter((x) => x.version === q.version));
    if (equal) return { seriesId: equal.id, reason: q.resend ? 'resend with the same title and submitter' : 'same title, submitter and version, sent again' };
  }
  return null;
}

/** Another series sharing patch titles with this one, as seriesSharingPatches counts them. */
export interface PatchOverlap {
  series: SeriesSummary;
  /** Distinct patch titles the two series share. */
  shared: number;
  /** Patches the other series holds. */
  patches: number;
}

export interface OverlapQuery {
  seriesId: number;
  submitter: string;
  version: number;
  date: string;
  /** Distinct patch titles of this series. */
  titles: number;
}

/** More than half of the shorter series' patches carry titles of the other's: the same work, whatever its cover says. */
export function repeatsEnough(shared: number, titles: number, patches: number): boolean {
  return shared * 2 > Math.min(titles, patches);
}

/** Another series of the same submitter that repeatsEnough of this one's patches. */
export function overlapping(q: OverlapQuery, x: PatchOverlap): boolean {
  return x.series.id !== q.seriesId && x.series.submitter === q.submitter && repeatsEnough(x.shared, q.titles, x.patches);
}

/**
 * A standalone revision that the cover's title cannot find: the title changed with the patch count ("… and 2 more"
 * → "… and 3 more"), or the series gained or lost a cover letter (its title was patch 1's, now the cover's). The
 * newest earlier version of the same submitter whose patches it repeats, not yet revised by another.
 */
export function findPredecessorByPatches(q: OverlapQuery, candidates: PatchOverlap[]): RevisionHint | null {
  const hit = candidates
    .filter((x) => overlapping(q, x) && x.series.version < q.version && x.series.date <= q.date && !x.series.superseded)
    .sort((a, b) => newestFirst(a.series, b.series))[0];
  return hit ? { seriesId: hit.series.id, reason: `same patches and submitter (${hit.shared} of ${q.titles})` } : null;
}

/** The other way round: the lowest newer version repeating this series' patches, delivered before it and not yet linked. */
export function findSuccessorByPatches(q: OverlapQuery, candidates: PatchOverlap[]): RevisionHint | null {
  const hit = candidates
    .filter((x) => overlapping(q, x) && x.series.version > q.version && x.series.date >= q.date && !x.series.revises)
    .sort((a, b) => a.series.version - b.series.version || a.series.date.localeCompare(b.series.date) || a.series.id - b.series.id)[0];
  return hit ? { seriesId: hit.series.id, reason: `same patches and submitter (v${hit.series.version} arrived first)` } : null;
}

/** The series a change-id or title says are the same work as this one (whether or not already revised). */
export function sameWork(q: PredecessorQuery, c: PredecessorCandidates): SeriesSummary[] {
  const title = q.title ? normalizeTitle(q.title) : null;
  return [
    ...(q.changeId ? c.byChangeId.filter((x) => x.changeId === q.changeId) : []),
    ...(title ? c.byTitle.filter((x) => x.submitter === q.submitter && x.title === title) : []),
  ];
}

/**
 * A version delivered after a newer one (v2 after v3, which revised v1): the earlier versions of the same work that a
 * newer one already revises, highest version first. The service puts this series between such a one and its
 * revision when that revision's version is above this one's.
 */
export function gapCandidates(q: { seriesId: number; version: number; date: string }, same: SeriesSummary[]): SeriesSummary[] {
  const seen = new Set<number>();
  return same
    .filter((x) => !seen.has(x.id) && seen.add(x.id) && x.id !== q.seriesId && x.superseded && x.version < q.version && x.date <= q.date)
    .sort(newestFirst);
}

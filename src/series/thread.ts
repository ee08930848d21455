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
  | { kind: 'patch'; seriesId: number; index: number; how: string }
  | { kind: 'patch-new-series'; index: number; version: number; total: number; repliedTo: RevisionHint | null; how: string }
  | { kind: 'patch-replacement'; seriesId: number; index: number; replaces: number; how: string }
  | { kind: 'cover'; seriesId: number; how: string }
  | { kind: 'cover-new-series'; version: number; total: number; repliedTo: RevisionHint | null; how: string }
  | { kind: 'comment'; parent: { kind: 'patch' | 'cover'; id: number } }
  | { kind: 'plain'; reason: string };

/** ±20 minutes, as Patchwork's SERIES_DELAY_INTERVAL, for patches that are not threaded. */
export const UNTHREADED_WINDOW_MS = 20 * 60 * 1000;

/**
 * The batch a Message-ID belongs to, when the tool that made it says so:
 * git send-email: "20261120100000.12345-2-zoe@host" (time.pid-N-sender); b4: "20261120-topic-v2-2-abcdef@host".
 */
export function batchOf(msgid: string): string | null {
  const git = /^(\d{14}\.\d+)-\d+-/.exec(msgid);
  if (git) return `git:${git[1]}`;
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
  const fits = (series: SeriesSummary) =>
    series.version === version && series.total === total && series.submitter === m.submitter && (index === 0 ? !series.hasCover : !series.indices.includes(index));

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
    if (fits(series)) {
      return c.kind === 'cover'
        ? { kind: 'cover', seriesId: sid, how: 'patches arrived first and reference this cover' }
        : { kind: 'patch', seriesId: sid, index, how: 'same thread' };
    }
    // The thread leads to another series: a new version in reply to the old one, or a resend into its thread.
    // Never an older version in reply to a newer one (v1 arriving after the v2 that answered it): that is no revision.
    if (series.version < version || (series.version === version && series.submitter === m.submitter)) repliedTo = { seriesId: sid, reason: describe(known, series) };
    break;
  }

  const batch = batchOf(m.msgid);
  const unthreaded = m.inReplyTo === null && m.references.length === 0;
  // Unthreaded (--no-thread): same sender, version and length, close in time, and the same batch of Message-IDs.
  // Two unrelated series sent minutes apart carry different batches, which Patchwork's time window alone merges.
  // A cover, or a threaded mail whose thread leads to no series it fits (v2, arriving first, claimed the v1 cover
  // that v1's patches reply to), joins the series of its own send batch the same way; without a batch it does not.
  if (total > 1 && (batch !== null || (unthreaded && !repliedTo && c.kind !== 'cover'))) {
    const t = Date.parse(m.date);
    const match = ctx.nearby
      .filter((x) => fits(x) && Math.abs(Date.parse(x.date) - t) <= UNTHREADED_WINDOW_MS)
      .filter((x) => (batch || x.batch ? batch === x.batch : !x.hasCover))
      .sort((a, b) => b.date.localeCompare(a.date))[0];
    const how = batch ? 'same send batch' : 'same sender, version and length within 20 minutes';
    if (match) return c.kind === 'cover' ? { kind: 'cover', seriesId: match.id, how } : { kind: 'patch', seriesId: match.id, index, how };
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

/** Which earlier series a new one revises, and why; null when it is new work. */
export function findPredecessor(q: PredecessorQuery, c: PredecessorCandidates): RevisionHint | null {
  const older = (x: SeriesSummary) => x.id !== q.seriesId && x.date <= q.date;
  const newest = (xs: SeriesSummary[]) => xs.filter(older).sort((a, b) => b.date.localeCompare(a.date) || b.id - a.id)[0];
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

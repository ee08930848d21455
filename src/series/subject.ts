// Subject parsing: reply/forward markers, bracket prefixes, version, series marker, and the name Patchwork would show.
import { isSpace, trimEndWhere } from '../text.js';
import { boundedInt, MAX_SERIES_TOTAL, MAX_VERSION } from './limits.js';
import { patchName } from './patch-name.js';

export interface ParsedSubject {
  /** Re:/Aw:/SV: (a reply); Patchwork treats only a reply as a comment, never a forward. */
  isReply: boolean;
  isForward: boolean;
  /** Prefix tokens other than PATCH, version and marker, in order: ["RFC", "net-next"]. */
  prefixes: string[];
  /** The bracket groups held PATCH (or PATCHv2, PULL …): a patch-style subject. */
  hasPatchTag: boolean;
  version: number;
  /**
   * The subject states its version: a bracketed `v3` (or `PATCHv3`, `v3PATCH1/4`), or `(v3)` in an unnumbered
   * subject. Without it `version` is 1 by default, and a patch may join a versioned series of its thread (a cover
   * `[PATCH v3 0/4]` whose patches say `[PATCH 1/4]`, as Patchwork's base-different-versions).
   */
  versionGiven: boolean;
  /** "5.1" for a replacement of one patch of v5; null otherwise. */
  subversion: number | null;
  index: number | null;
  total: number | null;
  rfc: boolean;
  resend: boolean;
  /** A marker or version outside limits.ts's bounds ("[PATCH 1/1000000000]"): ignored, the mail gets a defect. */
  outOfRange: boolean;
  /** Patchwork's stored name (patch-name.ts): "[RFC,v2,1/3] title", every prefix kept but PATCH and the list's tag. */
  name: string;
  /** The title without any prefix. */
  title: string;
}

/**
 * Characters of a subject that are parsed; the rest is cut first. Each Re: or [tag] peeled off copies the rest, so
 * the work grows with the square of the length: 1,000 keeps it small and is four times Patchwork's stored name
 * (255).
 */
export const MAX_SUBJECT = 1000;

// "Re: ", "RE:", "Aw:" (German Outlook), "SV:" (Nordic), "Fwd:", "Fw:", "TR:" (French forward), repeated.
const REPLY = /^\s*(?:re|aw|sv|antw|vs)\s*(?:\[\d+\]\s*)?:\s*/i;
const FORWARD = /^\s*(fwd?|tr|wg)\s*:\s*/i;
const BRACKET = /^\s*\[([^\]]*)\]\s*/;
const MARKER = /^(?:.*?\D)?(\d+)(?:\/| of )(\d+)$/i;
const VERSION = /^(?:patch|rfc|resend)?v(\d+)(?:\.(\d+))?$/i;
const PATCH_WORDS = new Set(['patch', 'pull', 'git pull', 'git', 'patchv']);

export function parseSubject(raw: string, projectSlug?: string): ParsedSubject {
  let rest = raw.slice(0, MAX_SUBJECT).replace(/\s+/g, ' ').trim();
  let isReply = false;
  let isForward = false;
  for (;;) {
    const r = REPLY.exec(rest);
    if (r) {
      isReply = true;
      rest = rest.slice(r[0].length);
      continue;
    }
    const f = FORWARD.exec(rest);
    if (f) {
      isForward = true;
      rest = rest.slice(f[0].length);
      continue;
    }
    break;
  }

  const tokens: string[] = [];
  let hadBracket = false;
  for (let m = BRACKET.exec(rest); m; m = BRACKET.exec(rest)) {
    hadBracket = true;
    // "PATCH 1 of 3" (Mercurial) keeps "1 of 3" as one token.
    const group = m[1]!.replace(/(?<!\d)(\d+) of (\d+)/gi, '$1/$2');
    tokens.push(...group.split(/[,\s]+/).filter(Boolean));
    rest = rest.slice(m[0].length);
    const again = REPLY.exec(rest);
    if (again) {
      isReply = true;
      rest = rest.slice(again[0].length);
    }
  }

  let version = 1;
  let subversion: number | null = null;
  let index: number | null = null;
  let total: number | null = null;
  let hasPatchTag = false;
  let rfc = false;
  let resend = false;
  let versionSeen = false;
  let markerSeen = false;
  let outOfRange = false;
  const prefixes: string[] = [];
  for (const token of tokens) {
    const lower = token.toLowerCase();
    const v = VERSION.exec(token);
    const vn = v ? boundedInt(v[1]!, 0, MAX_VERSION) : null;
    const sub = v?.[2] === undefined ? null : boundedInt(v[2], 0, MAX_VERSION);
    if (v && (vn === null || (v[2] !== undefined && sub === null))) outOfRange = true;
    else if (v && !versionSeen) {
      versionSeen = true;
      version = vn!;
      subversion = sub;
      if (/^patch/i.test(token)) hasPatchTag = true;
      if (/^rfc/i.test(token)) rfc = true;
      continue;
    }
    const mk = MARKER.exec(token);
    if (mk && !markerSeen) {
      markerSeen = true;
      // Out of range ("[PATCH 99999999999999999999/0]"): the marker is dropped, the mail is filed as unnumbered.
      const i = boundedInt(mk[1]!, 0, MAX_SERIES_TOTAL);
      const t = boundedInt(mk[2]!, 1, MAX_SERIES_TOTAL);
      if (i === null || t === null) outOfRange = true;
      else [index, total] = [i, t];
      // "PATCH1/8" or "v2PATCH1/4": the word before the marker still counts.
      if (/patch/i.test(token)) hasPatchTag = true;
      const vp = /^v(\d+)/i.exec(token);
      const vpn = vp ? boundedInt(vp[1]!, 0, MAX_VERSION) : null;
      if (vp && vpn === null) outOfRange = true;
      else if (vp && !versionSeen) {
        versionSeen = true;
        version = vpn!;
      }
      continue;
    }
    if (PATCH_WORDS.has(lower) || lower === 'patch') {
      hasPatchTag = true;
      continue;
    }
    if (projectSlug && lower === projectSlug.toLowerCase()) continue;
    if (lower === 'rfc') rfc = true;
    if (lower === 'resend') resend = true;
    prefixes.push(token);
  }
  if (!versionSeen && (!markerSeen || index === 0)) {
    // Patchwork also reads "Hello, world (v2)" (its parse_version test), an old habit for a lone patch or a cover
    // ("[PATCH 0/4] net: dsa: Multi-CPU ground work (v3)"). A numbered patch carries its version in the brackets,
    // where git format-patch -v puts it: in "[PATCH 7/7] requirements: Test older versions of DRF (v2)" the "(v2)"
    // is the text's, and reading it as v2 took the patch out of its series.
    const paren = /\([vV](\d+)\)/.exec(rest);
    const pn = paren ? boundedInt(paren[1]!, 0, MAX_VERSION) : null;
    if (paren && pn === null) outOfRange = true;
    else if (pn !== null) {
      version = pn;
      versionSeen = true;
    }
  }
  const title = rest.trim();
  const kept = prefixes;
  return {
    isReply,
    isForward,
    prefixes: kept,
    hasPatchTag: hasPatchTag || (hadBracket && markerSeen),
    version,
    versionGiven: versionSeen,
    subversion,
    index,
    total,
    rfc,
    resend,
    outOfRange,
    name: patchName(raw, projectSlug),
    title,
  };
}

/** The title as compared across revisions: case, spacing and trailing punctuation ignored. */
export function normalizeTitle(title: string): string {
  const spaced = title.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ');
  // Not /[.\s]+$/: from every dot or space of a long run, that scans to the run's end (quadratic).
  return trimEndWhere(spaced, (c) => c === '.' || isSpace(c)).trim();
}

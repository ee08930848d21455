// Patchwork's names for patches and covers, and what is read back from a name: its prefixes, its title.
//
// Patchwork (parser.py clean_subject) names a submission after its subject: one leading "Re:"/"Fwd:" goes, the
// leading [bracket] groups are split into tokens, the tokens PATCH and the project's own tag are dropped and every
// other one is kept, in order, in front: "[PATCH v2 4/5] docs: fix" → "[v2,4/5] docs: fix". Scripts (git-pw, pwclient
// and the users' own) read these names, so they are reproduced here to the character, quirks included:
// - only the first "Re:"/"Fwd:" of the subject goes, and only before the brackets ("[PATCH] Re: x" is "Re: x");
// - the series marker is kept as written ("[PATCH 01/10]" → "[01/10]"); a Mercurial "PATCH 1 of 3" group keeps
//   "1 of 3" as one token, but only in the form "PATCH n of m" (upper case, first in its group);
// - whitespace is Python's (which also counts U+001C–U+001F and U+0085), and a name is at most 255 characters
//   (code points) long, the width of Patchwork's column.

import { trimEndWhere, trimStartWhere } from '../text.js';

/** Patchwork's Submission.name is a CharField(max_length=255): the parser keeps the name's first 255 characters. */
export const NAME_MAX = 255;

/** Python's `\s` on str (str.isspace()): JavaScript's `\s` without U+FEFF, plus U+001C–U+001F and U+0085. */
const PY_SPACES = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/g;
/** One character of PY_SPACES. */
const PY_SPACE = /^[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;
const isPySpace = (c: string) => PY_SPACE.test(c);
/** One "Re:", "RE ", "Fwd:", "fw:" at the very start (Patchwork's re_re; a space counts as the colon). */
const REPLY_OR_FORWARD = /^(?:re|fwd?)[: ] */i;
/** A Mercurial marker group, "PATCH 2 of 5 …": `\d` is Python's, every Unicode decimal digit. */
const HG_MARKER = /^PATCH (\p{Nd}+ of \p{Nd}+)(.*)$/su;
const TOKEN_SEPARATORS = /[, ]+/;

export interface CleanSubject {
  /** "[RFC,v2,1/3] title", or the title alone when no prefix is kept. Not truncated (see patchName). */
  name: string;
  /** The kept prefix tokens, in order: ["RFC", "v2", "1/3"]. */
  prefixes: string[];
}

/** Something normaliseSpace would change: most names have nothing of it, and are read back on every API answer. */
const UNNORMALISED = /[\t-\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]| {2}|^ | $/;

/** Patchwork's normalise_space: runs of whitespace become one space, none at either end. */
function normaliseSpace(s: string): string {
  if (!UNNORMALISED.test(s)) return s;
  const one = s.replace(PY_SPACES, ' ');
  const start = one.startsWith(' ') ? 1 : 0;
  const end = one.length > start && one.endsWith(' ') ? one.length - 1 : one.length;
  return one.slice(start, end);
}

/** Patchwork's split_prefixes: one bracket group's tokens ("PATCH v2,1/3" → PATCH, v2, 1/3). */
function splitPrefixes(group: string): string[] {
  const tokens: string[] = [];
  let rest = group;
  const hg = group.startsWith('PATCH ') ? HG_MARKER.exec(group) : null;
  if (hg) {
    tokens.push('PATCH', hg[1]!);
    rest = hg[2]!;
  }
  for (const t of rest.split(TOKEN_SEPARATORS)) if (t !== '') tokens.push(t);
  return tokens;
}

/**
 * Patchwork's clean_subject(subject, dropPrefixes): the name and the kept prefixes. `subject` is the decoded
 * Subject header; PATCH is always dropped, and so is each of `dropPrefixes` (compared without case).
 */
export function cleanSubject(subject: string, dropPrefixes: readonly string[] = []): CleanSubject {
  const drop = dropPrefixes.map((p) => p.toLowerCase());
  const dropped = (token: string) => {
    const t = token.toLowerCase();
    return t === 'patch' || drop.includes(t);
  };
  // clean_header: NULs go, whitespace is normalised; then one Re:/Fwd: is replaced by a space, normalised again.
  let s = normaliseSpace(subject.includes('\0') ? subject.replaceAll('\0', '') : subject);
  if (REPLY_OR_FORWARD.test(s)) s = normaliseSpace(s.replace(REPLY_OR_FORWARD, ' '));
  const prefixes: string[] = [];
  // The leading [groups], each up to its first "]": a scan rather than a regex per group (linear on any subject).
  let at = 0;
  while (s[at] === '[') {
    const close = s.indexOf(']', at + 1);
    if (close < 0) break;
    for (const t of splitPrefixes(s.slice(at + 1, close))) if (!dropped(t)) prefixes.push(t);
    at = close + 1;
    while (s[at] === ' ') at++;
  }
  // Patchwork normalises the rest again; the rest of a normalised string, its one leading space skipped, already is.
  s = s.slice(at);
  return { name: prefixes.length ? `[${prefixes.join(',')}] ${s}` : s, prefixes };
}

/** The first `max` characters of `s`, counted in code points as Python slices (a surrogate pair is one). */
function firstCodePoints(s: string, max: number): string {
  if (s.length <= max) return s;
  let units = 0;
  let points = 0;
  while (units < s.length && points < max) {
    units += (s.codePointAt(units) ?? 0) > 0xffff ? 2 : 1;
    points++;
  }
  return s.slice(0, units);
}

/** The name Patchwork stores for a patch or cover of the project whose list tag is `projectSlug`. */
export function patchName(subject: string, projectSlug?: string): string {
  return firstCodePoints(cleanSubject(subject, projectSlug ? [projectSlug] : []).name, NAME_MAX);
}

/** The API's `prefixes` of a patch: Patchwork reads them back from the stored name (clean_subject(name)[1]). */
export function namePrefixes(name: string): string[] {
  return cleanSubject(name).prefixes;
}

/**
 * A series named after its cover letter takes the cover's name without its prefix group (Series._format_name):
 * "[v2,0/3] proctree: add a syscall" → "proctree: add a syscall". A name has at most one group at its start.
 */
export function nameTitle(name: string): string {
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    if (close > 0) return trimStartWhere(name.slice(close + 1), isPySpace);
  }
  return trimStartWhere(trimEndWhere(name, isPySpace), isPySpace);
}

// `Depends-on:` lines of a cover letter or patch (Patchwork 3.2's series dependencies): pure, from text to references
// that the ingest service resolves to series of the same project.
import { MAX_LINE, regexLines, trimEndWhere, isSpace } from '../text.js';

/** What one `Depends-on:` line names; the service looks each up in the mail's project. */
export type DependencyRef =
  | { kind: 'msgid'; msgid: string }
  | { kind: 'series'; id: number }
  | { kind: 'patch'; id: number }
  | { kind: 'cover'; id: number };

/** Lines read per mail at most: a mail that repeats the tag thousands of times names no more dependencies. */
const MAX_REFS = 50;
const PREFIX = 'depends-on: ';

// Patchwork's parse_depends_on accepts exactly these two shapes (case-insensitive tag, one space, nothing after):
//   Depends-on: <20240726221429.221611-1-user@example.com>
//   Depends-on: https://pw.example.com/project/myproject/list/?series=1234
const MSGID = /^<([^<>\s]+)>$/;
const URL_CHARS = /^https?:\/\/[\w\-./=&@:%?+()]+$/i;

/**
 * The references of every `Depends-on:` line of `content`, in order, without repeats. A line must hold only the tag
 * and a Message-ID in `<>` or a URL, as Patchwork's parser wants; anything else names nothing.
 */
export function dependsOnRefs(content: string): DependencyRef[] {
  // Most mails have none: one native scan decides before any line is split out.
  if (!/^depends-on: /im.test(content)) return [];
  const out: DependencyRef[] = [];
  const seen = new Set<string>();
  for (const raw of regexLines(content)) {
    if (raw.length > MAX_LINE || raw.length <= PREFIX.length || raw.slice(0, PREFIX.length).toLowerCase() !== PREFIX) continue;
    const value = trimEndWhere(raw.slice(PREFIX.length), isSpace);
    const ref = refOf(value);
    if (!ref) continue;
    const key = JSON.stringify(ref);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(ref);
    if (out.length >= MAX_REFS) break;
  }
  return out;
}

function refOf(value: string): DependencyRef | null {
  const m = MSGID.exec(value);
  if (m) return { kind: 'msgid', msgid: m[1]! };
  if (URL_CHARS.test(value)) return urlRef(value);
  return null;
}

/**
 * A web URL's path names the dependency, whatever its host (as Patchwork resolves only the path): Patchwork's
 * `/project/P/list/?series=N` and `/project/P/patch/<msgid>/`, and patchbay's own `/series/N/`, `/patch/N/`,
 * `/cover/N/`, `/project/P/cover/<msgid>/` and the API's `/api/[1.x/]series/N/`. The trailing slash is optional
 * (Patchwork's own documentation writes `list?series=1234`).
 */
export function urlRef(value: string): DependencyRef | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  const parts = url.pathname.split('/').filter(Boolean);
  const id = (s: string | undefined | null) => (s && /^\d{1,9}$/.test(s) ? Number(s) : null);
  const msgid = (s: string | undefined) => {
    if (!s) return null;
    try {
      const decoded = decodeURIComponent(s);
      return decoded && !/[<>\s]/.test(decoded) ? decoded : null;
    } catch {
      return null;
    }
  };
  const [a, b, c, d] = parts;
  if (a === 'project' && b && c === 'list' && parts.length === 3) {
    const n = id(url.searchParams.get('series'));
    return n === null ? null : { kind: 'series', id: n };
  }
  if (a === 'project' && b && (c === 'patch' || c === 'cover') && parts.length === 4) {
    const m = msgid(d);
    return m === null ? null : { kind: 'msgid', msgid: m };
  }
  if (parts.length === 2 && (a === 'series' || a === 'patch' || a === 'cover')) {
    const n = id(b);
    return n === null ? null : { kind: a, id: n };
  }
  if (a === 'api' && (parts.length === 3 || parts.length === 4)) {
    const [kind, n] = parts.length === 3 ? [b, id(c)] : /^1\.\d$/.test(b!) ? [c, id(d)] : [null, null];
    return kind === 'series' && n !== null ? { kind: 'series', id: n } : null;
  }
  return null;
}

// Trailers and markers in a mail's text: the tags Patchwork counts, Signed-off-by lines, base-commit, change-id, Supersedes.
import { MAX_LINE, isSpace, regexLines, trimStartWhere } from '../text.js';

export interface Identity {
  name: string;
  email: string;
}

export interface Tags {
  acked: number;
  reviewed: number;
  tested: number;
}

// Patchwork's default tags: "Acked-by:", "Reviewed-by:", "Tested-by:" at the start of a line, any case.
const TAG_RES: [keyof Tags, RegExp][] = [
  ['acked', /^Acked-by:/gim],
  ['reviewed', /^Reviewed-by:/gim],
  ['tested', /^Tested-by:/gim],
];

/** Counts tags in text, skipping quoted lines ("> Reviewed-by: …" in a reply is someone else's). */
export function countTags(text: string): Tags {
  const own = text
    .split('\n')
    .filter((l) => !/^\s*>/.test(l))
    .join('\n');
  const tags: Tags = { acked: 0, reviewed: 0, tested: 0 };
  for (const [k, re] of TAG_RES) tags[k] = own.match(re)?.length ?? 0;
  return tags;
}

export function addTags(a: Tags, b: Tags): Tags {
  return { acked: a.acked + b.acked, reviewed: a.reviewed + b.reviewed, tested: a.tested + b.tested };
}

/**
 * The value after `name:` on each line that starts with it (any case), trimmed; `indented` also takes lines with
 * leading whitespace. Read line by line in one pass, never by a regex over the whole text (a line of spaces made
 * the old one cubic); a line longer than MAX_LINE is no trailer.
 */
function* trailerValues(text: string, name: string, indented = false): Generator<string> {
  const key = `${name.toLowerCase()}:`;
  for (const raw of regexLines(text)) {
    if (raw.length > MAX_LINE) continue;
    const line = indented ? trimStartWhere(raw, isSpace) : raw;
    if (line.slice(0, key.length).toLowerCase() === key) yield line.slice(key.length).trim();
  }
}

/** `[^<>\s]+@[^<>\s]+`: an @ with something on both sides, and no space or angle bracket. */
function isAddress(s: string): boolean {
  return s.length >= 3 && !/[<>\s]/.test(s) && s.slice(1, -1).includes('@');
}

/** "Name <user@host>" (the address last on the line) as its two parts, the name trimmed; null when it is not that. */
export function nameAndAddress(text: string): Identity | null {
  const t = text.trimEnd();
  const lt = t.lastIndexOf('<');
  if (lt === -1 || !t.endsWith('>')) return null;
  const email = t.slice(lt + 1, -1);
  return isAddress(email) ? { name: t.slice(0, lt).trim(), email } : null;
}

/** "Signed-off-by: Zoé Étudiante <zoe@students.example.org>" lines, in order. */
export function signedOffBy(text: string): Identity[] {
  const out: Identity[] = [];
  for (const value of trailerValues(text, 'Signed-off-by', true)) {
    const id = nameAndAddress(value);
    if (id) out.push({ name: id.name.replace(/^"|"$/g, '').trim(), email: id.email.toLowerCase() });
  }
  return out;
}

/** git format-patch --base: "base-commit: <40 hex>". */
export function baseCommit(text: string): string | null {
  for (const v of trailerValues(text, 'base-commit')) if (/^[0-9a-f]{7,64}$/i.test(v)) return v.toLowerCase();
  return null;
}

/** b4's "change-id: 20261120-topic-abc123" (cover letter) or Gerrit's "Change-Id: I…" trailer. */
export function changeId(text: string): string | null {
  for (const v of trailerValues(text, 'change-id')) if (v !== '' && !/\s/.test(v)) return v;
  return null;
}

/** Patchew's and b4's "Supersedes: <msgid>" naming the series this one replaces. */
export function supersedes(text: string): string | null {
  for (const v of trailerValues(text, 'Supersedes')) {
    const id = v.replace(/^</, '').replace(/>$/, '');
    if (isAddress(id)) return id;
  }
  return null;
}

/** Names compare only after Unicode normalization and case folding; no first/last-name shape is assumed. */
export function sameName(a: string, b: string): boolean {
  const fold = (s: string) =>
    s
      .normalize('NFKC')
      .toLocaleLowerCase('und')
      .normalize('NFKD')
      .replace(/\p{M}/gu, '')
      .replace(/[\s"'.,-]+/g, ' ')
      .trim();
  return fold(a) !== '' && fold(a) === fold(b);
}

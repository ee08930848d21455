// Trailers and markers in a mail's text: the tags Patchwork counts, Signed-off-by lines, base-commit, change-id, Supersedes.

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

/** "Signed-off-by: Zoé Étudiante <zoe@students.example.org>" lines, in order. */
export function signedOffBy(text: string): Identity[] {
  const out: Identity[] = [];
  for (const m of text.matchAll(/^\s*Signed-off-by:\s*(.*?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/gim)) {
    out.push({ name: m[1]!.replace(/^"|"$/g, '').trim(), email: m[2]!.toLowerCase() });
  }
  return out;
}

/** git format-patch --base: "base-commit: <40 hex>". */
export function baseCommit(text: string): string | null {
  return /^base-commit:\s*([0-9a-f]{7,64})\s*$/im.exec(text)?.[1]?.toLowerCase() ?? null;
}

/** b4's "change-id: 20261120-topic-abc123" (cover letter) or Gerrit's "Change-Id: I…" trailer. */
export function changeId(text: string): string | null {
  return /^change-id:\s*(\S+)\s*$/im.exec(text)?.[1] ?? null;
}

/** Patchew's and b4's "Supersedes: <msgid>" naming the series this one replaces. */
export function supersedes(text: string): string | null {
  const v = /^Supersedes:\s*<?([^<>\s]+@[^<>\s]+)>?\s*$/im.exec(text)?.[1];
  return v ?? null;
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

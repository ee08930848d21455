// Linear-time string helpers for what a regex such as /x+$/ does in quadratic time on a long run of x (test/unit/redos.test.ts).

/** RFC 5322 §2.1.1: a line of a mail is at most 998 characters. A longer "trailer" or header-like line is none. */
export const MAX_LINE = 998;

/** JavaScript's `\s`, the characters `trim()` removes (WhiteSpace and LineTerminator). */
export function isSpace(c: string): boolean {
  return c !== '' && c.trim() === '';
}

/** `s` without the trailing characters for which `drop` holds: `s.replace(/[…]+$/, '')` in one pass. */
export function trimEndWhere(s: string, drop: (c: string) => boolean): string {
  let end = s.length;
  while (end > 0 && drop(s[end - 1]!)) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** `s` without the leading characters for which `drop` holds. */
export function trimStartWhere(s: string, drop: (c: string) => boolean): string {
  let start = 0;
  while (start < s.length && drop(s[start]!)) start++;
  return start === 0 ? s : s.slice(start);
}

/** `s` without trailing characters of `chars` (one code unit each). */
export function trimEndChars(s: string, chars: string): string {
  return trimEndWhere(s, (c) => chars.includes(c));
}

/** `s` without leading characters of `chars` (one code unit each). */
export function trimStartChars(s: string, chars: string): string {
  return trimStartWhere(s, (c) => chars.includes(c));
}

/** `s` without leading and trailing characters of `chars` (one code unit each). */
export function trimChars(s: string, chars: string): string {
  return trimStartWhere(trimEndChars(s, chars), (c) => chars.includes(c));
}

/** The lines of `text` as a regex with the `m` flag sees them: split at \n, \r, U+2028 and U+2029. */
export function regexLines(text: string): string[] {
  return text.split(/[\n\r\u2028\u2029]/);
}

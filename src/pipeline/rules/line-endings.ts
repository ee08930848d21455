// Newline normalization before checkpatch and git am: a patch whose lines end in CRLF makes checkpatch report
// DOS_LINE_ENDINGS on every added line (and git apply fail), so steps check the LF copy and report the CRLF once.

export interface Normalized {
  text: string;
  /** How many lines ended in CRLF. */
  crlfLines: number;
}

export function normalizeNewlines(text: string): Normalized {
  let crlfLines = 0;
  const normalized = text.replace(/\r\n/g, () => {
    crlfLines++;
    return '\n';
  });
  return { text: normalized, crlfLines };
}

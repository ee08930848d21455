// Bounds on every number and count the series core takes from a mail (issue 11): what a real list sends fits well
// inside them; anything outside is kept as text and flagged, never turned into a series, a loop or an allocation.

/**
 * The largest series a subject marker may announce ("[PATCH 0000/2297]", the largest series seen on LKML, has 2,297
 * patches). The series engine's work per patch grows with the series it joins (afterPatch looks at its patches),
 * so a bound here bounds that work; 9,999 is a four-digit marker, over four times the largest real one.
 */
export const MAX_SERIES_TOTAL = 9_999;

/** The highest revision ("[PATCH v999]"); real series rarely pass v30. Also bounds the "v5.1" sub-version. */
export const MAX_VERSION = 999;

/**
 * Message-IDs taken from References per mail: the thread's root and the nearest ones. A chained `git send-email
 * --chain-reply-to` series of 300 patches carries 300; each one kept is a lookup and a claimed row per patch.
 */
export const MAX_REFERENCES = 100;

/** Defect recorded on a mail whose subject marker or version is outside the bounds above (the marker is ignored). */
export const NUMBER_OUT_OF_RANGE = 'subject-number-out-of-range';

/** A decimal string as a number when it is an integer within [min, max]; null otherwise (also for 30-digit input). */
export function boundedInt(digits: string, min: number, max: number): number | null {
  if (digits.length > String(max).length + 4) return null; // leading zeros allowed, hundreds of digits not
  const n = Number(digits);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : null;
}

/** References as kept: the first (the thread's root, usually the cover letter) and the last MAX_REFERENCES - 1. */
export function boundedReferences(ids: string[]): string[] {
  if (ids.length <= MAX_REFERENCES) return ids;
  return [ids[0]!, ...ids.slice(ids.length - (MAX_REFERENCES - 1))];
}

// Assignments (issue 14): which assignment of the project file a series is an attempt at, and whether it came late.
// Pure: what a series' mails show (their subject tags, the files their diffs touch) in, the assignment's index out.
import { globMatcher } from '../glob.js';
import { parseSubject } from './subject.js';

/** An assignment as the project file gives it (src/config/projects.ts). */
export interface AssignmentRule {
  name: string;
  title: string;
  /** ISO 8601, UTC. */
  deadline: string;
  match: { tag?: string; path?: string };
}

/** What one mail of a series shows for matching: its subject's bracket words, lower case, and the files it touches. */
export interface SeriesMarks {
  tags: readonly string[];
  files: readonly string[];
}

export interface CompiledAssignment {
  name: string;
  deadlineMs: number;
  tag: string | null;
  path: ((file: string) => boolean) | null;
}

/** At most this many subject words and touched files of one mail are kept for matching (a mail's numbers are bounded). */
export const MAX_TAGS = 32;
export const MAX_FILES = 1000;

export function compileAssignments(rules: readonly AssignmentRule[]): CompiledAssignment[] {
  return rules.map((r) => ({
    name: r.name,
    deadlineMs: Date.parse(r.deadline),
    tag: r.match.tag === undefined ? null : r.match.tag.toLowerCase(),
    path: r.match.path === undefined ? null : globMatcher(r.match.path),
  }));
}

/**
 * The subject's bracket words other than PATCH, the version and the marker, the project's own tag kept:
 * `[PATCH proctree v2 1/3]` and `[proctree][PATCH v2 1/3]` both give ["proctree"].
 */
export function subjectTags(subject: string): string[] {
  return [...new Set(parseSubject(subject).prefixes.map((p) => p.toLowerCase()))].slice(0, MAX_TAGS);
}

/**
 * The index of the first assignment listed that one mail of the series fits, or -1: the tag is one of its subject's
 * words, or the path glob matches a file its diff touches (either, when an assignment gives both).
 */
export function matchIndex(assignments: readonly CompiledAssignment[], marks: SeriesMarks): number {
  return assignments.findIndex((a) => (a.tag !== null && marks.tags.includes(a.tag)) || (a.path !== null && marks.files.some(a.path)));
}

/**
 * A series' assignment as its mails arrive: the first listed that any of its mails fits. `current` is the index found
 * so far (-1 for none); the series' mails are ORed, so the earliest index over them is the series'.
 */
export function bestIndex(current: number, next: number): number {
  if (current === -1) return next;
  if (next === -1) return current;
  return Math.min(current, next);
}

/** Late: the server received the series' newest patch or cover after the deadline (a mail's Date: can be forged). */
export function isLate(deadline: string, receivedAt: string): boolean {
  return Date.parse(receivedAt) > Date.parse(deadline);
}

/** What the database keeps the matching of (migration 0015's assignment_rules): rematched when it changes. */
export function rulesFingerprint(rules: readonly AssignmentRule[]): string {
  return JSON.stringify(rules.map((r) => [r.name, r.match.tag?.toLowerCase() ?? null, r.match.path ?? null]));
}

/** What pages and the API show of a series' assignment. */
export interface AssignmentView {
  name: string;
  title: string;
  deadline: string;
  /** When the server received the series' newest patch or cover. */
  receivedAt: string;
  late: boolean;
}

/** The series' assignment as the project file now describes it; null when it matched none (or its row predates it). */
export function describeAssignment(rules: readonly AssignmentRule[], row: { assignment: string | null; received_at: string } | undefined): AssignmentView | null {
  const rule = row?.assignment == null ? undefined : rules.find((r) => r.name === row.assignment);
  if (!rule || !row) return null;
  return { name: rule.name, title: rule.title, deadline: rule.deadline, receivedAt: row.received_at, late: isLate(rule.deadline, row.received_at) };
}

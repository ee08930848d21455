// Assignments (issue 14): records each series' assignment as its patches and cover are filed, and matches a project's
// series again at start when its rules changed in the project file (or were never applied: series filed before).
import type { Db, DbOrTx } from '../db/database.js';
import {
  deleteSeriesAssignments,
  mailMarksOfSeries,
  noteSeriesAssignment,
  projectSeriesIds,
  rulesFingerprintOf,
  saveRulesFingerprint,
  saveSeriesAssignment,
  seriesAssignment,
} from '../db/assignment.repository.js';
import type { Logger } from '../log.js';
import { bestIndex, compileAssignments, MAX_FILES, matchIndex, rulesFingerprint, subjectTags, type AssignmentRule, type CompiledAssignment, type SeriesMarks } from './assignment.js';
import { diffFiles } from './diff.js';

/** Series matched again per transaction at start: each window reads its series' diffs. */
const WINDOW = 500;

/**
 * Files one patch or cover into its series' assignment row: the first assignment listed that any of the series' mails
 * fits (none: null), and the latest time the server received one of them, which the gradebook lists attempts by.
 */
export async function noteAssignment(tx: DbOrTx, projectId: number, assignments: readonly CompiledAssignment[], seriesId: number, marks: SeriesMarks, receivedAt: string): Promise<void> {
  const row = await seriesAssignment(tx, seriesId);
  const current = row?.assignment == null ? -1 : assignments.findIndex((a) => a.name === row.assignment);
  const index = bestIndex(current, matchIndex(assignments, marks));
  const received = row && row.received_at > receivedAt ? row.received_at : receivedAt;
  await noteSeriesAssignment(tx, { series_id: seriesId, project_id: projectId, assignment: index === -1 ? null : assignments[index]!.name, received_at: received });
}

/** Matches these series again from their stored mails (a maintainer's split or merge moved patches between them). */
export async function rematchSeries(tx: DbOrTx, projectId: number, assignments: readonly CompiledAssignment[], ids: readonly number[]): Promise<void> {
  if (!ids.length) return;
  const best = new Map<number, { index: number; received: string }>();
  for (const m of await mailMarksOfSeries(tx, ids)) {
    const marks: SeriesMarks = { tags: m.subject === null ? [] : subjectTags(m.subject), files: m.diff === null ? [] : diffFiles(m.diff).slice(0, MAX_FILES) };
    const seen = best.get(m.series_id);
    const index = matchIndex(assignments, marks);
    best.set(m.series_id, seen ? { index: bestIndex(seen.index, index), received: seen.received > m.received_at ? seen.received : m.received_at } : { index, received: m.received_at });
  }
  // A series left without mail (merged into another) has no attempt to show.
  await deleteSeriesAssignments(tx, ids.filter((id) => !best.has(id)));
  for (const [seriesId, b] of best) {
    await saveSeriesAssignment(tx, { series_id: seriesId, project_id: projectId, assignment: b.index === -1 ? null : assignments[b.index]!.name, received_at: b.received });
  }
}

/**
 * At start: when the project's rules differ from those its series were matched with, every series is matched again
 * (window by window; the new rules are recorded last, so a start that stops halfway does it all again next time).
 * Returns how many series were matched, or null when the rules had not changed.
 */
export async function rematchProject(db: Db, projectId: number, rules: readonly AssignmentRule[], log: Logger): Promise<number | null> {
  const fingerprint = rulesFingerprint(rules);
  if ((await rulesFingerprintOf(db, projectId)) === fingerprint) return null;
  const assignments = compileAssignments(rules);
  let count = 0;
  for (let after = 0; ; ) {
    const ids = await projectSeriesIds(db, projectId, after, WINDOW);
    if (!ids.length) break;
    await db.transaction().execute((tx) => rematchSeries(tx, projectId, assignments, ids));
    count += ids.length;
    after = ids.at(-1)!;
  }
  await saveRulesFingerprint(db, projectId, fingerprint);
  log.info({ projectId, series: count, assignments: rules.length }, 'series matched to the project file\'s assignments');
  return count;
}

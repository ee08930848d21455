// Row types of the assignment tables (migration 0015).
export interface SeriesAssignmentsTable {
  series_id: number;
  project_id: number;
  /** The assignment's name in the project file; null when the series matched none. */
  assignment: string | null;
  /** When the server received the series' newest patch or cover (mails.received_at). */
  received_at: string;
}

export interface AssignmentRulesTable {
  project_id: number;
  /** assignment.ts rulesFingerprint of the rules the project's series were matched with. */
  fingerprint: string;
  matched_at: string;
}

export interface AssignmentDatabase {
  series_assignments: SeriesAssignmentsTable;
  assignment_rules: AssignmentRulesTable;
}

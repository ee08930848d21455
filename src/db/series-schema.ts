// Row types of the series engine's tables (migration 0003).
import type { Generated, Selectable } from 'kysely';

export interface PeopleTable {
  id: Generated<number>;
  email: string;
  name: string | null;
  created_at: string;
}

export interface SeriesTable {
  id: Generated<number>;
  project_id: number;
  submitter_id: number;
  name: string | null;
  version: number;
  total: number;
  date: string;
  cover_id: number | null;
  batch: string | null;
  title_norm: string | null;
  change_id: string | null;
  completed: Generated<0 | 1>;
  created_at: string;
  /** A maintainer linked or unlinked its earlier revision (migration 0014): the parser leaves it as they left it. */
  revision_fixed: Generated<0 | 1>;
}

export interface SeriesRefsTable {
  project_id: number;
  msgid: string;
  series_id: number;
}

export interface CoversTable {
  id: Generated<number>;
  project_id: number;
  mail_id: number;
  msgid: string;
  series_id: number | null;
  submitter_id: number;
  name: string;
  content: string;
  date: string;
}

export interface PatchesTable {
  id: Generated<number>;
  project_id: number;
  mail_id: number;
  msgid: string;
  series_id: number;
  number: number;
  submitter_id: number;
  name: string;
  content: string;
  diff: string | null;
  hash: string | null;
  pull_url: string | null;
  date: string;
  state: string;
  delegate_id: number | null;
  archived: Generated<0 | 1>;
  commit_ref: string | null;
  acked: Generated<number>;
  reviewed: Generated<number>;
  tested: Generated<number>;
  base_commit: string | null;
  change_id: string | null;
  signoff_ok: 0 | 1;
  student_id: number | null;
  replaced_by: number | null;
  /** The title without prefixes, normalized (normalizeTitle): revisions are found by the patches they share. */
  title_norm: string | null;
}

export interface CommentsTable {
  id: Generated<number>;
  project_id: number;
  mail_id: number;
  msgid: string;
  patch_id: number | null;
  cover_id: number | null;
  submitter_id: number;
  content: string;
  date: string;
}

export interface RevisionsTable {
  series_id: number;
  previous_id: number;
  reason: string;
  source: 'parser' | 'maintainer';
  announced: Generated<0 | 1>;
  created_at: string;
}

export interface EventsTable {
  id: Generated<number>;
  project_id: number;
  category: string;
  date: string;
  actor_id: number | null;
  patch_id: number | null;
  series_id: number | null;
  cover_id: number | null;
  comment_id: number | null;
  payload: string | null;
}

export interface SeriesDatabase {
  people: PeopleTable;
  series: SeriesTable;
  series_refs: SeriesRefsTable;
  covers: CoversTable;
  patches: PatchesTable;
  comments: CommentsTable;
  revisions: RevisionsTable;
  events: EventsTable;
}

export type SeriesRow = Selectable<SeriesTable>;
export type PatchRow = Selectable<PatchesTable>;
export type CoverRow = Selectable<CoversTable>;
export type CommentRow = Selectable<CommentsTable>;
export type EventRow = Selectable<EventsTable>;
export type RevisionRow = Selectable<RevisionsTable>;

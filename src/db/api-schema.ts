// Row types of the REST API's tables (migration 0004): users, API tokens, checks, bundles and their patches.
import type { Generated, Selectable } from 'kysely';

export type UserRole = 'admin' | 'maintainer' | 'student';

export interface UsersTable {
  id: Generated<number>;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  role: UserRole;
  password_hash: string | null;
  created_at: string;
}

export interface ApiTokensTable {
  user_id: number;
  key_hash: string;
  created_at: string;
}

export interface ChecksTable {
  id: Generated<number>;
  patch_id: number;
  user_id: number | null;
  date: string;
  state: string;
  target_url: string | null;
  context: string;
  description: string | null;
}

export interface BundlesTable {
  id: Generated<number>;
  owner_id: number;
  project_id: number;
  name: string;
  public: 0 | 1;
  created_at: string;
}

export interface BundlePatchesTable {
  bundle_id: number;
  patch_id: number;
  position: number;
}

/** A comment's `addressed` once someone set it (0004; the flag itself from 0013): no row is Patchwork's null. */
export interface CommentAddressedTable {
  comment_id: number;
  updated_at: string;
  addressed: Generated<0 | 1>;
}

/** Migration 0013: series_id depends on depends_on_id (`Depends-on:` in its cover or patches). */
export interface SeriesDependenciesTable {
  series_id: number;
  depends_on_id: number;
}

export interface PatchRelationsTable {
  id: Generated<number>;
  created_at: string;
}

export interface PatchRelationMembersTable {
  patch_id: number;
  relation_id: number;
}

/** What maintainers set through the API; null: the project file's value. */
export interface ProjectApiSettingsTable {
  project_id: number;
  web_url: string | null;
  scm_url: string | null;
  webscm_url: string | null;
  list_archive_url: string | null;
  list_archive_url_format: string | null;
  commit_url_format: string | null;
  show_dependencies: 0 | 1 | null;
  updated_at: string;
}

export interface UserSettingsTable {
  user_id: number;
  send_email: 0 | 1;
  items_per_page: number;
  show_ids: 0 | 1;
  updated_at: string;
}

export interface ApiDatabase {
  comment_addressed: CommentAddressedTable;
  series_dependencies: SeriesDependenciesTable;
  patch_relations: PatchRelationsTable;
  patch_relation_members: PatchRelationMembersTable;
  project_api_settings: ProjectApiSettingsTable;
  user_settings: UserSettingsTable;
  users: UsersTable;
  api_tokens: ApiTokensTable;
  checks: ChecksTable;
  bundles: BundlesTable;
  bundle_patches: BundlePatchesTable;
}

export type UserRow = Selectable<UsersTable>;
export type CheckRow = Selectable<ChecksTable>;
export type BundleRow = Selectable<BundlesTable>;
export type ProjectApiSettingsRow = Selectable<ProjectApiSettingsTable>;
export type UserSettingsRow = Selectable<UserSettingsTable>;

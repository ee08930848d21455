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

export interface CommentAddressedTable {
  comment_id: number;
  updated_at: string;
}

export interface ApiDatabase {
  comment_addressed: CommentAddressedTable;
  users: UsersTable;
  api_tokens: ApiTokensTable;
  checks: ChecksTable;
  bundles: BundlesTable;
  bundle_patches: BundlePatchesTable;
}

export type UserRow = Selectable<UsersTable>;
export type CheckRow = Selectable<ChecksTable>;
export type BundleRow = Selectable<BundlesTable>;

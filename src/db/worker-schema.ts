// Row types of the workers' tokens (migration 0010).
import type { Generated, Selectable } from 'kysely';

export interface WorkerTokensTable {
  id: Generated<number>;
  name: string;
  /** sha256 hex of the token. */
  secret_hash: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface WorkerDatabase {
  worker_tokens: WorkerTokensTable;
}

export type WorkerTokenRow = Selectable<WorkerTokensTable>;

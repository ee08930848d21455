// Row types of the web view's sessions (migration 0010).
import type { Selectable } from 'kysely';

export interface WebSessionsTable {
  /** sha256 hex of the cookie value. */
  id: string;
  user_id: number;
  csrf: string;
  created_at: string;
  last_seen: string;
  expires_at: string;
}

export interface SessionDatabase {
  web_sessions: WebSessionsTable;
}

export type WebSessionRow = Selectable<WebSessionsTable>;

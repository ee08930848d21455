// Row types of the web view's sessions (migration 0010).
import type { Generated, Selectable } from 'kysely';

export interface WebSessionsTable {
  /** sha256 hex of the cookie value. */
  id: string;
  user_id: number;
  csrf: string;
  created_at: string;
  last_seen: string;
  expires_at: string;
}

/** First-login and password-reset links (migration 0015-private): sha256 of the token, single use, expiring. */
export interface PasswordTokensTable {
  id: Generated<number>;
  user_id: number;
  token_hash: string;
  purpose: 'first-login' | 'reset';
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface SessionDatabase {
  web_sessions: WebSessionsTable;
  password_tokens: PasswordTokensTable;
}

export type WebSessionRow = Selectable<WebSessionsTable>;

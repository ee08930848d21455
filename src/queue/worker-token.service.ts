// Worker tokens: made on the server for each worker machine (`patchbay worker token create NAME`), shown once,
// stored as their sha256, revocable; checked on every upload (Authorization: Bearer pbw-…). 160 random bits cannot
// be guessed, so failures are not rate-limited; a revoked token is refused at its next request.
import crypto from 'node:crypto';
import { WORKER_NAME_SHAPE, WORKER_TOKEN_SHAPE } from '../config/queue.js';
import type { Db } from '../db/database.js';
import { insertWorkerToken, listWorkerTokens, liveWorkerToken, revokeWorkerToken, touchWorkerToken } from '../db/worker-token.repository.js';
import { conflict, invalid, notFound, unauthenticated } from '../errors.js';

export interface WorkerTokenInfo {
  name: string;
  state: 'valid' | 'revoked';
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** The worker a request's token names. */
export interface WorkerPrincipal {
  id: number;
  name: string;
}

const CHALLENGE = 'Bearer realm="patchbay worker"';
/** last_used_at is written at most this often per token: an upload burst is not a write burst. */
const TOUCH_EVERY_MS = 60_000;

const sha256 = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

export class WorkerTokenService {
  private readonly touched = new Map<number, number>();

  constructor(private readonly db: Db) {}

  /** A new token for `name`, returned once (only its hash is kept); refused while `name` has a valid one. */
  async create(name: string): Promise<string> {
    if (!WORKER_NAME_SHAPE.test(name)) throw invalid('bad_worker_name', `"${name.slice(0, 80)}" is not a worker name (letters, digits, . _ -, at most 63, as its --name)`);
    const token = `pbw-${crypto.randomBytes(20).toString('hex')}`;
    if (!(await insertWorkerToken(this.db, name, sha256(token)))) {
      throw conflict('worker_token_exists', `worker "${name}" already has a valid token; revoke it first (patchbay worker token revoke ${name})`);
    }
    return token;
  }

  async list(): Promise<WorkerTokenInfo[]> {
    return (await listWorkerTokens(this.db)).map((r) => ({
      name: r.name,
      state: r.revoked_at === null ? 'valid' : 'revoked',
      created_at: r.created_at,
      revoked_at: r.revoked_at,
      last_used_at: r.last_used_at,
    }));
  }

  async revoke(name: string): Promise<void> {
    if (!(await revokeWorkerToken(this.db, name))) throw notFound('no_worker_token', `worker "${name.slice(0, 80)}" has no valid token`);
  }

  /** The worker of `Authorization: Bearer <token>`; 401 without one, or with one that is unknown or revoked. */
  async authenticate(authorization: string | undefined): Promise<WorkerPrincipal> {
    const [scheme, token, ...rest] = (authorization ?? '').trim().split(' ').filter(Boolean);
    if (scheme?.toLowerCase() !== 'bearer' || !token || rest.length) {
      throw unauthenticated('worker_token_required', 'A worker token is required (Authorization: Bearer pbw-…).', CHALLENGE);
    }
    const row = WORKER_TOKEN_SHAPE.test(token) ? await liveWorkerToken(this.db, sha256(token)) : undefined;
    if (!row) throw unauthenticated('invalid_worker_token', 'Invalid or revoked worker token.', `${CHALLENGE}, error="invalid_token"`);
    const now = Date.now();
    if ((this.touched.get(row.id) ?? 0) < now - TOUCH_EVERY_MS) {
      this.touched.set(row.id, now);
      await touchWorkerToken(this.db, row.id);
    }
    return { id: row.id, name: row.name };
  }
}

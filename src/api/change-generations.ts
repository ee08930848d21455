// Which writes an answer depends on: the change generations (migration 0018-cache) read as a marker per scope, so a
// write to one project, or a new check, moves only the markers of the answers that can show it.
import { changeMarker } from '../db/api-list.repository.js';
import { readGenerations, generationTriggers } from '../db/cache-generation.repository.js';
import type { DbOrTx } from '../db/database.js';

/** p: submissions (patches, series, covers, comments); k: checks; e: events; r: pipeline runs. */
export type ChangeKind = 'p' | 'k' | 'e' | 'r';

/** What an answer shows: the kinds of rows, of one project or (null) of any. Every answer also reads the global scope. */
export interface ChangeScope {
  project: number | null;
  kinds: readonly ChangeKind[];
}

/** Answers that show everything (the safe default when the project is unknown). */
export const ANY_CHANGE: ChangeScope = { project: null, kinds: ['p', 'k', 'e', 'r'] };

/** The triggers (0018-cache) on the tables answers show most: without each (a migration rebuilt a table), the counters are not trusted. */
const OPS = ['insert', 'update', 'delete'];
const WATCHED = [
  ...['patches', 'series', 'covers', 'comments', 'checks', 'events', 'users', 'project_api_settings'].flatMap((t) => OPS.map((op) => `cache_gen_${t}_${op}`)),
  'cache_gen_people_update',
  'cache_gen_people_delete',
];

/** The generations as read at one moment. */
export class GenerationSnapshot {
  private readonly gens: Map<string, number>;

  /**
   * `rows`: the table's counters, one per scope; each kind's `x:*` (any project) is the sum of its projects'.
   * `whole`: when set, every scope's marker is this one (the database's change marker: any write moves it).
   */
  constructor(
    rows: ReadonlyMap<string, number>,
    private readonly whole?: string,
  ) {
    this.gens = new Map(rows);
    for (const [scope, gen] of rows) {
      if (scope === '*') continue;
      const all = `${scope.slice(0, scope.indexOf(':'))}:*`;
      this.gens.set(all, (this.gens.get(all) ?? 0) + gen);
    }
  }

  /** Moves on writes of users, people, project settings, visibility, bundles: what any answer may embed. */
  get global(): string {
    return this.whole ?? `*${this.gens.get('*') ?? 0}`;
  }

  /**
   * The marker of an answer of this scope. It names its scopes, so two scopes never share a marker by chance, and each
   * generation only grows, so a marker never comes back once any of its scopes moved.
   */
  of(scope: ChangeScope): string {
    if (this.whole !== undefined) return this.whole;
    const project = scope.project ?? '*';
    let m = this.global;
    for (const k of scope.kinds) m += ` ${k}:${project}=${this.gens.get(`${k}:${project}`) ?? 0}`;
    return m;
  }
}

/**
 * Reads the generations table only when the database changed since it was last read: SQLite's data_version (another
 * connection's commit, any process) and this connection's total_changes; a request that finds neither moved reuses
 * the snapshot. The cheap marker is read before the table, so a snapshot is never older than the marker kept with it.
 */
export class ChangeGenerations {
  private seen = '';
  private snapshot = new GenerationSnapshot(new Map());
  /** Whether every watched table has its triggers (checked once, at the first read: migrations ran before). */
  private trusted: Promise<boolean> | undefined;

  constructor(private readonly db: DbOrTx) {}

  async read(): Promise<GenerationSnapshot> {
    this.trusted ??= generationTriggers(this.db).then((t) => WATCHED.every((name) => t.has(name)));
    const trusted = await this.trusted;
    const m = await changeMarker(this.db);
    if (m === this.seen) return this.snapshot;
    // Without the triggers, fall back to one marker for everything: coarse, never stale.
    const snapshot = trusted ? new GenerationSnapshot(await readGenerations(this.db)) : new GenerationSnapshot(new Map(), `any ${m}`);
    this.seen = m;
    this.snapshot = snapshot;
    return snapshot;
  }
}

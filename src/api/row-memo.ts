// Rows by id kept while the database's change marker holds: the people and users that list pages embed change rarely.

/**
 * A request reads the marker first (ApiService.fresh) and passes it along: the memo answers and keeps rows only for
 * the newest marker read, so a request that began before a write neither reads nor stores rows across it.
 */
export class RowMemo<T extends { id: number }> {
  private marker = '';
  private readonly rows = new Map<number, T>();

  constructor(private readonly maxRows: number) {}

  /** A newer marker was read: every row kept may be stale. */
  advance(marker: string): void {
    if (marker === this.marker) return;
    this.marker = marker;
    this.rows.clear();
  }

  /** The rows of these ids (those that exist), loading only the ones not kept under this marker. */
  async get(ids: readonly number[], marker: string, load: (missing: number[]) => Promise<T[]>): Promise<Map<number, T>> {
    const out = new Map<number, T>();
    if (marker !== this.marker) {
      for (const r of await load([...new Set(ids)])) out.set(r.id, r);
      return out;
    }
    const missing = new Set<number>();
    for (const id of ids) {
      const r = this.rows.get(id);
      if (r) out.set(id, r);
      else missing.add(id);
    }
    if (!missing.size) return out;
    const loaded = await load([...missing]);
    // Kept only if no newer marker was read meanwhile; a write not yet seen clears them when the next request reads it.
    const keep = marker === this.marker;
    if (keep && this.rows.size + loaded.length > this.maxRows) this.rows.clear();
    for (const r of loaded) {
      out.set(r.id, r);
      if (keep) this.rows.set(r.id, r);
    }
    return out;
  }
}

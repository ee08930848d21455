// Answers of the API's shared GETs kept whole (JSON bytes, ETag, Link) while the change marker of what they show holds.
import crypto from 'node:crypto';

export interface CachedAnswer {
  /** The JSON body as sent. */
  body: Buffer;
  /** Strong entity tag of the body (RFC 9110 §8.8.3). */
  etag: string;
  /** The list's RFC 8288 Link header, when it is a list. */
  link: string | undefined;
}

export interface ResponseCacheLimits {
  /** Answers kept at most. */
  maxEntries: number;
  /** Body bytes kept at most; one answer larger than an eighth of this is not kept. */
  maxBytes: number;
}

/** 32 MiB: a hundred pages of 100 series (the largest common answer, ~250 KB) and thousands of smaller ones. */
export const DEFAULT_CACHE_LIMITS: ResponseCacheLimits = { maxEntries: 2000, maxBytes: 32 * 2 ** 20 };

/**
 * Bounded by entries and bytes, least recently used dropped first. Every request reads the marker of what its answer
 * shows (change-generations.ts: per project and kind of row) before it asks: an answer is kept with the marker read
 * before it was computed and served only to a request that read the same marker, so a write the answer could show
 * (which moves that marker) is seen by the next read, while answers whose markers did not move stay. A marker never
 * comes back once it moved, so an answer found under an older one is dropped at once.
 */
export class ResponseCache {
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private readonly entries = new Map<string, { marker: string; answer: CachedAnswer }>();
  /** Answers being computed, by marker and key: requests that miss together compute once. */
  private readonly computing = new Map<string, Promise<CachedAnswer>>();

  constructor(readonly limits: ResponseCacheLimits = DEFAULT_CACHE_LIMITS) {}

  /**
   * The answer to `key` under `marker`: kept, or being computed for another request that asked first (after a
   * write, every poller misses at once), or computed now by `compute` and kept.
   */
  async serve(key: string, marker: string, compute: () => Promise<CachedAnswer>): Promise<CachedAnswer> {
    const kept = this.get(key, marker);
    if (kept) return kept;
    const slot = `${marker} ${key}`;
    let pending = this.computing.get(slot);
    if (!pending) {
      pending = compute().then((a) => (this.set(key, marker, a), a));
      this.computing.set(slot, pending);
      // Whether it answers or fails, the next request after this one looks in the cache (or computes) again.
      const done = () => void this.computing.delete(slot);
      pending.then(done, done);
    }
    return pending;
  }

  get(key: string, marker: string): CachedAnswer | undefined {
    const hit = this.entries.get(key);
    if (hit) this.entries.delete(key);
    if (hit && hit.marker === marker) {
      // Map order is the recency order: move the hit to the end.
      this.entries.set(key, hit);
      this.hits++;
      return hit.answer;
    }
    // Kept under another marker: something it shows was written since (or, for a request that read its marker
    // before that write, the newer copy is dropped and computed again: never served stale either way).
    if (hit) this.bytes -= hit.answer.body.length;
    this.misses++;
    return undefined;
  }

  /** Keeps an answer computed after reading `marker` (replacing the key's copy under any other marker). */
  set(key: string, marker: string, answer: CachedAnswer): void {
    const size = answer.body.length;
    if (size > this.limits.maxBytes / 8) return;
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= old.answer.body.length;
    }
    while (this.entries.size && (this.entries.size >= this.limits.maxEntries || this.bytes + size > this.limits.maxBytes)) {
      const [oldest, dropped] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.bytes -= dropped.answer.body.length;
    }
    this.entries.set(key, { marker, answer });
    this.bytes += size;
  }

  /** What is kept now, and how often a request found its answer here (for tests and diagnostics). */
  size(): { entries: number; bytes: number; hits: number; misses: number } {
    return { entries: this.entries.size, bytes: this.bytes, hits: this.hits, misses: this.misses };
  }
}

/** A strong ETag from the body's bytes: equal bodies, equal tags, across restarts too. */
export function etagOf(body: Buffer): string {
  return `"${crypto.createHash('sha1').update(body).digest('base64url')}"`;
}

/**
 * RFC 9110 §13.1.2 If-None-Match for a GET: true (answer 304) when the header is `*` or lists the current tag,
 * compared weakly (a `W/` prefix is ignored).
 */
export function noneMatchHits(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value.trim() === '*') return true;
  for (const m of value.matchAll(/(?:W\/)?("[^"]*")/g)) if (m[1] === etag) return true;
  return false;
}

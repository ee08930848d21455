// Per-client-address rate limits over a sliding minute (two fixed windows, weighted), as Postfix's anvil does per minute.

export class RateLimiter {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private windowStart = 0;

  constructor(
    private readonly perMinute: number,
    private readonly windowMs = 60_000,
  ) {}

  /** Counts one event for the key; false when the key is over its limit (the event is then not counted). */
  hit(key: string, now = Date.now()): boolean {
    if (this.blocked(key, now)) return false;
    if (this.perMinute > 0) this.current.set(key, (this.current.get(key) ?? 0) + 1);
    return true;
  }

  /** Whether the key is at its limit, without counting an event (to count failures only: check, act, then hit). */
  blocked(key: string, now = Date.now()): boolean {
    if (this.perMinute <= 0) return false;
    this.roll(now);
    const elapsed = (now - this.windowStart) / this.windowMs;
    return (this.previous.get(key) ?? 0) * (1 - elapsed) + (this.current.get(key) ?? 0) >= this.perMinute;
  }

  private roll(now: number): void {
    if (now - this.windowStart < this.windowMs) return;
    const skipped = now - this.windowStart >= 2 * this.windowMs;
    this.previous = skipped ? new Map() : this.current;
    this.current = new Map();
    this.windowStart = now - ((now - this.windowStart) % this.windowMs);
    if (skipped) this.windowStart = now;
  }
}

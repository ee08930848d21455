// Intake before processing: while SMTP mail keeps arriving, processing's filing (on the same thread and database
// connection as intake's group commit) takes at most a share of the time, so a 250 waits for its own commit, not for
// the filing of earlier mail. Processing slows during a flood, never stops, and runs at full speed once it ends.

/**
 * After the last arrival, intake counts as busy this long. Well above a client's gap between its 250 and its next
 * mail on a loaded machine (p99 ~0.5 s at load 13): a shorter window let processing, once it saw a gap, file at full
 * speed, which delayed the 250s and so made the next gap; it kept pace with intake in about one run of two.
 */
export const BUSY_MS = 1000;

/**
 * Processing's share of this thread's time while intake is busy. Small, because filing is only part of processing's
 * cost: the reader's workers spend about twice as much again per mail on the same cores (a quarter let processing keep
 * pace with intake on a loaded 2-core machine; a twentieth leaves intake as fast as with no processing at all).
 */
export const PROCESSING_SHARE = 0.05;

/** Mails per filing transaction while intake is busy: bounds how long a commit of intake's waits behind one. */
export const BUSY_BATCH_SIZE = 8;

export class IntakeFirst {
  private lastArrival = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly busyMs = BUSY_MS,
    private readonly share = PROCESSING_SHARE,
  ) {}

  /** A message arrived (intake's accept, before its commit). */
  arrived(now = performance.now()): void {
    this.lastArrival = now;
  }

  busy(now = performance.now()): boolean {
    return now - this.lastArrival < this.busyMs;
  }

  /**
   * How long processing waits before its next filing, the last one having taken `spentMs` and ended at `endedAt`:
   * nothing while intake is quiet; while it is busy, what is left of the pause that keeps processing to its share.
   */
  pauseMs(spentMs: number, endedAt: number, now = performance.now()): number {
    if (!this.busy(now)) return 0;
    return Math.max(0, (spentMs * (1 - this.share)) / this.share - (now - endedAt));
  }
}

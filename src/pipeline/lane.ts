// A lane of the pipeline: its own first-in first-out queue of runs and its own concurrency, so that a run waits only
// behind runs of its own lane (the gates never behind the builds). The engine has two: `gates` and `builds`.
export type LaneName = 'gates' | 'builds';

/** Where a run is in the lanes: running, or waiting with this many runs ahead of it in its lane. */
export interface LanePosition {
  lane: LaneName;
  state: 'active' | 'waiting';
  /** Runs ahead of it in the lane's queue (0 = next); 0 when active. */
  ahead: number;
}

export class Lane {
  private readonly waiting: number[] = [];
  private readonly active = new Map<number, AbortController>();
  private paused = false;

  constructor(
    readonly name: LaneName,
    private readonly width: number,
    private readonly exec: (runId: number, signal: AbortSignal) => Promise<void>,
    /** After a run leaves the lane (done, failed, moved on, aborted). */
    private readonly onLeave: (runId: number, error: unknown) => void,
  ) {}

  /** Queues a run at the back, once. */
  push(runId: number): void {
    if (this.waiting.includes(runId) || this.active.has(runId)) return;
    this.waiting.push(runId);
    this.pump();
  }

  /** Takes a waiting run out, or aborts the active one (`reason` is the abort's reason); false if not in the lane. */
  abort(runId: number, reason: Error): boolean {
    const i = this.waiting.indexOf(runId);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      return true;
    }
    const ac = this.active.get(runId);
    if (!ac) return false;
    ac.abort(reason);
    return true;
  }

  position(runId: number): LanePosition | null {
    if (this.active.has(runId)) return { lane: this.name, state: 'active', ahead: 0 };
    const i = this.waiting.indexOf(runId);
    return i >= 0 ? { lane: this.name, state: 'waiting', ahead: i } : null;
  }

  get idle(): boolean {
    return !this.waiting.length && !this.active.size;
  }

  get counts(): { waiting: number; active: number } {
    return { waiting: this.waiting.length, active: this.active.size };
  }

  /**
   * Takes no more runs; aborts the active ones (after `beforeAbort`, e.g. killing their children) and resolves when they
   * have left. Waiting runs stay waiting.
   */
  async stop(reason: Error, beforeAbort: (runId: number) => void = () => {}): Promise<void> {
    this.paused = true;
    for (const [runId, ac] of this.active) {
      beforeAbort(runId);
      ac.abort(reason);
    }
    while (this.active.size) await new Promise((r) => setTimeout(r, 20));
  }

  private pump(): void {
    while (!this.paused && this.active.size < this.width && this.waiting.length) {
      const runId = this.waiting.shift()!;
      const ac = new AbortController();
      this.active.set(runId, ac);
      let error: unknown = null;
      void this.exec(runId, ac.signal)
        .catch((e: unknown) => {
          error = e;
        })
        .finally(() => {
          this.active.delete(runId);
          this.onLeave(runId, error);
          this.pump();
        });
    }
  }
}

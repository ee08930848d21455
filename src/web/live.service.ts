// Live pipeline progress for the series page's Server-Sent Events: one poll a second for all open streams — the
// database's change marker first (one cheap statement), and only when it moved, each watched series' fingerprint.
import type { Db } from '../db/database.js';
import { changeMarker } from '../db/api-list.repository.js';
import { pipelineFingerprint, seriesExists, type PipelineFingerprint } from '../db/live.repository.js';
import type { Logger } from '../log.js';

/** What a `pipeline` event carries: enough for a script to tell that something moved, not the page itself. */
export interface PipelineEvent {
  runs: number;
  run: number | null;
  state: string | null;
  outcome: string | null;
  steps: { total: number; running: number; done: number };
}

export type Listener = (e: PipelineEvent) => void;

function toEvent(f: PipelineFingerprint): PipelineEvent {
  return { runs: f.runs, run: f.lastRun, state: f.state, outcome: f.outcome, steps: { total: f.steps, running: f.running, done: f.finished } };
}

const keyOf = (f: PipelineFingerprint) => JSON.stringify(f);

export class LiveService {
  private readonly watched = new Map<number, { listeners: Set<Listener>; key: string }>();
  private timer: NodeJS.Timeout | null = null;
  private marker = '';
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly pollMs = 1000,
  ) {}

  /** The series' pipeline now, and the key to start watching from; null when there is no such series. */
  async current(seriesId: number): Promise<{ event: PipelineEvent; key: string } | null> {
    if (!(await seriesExists(this.db, seriesId))) return null;
    const f = await pipelineFingerprint(this.db, seriesId);
    return { event: toEvent(f), key: keyOf(f) };
  }

  /** Calls `listener` whenever the series' runs or steps change from `key`; returns the unsubscribe. */
  watch(seriesId: number, key: string, listener: Listener): () => void {
    let w = this.watched.get(seriesId);
    if (!w) this.watched.set(seriesId, (w = { listeners: new Set(), key }));
    w.listeners.add(listener);
    this.schedule();
    // A listener that joins an already watched series with an older key gets the current state at the next change.
    return () => {
      const cur = this.watched.get(seriesId);
      if (!cur) return;
      cur.listeners.delete(listener);
      if (!cur.listeners.size) this.watched.delete(seriesId);
    };
  }

  get streams(): number {
    let n = 0;
    for (const w of this.watched.values()) n += w.listeners.size;
    return n;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.watched.clear();
  }

  private schedule(): void {
    if (this.timer || this.stopped || !this.watched.size) return;
    this.timer = setTimeout(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    try {
      const marker = await changeMarker(this.db);
      if (marker !== this.marker) {
        this.marker = marker;
        for (const [seriesId, w] of [...this.watched]) {
          const f = await pipelineFingerprint(this.db, seriesId);
          const key = keyOf(f);
          if (key === w.key) continue;
          w.key = key;
          const e = toEvent(f);
          for (const l of [...w.listeners]) l(e);
        }
      }
    } catch (err) {
      this.log.warn({ err }, 'live updates: poll failed');
    } finally {
      this.timer = null;
      this.schedule();
    }
  }
}

// A pipeline run and its steps as the web pages show them (the series page's pipeline block, the run's own page):
// the badge, the times, and each step's label, log link, duration and worker (or LAVA job).

export function logPageHref(runId: number, step: string, job: string): string {
  return `/runs/${runId}/log/${step}/${job ? `${job}/` : ''}`;
}

export function duration(from: string | null, to: string | null, minusMs = 0): string | null {
  if (!from) return null;
  return formatMs((to ? Date.parse(to) : Date.now()) - Date.parse(from) - minusMs);
}

/** "350 ms", "4.2 s", "2 min 5 s", "1 h 12 min". */
export function formatMs(ms: number): string | null {
  if (!Number.isFinite(ms) || ms < 0) return null;
  ms = Math.round(ms);
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

interface RunFields {
  id: number;
  state: string;
  outcome: string | null;
  reason: string | null;
  base: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  paused_ms?: number | null;
}

export interface StepFields {
  step: string;
  job: string;
  status: string;
  summary: string | null;
  worker: string | null;
  started_at: string | null;
  finished_at: string | null;
  /** A boot through LAVA: its job on the server and its state (issue 15). */
  lava?: { job: string; url: string | null; state: string; device: string | null } | null;
}

/** A run's header: the badge is the outcome once done, else the state (queued/running → pending/running). */
export function runRow(run: RunFields) {
  return {
    id: run.id,
    state: run.state,
    badge: run.state === 'done' ? (run.outcome ?? 'skip') : run.state === 'queued' ? 'pending' : run.state,
    outcome: run.outcome,
    reason: run.reason,
    base: run.base,
    created: run.created_at,
    started: run.started_at,
    finished: run.finished_at,
    // From start to end without the time the server was down (a run resumed after a restart): the run's own time.
    duration: duration(run.started_at, run.finished_at, run.paused_ms ?? 0),
    paused: run.paused_ms ? formatMs(run.paused_ms) : null,
  };
}

/** A step's row; it has a log once it started (steps skipped after a failed gate never did). */
export function stepRow(runId: number, s: StepFields) {
  return {
    step: s.step,
    job: s.job,
    label: s.job ? `${s.step} (${s.job})` : s.step,
    status: s.status,
    summary: s.summary,
    href: s.started_at === null ? null : logPageHref(runId, s.step, s.job),
    duration: duration(s.started_at, s.finished_at),
    worker: s.worker,
    lava: s.lava ?? null,
  };
}

// /metrics in Prometheus' text exposition format (version 0.0.4): the lanes' jobs by state and their depth, the live
// and busy workers, whether the queue backend answered, and each step's durations per arch as a histogram.
import type { QueueSnapshot, StepDuration } from './queue-view.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Seconds: a gate step takes seconds, a warm build a minute or two, a cold kernel build on 2 cores over an hour. */
export const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200] as const;

/** A label value as the format wants it: backslash, double quote and line feed escaped. */
export function labelValue(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function labels(l: Record<string, string | null>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${labelValue(v ?? '')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** A number as the format writes it (+Inf, NaN, integers without a fraction). */
function num(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (Number.isNaN(n)) return 'NaN';
  return String(n);
}

export function renderMetrics(snap: QueueSnapshot, durations: readonly StepDuration[]): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'histogram', help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  family('patchbay_queue_up', 'gauge', 'Whether the queue backend answered (Redis with --queue, else the server itself).');
  out.push(`patchbay_queue_up${labels({ mode: snap.mode })} ${snap.reachable ? 1 : 0}`);

  family('patchbay_queue_jobs', 'gauge', 'Jobs in each queue by state (completed and failed as kept by the backend).');
  for (const l of snap.lanes) {
    for (const state of ['waiting', 'active', 'failed', 'completed'] as const) {
      out.push(`patchbay_queue_jobs${labels({ lane: l.lane, arch: l.arch, queue: l.queue, state })} ${num(l[state])}`);
    }
  }
  family('patchbay_queue_depth', 'gauge', 'Jobs waiting in each queue.');
  for (const l of snap.lanes) out.push(`patchbay_queue_depth${labels({ lane: l.lane, arch: l.arch, queue: l.queue })} ${num(l.waiting)}`);

  family('patchbay_workers', 'gauge', 'Live workers (a heartbeat within its TTL).');
  out.push(`patchbay_workers ${snap.workers.length}`);
  family('patchbay_workers_busy', 'gauge', 'Live workers running a job now.');
  out.push(`patchbay_workers_busy ${snap.workers.filter((w) => w.current).length}`);

  family('patchbay_step_duration_seconds', 'histogram', 'How long finished pipeline steps took, per step and arch (gate steps: arch "").');
  const series = new Map<string, { step: string; arch: string | null; buckets: number[]; sum: number; count: number }>();
  for (const d of durations) {
    const key = `${d.step}\0${d.arch ?? ''}`;
    let s = series.get(key);
    if (!s) series.set(key, (s = { step: d.step, arch: d.arch, buckets: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 }));
    DURATION_BUCKETS.forEach((le, i) => {
      if (d.seconds <= le) s.buckets[i]!++;
    });
    s.sum += d.seconds;
    s.count++;
  }
  for (const s of [...series.values()].sort((a, b) => a.step.localeCompare(b.step) || (a.arch ?? '').localeCompare(b.arch ?? ''))) {
    const base = { step: s.step, arch: s.arch };
    DURATION_BUCKETS.forEach((le, i) => out.push(`patchbay_step_duration_seconds_bucket${labels({ ...base, le: num(le) })} ${s.buckets[i]}`));
    out.push(`patchbay_step_duration_seconds_bucket${labels({ ...base, le: '+Inf' })} ${s.count}`);
    out.push(`patchbay_step_duration_seconds_sum${labels(base)} ${num(Math.round(s.sum * 1000) / 1000)}`);
    out.push(`patchbay_step_duration_seconds_count${labels(base)} ${s.count}`);
  }
  return `${out.join('\n')}\n`;
}

// Row types of the pipeline's tables (migration 0006; run_steps.worker: 0011; runs.paused_ms, resumed_at: 0015).
import type { Generated, Selectable } from 'kysely';

export type RunState = 'queued' | 'running' | 'done' | 'cancelled';
export type RunOutcome = 'pass' | 'warn' | 'fail' | 'error';
export type RunStepStatus = 'pending' | 'running' | 'pass' | 'warn' | 'fail' | 'skip' | 'error' | 'cancelled';

export interface RunsTable {
  id: Generated<number>;
  project_id: number;
  series_id: number;
  event_id: number | null;
  state: RunState;
  outcome: RunOutcome | null;
  reason: string | null;
  base: string | null;
  report_msgid: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** Milliseconds the run stood still while the server was down (from its last activity to each restart); null: never resumed. */
  paused_ms: number | null;
  /** When it was last resumed after a restart. */
  resumed_at: string | null;
}

export interface RunStepsTable {
  run_id: number;
  step: string;
  job: Generated<string>;
  seq: number;
  status: RunStepStatus;
  summary: string | null;
  findings: string | null;
  outputs: string | null;
  log_path: string | null;
  child_ms: number | null;
  started_at: string | null;
  finished_at: string | null;
  /** The `patchbay worker` that ran (or runs) the step; null for a step run in the server. */
  worker: string | null;
}

export interface PipelineCursorTable {
  name: string;
  event_id: number;
}

export interface PipelineDatabase {
  runs: RunsTable;
  run_steps: RunStepsTable;
  pipeline_cursor: PipelineCursorTable;
}

export type RunRow = Selectable<RunsTable>;
export type RunStepRow = Selectable<RunStepsTable>;

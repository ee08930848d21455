// Reading runs for the web and the API: a series' runs with their steps, and a step's log.
import fs from 'node:fs';
import type { Db } from '../db/database.js';
import { getRun, runSteps, runsOfSeries } from '../db/pipeline.repository.js';
import type { RunRow, RunStepRow } from '../db/pipeline-schema.js';
import { notFound } from '../errors.js';
import { artifactFile, artifactsDir, listArtifacts } from './artifacts.js';
import { lavaOfStep, type StepLava } from './lava/lava-state.js';
import type { LanePosition } from './lane.js';

export interface RunView {
  id: number;
  series: number;
  state: RunRow['state'];
  outcome: RunRow['outcome'];
  reason: string | null;
  base: string | null;
  report_msgid: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** Milliseconds the run stood still while the server was down (resumed after a restart); null: never resumed. */
  paused_ms: number | null;
  /** When it was last resumed after a restart. */
  resumed_at: string | null;
  /**
   * Where a queued or running run is: its lane (`gates`, `builds`), whether it runs or waits, and how many runs wait
   * ahead of it there; null once it has ended (or when this process does not hold it).
   */
  queue: LanePosition | null;
  /** The run's artefacts (kernel images, disks, consoles, results), each with its URL. */
  artifacts: { path: string; bytes: number; url: string }[];
  steps: {
    step: string;
    job: string;
    status: RunStepRow['status'];
    summary: string | null;
    findings: unknown[];
    /** What the step handed on: apply's base and head, a build's image and make command, a test run's counts. */
    outputs: Record<string, unknown>;
    started_at: string | null;
    finished_at: string | null;
    /** Milliseconds the step spent in child processes (git, checkpatch; with the worktree's preparation); null until it ends. */
    child_ms: number | null;
    /** The `patchbay worker` that ran it (serve --queue); null for a step run in the server. */
    worker: string | null;
    /** A boot through LAVA (issue 15): its job on the LAVA server and where it stands; null for any other step. */
    lava: StepLava | null;
    log: string;
  }[];
}

export interface RunViewService {
  run(id: number): Promise<RunView>;
  runsOfSeries(seriesId: number): Promise<RunView[]>;
  /** The step's log file: its path, for streaming. */
  logFile(runId: number, step: string, job?: string): Promise<string>;
  /** One artefact's absolute path (404 when the name leaves the run's folder). */
  artifactFile(runId: number, rel: string): string;
}

export function createRunViewService(db: Db, base: () => string, dataDir: string, position: (runId: number) => LanePosition | null = () => null): RunViewService {
  const view = async (r: RunRow): Promise<RunView> => ({
    id: r.id,
    series: r.series_id,
    state: r.state,
    outcome: r.outcome,
    reason: r.reason,
    base: r.base,
    report_msgid: r.report_msgid,
    created_at: r.created_at,
    started_at: r.started_at,
    finished_at: r.finished_at,
    paused_ms: r.paused_ms,
    resumed_at: r.resumed_at,
    queue: r.state === 'queued' || r.state === 'running' ? position(r.id) : null,
    artifacts: listArtifacts(dataDir, r.id).map((a) => ({ ...a, url: `${base()}/runs/${r.id}/artifacts/${a.path}` })),
    steps: (await runSteps(db, r.id)).map((s) => ({
      step: s.step,
      job: s.job,
      status: s.status,
      summary: s.summary,
      findings: s.findings ? (JSON.parse(s.findings) as unknown[]) : [],
      outputs: s.outputs ? (JSON.parse(s.outputs) as Record<string, unknown>) : {},
      started_at: s.started_at,
      finished_at: s.finished_at,
      child_ms: s.child_ms === null ? null : Math.round(s.child_ms),
      worker: s.worker,
      lava: lavaOfStep(artifactsDir(dataDir, r.id), { step: s.step, job: s.job, status: s.status, outputs: s.outputs ? (JSON.parse(s.outputs) as Record<string, unknown>) : null }),
      log: `${base()}/runs/${r.id}/logs/${s.job ? `${s.step}/${s.job}` : s.step}`,
    })),
  });
  return {
    async run(id) {
      const r = await getRun(db, id);
      if (!r) throw notFound('no_such_run', `no run ${id}`);
      return view(r);
    },
    async runsOfSeries(seriesId) {
      return Promise.all((await runsOfSeries(db, seriesId)).map(view));
    },
    artifactFile(runId, rel) {
      const file = artifactFile(dataDir, runId, rel);
      if (!file) throw notFound('no_such_artifact', `no artefact ${rel} in run ${runId}`);
      return file;
    },
    async logFile(runId, step, job = '') {
      const s = (await runSteps(db, runId)).find((x) => x.step === step && x.job === job);
      if (!s?.log_path || !fs.existsSync(s.log_path)) throw notFound('no_such_log', `no log for step ${step}${job ? ` (${job})` : ''} of run ${runId}`);
      return s.log_path;
    },
  };
}

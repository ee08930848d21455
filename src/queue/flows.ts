// A run's heavy part as one BullMQ flow (design: "launch every build at once, keep a refcount to know when it is
// over"): the parent `run-R` in `runs`, processed by the server once every child is done; per build key a child —
// the build itself, or, for a build that boots, a `test-R-KEY` job whose own child is `build-R-KEY` (a test runs
// after its build and reads its result). Ids are deterministic, so adding the same run again adds nothing. Every
// payload is checked before it goes. A job that throws (our infrastructure, not the student's code: a failed build
// is a result, not a failure) is tried `attempts` times; after that its parent (the run, or the build's test) goes
// on without it and finds the failure in its ignored failures (job.getIgnoredChildrenFailures), so a run always
// reaches its end.
import type { FlowJob, JobsOptions } from 'bullmq';
import { PREFIX, queueName } from './names.js';
import { JOB_PAYLOAD_VERSION, jobId, validateJobData, type PlainObject } from './payloads.js';

export interface FlowBuild {
  key: string;
  arch: string;
  /** The build is booted (`lava: true`): its test job runs after it. */
  test: boolean;
  /** The build finished before (a run resumed after a restart): only its test is queued, which finds the result in its unit. */
  built?: boolean;
}

export interface RunFlowInput {
  runId: number;
  project: string;
  builds: readonly FlowBuild[];
  /** The portable unit each job carries (the engine's heavy unit, narrowed to one build or its test). */
  unit(kind: 'build' | 'test', key: string): PlainObject;
  /** Tries of a job that throws, and the first delay between them (default JOB_OPTIONS: 3, 5 s doubling). */
  retry?: { attempts: number; delayMs: number };
}

/** Retries of a job that throws; completed jobs are kept a day (the admin page counts them), failed ones a week. */
export const JOB_OPTIONS: Readonly<JobsOptions> = Object.freeze({
  attempts: 3,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 86_400 },
  removeOnFail: { age: 7 * 86_400 },
});

/** A child's own options: it does not hold its parent back once its attempts are used up. */
const CHILD_OPTIONS: Readonly<JobsOptions> = Object.freeze({ ...JOB_OPTIONS, ignoreDependencyOnFailure: true });

export function runFlow(input: RunFlowInput): FlowJob {
  const { runId, project } = input;
  const retry: JobsOptions = input.retry ? { attempts: input.retry.attempts, backoff: { type: 'exponential', delay: input.retry.delayMs } } : {};
  const childOpts = { ...CHILD_OPTIONS, ...retry };
  const child = (b: FlowBuild): FlowJob => {
    const build: FlowJob = {
      name: 'build',
      queueName: queueName('builds', b.arch),
      prefix: PREFIX,
      data: validateJobData({ v: JOB_PAYLOAD_VERSION, kind: 'build', runId, project, key: b.key, arch: b.arch, unit: input.unit('build', b.key) }, 'build'),
      opts: { ...childOpts, jobId: jobId('build', runId, b.key) },
    };
    if (!b.test) return build;
    return {
      name: 'test',
      queueName: queueName('tests', b.arch),
      prefix: PREFIX,
      data: validateJobData({ v: JOB_PAYLOAD_VERSION, kind: 'test', runId, project, key: b.key, arch: b.arch, unit: input.unit('test', b.key) }, 'test'),
      opts: { ...childOpts, jobId: jobId('test', runId, b.key) },
      ...(b.built ? {} : { children: [build] }),
    };
  };
  return {
    name: 'run',
    queueName: queueName('runs'),
    prefix: PREFIX,
    data: validateJobData({ v: JOB_PAYLOAD_VERSION, kind: 'run', runId, project, keys: input.builds.map((b) => b.key) }, 'run'),
    opts: { ...JOB_OPTIONS, ...retry, jobId: jobId('run', runId) },
    children: input.builds.map(child),
  };
}

export interface GateFlowInput {
  runId: number;
  project: string;
  /** The run's gate unit (src/pipeline/gate-runner.ts). */
  unit: PlainObject;
  retry?: { attempts: number; delayMs: number };
}

/**
 * A run's gate part: the parent `verdict-R` in `runs` (the server records the verdict and ends the run or queues its
 * builds when it runs) and its one child `gate-R` in `gates` (the four gates, on a worker). The parent runs even when
 * the gate job fails on every try: it finds the failure among its ignored failures.
 */
export function gateFlow(input: GateFlowInput): FlowJob {
  const { runId, project } = input;
  const retry: JobsOptions = input.retry ? { attempts: input.retry.attempts, backoff: { type: 'exponential', delay: input.retry.delayMs } } : {};
  return {
    name: 'verdict',
    queueName: queueName('runs'),
    prefix: PREFIX,
    data: validateJobData({ v: JOB_PAYLOAD_VERSION, kind: 'verdict', runId, project }, 'verdict'),
    opts: { ...JOB_OPTIONS, ...retry, jobId: jobId('verdict', runId) },
    children: [
      {
        name: 'gate',
        queueName: queueName('gates'),
        prefix: PREFIX,
        data: validateJobData({ v: JOB_PAYLOAD_VERSION, kind: 'gate', runId, project, unit: input.unit }, 'gate'),
        opts: { ...CHILD_OPTIONS, ...retry, jobId: jobId('gate', runId) },
      },
    ],
  };
}

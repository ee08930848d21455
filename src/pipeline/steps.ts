// The pipeline's steps in the order they run (STYLE rule 11), and what the engine must know of each: the gates run
// once per series; build and test run once per build of the project (a test only after its build passed).
import { applyStep } from './steps/apply.step.js';
import { buildStep } from './steps/build.step.js';
import { checkpatchStep } from './steps/checkpatch.step.js';
import { signoffStep } from './steps/signoff.step.js';
import { testStep } from './steps/test.step.js';
import { testdescStep } from './steps/testdesc.step.js';
import type { BuildContext, BuildSpec, Job, StepContext, StepName, StepResult, TestContext } from './types.js';

export type StepFn = (job: Job, ctx: StepContext) => Promise<StepResult>;

export interface StepSpec {
  name: StepName;
  run: StepFn;
  /** Once per series, or once per build (the run_steps row's `job` is the build's key). */
  perBuild: boolean;
  /** Needs the run's worktree (leased before the first such step). */
  needsTree: boolean;
  /** Changes the worktree: after a restart it and every later step run again on a fresh tree. */
  mutatesTree: boolean;
}

export const STEPS: readonly StepSpec[] = [
  { name: 'signoff', run: signoffStep, perBuild: false, needsTree: false, mutatesTree: false },
  { name: 'testdesc', run: testdescStep, perBuild: false, needsTree: false, mutatesTree: false },
  { name: 'checkpatch', run: checkpatchStep, perBuild: false, needsTree: true, mutatesTree: false },
  { name: 'apply', run: applyStep, perBuild: false, needsTree: true, mutatesTree: true },
  { name: 'build', run: (job, ctx) => buildStep(job, ctx as BuildContext), perBuild: true, needsTree: true, mutatesTree: true },
  { name: 'test', run: (job, ctx) => testStep(job, ctx as TestContext), perBuild: true, needsTree: true, mutatesTree: false },
];

export function stepSpec(name: string): StepSpec {
  const s = STEPS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown pipeline step ${name}`);
  return s;
}

/** The Patchwork check's context: `checkpatch`, `build-x86_64`, `test-arm64`… */
export function checkContext(step: StepName, job: string): string {
  if (step === 'testdesc') return 'test-description';
  return job ? `${step}-${job}` : step;
}

/** The project's builds with unique keys: the arch, or arch-2, arch-3 for an arch built more than once. */
export function buildSpecs(builds: readonly { arch: string; base: string; config: string[]; lava: boolean; runner?: 'qemu' | 'lava' | undefined }[]): BuildSpec[] {
  const seen = new Map<string, number>();
  return builds.map((b) => {
    const n = (seen.get(b.arch) ?? 0) + 1;
    seen.set(b.arch, n);
    return { key: n === 1 ? b.arch : `${b.arch}-${n}`, arch: b.arch, base: b.base, fragments: b.config, lava: b.lava, runner: b.runner ?? 'qemu' };
  });
}

/**
 * How a run's builds share its CPUs (--pipeline-cpus divided among the runs at once): a kernel build at -j4 keeps
 * about four CPUs busy through its compile phases, so one build at once per four CPUs (at least one, at most the
 * number of builds), each with its share of the CPUs as make -j. On 2 CPUs: one build at a time at -j2, the boots
 * beside it (kernel-lab §4: two builds at once on 2 cores gain nothing).
 */
export function buildBudget(cpus: number, builds: number): { concurrent: number; jobs: number } {
  const concurrent = Math.max(1, Math.min(Math.floor(cpus / 4), builds));
  return { concurrent, jobs: Math.max(1, Math.ceil(cpus / concurrent)) };
}

/** The rows of a run, in order: the gates, then each build followed by its test (so a boot overlaps the next build). */
export function planSteps(builds: readonly BuildSpec[]): { step: StepName; job: string }[] {
  const plan: { step: StepName; job: string }[] = STEPS.filter((s) => !s.perBuild).map((s) => ({ step: s.name, job: '' }));
  for (const b of builds) {
    plan.push({ step: 'build', job: b.key });
    if (b.lava) plan.push({ step: 'test', job: b.key });
  }
  return plan;
}

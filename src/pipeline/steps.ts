// The pipeline's steps in the order they run (STYLE rule 11), and what the engine must know of each.
import { applyStep } from './steps/apply.step.js';
import { checkpatchStep } from './steps/checkpatch.step.js';
import { signoffStep } from './steps/signoff.step.js';
import { testdescStep } from './steps/testdesc.step.js';
import type { Job, StepContext, StepName, StepResult } from './types.js';

export type StepFn = (job: Job, ctx: StepContext) => Promise<StepResult>;

export interface StepSpec {
  name: StepName;
  run: StepFn;
  /** The Patchwork check's context. */
  context: string;
  /** Needs the run's worktree (leased before the first such step). */
  needsTree: boolean;
  /** Changes the worktree: after a restart it and every later step run again on a fresh tree. */
  mutatesTree: boolean;
}

export const STEPS: readonly StepSpec[] = [
  { name: 'signoff', run: signoffStep, context: 'signoff', needsTree: false, mutatesTree: false },
  { name: 'testdesc', run: testdescStep, context: 'test-description', needsTree: false, mutatesTree: false },
  { name: 'checkpatch', run: checkpatchStep, context: 'checkpatch', needsTree: true, mutatesTree: false },
  { name: 'apply', run: applyStep, context: 'apply', needsTree: true, mutatesTree: true },
];

export function stepSpec(name: string): StepSpec {
  const s = STEPS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown pipeline step ${name}`);
  return s;
}

// A piscina worker: runs one step and returns its result (plain data). Workers never touch the database.
import { stepSpec } from './steps.js';
import type { Job, StepContext, StepResult } from './types.js';

export interface StepTask {
  step: string;
  job: Job;
  ctx: StepContext;
}

export default function runStep(task: StepTask): Promise<StepResult> {
  return stepSpec(task.step).run(task.job, task.ctx);
}

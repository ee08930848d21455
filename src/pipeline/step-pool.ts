// Runs steps in worker threads (piscina), so that parsing tool output never blocks SMTP or HTTP; a cancelled run's
// task is aborted (its worker is replaced) and its child processes are killed by process group.
import { Piscina } from 'piscina';
import { BroadcastChannel } from 'node:worker_threads';
import { CHILDREN_CHANNEL, killGroup } from './exec.js';
import runStep, { type StepTask } from './step.worker.js';
import type { StepResult } from './types.js';

export interface StepPool {
  run(task: StepTask, signal: AbortSignal): Promise<StepResult>;
  /** Kills every child process of the run (git, checkpatch, make) still alive. */
  killChildren(runId: number): void;
  destroy(): Promise<void>;
}

/** `threads` workers; 0 runs steps on the calling thread (tests). */
export function createStepPool(threads: number): StepPool {
  const children = new Map<number, Set<number>>();
  const channel = new BroadcastChannel(CHILDREN_CHANNEL);
  channel.onmessage = (ev: unknown) => {
    const { runId, pid, alive } = (ev as { data: { runId: number; pid: number; alive: boolean } }).data;
    let set = children.get(runId);
    if (alive) {
      if (!set) children.set(runId, (set = new Set()));
      set.add(pid);
    } else if (set) {
      set.delete(pid);
      if (!set.size) children.delete(runId);
    }
  };
  channel.unref();
  const killChildren = (runId: number) => {
    for (const pid of children.get(runId) ?? []) killGroup(pid);
  };

  if (threads <= 0) {
    return {
      run: (task, signal) =>
        new Promise<StepResult>((resolve, reject) => {
          const onAbort = () => {
            killChildren(task.job.runId);
            reject(new DOMException('step cancelled', 'AbortError'));
          };
          if (signal.aborted) return onAbort();
          signal.addEventListener('abort', onAbort, { once: true });
          runStep(task).then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
        }),
      killChildren,
      destroy: async () => channel.close(),
    };
  }
  const pool = new Piscina({
    filename: new URL('./step.worker.ts', import.meta.url).href,
    minThreads: 1,
    maxThreads: threads,
    idleTimeout: 60_000,
    // The sources are TypeScript: each worker loads them through tsx as the main thread does.
    execArgv: [...process.execArgv.filter((a) => !a.startsWith('--test')), '--import', 'tsx'],
  });
  return {
    run: async (task, signal) => {
      const onAbort = () => killChildren(task.job.runId);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        return (await pool.run(task, { signal })) as StepResult;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
    killChildren,
    destroy: async () => {
      channel.close();
      await pool.destroy();
    },
  };
}

// One boot through a LAVA server, for the test step: waits for one of the project's `lava.max_jobs` slots, submits
// the job, follows it by polling until it ends (a job that waits for a device longer than the configured wait is
// cancelled: the lab's fault), reads its log and test cases, and says whose fault the end was (./lava-answers.ts).
// The lab's failures are submitted again, a bounded number of times. Each state change is told to `onState` (the
// step writes it beside its artefacts and tells the engine, which shows it and cancels the job when the run goes).
import { setTimeout as sleep } from 'node:timers/promises';
import { isAppError } from '../../errors.js';
import { crashLines, readConsole, type ConsoleReading } from '../rules/console-output.js';
import { jobError, parseLog, queueState, whoseFault, type Fault, type LavaCase, type LavaJob } from './lava-answers.js';
import { LavaClient, type LavaServer } from './lava-client.js';
import { acquireSlot } from './lava-slots.js';
import { sleepOrWake, type LavaStateNote } from './lava-state.js';

/** What the test step needs to use a LAVA server (built by the engine from the server's flags and the project). */
export interface LavaStepSettings {
  server: LavaServer;
  /** Submits again after the lab's failure (so at most retries + 1 jobs). */
  retries: number;
  /** How long a job may wait for a device before it is cancelled as the lab's failure. */
  startWaitMs: number;
  pollMs: number;
  /** The project's lava.max_jobs and the folder of its slots. */
  maxJobs: number;
  slotsDir: string;
  /** URL prefix (ending in /) under which the LAVA worker downloads this build's artefacts, per-run secret included. */
  artifactsUrl: string;
  /** Where the LAVA server posts its notify callback when the job ends (same secret): the follower then polls at once. */
  notifyUrl?: string;
}

export type { LavaStateNote } from './lava-state.js';

/** How long a cancelled job may take to end before it is no longer followed (a worker that is gone never ends it). */
const CANCEL_GRACE_MS = 60_000;

export type LavaBoot =
  /** The guest ran (or crashed): judge its console as the embedded runner does. */
  | ({ kind: 'guest'; job: LavaJob; jobUrl: string; consoleText: string; reading: ConsoleReading; cases: LavaCase[]; hung: boolean; ended: boolean; attempts: number } & LavaTimes)
  /** Ours: the lab failed (after the retries), or the job was cancelled on the server. */
  | ({ kind: 'error'; why: string; jobIds: number[]; jobUrl: string | null; consoleText: string; attempts: number } & LavaTimes);

/** Where the time went (the benchmark's split): patchbay's own work, and the rest, LAVA's. */
export interface LavaTimes {
  /**
   * Patchbay's overhead: what it adds to the time from "build done" to "results stored". The submit call, and from
   * the poll that found the job finished (at once when LAVA's notify callback wakes it) to the end: that poll, the
   * log, the cases and judging them. Polls while the job runs overlap LAVA's own time and are not counted here.
   */
  overheadMs: number;
  /** Waiting on the LAVA server's answers (submit, every poll, log, cases, cancel): its latency under load counts here. */
  httpMs: number;
  /** Reading the log and judging the console (our CPU). */
  parseMs: number;
  requests: number;
  /** From the job's end on LAVA's clock to patchbay seeing it (LAVA's notify callback, else the next poll); null if unknown. */
  noticeMs: number | null;
  /** From the slot to the end, less the overhead: LAVA's scheduling, download, overlay, boot and tests. */
  lavaMs: number;
}

export interface LavaBootOptions {
  settings: LavaStepSettings;
  definition: string;
  runId: number;
  key: string;
  /** Ends the wait for a job to finish (the step's timeout); the job is then cancelled. */
  deadlineMs: number;
  log: (line: string) => void;
  onState: (note: LavaStateNote) => void;
  signal?: AbortSignal;
}

export async function lavaBoot(o: LavaBootOptions): Promise<LavaBoot> {
  const s = o.settings;
  const client = new LavaClient(s.server);
  let started = performance.now();
  const t = { httpMs: 0, parseMs: 0, requests: 0, criticalMs: 0, noticeMs: null as number | null };
  /** Our own time: HTTP calls and parsing (the benchmark's "patchbay overhead"). */
  const timed = async <T>(f: () => Promise<T> | T, kind: 'http' | 'parse' = 'http'): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      if (kind === 'http') {
        t.httpMs += performance.now() - t0;
        t.requests++;
      } else t.parseMs += performance.now() - t0;
    }
  };
  const times = (): LavaTimes => {
    return { overheadMs: t.criticalMs, httpMs: t.httpMs, parseMs: t.parseMs, requests: t.requests, noticeMs: t.noticeMs, lavaMs: performance.now() - started - t.criticalMs };
  };
  const jobIds: number[] = [];
  let lastUrl: string | null = null;
  let lastConsole = '';
  const end = (why: string, attempts: number): LavaBoot => ({ kind: 'error', why, jobIds, jobUrl: lastUrl, consoleText: lastConsole, attempts, ...times() });

  o.onState({ jobId: null, jobUrl: null, state: 'waiting for a slot', attempt: 1, device: null });
  const release = await acquireSlot(s.slotsDir, s.maxJobs, { runId: o.runId, key: o.key }, {
    waiting: () => o.log(`LAVA: the project's ${s.maxJobs} job(s) at once are submitted: waiting for one to end`),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  // The wait for a slot is the project's own queue, not LAVA's time.
  started = performance.now();
  try {
    for (let attempt = 1; ; attempt++) {
      const last = attempt > s.retries;
      let fault: Fault;
      let result: Extract<LavaBoot, { kind: 'guest' }> | null = null;
      try {
        const s0 = performance.now();
        const id = await timed(() => client.submit(o.definition, o.signal));
        t.criticalMs += performance.now() - s0;
        jobIds.push(id);
        lastUrl = client.jobUrl(id);
        o.log(`LAVA: job ${id} submitted (${lastUrl}), attempt ${attempt} of ${s.retries + 1}`);
        const job = await follow(client, id, o, attempt, timed);
        const logText = await timed(() => client.log(id, o.signal));
        const read = await timed(() => {
          const log = parseLog(logText);
          return { log, reading: readConsole(log.console) };
        }, 'parse');
        lastConsole = read.log.console;
        for (const e of read.log.errors) o.log(`LAVA: ${e}`);
        const cases = job.timedOut ? [] : await timed(() => client.cases(id, o.signal));
        const r = read.reading;
        const t1 = performance.now();
        const kernelSpoke = r.marks.linuxVersion > 0 || r.marks.runInit > 0 || r.marks.initUp > 0 || r.kernel.length > 0;
        const runnerExited = r.signals.some((x) => x.kind === 'runnerExit');
        fault = job.timedOut
          ? kernelSpoke
            ? { who: 'guest', hung: !runnerExited, ended: runnerExited }
            : { who: 'lab', why: job.timedOut, retry: false }
          : whoseFault(job, jobError(cases), { kernelSpoke, crashed: crashLines(r) !== null, runnerExited });
        t.parseMs += performance.now() - t1;
        t.criticalMs += performance.now() - job.finishSeenFrom;
        const ended = job.endTime ? Date.parse(job.endTime) : NaN;
        t.noticeMs = Number.isFinite(ended) ? Math.max(0, job.finishSeenAt - ended) : null;
        o.log(`LAVA: job ${id} ended ${job.state}/${job.health}${job.failureComment ? ` (${job.failureComment})` : ''}; ${cases.length} case(s); console ${lastConsole.length} bytes`);
        if (fault.who === 'guest') {
          result = { kind: 'guest', job, jobUrl: lastUrl, consoleText: lastConsole, reading: r, cases, hung: fault.hung, ended: fault.ended, attempts: attempt, ...times() };
        }
      } catch (e) {
        if (o.signal?.aborted) throw e;
        if (!isAppError(e) && !(e instanceof Error && e.name === 'LavaAnswerError')) throw e;
        // A refused submit is the same each time: our job or the server's configuration, not worth a retry.
        fault = { who: 'lab', why: e.message, retry: !(isAppError(e) && e.code === 'lava_refused') };
      }
      if (result) return { ...result, ...times() };
      if (fault.who === 'cancelled') return end(fault.why, attempt);
      if (fault.who === 'lab') {
        o.log(`LAVA: the lab failed: ${fault.why}`);
        if (!fault.retry || last) return end(attempt > 1 ? `${fault.why} (after ${attempt} attempts)` : fault.why, attempt);
        await sleep(Math.min(30_000, 2000 * attempt), undefined, o.signal ? { signal: o.signal } : {});
      }
    }
  } finally {
    release();
  }
}

/** Polls the job until it is Finished. A job still waiting for a device after startWaitMs, or running past the deadline, is cancelled. */
async function follow(
  client: LavaClient,
  id: number,
  o: LavaBootOptions,
  attempt: number,
  timed: <T>(f: () => Promise<T> | T) => Promise<T>,
): Promise<LavaJob & { timedOut: string | null; finishSeenFrom: number; finishSeenAt: number }> {
  const s = o.settings;
  const submitted = performance.now();
  let said = '';
  let misses = 0;
  let cancelled: string | null = null;
  let cancelledAt = 0;
  const cancel = async (why: string) => {
    cancelled = why;
    cancelledAt = performance.now();
    o.log(`LAVA: ${why}`);
    await timed(() => client.cancel(id, o.signal)).catch((e: unknown) => o.log(`LAVA: the cancel of job ${id} failed: ${(e as Error).message}`));
  };
  for (;;) {
    let job: LavaJob;
    const polled = performance.now();
    try {
      job = await timed(() => client.job(id, o.signal));
      misses = 0;
    } catch (e) {
      // A server that does not answer for a while may come back: give up after a minute of polls.
      if (o.signal?.aborted || !isAppError(e) || ++misses * s.pollMs > 60_000) throw e;
      await sleep(s.pollMs, undefined, o.signal ? { signal: o.signal } : {});
      continue;
    }
    const state = queueState(job);
    const note = `${state}${job.device ? ` on ${job.device}` : ''}`;
    if (note !== said) {
      said = note;
      o.log(`LAVA: job ${id} ${note}`);
      o.onState({ jobId: id, jobUrl: client.jobUrl(id), state, attempt, device: job.device });
    }
    if (job.state === 'Finished') return { ...job, timedOut: cancelled, finishSeenFrom: polled, finishSeenAt: Date.now() };
    const waited = performance.now() - submitted;
    if (!cancelled && !job.startTime && job.state !== 'Running' && waited > s.startWaitMs) {
      // Submitted: no device free or online; Scheduling/Scheduled: a device was given but its worker never started it.
      await cancel(`LAVA job ${id} waited ${Math.round(waited / 1000)} s for a device (${job.state === 'Submitted' ? 'no device free or online' : `${job.state.toLowerCase()} on ${job.device ?? 'a device'}, never started by its worker`}): cancelled`);
    } else if (!cancelled && waited > o.deadlineMs) {
      await cancel(`LAVA job ${id} did not finish within ${Math.round(o.deadlineMs / 1000)} s: cancelled`);
    } else if (cancelled && performance.now() - cancelledAt > CANCEL_GRACE_MS) {
      // The server took the cancel but the job never ended (its worker is gone): stop following it.
      o.log(`LAVA: job ${id} still ${job.state} ${Math.round(CANCEL_GRACE_MS / 1000)} s after its cancel: no longer followed`);
      return { ...job, timedOut: cancelled, finishSeenFrom: polled, finishSeenAt: Date.now() };
    }
    // LAVA's notify callback (./lava-state.ts) cuts the wait short when the job ends.
    await sleepOrWake(o.runId, s.pollMs, o.signal);
  }
}

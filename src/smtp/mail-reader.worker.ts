// Worker-thread entry of the mail reader (mail-reader.ts): reads a batch of stored mails, one outcome per mail.
import { errorText, readMail, type MailJob, type ReadOutcome } from './mail-reading.js';

/** The task: the jobs, and a shared counter the worker sets to i + 1 as it starts on job i. */
export interface ReaderTask {
  jobs: MailJob[];
  progress: SharedArrayBuffer;
}

export default async function read(task: ReaderTask): Promise<ReadOutcome[]> {
  const progress = new Int32Array(task.progress);
  const out: ReadOutcome[] = [];
  for (let i = 0; i < task.jobs.length; i++) {
    // The pool's watchdog times the mail by this mark: set before the work, so a mail that never returns is known.
    Atomics.store(progress, 0, i + 1);
    try {
      out.push({ ok: true, mail: await readMail(task.jobs[i]!) });
    } catch (e) {
      out.push({ ok: false, failure: 'threw', error: errorText(e) });
    }
  }
  return out;
}

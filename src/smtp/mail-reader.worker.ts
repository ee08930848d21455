// Worker-thread entry of the mail reader (mail-reader.ts): reads a batch of stored mails, one outcome per mail.
import { errorText, readMail, type MailJob, type ReadOutcome } from './mail-reading.js';

/** The task: the jobs, and a shared counter the worker sets to i + 1 as it starts on job i. */
export interface ReaderTask {
  jobs: MailJob[];
  progress: SharedArrayBuffer;
}

/**
 * A MIME mail read once as the worker starts, before its first task's mails are timed (the progress mark is set
 * after it): mailparser loads its charset tables and decoders on first use (about half a second on a busy core),
 * which would otherwise count against the time budget of the first mail after every restart of a worker.
 */
const WARM_UP = Buffer.from(
  [
    'From: Warm Up <warm@example.org>',
    'Subject: =?iso-8859-1?q?warm_up?=',
    'Date: Fri, 20 Nov 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="w"',
    '',
    '--w',
    'Content-Type: text/plain; charset=iso-8859-1',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'caf=E9',
    '',
    'Signed-off-by: Warm Up <warm@example.org>',
    '--w',
    'Content-Type: text/x-patch; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n').toString('base64'),
    '--w--',
    '',
  ].join('\n'),
);
const warm = readMail({ raw: WARM_UP, route: 'list', projectSlug: 'warm', msgid: 'warm@example.org', receivedAt: '2026-11-20T10:00:00.000Z' }).then(
  () => undefined,
  () => undefined,
);

export default async function read(task: ReaderTask): Promise<ReadOutcome[]> {
  await warm;
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

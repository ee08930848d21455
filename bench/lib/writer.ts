// bench/api --writer RATE: a client that writes RATE times a second while the readers run, as a live list does: a CI
// check posted through the REST API on a random patch, then a one-patch mail sent through SMTP to a random project's
// list, alternately. Latency percentiles per kind of write and the server's CPU per write.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { addUser, createToken } from '../../src/api/user.service.js';
import { withDb } from '../../test/helpers/seed.js';
import { sendMessage } from '../../test/helpers/smtp-dialog.js';
import { cpuTimeMs, percentile, tableRow, type Stats } from './load.js';
import { prng } from './patch-db.js';

const WRITER = { email: 'bench-writer@example.org', name: 'Bench Writer', role: 'admin', username: 'bench-writer' };

/** The writer's REST API token (an admin may post a check on any patch), made before the server starts. */
export async function writerToken(dataDir: string): Promise<string> {
  return withDb(dataDir, async (db) => {
    await addUser(db, WRITER, { update: true });
    return createToken(db, WRITER.email);
  });
}

export interface WriterOptions {
  rate: number;
  httpPort: number;
  smtpPort: number;
  token: string;
  patches: number;
  projects: number;
  listOf: (project: number) => string;
  serverPid: number | undefined;
  /** The CPU per write to report (as measured alone) when readers share the server's CPU; default: measured now. */
  cpuMsPerWrite?: number;
}

export interface WriterResult {
  /** Table rows (load.ts's TABLE_HEADER) for the checks and the mails. */
  rows: string[];
  /** The server's CPU over the writer's time per write sent (only meaningful without readers). */
  cpuMsPerWrite: number | undefined;
}

export interface Writer {
  /** Stops sending, waits for the writes under way, and sums up. */
  stop(): Promise<WriterResult>;
  /** Runs for `ms`, then stop(). */
  runFor(ms: number): Promise<WriterResult>;
}

let mailSeq = 0;

function patchMail(list: string): string {
  const n = `${process.pid}-${Date.now()}-${mailSeq++}`;
  return [
    'From: Bench Writer <bench-writer@students.example.org>',
    `To: ${list}`,
    `Subject: [PATCH] bench: live write ${n}`,
    `Message-ID: <bench-writer-${n}@students.example.org>`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    'A write while the readers run.',
    '',
    'Signed-off-by: Bench Writer <bench-writer@students.example.org>',
    '---',
    ` live-${n}.c | 1 +`,
    ' 1 file changed, 1 insertion(+)',
    '',
    `diff --git a/live-${n}.c b/live-${n}.c`,
    'new file mode 100644',
    'index 0000000..e69de29',
    '--- /dev/null',
    `+++ b/live-${n}.c`,
    '@@ -0,0 +1 @@',
    '+int live;',
    '',
  ].join('\n');
}

function postCheck(agent: http.Agent, o: WriterOptions, patchId: number): Promise<number> {
  const body = JSON.stringify({ state: 'success', context: 'bench-writer', description: 'a write while the readers run' });
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: o.httpPort, method: 'POST', path: `/api/patches/${patchId}/checks/`, agent, headers: { authorization: `Token ${o.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export function startWriter(o: WriterOptions): Writer {
  const rand = prng(11);
  const agent = new http.Agent({ keepAlive: true });
  const kinds = { check: { latencies: [] as number[], errors: {} as Record<string, number> }, mail: { latencies: [] as number[], errors: {} as Record<string, number> } };
  const pending = new Set<Promise<void>>();
  const t0 = performance.now();
  const cpu0 = cpuTimeMs(o.serverPid);
  let sent = 0;

  const once = async (kind: 'check' | 'mail') => {
    const start = performance.now();
    let status: string;
    try {
      if (kind === 'check') status = String(await postCheck(agent, o, 1 + Math.floor(rand() * o.patches)));
      else {
        const list = o.listOf(Math.floor(rand() * o.projects));
        status = (await sendMessage(o.smtpPort, 'bench-writer@students.example.org', [list], patchMail(list))).final.slice(0, 3);
      }
    } catch (e) {
      status = (e as Error).message;
    }
    const k = kinds[kind];
    if (status === '201' || status === '250') k.latencies.push(performance.now() - start);
    else k.errors[status] = (k.errors[status] ?? 0) + 1;
  };
  // A fixed rate whatever the answers' latency (an open loop): a slow server does not slow the writes down.
  const timer = setInterval(() => {
    const p = once(sent++ % 2 === 0 ? 'check' : 'mail');
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }, 1000 / o.rate);

  const stop = async (): Promise<WriterResult> => {
    clearInterval(timer);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuTimeMs(o.serverPid);
    await Promise.all(pending);
    agent.destroy();
    const cpuMsPerWrite = o.cpuMsPerWrite ?? (cpu0 !== undefined && cpu1 !== undefined && sent ? (cpu1 - cpu0) / sent : undefined);
    const rows = (['check', 'mail'] as const).map((kind) => {
      const { latencies, errors } = kinds[kind];
      latencies.sort((a, b) => a - b);
      const n = latencies.length + Object.values(errors).reduce((a, b) => a + b, 0);
      const s: Stats = { requests: n, errors, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), rps: n / seconds, bytes: 0, cpuMs: cpuMsPerWrite };
      return tableRow(kind === 'check' ? 'writer: POST /api/patches/N/checks/' : 'writer: SMTP mail (acknowledged)', s);
    });
    return { rows, cpuMsPerWrite };
  };
  return {
    stop,
    runFor: (ms) => new Promise((resolve, reject) => setTimeout(() => stop().then(resolve, reject), ms)),
  };
}

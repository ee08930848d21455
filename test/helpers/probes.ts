// Liveness probes against a running server: GET /healthz, and a fresh SMTP connection's banner and EHLO, on a timer;
// each probe's latency (or failure) is kept for the caller's assertions and figures.
import { SmtpSession } from './smtp-client.js';
import type { ServerProcess } from './server-process.js';

export interface ProbeResults {
  /** Milliseconds per /healthz answered 200. */
  healthz: number[];
  /** Milliseconds from connecting to the EHLO reply, per SMTP probe that was greeted with 220 and answered 250. */
  smtp: number[];
  /** Probes that failed or did not answer within their timeout, with why. */
  failures: string[];
}

export interface Probes {
  stop(): Promise<ProbeResults>;
}

/** Probes until stopped; a probe that takes longer than `timeoutMs` counts as a failure (and the next one starts). */
export function startProbes(server: Pick<ServerProcess, 'baseUrl' | 'smtpPort'>, o: { healthzEveryMs: number; smtpEveryMs: number; timeoutMs?: number }): Probes {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const results: ProbeResults = { healthz: [], smtp: [], failures: [] };
  let stopped = false;

  const loop = async (everyMs: number, probe: () => Promise<void>) => {
    while (!stopped) {
      const started = performance.now();
      await probe();
      const wait = everyMs - (performance.now() - started);
      if (wait > 0 && !stopped) await new Promise((r) => setTimeout(r, wait));
    }
  };

  const healthz = async () => {
    const t0 = performance.now();
    try {
      const res = await fetch(`${server.baseUrl}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      if (res.status === 200) results.healthz.push(performance.now() - t0);
      else results.failures.push(`/healthz answered ${res.status}`);
    } catch (e) {
      results.failures.push(`/healthz: ${(e as Error).message} after ${(performance.now() - t0).toFixed(0)} ms`);
    }
  };

  const smtp = async () => {
    const t0 = performance.now();
    let session: SmtpSession | null = null;
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    try {
      const opened = SmtpSession.open(server.smtpPort);
      const first = await Promise.race([opened, timer]);
      if (first === 'timeout') {
        results.failures.push(`SMTP: no banner and EHLO within ${timeoutMs} ms`);
        void opened.then((s) => s.close(), () => {});
        return;
      }
      session = first;
      if (session.greeting?.code === 220 && session.ehlo?.code === 250) results.smtp.push(performance.now() - t0);
      else results.failures.push(`SMTP: greeted ${session.greeting?.text ?? 'nothing'}, EHLO ${session.ehlo?.text ?? 'no answer'}`);
    } catch (e) {
      results.failures.push(`SMTP: ${(e as Error).message} after ${(performance.now() - t0).toFixed(0)} ms`);
    } finally {
      if (session) await session.quit();
    }
  };

  const running = Promise.all([loop(o.healthzEveryMs, healthz), loop(o.smtpEveryMs, smtp)]);
  return {
    async stop() {
      stopped = true;
      await running;
      return results;
    },
  };
}

/** The largest value, or 0 for none. */
export const maxOf = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), 0);

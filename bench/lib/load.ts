// The HTTP benchmarks' client side (bench/api, bench/web): C keep-alive clients, each sending its next request when
// the last one is answered, for a warm-up then a measured time; latency percentiles of the 200 answers, requests/s
// and the server process's CPU time per request; the server's environment for a CPU profile; the figures' table.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/**
 * The options both HTTP benchmarks take (node:util parseArgs), each with its BENCH_* environment variable: the
 * database's shape (bench/lib/patch-db.ts), its folder, the load, which endpoints (--only REGEX), a CPU profile.
 */
export const BENCH_OPTIONS = {
  patches: { type: 'string', default: process.env.BENCH_PATCHES ?? '1000000' },
  'series-size': { type: 'string', default: process.env.BENCH_SERIES_SIZE ?? '5' },
  projects: { type: 'string', default: process.env.BENCH_PROJECTS ?? '20' },
  clients: { type: 'string', default: process.env.BENCH_CLIENTS ?? '16' },
  duration: { type: 'string', default: process.env.BENCH_DURATION ?? '15' },
  warmup: { type: 'string', default: process.env.BENCH_WARMUP ?? '2' },
  data: { type: 'string', default: process.env.BENCH_DATA ?? '' },
  only: { type: 'string', default: process.env.BENCH_ONLY ?? '' },
  profile: { type: 'string', default: process.env.BENCH_PROFILE ?? '' },
} as const;

export interface LoadOptions {
  clients: number;
  warmupMs: number;
  durationMs: number;
}

export interface Target {
  method: string;
  path: string;
}

export interface Stats {
  requests: number;
  errors: Record<string, number>;
  p50: number;
  p95: number;
  p99: number;
  rps: number;
  bytes: number;
  /** The server process's CPU time (user + system, all threads) per measured request; undefined where unknown. */
  cpuMs: number | undefined;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One request on a keep-alive connection; resolves when the whole body is read. */
export function request(agent: http.Agent, port: number, method: string, urlPath: string): Promise<{ status: number; bytes: number; body: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers: method === 'POST' ? { 'content-length': '0' } : {} }, (res) => {
      let bytes = 0;
      const body: Buffer[] = [];
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        if (res.statusCode !== 200) body.push(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * CPU time of a process so far, in ms, from /proc/<pid>/stat (utime and stime, in USER_HZ = 100 ticks per second):
 * on a machine shared with other work, the server's CPU per request moves less than its latency. Linux only.
 */
export function cpuTimeMs(pid: number | undefined): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** `clients` loops, each sending its next request when the last one is answered, for warm-up + duration. */
export async function load(port: number, target: () => Target, serverPid: number | undefined, o: LoadOptions): Promise<Stats> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.clients });
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let bytes = 0;
  const begin = performance.now();
  const measureFrom = begin + o.warmupMs;
  const end = measureFrom + o.durationMs;
  let cpuFrom: number | undefined;
  let cpuTo: number | undefined;
  const marks = [setTimeout(() => (cpuFrom = cpuTimeMs(serverPid)), o.warmupMs), setTimeout(() => (cpuTo = cpuTimeMs(serverPid)), o.warmupMs + o.durationMs)];
  await Promise.all(
    Array.from({ length: o.clients }, async () => {
      while (performance.now() < end) {
        const t = target();
        const t0 = performance.now();
        let status: number | string;
        try {
          const r = await request(agent, port, t.method, t.path);
          status = r.status;
          if (t0 >= measureFrom) bytes += r.bytes;
        } catch (e) {
          status = (e as Error).message;
        }
        const t1 = performance.now();
        if (t0 < measureFrom || t1 > end) continue;
        if (status === 200) latencies.push(t1 - t0);
        else errors[String(status)] = (errors[String(status)] ?? 0) + 1;
      }
    }),
  );
  agent.destroy();
  // On a busy machine the last clients can finish before the end mark's timer runs: read the CPU time now then.
  cpuTo ??= cpuTimeMs(serverPid);
  for (const m of marks) clearTimeout(m);
  latencies.sort((a, b) => a - b);
  const n = latencies.length + Object.values(errors).reduce((a, b) => a + b, 0);
  const cpuMs = cpuFrom !== undefined && cpuTo !== undefined && n ? (cpuTo - cpuFrom) / n : undefined;
  return { requests: n, errors, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), rps: n / (o.durationMs / 1000), bytes, cpuMs };
}

/**
 * The server's environment for --profile DIR: a module preloaded through NODE_OPTIONS (which refuses --cpu-prof
 * itself) that starts the inspector's profiler and writes the profile there on SIGTERM (a .cpuprofile for DevTools).
 */
export function profileEnv(profileDir: string): NodeJS.ProcessEnv {
  const dir = path.resolve(profileDir);
  fs.mkdirSync(dir, { recursive: true });
  const code = [
    "import inspector from 'node:inspector'; import fs from 'node:fs';",
    'const s = new inspector.Session(); s.connect(); s.post("Profiler.enable"); s.post("Profiler.start");',
    `process.once("SIGTERM", () => s.post("Profiler.stop", (e, r) => fs.writeFileSync(${JSON.stringify(dir)} + "/server-" + process.pid + ".cpuprofile", JSON.stringify(r.profile))));`,
  ].join(' ');
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=data:text/javascript,${encodeURIComponent(code)}`.trim() };
}

export const TABLE_HEADER = '| endpoint | requests/s | p50 | p95 | p99 | server CPU/request | non-200 |\n|---|--:|--:|--:|--:|--:|---|';

/** One row of the figures' table (markdown, as docs/benchmarks.md shows them). */
export function tableRow(name: string, s: Stats): string {
  const errs = Object.entries(s.errors).map(([k, v]) => `${v}× ${k}`).join(', ') || '0';
  const cpu = s.cpuMs === undefined ? '—' : `${s.cpuMs.toFixed(2)} ms`;
  return `| \`${name}\` | ${s.rps.toFixed(0)} | ${s.p50.toFixed(1)} ms | ${s.p95.toFixed(1)} ms | ${s.p99.toFixed(1)} ms | ${cpu} | ${errs} |`;
}

// bench/fuzz: hostile mail from the seeded fuzzer (test/helpers/mail-fuzz.ts) into the server as a process, beside
// clean patch mail (bench/smtp-intake's), each on a fresh server while /healthz and a fresh SMTP connection are
// probed; prints mails/s acknowledged and processed (first message sent -> none left in state `stored`) and the
// probes' latencies, as a table of both runs.
// Usage: npm run bench:fuzz [-- --messages N --clean N --connections C --seed S --budget SECONDS --attempts N]
//   (or BENCH_MESSAGES, BENCH_CLEAN, BENCH_CONNECTIONS, BENCH_SEED, BENCH_BUDGET, BENCH_ATTEMPTS; --time-limit S)
import { parseArgs } from 'node:util';
import { DEMO, projectsDir, tempDir } from '../test/helpers/dirs.js';
import { fixtureMails, fuzzer } from '../test/helpers/mail-fuzz.js';
import { startProbes, type ProbeResults } from '../test/helpers/probes.js';
import { startServer } from '../test/helpers/server-process.js';
import { dataPayload } from '../test/helpers/smtp-client.js';
import { percentile } from './lib/load.js';
import { prng } from './lib/patch-db.js';
import { patchMail, sendAll, waitProcessed } from './lib/smtp-load.js';
import { startBench } from './lib/run-info.js';

startBench('fuzz');

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: process.env.BENCH_MESSAGES ?? '1000' },
    clean: { type: 'string', default: process.env.BENCH_CLEAN ?? '2000' },
    connections: { type: 'string', default: process.env.BENCH_CONNECTIONS ?? '20' },
    seed: { type: 'string', default: process.env.BENCH_SEED ?? '20261211' },
    budget: { type: 'string', default: process.env.BENCH_BUDGET ?? '' },
    attempts: { type: 'string', default: process.env.BENCH_ATTEMPTS ?? '' },
    'time-limit': { type: 'string', default: process.env.BENCH_TIME_LIMIT ?? '900' },
  },
});
const CONNECTIONS = Number(values.connections);
const DEADLINE = Date.now() + Number(values['time-limit']) * 1000;
// The server's own defaults unless told: the figures are for what an operator runs.
const MAIL_FLAGS = [...(values.budget ? ['--mail-time-budget', values.budget] : []), ...(values.attempts ? ['--mail-attempts', values.attempts] : [])];

interface Run {
  name: string;
  mails: number;
  megabytes: number;
  acceptedPerSecond: number;
  processedPerSecond: number;
  states: Record<string, number>;
  probes: ProbeResults;
}

/** Sends the payloads to a fresh server while probing it, and waits until every stored mail is processed. */
async function run(name: string, payloads: Buffer[]): Promise<Run> {
  const data = tempDir('patchbay-bench-fuzz-');
  // The senders and the SMTP probes all come from 127.0.0.1: the per-address cap (20 by default) must hold them all.
  const server = await startServer(['--data', data, '--projects', projectsDir([DEMO]), '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0', '--smtp-max-per-address', String(CONNECTIONS + 5), ...MAIL_FLAGS]);
  try {
    const probes = startProbes(server, { healthzEveryMs: 100, smtpEveryMs: 500 });
    const t0 = performance.now();
    const sent = await sendAll(server.smtpPort, payloads, { connections: CONNECTIONS, deadline: DEADLINE, strict: false });
    const { rows, states } = await waitProcessed(data, DEADLINE);
    const seconds = (performance.now() - t0) / 1000;
    const results = await probes.stop();
    if (rows.length !== sent.acked.length) throw new Error(`${name}: ${sent.acked.length} acknowledged, ${rows.length} stored`);
    return {
      name,
      mails: rows.length,
      megabytes: sent.acked.reduce((s, i) => s + payloads[i]!.length, 0) / 1e6,
      acceptedPerSecond: sent.acked.length / sent.seconds,
      processedPerSecond: rows.length / seconds,
      states,
      probes: results,
    };
  } finally {
    await server.stop();
  }
}

function row(r: Run): string {
  const h = [...r.probes.healthz].sort((a, b) => a - b);
  const s = [...r.probes.smtp].sort((a, b) => a - b);
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  return [
    r.name,
    `${r.mails} (${r.megabytes.toFixed(1)} MB)`,
    r.acceptedPerSecond.toFixed(0),
    r.processedPerSecond.toFixed(0),
    `${ms(percentile(h, 50))} / ${ms(percentile(h, 99))} / ${ms(h[h.length - 1] ?? NaN)}`,
    `${ms(percentile(s, 99))} / ${ms(s[s.length - 1] ?? NaN)}`,
    String(r.probes.failures.length),
    Object.entries(r.states)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  ].join(' | ');
}

async function main(): Promise<void> {
  const seed = Number(values.seed);
  console.log(`${CONNECTIONS} connections; server flags: ${MAIL_FLAGS.join(' ') || '(mail time budget and attempts: the defaults)'}; fuzzer seed ${seed}`);

  const rand = prng(20261126);
  const clean = Array.from({ length: Number(values.clean) }, (_, n) => dataPayload(patchMail(n, rand).raw));
  const next = fuzzer(seed, await fixtureMails());
  const hostile = Array.from({ length: Number(values.messages) }, () => dataPayload(next().raw));

  const runs = [await run('clean (bench/smtp-intake mail)', clean), await run('hostile (seeded fuzzer)', hostile)];
  console.log('');
  console.log('| run | mails | accepted/s | processed mails/s | /healthz p50 / p99 / max | SMTP banner+EHLO p99 / max | failed probes | states |');
  console.log('|---|--:|--:|--:|--:|--:|--:|---|');
  for (const r of runs) console.log(`| ${row(r)} |`);
  if (runs.some((r) => r.probes.failures.length)) {
    for (const r of runs) for (const f of r.probes.failures) console.log(`${r.name}: ${f}`);
    process.exitCode = 1;
  }
}

await main();

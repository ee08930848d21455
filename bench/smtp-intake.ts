// bench/smtp-intake: patch mails (5-50 KB) from 20 persistent SMTP sessions into the server as a process; prints
// messages/s acknowledged durably, DATA-end -> 250 latency, zero-loss check and processing throughput.
// Usage: npm run bench:smtp [-- --messages N --connections C]   (or BENCH_MESSAGES, BENCH_CONNECTIONS)
//   --profile DIR writes the server's CPU profile there (a .cpuprofile for Chrome DevTools) when it stops.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { DEMO, projectsDir, tempDir } from '../test/helpers/dirs.js';
import { startServer } from '../test/helpers/server-process.js';
import { dataPayload } from '../test/helpers/smtp-client.js';
import { percentile, profileEnv } from './lib/load.js';
import { prng } from './lib/patch-db.js';
import { patchMail, sendAll, waitProcessed } from './lib/smtp-load.js';
import { startBench } from './lib/run-info.js';

startBench('smtp-intake');

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: process.env.BENCH_MESSAGES ?? '5000' },
    connections: { type: 'string', default: process.env.BENCH_CONNECTIONS ?? '20' },
    'time-limit': { type: 'string', default: process.env.BENCH_TIME_LIMIT ?? '600' },
    profile: { type: 'string', default: process.env.BENCH_PROFILE ?? '' },
  },
});
const MESSAGES = Number(values.messages);
const CONNECTIONS = Number(values.connections);
const DEADLINE = Date.now() + Number(values['time-limit']) * 1000;

async function main(): Promise<void> {
  const rand = prng(20261126);
  const mails = Array.from({ length: MESSAGES }, (_, n) => patchMail(n, rand));
  const payloads = mails.map((m) => dataPayload(m.raw));
  const bytes = payloads.reduce((s, p) => s + p.length, 0);
  console.log(`mails: ${MESSAGES}, ${(bytes / 1e6).toFixed(1)} MB, ${Math.round(bytes / MESSAGES / 1024)} KB on average; ${CONNECTIONS} connections`);

  const data = tempDir('patchbay-bench-smtp-');
  // Every connection comes from 127.0.0.1: the per-address cap (default 20 of 200 slots) is raised to the connections
  // used (through the variable, which a server older than the cap ignores, for before/after runs).
  const server = await startServer(['--data', data, '--projects', projectsDir([DEMO]), '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0'], {
    PATCHBAY_SMTP_MAX_PER_ADDRESS: String(Math.max(20, CONNECTIONS)),
    PATCHBAY_SMTP_MAX_CLIENTS: String(Math.max(200, 2 * CONNECTIONS)),
    ...(values.profile ? profileEnv(values.profile) : {}),
  });
  try {
    const cpu0 = cpuMs(server.child.pid!);
    const t0 = performance.now();
    const sent = await sendAll(server.smtpPort, payloads, { connections: CONNECTIONS, deadline: DEADLINE, strict: true });
    const acked = new Set(sent.acked.map((i) => mails[i]!.msgid));
    const latencies = sent.latencies.sort((a, b) => a - b);
    console.log(`accepted: ${acked.size} messages in ${sent.seconds.toFixed(2)} s = ${(acked.size / sent.seconds).toFixed(0)} messages/s acknowledged durably (250 after commit)`);
    console.log(`DATA-end -> 250: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies[latencies.length - 1]!.toFixed(1)} ms`);

    const { rows, states } = await waitProcessed(data, DEADLINE);
    const processSeconds = (performance.now() - t0) / 1000;
    const serverCpu = cpuMs(server.child.pid!) - cpu0;
    const ids = new Set(rows.map((r) => r.msgid));
    const lost = [...acked].filter((id) => !ids.has(id));
    console.log(`stored: ${rows.length} rows for ${acked.size} acknowledged messages, ${lost.length} lost, ${rows.length - ids.size} duplicated; states ${JSON.stringify(states)}`);
    console.log(`processed: all ${rows.length} in ${processSeconds.toFixed(2)} s from the first message = ${(rows.length / processSeconds).toFixed(0)} mails/s`);
    // Less sensitive to a shared machine than the rates: what the server itself spent (intake and processing).
    console.log(`server CPU: ${(serverCpu / 1000).toFixed(1)} s for ${rows.length} mails = ${(serverCpu / rows.length).toFixed(2)} ms per mail (user + system)`);
    if (lost.length || rows.length !== acked.size) process.exitCode = 1;
  } finally {
    await server.stop();
    fs.rmSync(data, { recursive: true, force: true }); // 200 MB a run
  }
}

await main();

/** CPU time (user + system) the process has used so far, from /proc (Linux), in milliseconds. */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ');
  // After "pid (comm) ": state is field 3, utime 14 and stime 15 (proc(5)), in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

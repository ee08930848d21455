// bench/smtp-intake: patch mails (5-50 KB) from 20 persistent SMTP sessions into the server as a process; prints
// messages/s acknowledged durably, DATA-end -> 250 latency, zero-loss check and processing throughput.
// Usage: npm run bench:smtp [-- --messages N --connections C]   (or BENCH_MESSAGES, BENCH_CONNECTIONS)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/db/database.js';
import { DEMO, projectsDir, tempDir } from '../test/helpers/dirs.js';
import { startServer } from '../test/helpers/server-process.js';
import { dataPayload, SmtpSession } from '../test/helpers/smtp-client.js';
import { prng } from './lib/patch-db.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: process.env.BENCH_MESSAGES ?? '5000' },
    connections: { type: 'string', default: process.env.BENCH_CONNECTIONS ?? '20' },
    'time-limit': { type: 'string', default: process.env.BENCH_TIME_LIMIT ?? '600' },
  },
});
const MESSAGES = Number(values.messages);
const CONNECTIONS = Number(values.connections);
const DEADLINE = Date.now() + Number(values['time-limit']) * 1000;
const LIST = DEMO.list;

const SUBSYSTEMS = ['sched', 'mm', 'fs/proc', 'kernel/fork', 'drivers/misc', 'net/core', 'lib', 'init'];
const WORDS = 'the task walks its children and counts them under the tasklist lock so that no child can exit during the walk'.split(' ');

/** A mail as git send-email sends one patch of a series: its headers, a commit message, a diffstat and a unified diff. */
function patchMail(n: number, rand: () => number): { msgid: string; raw: Buffer } {
  const series = Math.floor(n / 5);
  const index = (n % 5) + 1;
  const student = series % 60;
  const subsystem = SUBSYSTEMS[series % SUBSYSTEMS.length]!;
  const email = `student${student}@students.example.org`;
  const stamp = `2026112610${String(series % 60).padStart(2, '0')}00.${100000 + series}`;
  const msgid = `${stamp}-${index}-${email}`;
  const target = Math.round((5 + 45 * rand() ** 2) * 1024); // 5-50 KB, most of them small, as real patches
  const sentence = () => Array.from({ length: 8 + Math.floor(rand() * 8) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
  const file = `${subsystem}/proctree_${series % 97}.c`;
  const diff: string[] = [`diff --git a/${file} b/${file}`, `index 3f2a1b4c5d6e..9a8b7c6d5e4f 100644`, `--- a/${file}`, `+++ b/${file}`];
  let size = 2000;
  let line = 10;
  while (size < target) {
    const added = 3 + Math.floor(rand() * 12);
    const hunk = [`@@ -${line},6 +${line},${6 + added} @@ static int proctree_walk_${line}(struct task_struct *task)`, ' {', '\tstruct task_struct *child;', '\tint count = 0;'];
    for (let i = 0; i < added; i++) hunk.push(`+\tcount += proctree_helper_${line}_${i}(child, ${Math.floor(rand() * 1000)}); /* ${sentence()} */`);
    hunk.push(' \tread_lock(&tasklist_lock);', ' \treturn count;', ' }');
    diff.push(...hunk);
    size += hunk.reduce((s, l) => s + l.length + 1, 0);
    line += 40;
  }
  const headers = [
    `From: Student ${student} <${email}>`,
    `To: ${LIST}`,
    'Cc: Teacher <teacher@example.org>',
    `Subject: [PATCH v2 ${index}/5] ${subsystem}: walk step ${index} of series ${series}`,
    `Date: Thu, 26 Nov 2026 10:${String(series % 60).padStart(2, '0')}:0${index} +0000`,
    `Message-Id: <${msgid}>`,
    'X-Mailer: git-send-email 2.39.5',
    ...(index > 1 ? [`In-Reply-To: <${stamp}-1-${email}>`, `References: <${stamp}-1-${email}>`] : []),
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 8bit',
  ];
  const body = [
    `${sentence()}.`,
    '',
    `${sentence()}, ${sentence()}.`,
    '',
    `Signed-off-by: Student ${student} <${email}>`,
    '---',
    ` ${file} | ${diff.length} ++++++++`,
    ' 1 file changed',
    '',
    ...diff,
    '-- ',
    '2.39.5',
  ];
  return { msgid, raw: Buffer.from(headers.join('\n') + '\n\n' + body.join('\n') + '\n') };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** CPU time (user + system) the process has used so far, from /proc (Linux), in milliseconds. */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ');
  // After "pid (comm) ": state is field 3, utime 14 and stime 15 (proc(5)), in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function checkDeadline(what: string): void {
  if (Date.now() > DEADLINE) throw new Error(`time limit reached while ${what}`);
}

async function main(): Promise<void> {
  const rand = prng(20261126);
  const mails = Array.from({ length: MESSAGES }, (_, n) => patchMail(n, rand));
  const payloads = mails.map((m) => dataPayload(m.raw));
  const bytes = payloads.reduce((s, p) => s + p.length, 0);
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`mails: ${MESSAGES}, ${(bytes / 1e6).toFixed(1)} MB, ${Math.round(bytes / MESSAGES / 1024)} KB on average; ${CONNECTIONS} connections`);

  const data = tempDir('patchbay-bench-smtp-');
  // Every connection comes from 127.0.0.1: the per-address cap (default 20 of 200 slots) is raised to the connections
  // used (through the variable, which a server older than the cap ignores, for before/after runs).
  const server = await startServer(['--data', data, '--projects', projectsDir([DEMO]), '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0'], {
    PATCHBAY_SMTP_MAX_PER_ADDRESS: String(Math.max(20, CONNECTIONS)),
    PATCHBAY_SMTP_MAX_CLIENTS: String(Math.max(200, 2 * CONNECTIONS)),
  });
  const latencies: number[] = [];
  const acked = new Set<string>();
  let next = 0;
  try {
    const cpu0 = cpuMs(server.child.pid!);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        const session = await SmtpSession.open(server.smtpPort);
        if (!session.alive) throw new Error(`not greeted: ${session.greeting?.text}`);
        // Each connection takes the next message until none is left: persistent sessions, as an MTA's queue runner.
        for (let i = next++; i < MESSAGES; i = next++) {
          checkDeadline('sending');
          const reply = await session.send(`student@students.example.org`, [LIST], payloads[i]!);
          if (reply.code !== 250) throw new Error(`message ${i} refused: ${reply.text}`);
          latencies.push(reply.dataMs);
          acked.add(mails[i]!.msgid);
        }
        await session.quit();
      }),
    );
    const sendSeconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(`accepted: ${acked.size} messages in ${sendSeconds.toFixed(2)} s = ${(acked.size / sendSeconds).toFixed(0)} messages/s acknowledged durably (250 after commit)`);
    console.log(`DATA-end -> 250: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies[latencies.length - 1]!.toFixed(1)} ms`);

    const { db, sqlite } = openDatabase(path.join(data, 'patchbay.sqlite'));
    try {
      const stored = sqlite.prepare<[], { n: number }>("select count(*) as n from mails where state = 'stored'");
      for (;;) {
        checkDeadline('waiting for processing');
        if (stored.get()!.n === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const processSeconds = (performance.now() - t0) / 1000;
      const serverCpu = cpuMs(server.child.pid!) - cpu0;
      const rows = sqlite.prepare<[], { msgid: string; state: string }>('select msgid, state from mails').all();
      const ids = new Set(rows.map((r) => r.msgid));
      const lost = [...acked].filter((id) => !ids.has(id));
      const states = new Map<string, number>();
      for (const r of rows) states.set(r.state, (states.get(r.state) ?? 0) + 1);
      console.log(`stored: ${rows.length} rows for ${acked.size} acknowledged messages, ${lost.length} lost, ${rows.length - ids.size} duplicated; states ${JSON.stringify(Object.fromEntries(states))}`);
      console.log(`processed: all ${rows.length} in ${processSeconds.toFixed(2)} s from the first message = ${(rows.length / processSeconds).toFixed(0)} mails/s`);
      // Less sensitive to a shared machine than the rates: what the server itself spent (intake and processing).
      console.log(`server CPU: ${(serverCpu / 1000).toFixed(1)} s for ${rows.length} mails = ${(serverCpu / rows.length).toFixed(2)} ms per mail (user + system)`);
      console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
      if (lost.length || rows.length !== acked.size) process.exitCode = 1;
    } finally {
      await db.destroy();
    }
  } finally {
    await server.stop();
  }
}

await main();

// bench/smtp-abuse: an honest client (127.0.0.2) sends patch mails, one connection each, first alone, then while one
// address (127.0.0.1) keeps 200 abusive connections going (NOOP-holding, 1 byte/s commands, 1 byte/s DATA) and
// reopens each one the server closes; prints mails delivered and their time, and what became of the abusers.
// Usage: npm run bench:smtp-abuse [-- --mails N --abusers N --command-time S]
import { parseArgs } from 'node:util';
import { DEMO, projectsDir, tempDir } from '../test/helpers/dirs.js';
import { startServer } from '../test/helpers/server-process.js';
import { abuse, type Abuse, type Kind } from '../test/helpers/smtp-abuser.js';
import { sendMessage } from '../test/helpers/smtp-dialog.js';
import { startBench } from './lib/run-info.js';

startBench('smtp-abuse');

const { values } = parseArgs({
  options: {
    mails: { type: 'string', default: process.env.BENCH_MAILS ?? '31' },
    abusers: { type: 'string', default: process.env.BENCH_ABUSERS ?? '200' },
    // Short clocks, so that the abusers' sessions end within the run (defaults: 300 s, 60 s idle).
    'command-time': { type: 'string', default: process.env.BENCH_COMMAND_TIME ?? '10' },
    'idle-timeout': { type: 'string', default: process.env.BENCH_IDLE_TIMEOUT ?? '5' },
  },
});
const MAILS = Number(values.mails);
const ABUSERS = Number(values.abusers);
const KINDS: Kind[] = ['noop', 'trickle-command', 'trickle-data'];

function patchMail(n: number): string {
  const body = Array.from({ length: 200 }, (_, i) => `+\tline ${i} of a patch that changes the scheduler, as sent by git send-email`).join('\r\n');
  return `From: Honest <honest@example.org>\r\nTo: ${DEMO.list}\r\nSubject: [PATCH ${n}/${MAILS}] sched: honest work\r\nDate: Fri, 20 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench-abuse-${Date.now()}-${n}@example.org>\r\n\r\n${body}\r\n`;
}

/** Sends the mails one connection each from 127.0.0.2; returns the replies and each mail's time (connect to 250). */
async function honest(port: number): Promise<{ delivered: number; ms: number[] }> {
  const ms: number[] = [];
  let delivered = 0;
  for (let n = 1; n <= MAILS; n++) {
    const t0 = performance.now();
    const { final } = await sendMessage(port, 'honest@example.org', [DEMO.list], patchMail(n), '127.0.0.2');
    ms.push(performance.now() - t0);
    if (final.startsWith('250 ')) delivered++;
  }
  return { delivered, ms };
}

function pct(xs: number[], p: number): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(0)} ms`;
}

async function main(): Promise<void> {
  const server = await startServer([
    ...['--data', tempDir('patchbay-bench-abuse-'), '--projects', projectsDir([DEMO])],
    ...['--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0'],
    ...['--smtp-command-time', values['command-time']!, '--smtp-idle-timeout', values['idle-timeout']!],
  ]);
  try {
    const quiet = await honest(server.smtpPort);
    console.log(`alone: ${quiet.delivered}/${MAILS} delivered; per mail p50 ${pct(quiet.ms, 0.5)}, p95 ${pct(quiet.ms, 0.95)}`);

    const all: Abuse[] = [];
    let abusing = true;
    const open = (kind: Kind): Abuse => {
      const a = abuse(server.smtpPort, '127.0.0.1', kind);
      all.push(a);
      void a.ended.then(() => abusing && open(kind));
      return a;
    };
    const wave = Array.from({ length: ABUSERS }, (_, i) => open(KINDS[i % KINDS.length]!));
    const firsts = await Promise.all(wave.map((a) => a.first));
    const greeted = wave.filter((_, i) => firsts[i]!.startsWith('220 '));
    console.log(`abuse: ${ABUSERS} connections from 127.0.0.1 at once: ${greeted.length} greeted, ${firsts.filter((l) => l.startsWith('421 4.7.0')).length} refused with 421 4.7.0`);

    const t0 = performance.now();
    const loaded = await honest(server.smtpPort);
    console.log(`under abuse: ${loaded.delivered}/${MAILS} delivered in ${((performance.now() - t0) / 1000).toFixed(1)} s; per mail p50 ${pct(loaded.ms, 0.5)}, p95 ${pct(loaded.ms, 0.95)}`);

    const ends = await Promise.all(greeted.map((a) => a.ended));
    for (const kind of KINDS) {
      const mine = ends.filter((_, i) => greeted[i]!.kind === kind);
      const closed = mine.filter((e) => e.last.startsWith('421 4.4.2'));
      const after = closed.map((e) => e.afterGreetingMs!);
      console.log(
        `  ${kind}: ${closed.length}/${mine.length} greeted sessions closed with 421 4.4.2, after ${after.length ? `${(Math.min(...after) / 1000).toFixed(1)}-${(Math.max(...after) / 1000).toFixed(1)} s` : '-'}`,
      );
    }
    abusing = false;
    console.log(`  connections opened by the abuser in all: ${all.length}`);
    for (const a of all) a.stop();
  } finally {
    await server.stop();
  }
}

await main();

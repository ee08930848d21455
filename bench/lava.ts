// bench/lava: issue 15's benchmark. The demo course's reference solution (its one-file kernel change), sent --repeat
// times to a server whose project builds x86_64 twice with the same config, booted by the embedded QEMU runner
// (x86_64) and through a real LAVA lab on this machine (x86_64-2; test/helpers/lava-lab.ts). For each run it
// reads, from GET /runs/R/, the time from "build done" to "results stored" of each boot (its build step's
// finished_at to its test step's finished_at), and for the LAVA one how that splits: patchbay's own overhead
// (submit, follow, fetch and parse: lavaHttpMs waiting on LAVA's answers + lavaParseMs reading the log and judging
// it), and the rest, LAVA's (scheduling, downloads, the overlay disk, boot, tests). The first run builds the trees
// cold and is left out of the medians. Target: patchbay's overhead ≤ 1 s per job; LAVA's added time reported as is.
// Usage: npm run bench:lava [-- --repeat N --poll S --keep]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startBench } from './lib/run-info.js';
import { tempDir } from '../test/helpers/dirs.js';
import { SHARED_CCACHE } from '../test/helpers/kernel-build.js';
import { folder, sendFolder } from '../test/helpers/course-mail.js';
import { lavaCourse, runOf, type Run, type Step } from '../test/helpers/lava-course.js';
import { seriesOf } from '../test/helpers/pipeline-e2e.js';
import { lavaLabSkipReason, startLavaLab } from '../test/helpers/lava-lab.js';
import { ROOT, startServer } from '../test/helpers/server-process.js';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '3' }, poll: { type: 'string', default: '2' }, keep: { type: 'boolean', default: false } } });
const repeat = Math.max(1, Number(values.repeat));

startBench('lava');
const skip = lavaLabSkipReason();
if (skip) {
  console.log(`bench/lava: no LAVA lab here: ${skip}`);
  process.exit(0);
}

const ms = (from: string | null, to: string | null) => (from && to ? Date.parse(to) - Date.parse(from) : NaN);
const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};
const sec = (x: number) => (Number.isFinite(x) ? `${(x / 1000).toFixed(2)} s` : 'n/a');

interface Sample {
  run: number;
  qemu: number;
  lava: number;
  overhead: number;
  http: number;
  parse: number;
  requests: number;
  notice: number;
  lavaOwn: number;
}

function sample(run: Run): Sample {
  const get = (step: string, job: string): Step => {
    const s = run.steps.find((x) => x.step === step && x.job === job);
    if (!s) throw new Error(`run ${run.id} has no ${step} ${job}`);
    return s;
  };
  const lavaTest = get('test', 'x86_64-2');
  const o = lavaTest.outputs;
  return {
    run: run.id,
    qemu: ms(get('build', 'x86_64').finished_at, get('test', 'x86_64').finished_at),
    lava: ms(get('build', 'x86_64-2').finished_at, lavaTest.finished_at),
    overhead: Number(o.lavaOverheadMs),
    http: Number(o.lavaHttpMs),
    parse: Number(o.lavaParseMs),
    requests: Number(o.lavaRequests),
    notice: o.lavaNoticeMs === null || o.lavaNoticeMs === undefined ? NaN : Number(o.lavaNoticeMs),
    lavaOwn: Number(o.lavaMs),
  };
}

const lab = await startLavaLab({ devices: 1 });
const data = tempDir('patchbay-bench-lava-');
const tokenFile = path.join(data, 'lava-token');
fs.writeFileSync(tokenFile, `${lab.token}\n`, { mode: 0o600 });
const server = await startServer([
  '--data', data,
  '--projects', lavaCourse(),
  '--ccache-dir', process.env.PATCHBAY_CCACHE_DIR ?? SHARED_CCACHE,
  '--smtp-conn-per-min', '0',
  '--smtp-msg-per-min', '0',
  '--lava-url', lab.url,
  '--lava-token-file', tokenFile,
  '--lava-poll', String(values.poll),
]);
const samples: Sample[] = [];
try {
  for (let i = 0; i <= repeat; i++) {
    const cover = await sendFolder(server, folder(path.join(ROOT, 'projects/proctree/solution')));
    const run = await runOf(server, await seriesOf(server, cover));
    if (run.outcome !== 'pass') throw new Error(`run ${run.id} ended ${run.outcome}: ${JSON.stringify(run.steps.map((s) => [s.step, s.job, s.status, s.summary]))}`);
    const s = sample(run);
    console.log(`${i === 0 ? 'cold (left out)' : `run ${i}`}: QEMU ${sec(s.qemu)}, LAVA ${sec(s.lava)} (patchbay ${sec(s.overhead)} on the path, job end seen after ${sec(s.notice)}; HTTP ${sec(s.http)} in ${s.requests} requests, parse ${sec(s.parse)}; LAVA ${sec(s.lavaOwn)})`);
    if (i > 0) samples.push(s);
  }
} finally {
  await server.stop();
  await lab.stop();
  if (!values.keep) fs.rmSync(data, { recursive: true, force: true });
  else console.log(`data: ${data}`);
}
const m = (k: keyof Sample) => median(samples.map((s) => s[k]));
console.log('\nbuild done → results stored, median of', samples.length);
console.log(`  embedded QEMU runner: ${sec(m('qemu'))}`);
console.log(`  through LAVA:         ${sec(m('lava'))}  (LAVA adds ${sec(m('lava') - m('qemu'))})`);
console.log(`  patchbay's overhead:  ${sec(m('overhead'))} on the path from build done to results stored (submit; the poll that saw the end, log, cases, judging) — target ≤ 1 s: ${m('overhead') <= 1000 ? 'met' : 'NOT met'}`);
console.log(`  job end seen after:  ${sec(m('notice'))} (LAVA's notify callback; polling every ${values.poll} s is the fallback)`);
console.log(`  HTTP in all:         ${sec(m('http'))} in ${m('requests')} requests (polls while the job runs overlap LAVA's time), parsing ${sec(m('parse'))}`);

// bench/kernel-pipeline: issue 6's benchmark. A one-line change to kernel/proctree.c, sent as a series on the demo
// course (projects/proctree.yaml: x86_64 + arm64 builds, both booted in QEMU with the reference and the student's
// tests), timed from the SMTP `250` of the series' last mail to the reply file in the outbox:
//   warm  — the server has already built the base and the reference solution (its object trees are warm); the series
//           is the solution plus a 4th patch that changes one line; median of --repeat runs, each a different line;
//   cold  — the same kind of series on a fresh data folder with an empty compiler cache: base builds from scratch;
//   floor — measured alone, outside patchbay, right after each warm run in the warm trees it left (the server idle):
//           the build step's own make command after changing the line, over the same overlay (the warm tree and a
//           copy of the student's layer) but without the sandbox (no bwrap, no build user, no cgroup), then one QEMU
//           boot + tests with the test step's command line; median of the --repeat measurements.
//           floor = build_x86_64 + max(boot_x86_64, build_arm64) + boot_arm64 (the pipeline builds in order and boots
//           each kernel while the next one builds) when the CPU budget runs one build at a time (under 8 CPUs);
//           with builds at once, max(build_x86_64 + boot_x86_64, build_arm64 + boot_arm64).
// It prints the three, the ratios, whether the issue's targets are met, and where the median warm run spent its time
// (its steps from their started_at/finished_at, and the commands in each build and test step's log).
// Usage: npm run bench:kernel [-- --repeat N --skip-cold --cold-with-ccache --ccache-dir DIR --keep]
//   --repeat N          warm runs (default 3)
//   --skip-cold         leave out the cold run (it takes minutes: two full kernel builds)
//   --cold-with-ccache  the cold run uses --ccache-dir (warm) instead of an empty compiler cache
//   --ccache-dir DIR    the compiler cache of the warm server (default $PATCHBAY_CCACHE_DIR or ~/.cache/patchbay/ccache)
//   --keep              keep the data folders and print where they are
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseBuildLog } from '../src/pipeline/rules/gcc-output.js';
import { sandboxEnv } from '../src/pipeline/sandbox.js';
import { buildBudget } from '../src/pipeline/steps.js';
import { readLayer, readTouched, readTreeState, restoreSourceTimes, studentLayer } from '../src/pipeline/object-tree.js';
import { blobLookup, KBUILD_ENV } from '../src/pipeline/steps/build.step.js';
import { detectToolchains, toolchainFor } from '../src/pipeline/toolchains.js';
import { tempDir } from '../test/helpers/dirs.js';
import { ROOT, startServer, type ServerProcess } from '../test/helpers/server-process.js';
import { dataPayload, SmtpSession } from '../test/helpers/smtp-client.js';
import { getJson, now, replyTime, treesQuiet } from './lib/outbox.js';
import { startBench } from './lib/run-info.js';

startBench('kernel-pipeline');

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: process.env.BENCH_REPEAT ?? '3' },
    'skip-cold': { type: 'boolean', default: false },
    'cold-with-ccache': { type: 'boolean', default: false },
    'ccache-dir': { type: 'string', default: process.env.PATCHBAY_CCACHE_DIR ?? path.join(os.homedir(), '.cache/patchbay/ccache') },
    keep: { type: 'boolean', default: false },
  },
});
const REPEAT = Number(values.repeat);
if (!Number.isInteger(REPEAT) || REPEAT < 1) throw new Error(`--repeat: expected a positive integer, got ${values.repeat}`);
const CCACHE = path.resolve(values['ccache-dir']!);
const SKIP_COLD = values['skip-cold']!;
const COLD_WITH_CCACHE = values['cold-with-ccache']!;

const KERNEL = path.join(os.homedir(), '.cache/patchbay/linux.git');
const ARCHS = ['x86_64', 'arm64'] as const;
const LIST = 'proctree@lists.patchbay.test';
const STUDENT = { name: 'John Smith', email: 'john.smith@students.example.org' };
const SOLUTION = path.join(ROOT, 'projects/proctree/solution');
/** The line every one-line change edits (its string differs per series), inserted after this include of proctree.c. */
const REV_AFTER = '#include <linux/syscalls.h>';
const revLine = (rev: string) => `static const char proctree_rev[] __used = "proctree rev ${rev}";`;
const REV_RE = /^static const char proctree_rev\[\] __used = "proctree rev [^"]*";$/m;
/** Targets of the issue. */
const TARGET_RATIO = 1.3;
const TARGET_WARM_MS = 60_000;
const WARM_TIMEOUT_MS = 10 * 60_000;
/** A first run builds both kernels from scratch: minutes on 2 busy cores. */
const COLD_TIMEOUT_MS = 60 * 60_000;
const BOOT_TIMEOUT_MS = 180_000;

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : NaN);
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
const s1 = (x: number) => (Number.isFinite(x) ? (x / 1000).toFixed(1) : '?');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// --- load average, sampled during the whole benchmark --------------------------------------------------------------

const loads: { at: number; load: number }[] = [];
const sampler = setInterval(() => loads.push({ at: now(), load: os.loadavg()[0]! }), 5000);
sampler.unref();
function loadRange(from: number, to: number): string {
  const xs = loads.filter((l) => l.at >= from && l.at <= to).map((l) => l.load);
  if (!xs.length) xs.push(os.loadavg()[0]!);
  return `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
}

// --- the series ------------------------------------------------------------------------------------------------------

function git(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const patchFiles = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((f) => path.join(dir, f));

/**
 * Folders of `git format-patch` files, one per rev: the reference solution (subjects renumbered n/4) plus a 4th patch
 * made by git that adds the line `revLine(rev)` to kernel/proctree.c. The patch is made in a small repository that
 * holds only kernel/proctree.c as the solution's patch 1 creates it (`git apply --include`): same blob, so
 * `--full-index` gives the index line the demo tree has after the solution.
 */
function oneLineSeries(revs: string[]): { dirs: string[]; cleanup(): void } {
  const dir = tempDir('patchbay-bench-kernel-student-');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: STUDENT.name,
    GIT_AUTHOR_EMAIL: STUDENT.email,
    GIT_COMMITTER_NAME: STUDENT.name,
    GIT_COMMITTER_EMAIL: STUDENT.email,
  };
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  git(repo, env, 'init', '-q');
  const solution = patchFiles(SOLUTION);
  const first = solution.find((f) => /\/0001-/.test(f));
  if (!first) throw new Error(`no 0001-*.patch in ${SOLUTION}`);
  git(repo, env, 'apply', '--include=kernel/proctree.c', first);
  git(repo, env, 'add', '-A');
  git(repo, env, 'commit', '-q', '-m', 'proctree.c of the reference solution');
  const base = git(repo, env, 'rev-parse', 'HEAD').trim();
  const file = path.join(repo, 'kernel/proctree.c');
  const original = fs.readFileSync(file, 'utf8');
  if (!original.includes(`${REV_AFTER}\n`)) throw new Error(`kernel/proctree.c of the solution has no line "${REV_AFTER}"`);

  const dirs = revs.map((rev, i) => {
    fs.writeFileSync(file, original.replace(`${REV_AFTER}\n`, `${REV_AFTER}\n${revLine(rev)}\n`));
    git(repo, env, 'commit', '-qas', '-m', `kernel/proctree: record the revision (${rev})`, '-m', 'Keep the revision of the system call in the kernel image.');
    const fourth = git(repo, env, 'format-patch', '-1', '--full-index', '--stdout', 'HEAD');
    git(repo, env, 'reset', '-q', '--hard', base);
    const out = path.join(dir, `series-${i + 1}`);
    fs.mkdirSync(out);
    for (const f of solution) {
      const text = fs.readFileSync(f, 'utf8').replace(/^(Subject: \[PATCH \d+)\/3\]/m, '$1/4]');
      fs.writeFileSync(path.join(out, path.basename(f)), text);
    }
    fs.writeFileSync(path.join(out, '0004-kernel-proctree-record-the-revision.patch'), fourth.replace(/^Subject: \[PATCH\]/m, 'Subject: [PATCH 4/4]'));
    return out;
  });
  return { dirs, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** RFC 5322 date, as git send-email writes one per message. */
function mailDate(t: number): string {
  return new Date(t).toUTCString().replace(/GMT$/, '+0000');
}

/**
 * A folder of patch files as the mails `git send-email --thread` would send: the mbox `From ` line dropped, To and a
 * fresh Date added, the cover letter with a known Message-ID and the patches answering it.
 */
function seriesMails(files: string[]): { cover: string; mails: Buffer[] } {
  const tag = crypto.randomBytes(6).toString('hex');
  const cover = `cover.${tag}@students.example.org`;
  const t = Date.now();
  const mails = files.map((f, i) => {
    const text = fs
      .readFileSync(f, 'utf8')
      .replace(/^From [0-9a-f]{40} .*\n/, '')
      .replace(/^Date: .*\n/m, '');
    const ids = i === 0 ? [`Message-Id: <${cover}>`] : [`Message-Id: <patch${i}.${tag}@students.example.org>`, `In-Reply-To: <${cover}>`, `References: <${cover}>`];
    return Buffer.from([`To: ${LIST}`, `Date: ${mailDate(t + i * 1000)}`, ...ids, text].join('\n'), 'utf8');
  });
  return { cover, mails };
}

/** Sends the mails over one SMTP session; resolves with the time the last one's `250` arrived. */
async function sendSeries(server: ServerProcess, mails: Buffer[]): Promise<number> {
  const session = await SmtpSession.open(server.smtpPort);
  let t250 = NaN;
  for (const raw of mails) {
    const res = await session.send(STUDENT.email, [LIST], dataPayload(raw));
    t250 = now();
    if (res.code !== 250) throw new Error(`the server answered ${res.code} ${res.text}`);
  }
  await session.quit();
  return t250;
}


// --- runs as the API shows them --------------------------------------------------------------------------------------

interface StepView {
  step: string;
  job: string;
  status: string;
  summary: string | null;
  outputs: Record<string, unknown>;
  started_at: string | null;
  finished_at: string | null;
  child_ms: number | null;
}
interface RunView {
  id: number;
  state: string;
  outcome: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  steps: StepView[];
}


async function runOfCover(server: ServerProcess, cover: string): Promise<RunView> {
  for (let i = 0; i < 600; i++) {
    const [c] = await getJson<{ series: { id: number }[] }[]>(server, `/api/covers/?msgid=${encodeURIComponent(cover)}`);
    const series = c?.series[0]?.id;
    if (series) {
      const runs = await getJson<RunView[]>(server, `/series/${series}/runs/`);
      const last = runs.at(-1);
      if (last && (last.state === 'done' || last.state === 'cancelled')) return last;
    }
    await sleep(100);
  }
  throw new Error(`no finished run for the series of <${cover}>`);
}

const stepOf = (run: RunView, step: string, job = '') => run.steps.find((s) => s.step === step && s.job === job);
const num = (v: unknown) => (typeof v === 'number' ? v : Number(v ?? NaN));

// --- the step logs: where a step's time went ------------------------------------------------------------------------

/** Splits a line of shell words as exec.ts/qemu.ts quote them ('…' with '\'' inside). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in ${line}`);
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** What a logged command is, for humans: the command inside bwrap/prlimit, make with its targets or its section. */
function commandLabel(words: string[], section: string): string {
  let w = words;
  // nice -n N CMD … (exec.ts runTool's `nice` option: QEMU boots beside the builds)
  if (path.basename(w[0] ?? '') === 'nice') w = w.slice(w[1] === '-n' ? 3 : 1);
  // sh -c JOIN-CGROUPS sh PROCS… -- [unshare … sh -c MOUNT-OVERLAY sh L U W] bwrap … (src/pipeline/sandbox.ts)
  const bwrap = w.findIndex((x) => path.basename(x) === 'bwrap');
  if (bwrap > 0 && ['sh', 'unshare'].includes(path.basename(w[0] ?? ''))) w = w.slice(bwrap);
  if (path.basename(w[0] ?? '') === 'bwrap') {
    // bwrap … -- setpriv … -- prlimit … -- sh -c SCRIPT sh CMD ARGS
    const c = w.indexOf('-c');
    w = c >= 0 ? w.slice(c + 3) : w;
  }
  if (path.basename(w[0] ?? '') === 'prlimit') {
    w = w.slice(1);
    while (w[0]?.startsWith('-')) w = w.slice(1);
  }
  const name = path.basename(w[0] ?? '?');
  if (name === 'make') {
    const targets = w.slice(1).filter((a) => !a.startsWith('-') && !a.includes('='));
    if (targets.length) return `make ${targets.join(' ')}`;
    if (/^base build/.test(section)) return 'make (base)';
    if (/^build of the series/.test(section)) return 'make (series)';
    return `make (${section.split(':')[0] || 'config'})`;
  }
  if (name === 'git') {
    let i = 1;
    for (;;) {
      if (w[i] === '-c' || w[i] === '-C') i += 2;
      else if (w[i]?.startsWith('--')) i++;
      else break;
    }
    return `git ${w[i] ?? ''}`.trim();
  }
  if (name === 'sh' && w[1]?.endsWith('merge_config.sh')) return 'merge_config.sh';
  if (name === 'merge_config.sh') return name;
  // The build step's outputs scripts (src/pipeline/build-outputs.ts): `sh -c SCRIPT collect|pack …`.
  if (name === 'sh' && w[1] === '-c' && w[3]) return `outputs (${w[3]})`;
  return name;
}

interface Part {
  label: string;
  ms: number;
  count: number;
}

/** The commands of a step log (`$ …` … `[exit … after N ms]`), summed by label in order of first appearance. */
function logParts(logFile: string): Part[] {
  let text = '';
  try {
    text = fs.readFileSync(logFile, 'latin1');
  } catch {
    return [];
  }
  const parts = new Map<string, Part>();
  let section = '';
  let current: string | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('--- ')) section = line.slice(4);
    else if (line.startsWith('$ ') && current === null) {
      try {
        current = commandLabel(shellWords(line.slice(2)), section);
      } catch {
        current = line.slice(2).split(' ')[0] ?? '?';
      }
    } else {
      const m = /^\[exit [^\]]*? after (\d+) ms\]$/.exec(line);
      if (m && current !== null) {
        const p = parts.get(current) ?? { label: current, ms: 0, count: 0 };
        p.ms += Number(m[1]);
        p.count++;
        parts.set(current, p);
        current = null;
      }
    }
  }
  return [...parts.values()];
}

// --- one measured series ---------------------------------------------------------------------------------------------

interface Sample {
  label: string;
  e2e: number;
  t250: number;
  reply: number;
  run: RunView;
  data: string;
  load: string;
}

async function measureSeries(server: ServerProcess, data: string, label: string, dir: string, timeoutMs: number): Promise<Sample> {
  const { cover, mails } = seriesMails(patchFiles(dir));
  const from = now();
  const t250 = await sendSeries(server, mails);
  const reply = await replyTime(path.join(data, 'outbox'), cover, { timeoutMs, pollMs: 20 });
  const run = await runOfCover(server, cover);
  // The slot is reset after the reply: the next series must not pay for it.
  await treesQuiet(data);
  return { label, e2e: reply.at - t250, t250, reply: reply.at, run, data, load: loadRange(from, now()) };
}

function sampleLine(s: Sample): string {
  const per = ARCHS.map((arch) => {
    const b = stepOf(s.run, 'build', arch);
    const t = stepOf(s.run, 'test', arch);
    const bw = ms(b?.finished_at) - ms(b?.started_at);
    const base = b?.outputs.baseBuildMs !== undefined ? `, base build ${s1(num(b.outputs.baseBuildMs))} s` : '';
    return `${arch}: build ${s1(bw)} s (make ${s1(num(b?.outputs.buildMs))} s, ${String(b?.outputs.compiled ?? '?')} compiled${base}), test ${s1(ms(t?.finished_at) - ms(t?.started_at))} s (boot ${s1(num(t?.outputs.bootMs))} s, ${String(t?.outputs.passed ?? '?')}/${String(t?.outputs.total ?? '?')} passed)`;
  });
  return `${s.label}: 250 → reply ${s1(s.e2e)} s, run ${s.run.id} ${s.run.outcome ?? s.run.state}; load ${s.load}\n    ${per.join('\n    ')}`;
}

function checkPassed(s: Sample): void {
  if (s.run.outcome === 'pass' || s.run.outcome === 'warn') return;
  console.log(`    !! run ${s.run.id} did not pass: ${JSON.stringify(s.run.steps.map((x) => [x.step, x.job, x.status, x.summary]))}`);
}

/** The run's steps on a time line from the last `250`, with what each build and test step spent its time on. */
function printBreakdown(s: Sample): void {
  const off = (iso: string | null) => s1(ms(iso) - s.t250).padStart(7);
  console.log(`  ${'from the last 250 (s)'.padEnd(34)}   start     end    wall   children`);
  console.log(`  ${'run created'.padEnd(34)} ${off(s.run.created_at)}`);
  console.log(`  ${'run started'.padEnd(34)} ${off(s.run.started_at)}`);
  for (const st of s.run.steps.filter((x) => x.started_at)) {
    const wall = ms(st.finished_at) - ms(st.started_at);
    console.log(`  ${`${st.step}${st.job ? ` ${st.job}` : ''} (${st.status})`.padEnd(34)} ${off(st.started_at)} ${off(st.finished_at)} ${s1(wall).padStart(7)} ${s1(st.child_ms ?? NaN).padStart(10)}`);
    if (wall < 50) continue;
    const logFile = path.join(s.data, 'logs', 'runs', String(s.run.id), st.job ? `${st.step}-${st.job}.log` : `${st.step}.log`);
    const parts = logParts(logFile).sort((a, b) => b.ms - a.ms);
    const slot = /^worktree slot \d+ \([^)]*\): (.*)$/m.exec(fs.existsSync(logFile) ? fs.readFileSync(logFile, 'latin1') : '');
    if (slot) console.log(`      worktree: ${slot[1]}`);
    const inParts = parts.reduce((a, p) => a + p.ms, 0);
    for (const p of parts.filter((x) => x.ms >= 50)) console.log(`      ${`${p.label}${p.count > 1 ? ` ×${p.count}` : ''}`.padEnd(40)} ${s1(p.ms).padStart(6)} s`);
    if (inParts <= wall) console.log(`      ${'(outside logged commands)'.padEnd(40)} ${s1(wall - inParts).padStart(6)} s`);
    else console.log(`      (commands at once: ${s1(inParts)} s of them in ${s1(wall)} s)`);
  }
  console.log(`  ${'run finished (reply queued)'.padEnd(34)} ${off(s.run.finished_at)}`);
  console.log(`  ${'reply file in the outbox'.padEnd(34)} ${s1(s.reply - s.t250).padStart(7)}`);
}

// --- the floor -------------------------------------------------------------------------------------------------------

interface Timed {
  code: number | null;
  out: string;
  ms: number;
}

function timed(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Timed> {
  const started = now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out: Buffer.concat(chunks).toString('utf8'), ms: now() - started });
    });
  });
}

/** The server runs with the default CPU budget (all CPUs): does it build both arches at once? */
const AT_ONCE = buildBudget(os.availableParallelism(), ARCHS.length).concurrent > 1;

/** The floor from its parts, as the pipeline schedules the two builds and their boots. */
function floorOf(buildX: number, bootX: number, buildA: number, bootA: number): number {
  return AT_ONCE ? Math.max(buildX + bootX, buildA + bootA) : buildX + Math.max(bootX, buildA) + bootA;
}

interface FloorArch {
  arch: string;
  buildMs: number;
  compiled: string[];
  bootMs: number;
  passed: number;
  total: number;
  makeLine: string;
  qemuLine: string;
}

interface Floor {
  /** The warm run it was measured after. */
  after: Sample;
  archs: FloorArch[];
  /** floorOf the parts: the touched objects built and the kernels booted, scheduled as the pipeline does. */
  total: number;
  /** How the object trees were brought back in line with the series' head before the change. */
  settled: string;
  load: string;
}

/**
 * Right after a warm run, in the warm trees it left (the server idle): check the series' head out again in the slot
 * and give the files the trees were built from their mtimes back, as the build step does (from the student's layer
 * record); change the one line; then per arch the build step's make command alone, over an overlay of the warm tree
 * and a copy of the student's layer (the tree itself is only written by trusted base builds), without the sandbox;
 * and per arch one boot with the test step's QEMU command line and the new image. The slot is checked out at the
 * base again afterwards, as the server left it.
 */
async function measureFloor(after: Sample, ccacheDir: string, scratch: string): Promise<Floor> {
  const from = now();
  const builds = ARCHS.map((arch) => {
    const b = stepOf(after.run, 'build', arch);
    const t = stepOf(after.run, 'test', arch);
    if (!b || !t || typeof b.outputs.makeCommand !== 'string' || typeof t.outputs.qemuCommand !== 'string') {
      throw new Error(`run ${after.run.id} has no make or QEMU command for ${arch}`);
    }
    const make = shellWords(b.outputs.makeCommand);
    const objDir = make.find((a) => a.startsWith('O='))?.slice(2);
    if (!objDir) throw new Error(`no O= in ${b.outputs.makeCommand}`);
    return { arch, make, objDir, head: String(b.outputs.head), base: String(b.outputs.baseCommit), qemu: shellWords(t.outputs.qemuCommand) };
  });
  const slot = /\/slot-(\d+)\//.exec(builds[0]!.objDir)?.[1];
  if (slot === undefined) throw new Error(`no slot in ${builds[0]!.objDir}`);
  const worktree = path.join(after.data, 'work', 'proctree', slot);
  const gitEnv = { ...process.env, LC_ALL: 'C' };
  // The build step's environment (build.step.ts), without the sandbox.
  const env = sandboxEnv({
    CCACHE_DIR: ccacheDir,
    CCACHE_BASEDIR: worktree,
    CCACHE_NOHASHDIR: '1',
    CCACHE_SLOPPINESS: 'time_macros,include_file_mtime,include_file_ctime',
    CCACHE_READONLY: '1',
    ...KBUILD_ENV,
  });
  const upperOf = (b: (typeof builds)[number]) => path.join(scratch, `layer-${b.arch}`, 'upper');
  /** The make over the warm tree with a copy of the student's layer on top, in a mount namespace of its own. */
  const make = async (b: (typeof builds)[number], what: string): Promise<Timed & { compiled: string[] }> => {
    const upper = upperOf(b);
    const work = path.join(path.dirname(upper), 'work');
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work);
    const mount = 'mount -t overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" floor "$1" && shift 3 && exec "$@"';
    const r = await timed('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', mount, 'sh', b.objDir, upper, work, ...b.make], { cwd: worktree, env, timeoutMs: 30 * 60_000 });
    if (r.code !== 0) throw new Error(`${what} for ${b.arch} failed (exit ${r.code}):\n${r.out.split('\n').slice(-20).join('\n')}`);
    return { ...r, compiled: parseBuildLog(r.out).compiled };
  };
  const touched = readTouched(path.join(after.data, 'build', 'proctree', `slot-${slot}`, 'touched.json'));
  const gitOut = (args: string[]) => git(worktree, gitEnv, '-c', 'gc.auto=0', ...args);
  /** Gives the files the trees were built from their mtimes back (the build step's rule); false without a layer. */
  const keepMtimes = async (): Promise<boolean> => {
    const layers = builds.map((b) => {
      const rec = readLayer(studentLayer(b.objDir, STUDENT.email));
      return rec && rec.base === readTreeState(b.objDir)?.base ? rec.sources : null;
    });
    if (layers.some((l) => l === null)) return false;
    const b = builds[0]!;
    const changed = gitOut(['diff', '--name-only', '-z', b.base, b.head]).split('\0').filter(Boolean);
    await restoreSourceTimes({ worktree, base: b.base, head: b.head, changed, touched, layers: layers as NonNullable<(typeof layers)[number]>[], blobs: blobLookup(async (args) => gitOut(args)) });
    return true;
  };

  git(worktree, gitEnv, '-c', 'gc.auto=0', 'checkout', '--detach', '-f', '-q', builds[0]!.head);
  const archs: FloorArch[] = [];
  let settled = "the student's layer record";
  try {
    if (!(await keepMtimes())) settled = 'nothing (no layer record: the make recompiles more)';
    for (const b of builds) {
      fs.rmSync(path.dirname(upperOf(b)), { recursive: true, force: true });
      fs.mkdirSync(path.dirname(upperOf(b)), { recursive: true });
      const cp = spawnSync('cp', ['-a', studentLayer(b.objDir, STUDENT.email).upper, upperOf(b)]);
      if (cp.status !== 0) throw new Error(`cannot copy the layer of ${b.arch}: ${String(cp.stderr)}`);
    }
    const file = path.join(worktree, 'kernel/proctree.c');
    const text = fs.readFileSync(file, 'utf8');
    if (!REV_RE.test(text)) throw new Error(`${file} has no proctree_rev line: is ${builds[0]!.head.slice(0, 12)} a one-line series?`);
    fs.writeFileSync(file, text.replace(REV_RE, revLine(`floor-${Date.now().toString(36)}`)));

    const built = new Map<string, Timed & { compiled: string[] }>();
    for (const b of builds) built.set(b.arch, await make(b, 'make after the one-line change'));
    for (const b of builds) {
      const tc = toolchainFor(b.arch);
      if (!tc) throw new Error(`no toolchain for ${b.arch}`);
      const consoleFile = path.join(scratch, `console-${b.arch}.log`);
      fs.rmSync(consoleFile, { force: true });
      // The test step's command line with the console in a file (as the step runs it) and the image just built.
      const args = b.qemu.slice(1).flatMap((a, i, all) => {
        if (a === '-nographic') return ['-display', 'none', '-monitor', 'none', '-serial', `file:${consoleFile}`];
        if (all[i - 1] === '-kernel') return [fs.existsSync(path.join(upperOf(b), tc.image)) ? path.join(upperOf(b), tc.image) : path.join(b.objDir, tc.image)];
        return [a];
      });
      const boot = await timed(b.qemu[0]!, args, { cwd: scratch, env: process.env, timeoutMs: BOOT_TIMEOUT_MS });
      const text = fs.existsSync(consoleFile) ? fs.readFileSync(consoleFile, 'latin1') : '';
      const results = [...text.matchAll(/<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=\S+ RESULT=(\w+)/g)].map((m) => m[1]);
      const m = built.get(b.arch)!;
      archs.push({
        arch: b.arch,
        buildMs: m.ms,
        compiled: m.compiled,
        bootMs: boot.ms,
        passed: results.filter((r) => r === 'pass').length,
        total: results.length,
        makeLine: `(cd ${worktree} && ${b.make.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')})`,
        qemuLine: [b.qemu[0]!, ...args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' '),
      });
    }
  } finally {
    git(worktree, gitEnv, '-c', 'gc.auto=0', 'checkout', '--detach', '-f', '-q', builds[0]!.base);
  }
  const part = (arch: string, k: 'buildMs' | 'bootMs') => archs.find((f) => f.arch === arch)![k];
  const total = floorOf(part('x86_64', 'buildMs'), part('x86_64', 'bootMs'), part('arm64', 'buildMs'), part('arm64', 'bootMs'));
  return { after, archs, total, settled, load: loadRange(from, now()) };
}

function floorLine(f: Floor): string {
  const per = f.archs.map((a) => `${a.arch}: make ${s1(a.buildMs)} s (${a.compiled.length} compiled: ${a.compiled.join(' ') || '—'}), boot + tests ${s1(a.bootMs)} s (${a.passed}/${a.total} passed)`);
  return `floor after ${f.after.label}: ${s1(f.total)} s; warm / floor ${(f.after.e2e / f.total).toFixed(2)}×; load ${f.load}; trees settled by ${f.settled}\n    ${per.join('\n    ')}`;
}

// --- main ------------------------------------------------------------------------------------------------------------

function projectsCopy(): string {
  const dir = tempDir('patchbay-bench-kernel-projects-');
  fs.copyFileSync(path.join(ROOT, 'projects/proctree.yaml'), path.join(dir, 'proctree.yaml'));
  fs.cpSync(path.join(ROOT, 'projects/proctree'), path.join(dir, 'proctree'), { recursive: true });
  return dir;
}

async function missing(): Promise<string | null> {
  if (!fs.existsSync(path.join(KERNEL, 'patchbay-source-version'))) return `no kernel tree at ${KERNEL}: run \`bash scripts/kernel-tree.sh\` first`;
  if (spawnSync('bwrap', ['--version'], { stdio: 'ignore' }).status !== 0) return 'bubblewrap is not installed';
  const tcs = await detectToolchains();
  for (const arch of ARCHS) {
    const t = tcs.find((x) => x.arch === arch);
    if (!t?.installed || !t.qemu?.present) return `the ${arch} toolchain or its QEMU is not installed (.ci/setup installs them)`;
  }
  return null;
}

async function withServer<T>(data: string, projects: string, ccacheDir: string, f: (server: ServerProcess) => Promise<T>): Promise<T> {
  const server = await startServer(['--data', data, '--projects', projects, '--ccache-dir', ccacheDir, '--smtp-conn-per-min', '0', '--smtp-msg-per-min', '0']);
  try {
    return await f(server);
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const why = await missing();
  if (why) throw new Error(why);
  const rerun = `npm run bench:kernel -- --repeat ${REPEAT} --ccache-dir ${CCACHE}${SKIP_COLD ? ' --skip-cold' : ''}${COLD_WITH_CCACHE ? ' --cold-with-ccache' : ''}`;
  const started = now();
  console.log(
    `kernel pipeline: proctree (x86_64 + arm64), a one-line change to kernel/proctree.c`,
  );
  const stamp = Date.now().toString(36);
  const revs = [...Array.from({ length: REPEAT }, (_, i) => `${stamp}-warm-${i + 1}`), `${stamp}-cold`];
  const { dirs, cleanup } = oneLineSeries(revs);
  const projects = projectsCopy();
  const warmData = tempDir('patchbay-bench-kernel-warm-');
  fs.mkdirSync(CCACHE, { recursive: true });
  const scratch = tempDir('patchbay-bench-kernel-floor-');
  const kept: string[] = [warmData];
  const warm: Sample[] = [];
  const floors: Floor[] = [];
  // Written inside the server callbacks.
  const got: { setup: Sample | null; cold: Sample | null } = { setup: null, cold: null };
  try {
    // 1. Warm: the reference solution first (base builds + the solution), then the one-line series, each followed by
    //    the floor measured in the trees it left.
    console.log(`\nwarm server: data ${warmData}, ccache ${CCACHE}`);
    await withServer(warmData, projects, CCACHE, async (server) => {
      const setup = await measureSeries(server, warmData, 'setup (reference solution: base builds + series)', SOLUTION, COLD_TIMEOUT_MS);
      got.setup = setup;
      console.log(sampleLine(setup));
      checkPassed(setup);
      for (let i = 0; i < REPEAT; i++) {
        const s = await measureSeries(server, warmData, `warm #${i + 1}`, dirs[i]!, WARM_TIMEOUT_MS);
        warm.push(s);
        console.log(sampleLine(s));
        checkPassed(s);
        const f = await measureFloor(s, CCACHE, scratch);
        floors.push(f);
        console.log(floorLine(f));
      }
    });
    const f0 = floors[0]!;
    console.log('\nthe floor\'s commands (first measurement):');
    for (const a of f0.archs) console.log(`  $ ${a.makeLine}\n  $ ${a.qemuLine}`);

    const sorted = [...warm].sort((a, b) => a.e2e - b.e2e);
    const mid = sorted[(sorted.length - 1) >> 1]!;
    console.log(`\nbreakdown of the median warm run (${mid.label}, run ${mid.run.id}):`);
    printBreakdown(mid);

    // 2. Cold: the same kind of series on a fresh data folder.
    if (!SKIP_COLD) {
      const coldData = tempDir('patchbay-bench-kernel-cold-');
      kept.push(coldData);
      const coldCcache = COLD_WITH_CCACHE ? CCACHE : path.join(coldData, 'ccache-empty');
      fs.mkdirSync(coldCcache, { recursive: true });
      console.log(`\ncold server: data ${coldData}, ccache ${coldCcache}${COLD_WITH_CCACHE ? ' (warm)' : ' (empty)'}`);
      const cold = await withServer(coldData, projects, coldCcache, (server) => measureSeries(server, coldData, 'cold', dirs[REPEAT]!, COLD_TIMEOUT_MS));
      got.cold = cold;
      console.log(sampleLine(cold));
      checkPassed(cold);
      console.log(`\nbreakdown of the cold run:`);
      printBreakdown(cold);
    }
  } finally {
    cleanup();
    fs.rmSync(projects, { recursive: true, force: true });
    fs.rmSync(scratch, { recursive: true, force: true });
    if (values.keep) console.log(`\ndata kept in ${kept.join(' and ')}`);
    else for (const d of kept) fs.rmSync(d, { recursive: true, force: true });
  }

  // 3. The figures.
  const { setup, cold } = got;
  const w = warm.map((s) => s.e2e);
  const warmMs = median(w);
  const floorMs = median(floors.map((f) => f.total));
  const fm = (arch: string, k: 'buildMs' | 'bootMs') => median(floors.map((f) => f.archs.find((a) => a.arch === arch)![k]));
  console.log('\npipeline vs floor, per arch (medians, s):');
  console.log(`  ${'arch'.padEnd(8)} ${'make'.padStart(7)} ${'floor'.padStart(7)} ${'build step'.padStart(11)} ${'boot'.padStart(7)} ${'floor'.padStart(7)} ${'test step'.padStart(10)}`);
  for (const arch of ARCHS) {
    const m = (f: (s: Sample) => number) => s1(median(warm.map(f)));
    const b = (s: Sample) => stepOf(s.run, 'build', arch);
    const t = (s: Sample) => stepOf(s.run, 'test', arch);
    console.log(
      `  ${arch.padEnd(8)} ${m((s) => num(b(s)?.outputs.buildMs)).padStart(7)} ${s1(fm(arch, 'buildMs')).padStart(7)} ${m((s) => ms(b(s)?.finished_at) - ms(b(s)?.started_at)).padStart(11)} ${m((s) => num(t(s)?.outputs.bootMs)).padStart(7)} ${s1(fm(arch, 'bootMs')).padStart(7)} ${m((s) => ms(t(s)?.finished_at) - ms(t(s)?.started_at)).padStart(10)}`,
    );
  }
  const [bx, tx, ba, ta] = [fm('x86_64', 'buildMs'), fm('x86_64', 'bootMs'), fm('arm64', 'buildMs'), fm('arm64', 'bootMs')];
  console.log('\nsummary:');
  const row = (label: string, value: string, rest = '') => console.log(`  ${label.padEnd(34)} ${value.padStart(9)}${rest ? `   ${rest}` : ''}`);
  if (setup) row('setup (solution, base builds)', `${s1(setup.e2e)} s`);
  row(`warm, median of ${warm.length}`, `${s1(warmMs)} s`, `(${w.map(s1).join(', ')})`);
  row(`cold${cold ? (COLD_WITH_CCACHE ? ' (warm ccache)' : ' (empty ccache)') : ''}`, cold ? `${s1(cold.e2e)} s` : 'skipped');
  row(`floor, median of ${floors.length}`, `${s1(floorMs)} s`, `(${floors.map((f) => s1(f.total)).join(', ')})`);
  if (AT_ONCE) console.log(`      floor = max(build_x86_64 + boot_x86_64, build_arm64 + boot_arm64) (builds at once); medians of the parts: max(${s1(bx)} + ${s1(tx)}, ${s1(ba)} + ${s1(ta)}) = ${s1(floorOf(bx, tx, ba, ta))} s`);
  else console.log(`      floor = build_x86_64 + max(boot_x86_64, build_arm64) + boot_arm64; medians of the parts: ${s1(bx)} + max(${s1(tx)}, ${s1(ba)}) + ${s1(ta)} = ${s1(floorOf(bx, tx, ba, ta))} s`);
  row('warm / floor', `${(warmMs / floorMs).toFixed(2)}×`, `(each run over the floor measured after it: ${floors.map((f) => (f.after.e2e / f.total).toFixed(2)).join(', ')})`);
  if (cold) row('cold / warm', `${(cold.e2e / warmMs).toFixed(1)}×`);
  row(`target: warm ≤ ${TARGET_RATIO} × floor`, warmMs <= TARGET_RATIO * floorMs ? 'met' : 'NOT met', `(${s1(warmMs)} s vs ${s1(TARGET_RATIO * floorMs)} s)`);
  row(`target: warm < ${TARGET_WARM_MS / 1000} s`, warmMs < TARGET_WARM_MS ? 'met' : 'NOT met');
  console.log(`  load average during the benchmark ${loadRange(started, now())}; took ${s1(now() - started)} s`);
  console.log(`rerun: ${rerun}`);
}

await main();

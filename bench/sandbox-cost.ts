// bench/sandbox-cost: what issue 11's build sandbox costs a kernel build (x86_64 tinyconfig + the table's fragments +
// the proctree course's), from one kernel worktree and two object trees at fixed paths, side by side:
//   old     — as before issue 11: make straight in a shared warm tree, as root, ccache read-write, no sandbox
//             (the sandbox then was bubblewrap alone, measured to cost nothing: docs/benchmarks.md);
//   overlay — the same make over the trusted tree and a copy of the submitter's layer, as root, no sandbox: the
//             overlay alone;
//   step    — the build step itself: the series over the submitter's layer as the build user in its control groups,
//             ccache read-only; its make (outputs.buildMs) and the whole step (stepMs: with the outputs taken out,
//             modules_install, headers_install and the ext2 image).
// Two kinds of series: the first of a new submitter (the proctree solution: its syscall tables regenerate unistd.h),
// where the old shared tree already held another student's identical solution; and --repeat one-line changes of
// kernel/proctree.c from a submitter whose layer holds the solution (bench:kernel's warm series).
// Usage: npm run bench:sandbox [-- --repeat N --ccache-dir DIR --keep]
//   --ccache-dir DIR  default: a new one (the first base build is then cold, minutes)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readLayer, restoreSourceTimes, studentLayer } from '../src/pipeline/object-tree.js';
import { parseBuildLog } from '../src/pipeline/rules/gcc-output.js';
import { sandboxEnv } from '../src/pipeline/sandbox.js';
import { sandboxHost } from '../src/pipeline/sandbox-runner.js';
import { blobLookup, buildStep, KBUILD_ENV } from '../src/pipeline/steps/build.step.js';
import type { BuildContext, Job, StepResult } from '../src/pipeline/types.js';
import { tempDir } from '../test/helpers/dirs.js';
import { ROOT } from '../test/helpers/server-process.js';
import { startBench } from './lib/run-info.js';

startBench('sandbox-cost');

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '5' },
    'ccache-dir': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const REPEAT = Number(values.repeat);
if (!Number.isInteger(REPEAT) || REPEAT < 1) throw new Error(`--repeat: expected a positive integer, got ${values.repeat}`);
const KERNEL = path.join(os.homedir(), '.cache/patchbay/linux.git');
const SOLUTION = path.join(ROOT, 'projects/proctree/solution');
const FRAGMENT = path.join(ROOT, 'projects/proctree/config/proctree_syscall');
const REV_AFTER = '#include <linux/syscalls.h>';

const s1 = (ms: number) => (ms / 1000).toFixed(1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const loads: number[] = [];
const sampler = setInterval(() => loads.push(os.loadavg()[0]!), 5000);
sampler.unref();

function run(cmd: string, args: string[], o: { cwd: string; env?: NodeJS.ProcessEnv }): { ms: number; out: string } {
  const t = performance.now();
  const r = spawnSync(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, encoding: 'utf8', maxBuffer: 256 << 20 });
  const out = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 8).join(' ')} failed (${r.status}):\n${out.split('\n').slice(-20).join('\n')}`);
  return { ms: performance.now() - t, out };
}
const git = (cwd: string, ...args: string[]) => run('git', ['-c', 'gc.auto=0', '-c', 'user.name=Bench Student', '-c', 'user.email=bench@students.example.org', ...args], { cwd }).out.trim();

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(KERNEL, 'patchbay-source-version'))) throw new Error(`no kernel tree at ${KERNEL}: run scripts/kernel-tree.sh`);
  const host = sandboxHost();
  if (host.problems.length || !host.user) throw new Error(`the build sandbox cannot run here: ${host.problems.join('; ') || 'not root'}`);
  const dir = tempDir('patchbay-bench-sandbox-');
  const ccache = path.resolve(values['ccache-dir'] ?? path.join(dir, 'ccache'));
  const wt = path.join(dir, 'src');
  const objOld = path.join(dir, 'old');
  const objNew = path.join(dir, 'new');
  console.log(`bench/sandbox-cost: ${dir}; ccache ${ccache}; ${host.caps.user}, processes: ${host.caps.processes}, memory: ${host.caps.memory}`);
  try {
    run('git', ['worktree', 'add', '--detach', '-f', '-q', wt, 'master'], { cwd: KERNEL });
    const base = git(wt, 'rev-parse', 'HEAD');
    const spec = { key: 'x86_64', arch: 'x86_64', base: 'tinyconfig', fragments: [FRAGMENT], lava: false };
    let runId = 0;
    const step = async (email: string): Promise<StepResult> => {
      const job: Job = {
        runId: ++runId,
        project: { slug: 'proctree', name: 'Proctree', branch: 'master', checkpatch: { enabled: false, ignore: [], options: [], warnings: 'warn' }, testDescription: null },
        series: { id: runId, name: 'bench', version: 1, total: 1, baseCommit: null, submitter: { name: null, email }, patches: [] },
      };
      const ctx: BuildContext = {
        logPath: path.join(dir, `step-${runId}.log`),
        mirror: KERNEL,
        worktree: wt,
        previous: {},
        timeoutMs: 60 * 60_000,
        build: spec,
        objDir: objNew,
        ccacheDir: ccache,
        artifactsDir: path.join(dir, 'artifacts', String(runId)),
        jobs: os.cpus().length,
        baseCommit: base,
        privateDirs: [dir],
      };
      fs.mkdirSync(ctx.artifactsDir, { recursive: true });
      const r = await buildStep(job, ctx);
      if (r.status !== 'pass' && r.status !== 'warn') throw new Error(`the build step: ${r.status}: ${r.summary} (${ctx.logPath})`);
      return r;
    };
    const env = sandboxEnv({ CCACHE_DIR: ccache, CCACHE_BASEDIR: wt, CCACHE_NOHASHDIR: '1', CCACHE_SLOPPINESS: 'time_macros,include_file_mtime,include_file_ctime', ...KBUILD_ENV });
    const makeArgs = (o: string) => [`O=${o}`, 'ARCH=x86_64', 'CC=ccache gcc', 'HOSTCC=ccache gcc', `-j${os.cpus().length}`];
    const oldMake = () => {
      const r = run('make', makeArgs(objOld), { cwd: wt, env });
      return { ms: r.ms, compiled: parseBuildLog(r.out).compiled.length };
    };
    /** The make over the trusted tree and a copy of the submitter's layer, in a mount namespace of its own, as root. */
    const overlayMake = (email: string) => {
      const scratch = path.join(dir, 'overlay-copy');
      fs.rmSync(scratch, { recursive: true, force: true });
      fs.mkdirSync(path.join(scratch, 'work'), { recursive: true });
      run('cp', ['-a', studentLayer(objNew, email).upper, path.join(scratch, 'upper')], { cwd: dir });
      const mount = 'mount -t overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" bench "$1" && shift 3 && exec "$@"';
      const r = run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', mount, 'sh', objNew, path.join(scratch, 'upper'), path.join(scratch, 'work'), 'make', ...makeArgs(objNew)], {
        cwd: wt,
        env: { ...env, CCACHE_READONLY: '1' },
      });
      return { ms: r.ms, compiled: parseBuildLog(r.out).compiled.length };
    };

    // Base builds: the build step's (trusted, fills the ccache), then the old tree from the same .config.
    console.log('base builds…');
    const b = await step('teacher@example.org');
    fs.mkdirSync(objOld, { recursive: true });
    fs.copyFileSync(path.join(objNew, '.config'), path.join(objOld, '.config'));
    run('make', [...makeArgs(objOld), 'olddefconfig'], { cwd: wt, env });
    const ob = oldMake();
    console.log(`  step (cold base build + the empty series): ${s1(Number(b.outputs!.stepMs))} s; old tree from the same ccache: ${s1(ob.ms)} s`);

    // The first series of a new submitter: the solution. In the old tree another student built it before.
    const patches = fs.readdirSync(SOLUTION).filter((f) => /^000[1-9].*\.patch$/.test(f)).sort().map((f) => path.join(SOLUTION, f));
    run('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@example.org', 'am', '-q', ...patches], { cwd: wt });
    const solution = git(wt, 'rev-parse', 'HEAD');
    const first = await step('first@students.example.org');
    oldMake();
    // The old design's next student: the worktree reset and the series applied again (fresh mtimes), then the old
    // step's mtime record given back to the files whose content the tree was built from.
    const changed = git(wt, 'diff', '--name-only', base, solution).split('\n').filter(Boolean);
    const recorded = new Map(changed.filter((f) => fs.existsSync(path.join(wt, f))).map((f) => [f, fs.statSync(path.join(wt, f)).mtime]));
    git(wt, 'checkout', '--detach', '-f', '-q', base);
    git(wt, 'checkout', '--detach', '-f', '-q', solution);
    for (const [f, t] of recorded) fs.utimesSync(path.join(wt, f), t, t);
    const oldSecond = oldMake();
    console.log(
      `first series of a new submitter (the solution): step make ${s1(Number(first.outputs!.buildMs))} s, ${String(first.outputs!.compiled)} compiled (whole step ${s1(Number(first.outputs!.stepMs))} s); ` +
        `old shared tree after another student's identical series: make ${s1(oldSecond.ms)} s, ${oldSecond.compiled} compiled`,
    );

    // One-line changes from a submitter whose layer holds the solution.
    const rows: { old: number; overlay: number; make: number; step: number; compiled: string }[] = [];
    for (let i = 0; i < REPEAT; i++) {
      // Not -f: only the files that differ from the solution are rewritten (kernel/proctree.c).
      git(wt, 'checkout', '--detach', '-q', solution);
      const file = path.join(wt, 'kernel/proctree.c');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(REV_AFTER, `${REV_AFTER}\nstatic const char proctree_rev[] __used = "bench ${Date.now()}-${i}";`));
      git(wt, 'commit', '-q', '-a', '-m', `proctree: rev ${i}`);
      // The mtimes the step gives back, first, so that the three makes see the same tree.
      const head = git(wt, 'rev-parse', 'HEAD');
      const rec = readLayer(studentLayer(objNew, 'first@students.example.org'));
      await restoreSourceTimes({ worktree: wt, base, head, changed: git(wt, 'diff', '--name-only', base, head).split('\n').filter(Boolean), touched: [], layers: [rec?.sources ?? {}], blobs: blobLookup(async (args) => git(wt, ...args)) });
      const o = oldMake();
      const v = overlayMake('first@students.example.org');
      const s = await step('first@students.example.org');
      rows.push({ old: o.ms, overlay: v.ms, make: Number(s.outputs!.buildMs), step: Number(s.outputs!.stepMs), compiled: `${o.compiled}/${v.compiled}/${String(s.outputs!.compiled)}` });
      console.log(`  one-line #${i + 1}: old make ${s1(o.ms)} s, overlay make ${s1(v.ms)} s, step make ${s1(s.outputs!.buildMs as number)} s, whole step ${s1(s.outputs!.stepMs as number)} s (compiled old/overlay/step ${rows.at(-1)!.compiled})`);
    }
    const m = (k: 'old' | 'overlay' | 'make' | 'step') => median(rows.map((r) => r[k]));
    console.log(
      `one-line series, medians of ${REPEAT}: old make ${s1(m('old'))} s; overlay make ${s1(m('overlay'))} s (+${s1(m('overlay') - m('old'))}); ` +
        `step make ${s1(m('make'))} s (+${s1(m('make') - m('overlay'))} for the sandbox); whole step ${s1(m('step'))} s; load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
    );
  } finally {
    run('git', ['worktree', 'remove', '--force', wt], { cwd: KERNEL });
    if (values.keep) console.log(`kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();

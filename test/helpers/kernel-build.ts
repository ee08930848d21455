// Real kernel builds for tests: a worktree of the kernel repo (scripts/kernel-tree.sh) at a fixed path, a BuildContext
// around it, and builtKernel(arch): a kernel image + modules image built once by the build step from one worktree
// shared by every arch, kept at a fixed path under /tmp (a rerun finds the warm tree: a no-op make), for tests that
// need something to boot. Every build uses the shared ccache, and the test kernels are the demo course's base builds
// (same config, same layout), so that on a fresh machine each of x86_64 and arm64 compiles once for the whole suite.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseProjectFile } from '../../src/config/projects.js';
import { buildStep } from '../../src/pipeline/steps/build.step.js';
import type { BuildContext, BuildSpec, Job, StepResult } from '../../src/pipeline/types.js';
import { runCommand } from './run-command.js';

export const KERNEL_REPO = process.env.PATCHBAY_KERNEL_REPO ?? path.join(os.homedir(), '.cache/patchbay/linux.git');
/** Shared by every helper and test (kernel-lab.md: a hot ccache turns a 150 s build into 50 s). */
export const SHARED_CCACHE = process.env.PATCHBAY_TEST_CCACHE ?? '/tmp/ccache-shared';

export function kernelRepoAvailable(): boolean {
  return fs.existsSync(path.join(KERNEL_REPO, 'patchbay-source-version'));
}

const gitEnv = { ...process.env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0' };

export async function git(cwd: string, args: string[], input?: string): Promise<string> {
  const r = await runCommand('git', ['-c', 'gc.auto=0', ...args], { cwd, env: gitEnv, timeoutMs: 300_000, ...(input !== undefined ? { input } : {}) });
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed in ${cwd}: ${r.stderr}`);
  return r.stdout.trim();
}

export interface KernelWorktree {
  path: string;
  /** The commit of the repo's master. */
  master: string;
  remove(): Promise<void>;
}

/** A linked worktree of the kernel repo at `dir` (detached at master), made anew: 13–26 s and 1.5 GB. */
export async function kernelWorktree(dir: string): Promise<KernelWorktree> {
  await runCommand('git', ['worktree', 'remove', '--force', dir], { cwd: KERNEL_REPO, env: gitEnv });
  fs.rmSync(dir, { recursive: true, force: true });
  await git(KERNEL_REPO, ['worktree', 'prune']);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  await git(KERNEL_REPO, ['worktree', 'add', '--detach', '-f', '-q', dir, 'master']);
  const master = await git(dir, ['rev-parse', 'HEAD']);
  return {
    path: dir,
    master,
    remove: async () => {
      await runCommand('git', ['worktree', 'remove', '--force', dir], { cwd: KERNEL_REPO, env: gitEnv });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Commits the working tree's changes with a fixed identity and date (so the same change gives the same commit). */
export async function commitAll(worktree: string, message: string): Promise<string> {
  await git(worktree, ['add', '-A']);
  const env = ['-c', 'user.name=Test Student', '-c', 'user.email=student@example.org', '-c', 'commit.gpgSign=false'];
  await git(worktree, [...env, 'commit', '-q', '--no-verify', '-m', message]);
  return git(worktree, ['rev-parse', 'HEAD']);
}

export function buildJob(runId = 1): Job {
  return {
    runId,
    project: {
      slug: 'proctree',
      name: 'Proctree',
      branch: 'master',
      checkpatch: { enabled: false, ignore: [], options: [], warnings: 'warn' },
      testDescription: null,
    },
    series: { id: 1, name: 'test', version: 1, total: 0, baseCommit: null, submitter: { name: null, email: 'student@example.org' }, patches: [] },
  };
}

export function buildContext(o: {
  worktree: string;
  objDir: string;
  artifactsDir: string;
  logPath: string;
  baseCommit: string;
  build: BuildSpec;
  timeoutMs?: number;
  jobs?: number;
}): BuildContext {
  fs.mkdirSync(o.artifactsDir, { recursive: true });
  fs.mkdirSync(path.dirname(o.logPath), { recursive: true });
  return {
    logPath: o.logPath,
    mirror: KERNEL_REPO,
    worktree: o.worktree,
    previous: {},
    timeoutMs: o.timeoutMs ?? 900_000,
    build: o.build,
    objDir: o.objDir,
    ccacheDir: SHARED_CCACHE,
    artifactsDir: o.artifactsDir,
    jobs: o.jobs ?? os.cpus().length,
    baseCommit: o.baseCommit,
  };
}

export interface BuiltKernel {
  arch: string;
  image: string;
  modulesImage: string | null;
  config: string;
  objDir: string;
  worktree: string;
  /** The build step's result (its status, summary and outputs). */
  result: StepResult;
}

/**
 * Where builtKernel() keeps its source and object trees, laid out as a server's data folder lays out the proctree
 * project's build slot 0: the source at work/proctree/0, each arch's O= dir at build/proctree/slot-0/<arch>. The build
 * step gives ccache the source as its base_dir, so a compilation is found again only from an O= dir at the same place
 * relative to its source: this layout, with the course's config (COURSE_FRAGMENTS), makes the demo course's base builds
 * (test/e2e) and these kernels hits of each other.
 */
export const TEST_KERNELS = process.env.PATCHBAY_TEST_KERNELS ?? path.join(os.tmpdir(), 'patchbay-kernels');

/**
 * A server's build slot 0 of the course under `root`: the source at work/proctree/0 (tree.service.ts slotPath), an
 * arch's O= dir under build/proctree/slot-0 (heavy-runner.ts objectTreeDir's folder; the name below it does not count).
 */
export function courseSlot(root: string): { worktree: string; objDir: (arch: string) => string } {
  return { worktree: path.join(root, 'work/proctree/0'), objDir: (arch) => path.join(root, 'build/proctree/slot-0', arch) };
}

/**
 * The source every builtKernel() builds from: ONE linked worktree of the repo's master for all archs (each arch has
 * its own O= dir), so six archs cost one 1.5 GB checkout, not six. Kept between runs; the build step only reads it.
 */
export const SHARED_KERNEL_WORKTREE = courseSlot(TEST_KERNELS).worktree;

/** The demo course's config fragments, as projects/proctree.yaml lists them for its builds (all the same). */
export const COURSE_FRAGMENTS: readonly string[] = (() => {
  const file = path.resolve(import.meta.dirname, '../../projects/proctree.yaml');
  return parseProjectFile(file, fs.readFileSync(file, 'utf8')).builds[0]!.config;
})();

/** The source tree an O= dir was configured from: its generated Makefile includes <source>/Makefile. */
export function sourceOfObjDir(objDir: string): string | null {
  const mk = path.join(objDir, 'Makefile');
  if (!fs.existsSync(mk)) return null;
  return /^include (\S+)\/Makefile$/m.exec(fs.readFileSync(mk, 'utf8'))?.[1] ?? null;
}

let shared: Promise<{ path: string; master: string }> | null = null;

/** The shared worktree at master, made the first time (13–26 s). */
function sharedWorktree(): Promise<{ path: string; master: string }> {
  shared ??= (async () => {
    const dir = SHARED_KERNEL_WORKTREE;
    const master = await git(KERNEL_REPO, ['rev-parse', 'master']);
    if (fs.existsSync(path.join(dir, '.git'))) {
      // Nothing writes to it, but a master that moved (a new linux-source) must be checked out.
      if ((await git(dir, ['rev-parse', 'HEAD'])) !== master) await git(dir, ['checkout', '--detach', '-f', '-q', master]);
      return { path: dir, master };
    }
    return kernelWorktree(dir);
  })();
  shared.catch(() => {
    shared = null;
  });
  return shared;
}

/**
 * The demo course's kernel of the repo's master for `arch` (tinyconfig, the table's fragments, COURSE_FRAGMENTS), built
 * by the build step from the shared worktree into courseSlot's O= dir and kept: the first call costs a cold build (5–8
 * min on 2 cores, about 1 min when the demo course built it first), later calls a no-op make. Throws when the kernel
 * repo is missing (check kernelRepoAvailable()) or the build does not pass.
 */
export async function builtKernel(arch = 'x86_64'): Promise<BuiltKernel> {
  const wt = await sharedWorktree();
  const objDir = courseSlot(TEST_KERNELS).objDir(arch);
  const out = path.join(TEST_KERNELS, 'out', arch);
  const ctx = buildContext({
    worktree: wt.path,
    objDir,
    artifactsDir: path.join(out, 'artifacts'),
    logPath: path.join(out, 'build.log'),
    baseCommit: wt.master,
    build: { key: arch, arch, base: 'tinyconfig', fragments: [...COURSE_FRAGMENTS], lava: true },
  });
  const r = await buildStep(buildJob(), ctx);
  if (r.status === 'error' || r.status === 'fail') throw new Error(`building ${arch} failed: ${r.summary} (log ${ctx.logPath})`);
  return {
    arch,
    image: String(r.outputs!.image),
    modulesImage: r.outputs!.modulesImage ? String(r.outputs!.modulesImage) : null,
    config: String(r.outputs!.config),
    objDir: ctx.objDir,
    worktree: wt.path,
    result: r,
  };
}

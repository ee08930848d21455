// A small kernel-like git tree for pipeline tests: a few files taken from the real kernel repository
// (scripts/kernel-tree.sh), so steps run the tree's own checkpatch; plus a student's clone to write patches in,
// `git format-patch` output turned into JobPatch, and a Job around them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { splitPatch } from '../../src/series/diff.js';
import { signedOffBy } from '../../src/series/trailers.js';
import type { CheckpatchPolicy, Job, JobPatch } from '../../src/pipeline/types.js';
import { tempDir } from './dirs.js';

/** The bare kernel repository made by scripts/kernel-tree.sh (branch master, one commit). */
export const KERNEL_TREE = process.env.PATCHBAY_KERNEL_TREE ?? path.join(os.homedir(), '.cache', 'patchbay', 'linux.git');

/** What the tree's checkpatch needs next to it (--no-tree). Always in a small tree. */
export const CHECKPATCH_FILES = ['scripts/checkpatch.pl', 'scripts/spelling.txt', 'scripts/const_structs.checkpatch'];

/** Source files of a small tree when the caller names none: a 60-line driver and a small kernel file. */
export const DEFAULT_SOURCES = ['drivers/misc/dummy-irq.c', 'kernel/dma.c'];

/** A student, as in test/helpers/patch-mbox.ts; fixed dates so format-patch output is stable. */
export const STUDENT_ENV: NodeJS.ProcessEnv = {
  GIT_AUTHOR_NAME: 'Zoé Étudiante',
  GIT_AUTHOR_EMAIL: 'zoe@students.example.org',
  GIT_COMMITTER_NAME: 'Zoé Étudiante',
  GIT_COMMITTER_EMAIL: 'zoe@students.example.org',
  GIT_AUTHOR_DATE: '2026-11-20T10:00:00+00:00',
  GIT_COMMITTER_DATE: '2026-11-20T10:00:00+00:00',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: '/nonexistent',
  LC_ALL: 'C',
};

/** Runs git in `cwd` as the student; returns stdout. Throws (with git's stderr) on a non-zero exit. */
export function git(cwd: string, ...args: string[]): string {
  const env: NodeJS.ProcessEnv = { ...process.env, ...STUDENT_ENV };
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete env[k];
  return execFileSync('git', ['-c', 'gc.auto=0', '-c', 'init.defaultBranch=master', ...args], { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function kernelTreeAvailable(): boolean {
  return fs.existsSync(path.join(KERNEL_TREE, 'patchbay-source-version'));
}

export interface SmallTree {
  /** A non-bare repository, branch master checked out at `head`. */
  dir: string;
  /** A bare clone of `dir`: the project's mirror. */
  bare: string;
  /** The commit on master (full sha). */
  head: string;
  branch: 'master';
}

/**
 * Builds a small tree: the checkpatch files plus `files` (paths in the kernel, default DEFAULT_SOURCES), with the
 * kernel's file modes, committed on master; and a bare clone to serve as the mirror.
 */
export function smallTree(opts: { files?: string[] } = {}): SmallTree {
  if (!kernelTreeAvailable()) throw new Error(`no kernel repository at ${KERNEL_TREE}: run scripts/kernel-tree.sh first`);
  const root = tempDir('patchbay-small-tree-');
  const dir = path.join(root, 'tree');
  const bare = path.join(root, 'tree.git');
  fs.mkdirSync(dir);
  git(dir, 'init', '-q', '-b', 'master');
  const files = [...new Set([...CHECKPATCH_FILES, ...(opts.files ?? DEFAULT_SOURCES)])];
  for (const f of files) {
    const blob = execFileSync('git', ['-C', KERNEL_TREE, 'show', `master:${f}`], { maxBuffer: 64 << 20 });
    const mode = execFileSync('git', ['-C', KERNEL_TREE, 'ls-tree', 'master', '--', f], { encoding: 'utf8' }).split(/\s/)[0];
    const dest = path.join(dir, f);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, blob, { mode: mode === '100755' ? 0o755 : 0o644 });
  }
  git(dir, 'add', '-A');
  git(dir, '-c', 'user.name=patchbay', '-c', 'user.email=patchbay@localhost', 'commit', '-q', '-m', 'Small tree from the kernel');
  git(root, 'clone', '-q', '--bare', dir, bare);
  return { dir, bare, head: git(dir, 'rev-parse', 'HEAD').trim(), branch: 'master' };
}

/** A student's clone of the mirror (non-bare, master checked out) to make commits and format-patch in. */
export function studentClone(tree: SmallTree): string {
  const dir = tempDir('patchbay-student-');
  git(dir, 'clone', '-q', tree.bare, '.');
  return dir;
}

/** A linked worktree of the mirror, detached at master: what the tree service gives a run. */
export function addWorktree(tree: SmallTree): string {
  const dir = path.join(tempDir('patchbay-worktree-'), 'wt');
  git(tree.bare, 'worktree', 'add', '-q', '--detach', dir, 'master');
  return dir;
}

/** Edits a file of a repository in place. */
export function editFile(repo: string, file: string, edit: (text: string) => string): void {
  const p = path.join(repo, file);
  const before = fs.readFileSync(p, 'utf8');
  const after = edit(before);
  if (after === before) throw new Error(`editFile: the edit of ${file} changed nothing`);
  fs.writeFileSync(p, after);
}

/** Commits everything in `repo` as the student, with a Signed-off-by unless told not to. */
export function commitAll(repo: string, subject: string, body: string, opts: { signoff?: boolean } = {}): string {
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', ...(opts.signoff === false ? [] : ['-s']), '-m', subject, '-m', body);
  return git(repo, 'rev-parse', 'HEAD').trim();
}

/** Reads one `git format-patch` file into the JobPatch the engine would give a step. */
export function jobPatchFromFile(file: string, number: number): JobPatch {
  const mbox = fs.readFileSync(file, 'utf8');
  // git mailinfo decodes the headers (RFC 2047 names) exactly as git am will.
  const dir = tempDir('patchbay-mailinfo-');
  const info = execFileSync('git', ['mailinfo', path.join(dir, 'msg'), path.join(dir, 'patch')], { input: mbox.replace(/\r\n/g, '\n'), encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
  const lf = mbox.replace(/\r\n/g, '\n');
  const body = lf.slice(lf.indexOf('\n\n') + 2);
  const author = { name: field('Author') || null, email: field('Email') };
  const signoffs = signedOffBy(body);
  const msgid = /^Message-I[dD]: <([^>]+)>/m.exec(mbox)?.[1] ?? `${path.basename(file)}@patchbay.test`;
  return {
    id: number,
    number,
    // mailinfo's subject: decoded, the [PATCH n/m] prefix removed.
    name: field('Subject'),
    msgid,
    author,
    signoffOk: signoffs.some((s) => s.email === author.email.toLowerCase()),
    signoffs: signoffs.map((s) => `${s.name} <${s.email}>`),
    diff: splitPatch(body).diff,
    mbox,
  };
}

/** `git format-patch` of `range` in `repo` (extra options e.g. --base=SHA), as JobPatches in order, and the files. */
export function formatPatches(repo: string, range: string, ...options: string[]): { patches: JobPatch[]; files: string[] } {
  const out = tempDir('patchbay-format-patch-');
  git(repo, 'format-patch', '-q', '-o', out, ...options, range);
  const files = fs.readdirSync(out).filter((f) => f.endsWith('.patch') && !f.startsWith('0000-')).sort().map((f) => path.join(out, f));
  return { patches: files.map((f, i) => jobPatchFromFile(f, i + 1)), files };
}

export const DEFAULT_CHECKPATCH: CheckpatchPolicy = { enabled: true, ignore: [], options: [], warnings: 'warn' };

/** A Job for a series of these patches, as the engine would build it. */
export function makeJob(patches: JobPatch[], opts: { baseCommit?: string | null; branch?: string; checkpatch?: Partial<CheckpatchPolicy>; runId?: number } = {}): Job {
  const first = patches[0];
  return {
    runId: opts.runId ?? 1,
    project: {
      slug: 'proctree',
      name: 'Proctree Syscall',
      branch: opts.branch ?? 'master',
      checkpatch: { ...DEFAULT_CHECKPATCH, ...opts.checkpatch },
      testDescription: null,
    },
    series: {
      id: 1,
      name: first?.name ?? 'empty',
      version: 1,
      total: patches.length,
      baseCommit: opts.baseCommit ?? null,
      submitter: first?.author ?? { name: null, email: 'nobody@example.org' },
      patches,
    },
  };
}

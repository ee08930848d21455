// End-to-end tests that send series with `git send-email` to the server as a process and watch the pipeline answer
// (test/e2e/pipeline.test.ts, test/e2e/web-browser.test.ts): the kernel project, a student's clone of the kernel
// tree (~/.cache/patchbay/linux.git, made by scripts/kernel-tree.sh), format-patch + send-email, and polling the
// API for the series and its runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { extractMsgid, headerValue } from '../../src/mail/raw.js';
import { tempDir, type TestProject } from './dirs.js';
import { runCommand } from './run-command.js';
import type { ServerProcess } from './server-process.js';
import { waitFor } from './wait.js';

export const KERNEL = process.env.PATCHBAY_KERNEL_TREE ?? path.join(os.homedir(), '.cache/patchbay/linux.git');
export const HAVE_KERNEL = fs.existsSync(path.join(KERNEL, 'patchbay-source-version'));
export const SEND_EMAIL_MISSING = spawnSync('git', ['send-email', '--dump-aliases'], { stdio: 'ignore' }).status !== 0;
export const SEND_EMAIL_SKIP: string | false = SEND_EMAIL_MISSING ? 'git send-email is not installed (.ci/setup installs it)' : false;
/** Why a test on the kernel tree cannot run here, or false. */
export const PIPELINE_E2E_SKIP: string | false = !HAVE_KERNEL ? `no kernel tree at ${KERNEL} (scripts/kernel-tree.sh makes it; .ci/setup runs it)` : SEND_EMAIL_SKIP;

export const LIST = 'kernel-lab@lists.example.org';
export interface Student {
  name: string;
  email: string;
}
export const STUDENT: Student = { name: 'John Smith', email: 'john.smith@students.example.org' };
/** A course project whose pipeline runs the gates (sign-off, checkpatch, apply) on the kernel tree. */
export const KERNEL_LAB: TestProject = {
  slug: 'kernel-lab',
  name: 'Kernel Lab',
  list: LIST,
  maintainers: ['teacher@example.org'],
  tree: { url: KERNEL, branch: 'master' },
  // The tree's MAINTAINERS warning is noise for students' patches.
  checkpatch: { ignore: ['FILE_PATH_CHANGES'] },
  report: { signature: 'LSE Team' },
};

function studentEnv(dir: string, student: Student): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: dir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: student.name,
    GIT_AUTHOR_EMAIL: student.email,
    GIT_COMMITTER_NAME: student.name,
    GIT_COMMITTER_EMAIL: student.email,
  };
}

/** A student's clone of the kernel: shares the objects, checks out only the files the tests edit (seconds, not minutes). */
export function studentClone(files: string[], student: Student = STUDENT): { repo: string; env: NodeJS.ProcessEnv } {
  const dir = tempDir('patchbay-student-');
  const env = studentEnv(dir, student);
  const repo = path.join(dir, 'linux');
  git(dir, env, 'clone', '-q', '--shared', '--no-checkout', KERNEL, repo);
  git(repo, env, 'config', 'gc.auto', '0');
  git(repo, env, 'sparse-checkout', 'set', '--no-cone', ...files.map((f) => `/${f}`));
  git(repo, env, 'checkout', '-q', 'master');
  return { repo, env };
}

/** A new repository with one commit (a README): for mails to a project without a tree. */
export function studentRepo(student: Student = STUDENT): { repo: string; env: NodeJS.ProcessEnv } {
  const dir = tempDir('patchbay-student-');
  const env = studentEnv(dir, student);
  const repo = path.join(dir, 'work');
  git(dir, env, '-c', 'init.defaultBranch=master', 'init', '-q', repo);
  git(repo, env, 'config', 'gc.auto', '0');
  fs.writeFileSync(path.join(repo, 'README'), 'Lab notes.\n');
  git(repo, env, 'add', 'README');
  git(repo, env, 'commit', '-q', '-m', 'Start the lab notes');
  return { repo, env };
}

export function git(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export function edit(repo: string, file: string, change: (text: string) => string): void {
  const p = path.join(repo, file);
  const before = fs.readFileSync(p, 'utf8');
  const after = change(before);
  assert.notEqual(after, before, `the edit of ${file} changed nothing`);
  fs.writeFileSync(p, after);
}

export function commit(repo: string, env: NodeJS.ProcessEnv, subject: string, signoff = true, body = 'The lab asks for this change; it keeps the behaviour otherwise.'): void {
  git(repo, env, 'commit', '-qa', ...(signoff ? ['-s'] : []), '-m', subject, '-m', body);
}

export interface SendOptions {
  prefix?: string;
  inReplyTo?: string;
  /** The cover letter's subject and blurb (n > 1). */
  title?: string;
  blurb?: string;
  from?: Student;
  to?: string;
}

/** `git format-patch` of the last n commits (with a cover letter when n > 1): the files, in order. */
export function formatPatches(repo: string, env: NodeJS.ProcessEnv, n: number, opts: Omit<SendOptions, 'from' | 'to'> = {}): string[] {
  const out = fs.mkdtempSync(path.join(path.dirname(repo), 'out-'));
  // format-patch threads the series itself (Message-IDs the test knows); send-email then adds nothing.
  git(
    repo,
    env,
    'format-patch',
    '-q',
    `-${n}`,
    '-o',
    out,
    '--thread=shallow',
    ...(n > 1 ? ['--cover-letter'] : []),
    ...(opts.prefix ? [`--subject-prefix=${opts.prefix}`] : []),
    ...(opts.inReplyTo ? [`--in-reply-to=<${opts.inReplyTo}>`] : []),
  );
  const files = fs.readdirSync(out).sort().map((f) => path.join(out, f));
  const cover = files.find((f) => f.endsWith('0000-cover-letter.patch'));
  if (cover) {
    const text = fs.readFileSync(cover, 'utf8');
    // Replacer functions: the title and blurb are inserted as they are, `$` and all.
    fs.writeFileSync(cover, text.replace('*** SUBJECT HERE ***', () => opts.title ?? 'lab: a series').replace('*** BLURB HERE ***', () => opts.blurb ?? 'The lab series.'));
  }
  return files;
}

/** The Message-ID of each file that format-patch wrote. */
export function msgidsOf(files: string[]): string[] {
  return files.map((f) => extractMsgid(headerValue(fs.readFileSync(f, 'latin1'), 'message-id')) ?? '').filter(Boolean);
}

/**
 * `git format-patch` of the last n commits (with a cover letter when n > 1), then `git send-email` to the server.
 * Returns the Message-IDs in order: the cover letter first when there is one.
 */
export async function send(server: ServerProcess, repo: string, env: NodeJS.ProcessEnv, n: number, opts: SendOptions = {}): Promise<string[]> {
  const files = formatPatches(repo, env, n, opts);
  await sendEmail(server, repo, env, files, { from: opts.from, to: opts.to });
  return msgidsOf(files);
}

/** `git send-email` of these files (patches, or any mail with its headers) to the server's SMTP port. */
export async function sendEmail(server: ServerProcess, cwd: string, env: NodeJS.ProcessEnv, files: string[], opts: { from?: Student; to?: string; inReplyTo?: string } = {}): Promise<void> {
  const from = opts.from ?? STUDENT;
  const r = await runCommand(
    'git',
    [
      'send-email',
      '--quiet',
      '--confirm=never',
      '--suppress-cc=all',
      '--no-thread',
      `--smtp-server=127.0.0.1`,
      `--smtp-server-port=${server.smtpPort}`,
      `--from=${from.name} <${from.email}>`,
      `--to=${opts.to ?? LIST}`,
      ...(opts.inReplyTo ? [`--in-reply-to=<${opts.inReplyTo}>`] : []),
      ...files,
    ],
    { cwd, env },
  );
  assert.equal(r.code, 0, r.output);
}

export async function getJson<T>(server: ServerProcess, p: string): Promise<T> {
  const res = await fetch(`${server.baseUrl}${p}`);
  assert.equal(res.status, 200, `GET ${p}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as T;
}

export interface Run {
  id: number;
  state: string;
  outcome: string | null;
  reason: string | null;
  steps: { step: string; job: string; status: string; summary: string | null; log: string }[];
}

/** The series whose cover letter or first patch has this Message-ID. */
export async function seriesOf(server: ServerProcess, msgid: string): Promise<number> {
  return waitFor(`the series of <${msgid}>`, async () => {
    const patches = await getJson<{ series: { id: number }[] }[]>(server, `/api/patches/?msgid=${encodeURIComponent(msgid)}`);
    const covers = await getJson<{ series: { id: number }[] }[]>(server, `/api/covers/?msgid=${encodeURIComponent(msgid)}`);
    return (patches[0] ?? covers[0])?.series[0]?.id;
  });
}

/** The series' last run once `until` holds for it (`R`: the fields a caller reads of it). */
export async function runOf<R extends { state: string } = Run>(server: ServerProcess, series: number, until: (r: R) => boolean, what: string, timeoutMs = 240_000): Promise<R> {
  return waitFor(
    what,
    async () => {
      const runs = await getJson<R[]>(server, `/series/${series}/runs/`);
      const last = runs[runs.length - 1];
      return last && until(last) ? last : undefined;
    },
    timeoutMs,
  );
}

// A project tree whose builds a test can hold, for pipeline tests on the real server (no kernel): a stand-in for
// kbuild (tinyconfig, olddefconfig, an "image" compiled with $(CC)); a series may add a `hold` file naming a path, and
// its build's make then waits until that path exists (at most 5 minutes), so a build occupies its build slot for as
// long as the test needs whatever the machine's speed. The path is in a folder of /var/tmp, which the build sandbox
// sees read-only (its /tmp is private). Also: sending a student's series over SMTP, and reading its run over HTTP.
import type { StepFields } from '../../src/web/run-rows.js';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { extractMsgid, headerText, headerValue } from '../../src/mail/raw.js';
import { tempDir } from './dirs.js';
import type { Sink } from './sink-smtp.js';
import { sendMessage } from './smtp-dialog.js';
import { waitFor } from './wait.js';

export interface Student {
  name: string;
  email: string;
}

/** A step as GET /runs/R/ shows it: the fields the web view's rows are made from. */
export type StepView = StepFields;

export interface RunView {
  id: number;
  state: string;
  outcome: string | null;
  queue: { lane: string; state: string; ahead: number } | null;
  artifacts: { path: string; bytes: number; url: string }[];
  steps: StepView[];
}

/** Where the server is reached: its HTTP base and its SMTP port. */
export interface ServerAddress {
  baseUrl: string;
  smtpPort: number;
}

const TOOLS = ['bwrap', 'ccache', 'make', 'prlimit', 'gcc', 'mke2fs'];

/** Why builds cannot run here (a tool missing, no sandbox, not root), or false. */
export function buildSkipReason(): string | false {
  const missing = TOOLS.find((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
  if (missing) return `${missing} is not installed`;
  if (spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-net', 'true'], { stdio: 'ignore' }).status !== 0) return 'bubblewrap cannot make a sandbox here';
  if (process.getuid?.() !== 0) return 'builds run as root only (the sandbox drops to the build user)';
  return false;
}

const MAKEFILE = `# A stand-in for kbuild: what patchbay's build step asks of a kernel tree, and a way to hold a build.
O ?= .
IMAGE := $(O)/arch/x86/boot/bzImage

.PHONY: all tinyconfig olddefconfig modules_install headers_install
all: $(IMAGE)

tinyconfig:
\tmkdir -p $(O)
\tprintf 'CONFIG_TINY=y\\n' > $(O)/.config

olddefconfig:
\ttest -f $(O)/.config

$(IMAGE): hello.c
\t@if [ -f hold ]; then \\
\t  f=$$(cat hold); n=0; echo "hold: waiting for $$f"; \\
\t  while [ ! -e "$$f" ] && [ $$n -lt 3000 ]; do sleep 0.1; n=$$((n + 1)); done; \\
\t  echo "hold: released after $$n tenths"; \\
\tfi
\tmkdir -p $(dir $@)
\t$(CC) -c -o $(O)/hello.o hello.c
\tcp $(O)/hello.o $@

modules_install:
\tmkdir -p $(INSTALL_MOD_PATH)/lib/modules

headers_install:
\tmkdir -p $(INSTALL_HDR_PATH)/include/linux
`;

const MERGE_CONFIG = `#!/bin/sh
# merge_config.sh -m -O DIR BASE FRAGMENT...: appends the fragments to BASE
[ "$1" = -m ] && shift
[ "$1" = -O ] && shift 2
base=$1; shift
for f; do cat "$f" >> "$base"; done
`;

export function git(cwd: string, student: Student | null, ...args: string[]): string {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent', LC_ALL: 'C' };
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete env[k];
  const who = student ?? { name: 'patchbay', email: 'patchbay@localhost' };
  Object.assign(env, { GIT_AUTHOR_NAME: who.name, GIT_AUTHOR_EMAIL: who.email, GIT_COMMITTER_NAME: who.name, GIT_COMMITTER_EMAIL: who.email });
  return execFileSync('git', ['-c', 'gc.auto=0', '-c', 'init.defaultBranch=master', ...args], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The upstream tree, a bare repository. */
export function makeHoldTree(): string {
  const root = tempDir('patchbay-hold-tree-');
  const dir = path.join(root, 'tree');
  fs.mkdirSync(path.join(dir, 'scripts', 'kconfig'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'Makefile'), MAKEFILE);
  fs.writeFileSync(path.join(dir, 'scripts', 'kconfig', 'merge_config.sh'), MERGE_CONFIG, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'hello.c'), 'int hello(void) { return 0; }\n');
  git(dir, null, 'init', '-q', '-b', 'master');
  git(dir, null, 'add', '-A');
  git(dir, null, 'commit', '-q', '-m', 'A tree that builds like a kernel');
  const bare = path.join(root, 'tree.git');
  git(root, null, 'clone', '-q', '--bare', dir, bare);
  return bare;
}

/** A folder the build sandbox can see (not below the private /tmp), readable by the build user. */
export function holdDir(): string {
  const dir = fs.mkdtempSync('/var/tmp/patchbay-hold-');
  fs.chmodSync(dir, 0o755);
  return dir;
}

export interface SeriesOptions {
  /** The build waits until this path exists. */
  hold?: string;
  signoff?: boolean;
  /** hello.c does not compile. */
  broken?: boolean;
  /** A v2: answers this Message-ID (v1's mail), so the series engine links it as v1's next revision. */
  v2Of?: string;
  /** The commit's subject (the series' name); default `hello: return N`. */
  subject?: string;
}

/** One patch by `student` on master (hello.c returns `n`), sent to `list` over SMTP; returns its Message-ID. */
export async function sendSeries(server: ServerAddress, list: string, bare: string, student: Student, n: number, o: SeriesOptions = {}): Promise<string> {
  const repo = tempDir('patchbay-hold-student-');
  git(repo, student, 'clone', '-q', bare, '.');
  fs.writeFileSync(path.join(repo, 'hello.c'), o.broken ? `int hello(void) { return undeclared_${n}; }\n` : `int hello(void) { return ${n}; }\n`);
  if (o.hold) fs.writeFileSync(path.join(repo, 'hold'), `${o.hold}\n`);
  git(repo, student, 'add', '-A');
  // A v2 keeps v1's subject.
  const subject = o.subject ?? (o.v2Of ? 'hello: return the lab value' : `hello: return ${n}`);
  git(repo, student, 'commit', '-q', ...(o.signoff === false ? [] : ['-s']), '-m', subject, '-m', `The lab asks for ${n}.`);
  const revision = o.v2Of ? ['--subject-prefix=PATCH v2', `--in-reply-to=<${o.v2Of}>`] : [];
  const raw = git(repo, student, 'format-patch', '-1', '--stdout', '--thread', ...revision).replace(/^From [0-9a-f]{40} .*\n/, '').replace(/^Subject:/m, `To: ${list}\nSubject:`);
  assert.match((await sendMessage(server.smtpPort, student.email, [list], raw)).final, /^250 /);
  fs.rmSync(repo, { recursive: true, force: true });
  return extractMsgid(headerValue(raw, 'message-id'))!;
}

export async function getJson<T>(server: ServerAddress, p: string): Promise<T> {
  const res = await fetch(`${server.baseUrl}${p}`);
  assert.equal(res.status, 200, `GET ${p}`);
  return (await res.json()) as T;
}

export async function patchOf(server: ServerAddress, msgid: string, timeoutMs = 60_000): Promise<{ id: number; series: number }> {
  return waitFor(
    `the patch <${msgid}>`,
    async () => {
      const [patch] = await getJson<{ id: number; series: { id: number }[] }[]>(server, `/api/patches/?msgid=${encodeURIComponent(msgid)}`);
      return patch?.series[0] ? { id: patch.id, series: patch.series[0].id } : undefined;
    },
    timeoutMs,
  );
}

/** The series' run once `until` holds for it (read through GET /runs/R/). */
export async function runWhen(server: ServerAddress, msgid: string, until: (r: RunView) => boolean, what: string, timeoutMs = 120_000): Promise<RunView> {
  const { series } = await patchOf(server, msgid);
  return waitFor(
    what,
    async () => {
      const [first] = await getJson<{ id: number }[]>(server, `/series/${series}/runs/`);
      if (!first) return undefined;
      const run = await getJson<RunView>(server, `/runs/${first.id}/`);
      return until(run) ? run : undefined;
    },
    timeoutMs,
  );
}

export const step = (r: RunView, name: string, job = ''): StepView => r.steps.find((s) => s.step === name && s.job === job)!;

/** Mails the sink got that answer this Message-ID. */
export function sunkReplies(sink: Sink, msgid: string) {
  return sink.mails.filter((m) => extractMsgid(headerValue(headerText(m.raw), 'in-reply-to')) === msgid);
}

/** A project with the hold tree and one x86_64 build (no boot), checkpatch off. */
export function holdProject(slug: string, list: string, bare: string) {
  return {
    slug,
    list,
    maintainers: ['teacher@example.org'],
    tree: { url: bare, branch: 'master' },
    checkpatch: { enabled: false },
    builds: [{ arch: 'x86_64', base: 'tinyconfig' }],
  };
}

// The CPU budget (--pipeline-cpus): how many builds of a run go at once and the make -j of each. On a tiny tree whose
// Makefile stands in for kbuild (config targets, merge_config.sh, an "image" compiled with $(CC), the install
// targets), two builds of one project in the real server, through the real build step and its sandbox. Whether two
// builds ran at once is read from the start and end times the engine stored for their steps, never from durations.
// A series may add a `rendezvous` file: each build's make then sleeps the tenths of a second the file says, so that
// builds at once overlap in time however slow the machine is (two sandboxes share no writable folder, so they cannot
// wait for each other: the worktree is read-only and each build has its own overlay and /tmp).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { extractMsgid, headerValue } from '../../src/mail/raw.js';
import { buildBudget } from '../../src/pipeline/steps.js';
import { projectsDir, tempDir } from '../helpers/dirs.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { commitAll, git } from '../helpers/small-tree.js';
import { sendMessage } from '../helpers/smtp-dialog.js';
import { waitFor } from '../helpers/wait.js';

const LIST = 'budget@lists.example.org';
const STUDENT = 'zoe@students.example.org';

const TOOLS = ['bwrap', 'ccache', 'make', 'prlimit', 'gcc', 'mke2fs'];
const missingTool = TOOLS.find((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
const bwrapWorks = !missingTool && spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-net', 'true'], { stdio: 'ignore' }).status === 0;
const SKIP = missingTool ? `${missingTool} is not installed` : bwrapWorks ? false : 'bubblewrap cannot make a sandbox here';

const MAKEFILE = `# A stand-in for kbuild: what patchbay's build step asks of a kernel tree, and nothing more.
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
\t@if [ -f rendezvous ]; then \\
\t  n=$$(cat rendezvous); sleep $$((n / 10)).$$((n % 10)); echo "rendezvous: slept $$n tenths"; \\
\tfi
\tmkdir -p $(dir $@)
\t$(CC) -c -o $(O)/hello.o hello.c
\tcp $(O)/hello.o $@

modules_install:
\tmkdir -p $(INSTALL_MOD_PATH)/lib/modules

headers_install:
\tmkdir -p $(INSTALL_HDR_PATH)/include/linux
`;

/** merge_config.sh -m -O DIR BASE FRAGMENT…: each fragment's CONFIG_ lines replace the symbol's line in BASE. */
const MERGE_CONFIG = `#!/bin/sh
set -e
while [ $# -gt 0 ]; do
  case "$1" in
    -m) shift ;;
    -O) out=$2; shift 2 ;;
    *) break ;;
  esac
done
base=$1; shift
tmp="$out/.merge.tmp"
cp "$base" "$tmp"
for f in "$@"; do
  while IFS= read -r line; do
    case "$line" in
      CONFIG_*=*) sym=\${line%%=*}; grep -v "^$sym=" "$tmp" > "$tmp.2" || true; mv "$tmp.2" "$tmp"; echo "$line" >> "$tmp" ;;
    esac
  done < "$f"
done
mv "$tmp" "$out/.config"
`;

interface StepView {
  step: string;
  job: string;
  status: string;
  summary: string | null;
  outputs: Record<string, unknown> | null;
  started_at: string | null;
  finished_at: string | null;
}
interface RunView {
  id: number;
  state: string;
  outcome: string | null;
  steps: StepView[];
}

/** The upstream tree (a bare repository) and a student's clone of it. */
function makeTree(): { bare: string; student: string } {
  const root = tempDir('patchbay-budget-tree-');
  const dir = path.join(root, 'tree');
  fs.mkdirSync(path.join(dir, 'scripts', 'kconfig'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'Makefile'), MAKEFILE);
  fs.writeFileSync(path.join(dir, 'scripts', 'kconfig', 'merge_config.sh'), MERGE_CONFIG, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'hello.c'), 'int hello(void) { return 0; }\n');
  git(dir, 'init', '-q', '-b', 'master');
  git(dir, 'add', '-A');
  git(dir, '-c', 'user.name=patchbay', '-c', 'user.email=patchbay@localhost', 'commit', '-q', '-m', 'A tree that builds like a kernel');
  const bare = path.join(root, 'tree.git');
  git(root, 'clone', '-q', '--bare', dir, bare);
  const student = path.join(root, 'student');
  git(root, 'clone', '-q', bare, student);
  return { bare, student };
}

/** One patch on master: hello.c returns `n`; with `rendezvous` (tenths of a second) each build's make sleeps that long. */
async function sendSeries(server: ServerProcess, repo: string, n: number, rendezvous: number | null): Promise<string> {
  git(repo, 'checkout', '-q', '-B', `series-${n}`, 'origin/master');
  fs.writeFileSync(path.join(repo, 'hello.c'), `int hello(void) { return ${n}; }\n`);
  if (rendezvous !== null) fs.writeFileSync(path.join(repo, 'rendezvous'), `${rendezvous}\n`);
  commitAll(repo, `hello: return ${n}`, `The lab asks for ${n}.`);
  const raw = git(repo, 'format-patch', '-1', '--stdout', '--thread').replace(/^From [0-9a-f]{40} .*\n/, '').replace(/^Subject:/m, `To: ${LIST}\nSubject:`);
  assert.match((await sendMessage(server.smtpPort, STUDENT, [LIST], raw)).final, /^250 /);
  return extractMsgid(headerValue(raw, 'message-id'))!;
}

async function finishedRun(server: ServerProcess, msgid: string): Promise<RunView> {
  return waitFor(
    'the run to end',
    async () => {
      const res = await fetch(`${server.baseUrl}/api/patches/?msgid=${encodeURIComponent(msgid)}`);
      const [patch] = (await res.json()) as { series: { id: number }[] }[];
      if (!patch?.series[0]) return undefined;
      const runs = (await (await fetch(`${server.baseUrl}/series/${patch.series[0].id}/runs/`)).json()) as RunView[];
      const run = runs.at(-1);
      return run?.state === 'done' ? run : undefined;
    },
    180_000,
  );
}

/** The two builds of a run: their stored times and make -j. */
function builds(run: RunView): { key: string; start: number; end: number; jobs: number }[] {
  return run.steps
    .filter((s) => s.step === 'build')
    .map((s) => {
      assert.equal(s.status, 'pass', `build ${s.job}: ${s.summary}`);
      const jobs = /(?:^| )-j(\d+)(?: |$)/.exec(String(s.outputs?.makeCommand ?? ''));
      assert.ok(jobs, `make -j in ${String(s.outputs?.makeCommand)}`);
      return { key: s.job, start: Date.parse(s.started_at!), end: Date.parse(s.finished_at!), jobs: Number(jobs[1]) };
    });
}

const overlap = (a: { start: number; end: number }, b: { start: number; end: number }) => a.start < b.end && b.start < a.end;

describe('the CPU budget', () => {
  it('derives builds at once and make -j from the CPUs: one build at a time up to 7 CPUs, one more per 4 CPUs', () => {
    assert.deepEqual(buildBudget(2, 2), { concurrent: 1, jobs: 2 });
    assert.deepEqual(buildBudget(1, 3), { concurrent: 1, jobs: 1 });
    assert.deepEqual(buildBudget(7, 2), { concurrent: 1, jobs: 7 });
    assert.deepEqual(buildBudget(8, 2), { concurrent: 2, jobs: 4 });
    assert.deepEqual(buildBudget(8, 1), { concurrent: 1, jobs: 8 });
    assert.deepEqual(buildBudget(16, 6), { concurrent: 4, jobs: 4 });
    assert.deepEqual(buildBudget(12, 2), { concurrent: 2, jobs: 6 });
    assert.deepEqual(buildBudget(4, 0), { concurrent: 1, jobs: 4 });
  });
});

describe('builds of a run within the CPU budget', { skip: SKIP }, () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('runs two warm builds at once with 8 CPUs (-j4 each), a cold tree alone with all 8, and one at a time at -j2 with 2', { timeout: 600_000 }, async () => {
    const { bare, student } = makeTree();
    const projects = projectsDir([
      {
        slug: 'budget',
        list: LIST,
        maintainers: ['teacher@example.org'],
        tree: { url: bare, branch: 'master' },
        checkpatch: { enabled: false },
        builds: [
          { arch: 'x86_64', base: 'tinyconfig', config: ['one.config'] },
          { arch: 'x86_64', base: 'tinyconfig', config: ['two.config'] },
        ],
      },
    ]);
    fs.writeFileSync(path.join(projects, 'one.config'), 'CONFIG_ONE=y\n');
    fs.writeFileSync(path.join(projects, 'two.config'), 'CONFIG_TWO=y\n');
    const data = tempDir('patchbay-budget-data-');
    const common = ['--data', data, '--projects', projects, '--ccache-dir', path.join(data, 'ccache')];

    let server = await startServer([...common, '--pipeline-cpus', '8']);
    servers.push(server);
    // 1. Cold trees: each builds its base first, checking the base out in the shared worktree, so one at a time.
    const cold = builds(await finishedRun(server, await sendSeries(server, student, 1, null)));
    assert.deepEqual(cold.map((b) => b.key), ['x86_64', 'x86_64-2']);
    assert.equal(overlap(cold[0]!, cold[1]!), false, JSON.stringify(cold));
    assert.deepEqual(cold.map((b) => b.jobs), [8, 8]);

    // 2. Warm trees: both at once, each with half the CPUs. Their makes sleep 3 s each, so at once they overlap.
    const warm = await finishedRun(server, await sendSeries(server, student, 2, 30));
    assert.equal(warm.outcome, 'pass', JSON.stringify(warm.steps));
    const [a, b] = builds(warm);
    assert.ok(overlap(a!, b!), `the builds ran at once: ${JSON.stringify([a, b])}`);
    assert.deepEqual([a!.jobs, b!.jobs], [4, 4]);
    const warmLog = fs.readFileSync(path.join(data, 'logs', 'runs', String(warm.id), 'build-x86_64.log'), 'utf8');
    assert.match(warmLog, /rendezvous: slept 30 tenths/);
    assert.match(warmLog, /2 builds at once in this worktree/);

    // 3. Two CPUs (after a restart: the slot is reset, the trees stay warm): one build at a time at -j2, though each
    //    make sleeps 2 s.
    await server.stop();
    server = await startServer([...common, '--pipeline-cpus', '2']);
    servers.push(server);
    const alone = await finishedRun(server, await sendSeries(server, student, 3, 20));
    const [c, d] = builds(alone);
    assert.equal(overlap(c!, d!), false, JSON.stringify([c, d]));
    assert.deepEqual([c!.jobs, d!.jobs], [2, 2]);
    assert.match(fs.readFileSync(path.join(data, 'logs', 'runs', String(alone.id), 'build-x86_64.log'), 'utf8'), /rendezvous: slept 20 tenths/);
  });
});

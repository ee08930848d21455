// The demo course project (projects/proctree.yaml): the file loads, its reference tests are a valid LAVA test
// definition whose cases the test program knows, the test programs compile with the kernel tree's nolibc, and
// the reference solution and the two wrong example series pass the pipeline's gates (sign-off, test description,
// checkpatch) and apply with `git am` on the demo tree. Building and booting them is the end-to-end tests' work.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { loadProjects, type Project } from '../../src/config/projects.js';
import { validateTestDefinition } from '../../src/pipeline/lava-testdef.js';
import { checkpatchStep } from '../../src/pipeline/steps/checkpatch.step.js';
import { signoffStep } from '../../src/pipeline/steps/signoff.step.js';
import { parseDiff, testCasesOf, testdescStep } from '../../src/pipeline/steps/testdesc.step.js';
import type { Job, JobPatch, StepContext } from '../../src/pipeline/types.js';
import { tempDir } from '../helpers/dirs.js';
import { CHECKPATCH_FILES, git, jobPatchFromFile, KERNEL_TREE, kernelTreeAvailable, makeJob } from '../helpers/small-tree.js';

const PROJECTS = path.resolve('projects');
const COURSE = path.join(PROJECTS, 'proctree');
const PROGRAMS = path.join(COURSE, 'tests', 'programs');
const SERIES = {
  solution: path.join(COURSE, 'solution'),
  'compile-error': path.join(COURSE, 'examples', 'compile-error'),
  panic: path.join(COURSE, 'examples', 'panic'),
} as const;
type SeriesName = keyof typeof SERIES;

const CASES = ['init-has-descendants', 'self-no-children', 'child-counted', 'grandchildren-counted', 'orphan-not-counted', 'bad-pid-esrch', 'negative-pid-einval'];
const NO_TREE = kernelTreeAvailable() ? false : `no kernel repository at ${KERNEL_TREE} (scripts/kernel-tree.sh makes it)`;
const NO_GCC = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0 ? false : 'gcc is not installed';
const NO_ARM64_GCC = spawnSync('aarch64-linux-gnu-gcc', ['--version'], { stdio: 'ignore' }).status === 0 ? false : 'aarch64-linux-gnu-gcc is not installed';

function project(): Project {
  const p = loadProjects(PROJECTS).find((x) => x.slug === 'proctree');
  assert.ok(p, 'projects/ has no project with slug proctree');
  return p;
}

/** The patch files of a series folder, in order, without the cover letter. */
function patchFiles(name: SeriesName): string[] {
  return fs
    .readdirSync(SERIES[name])
    .filter((f) => /^\d{4}-.*\.patch$/.test(f) && !f.startsWith('0000-'))
    .sort()
    .map((f) => path.join(SERIES[name], f));
}

function jobFor(name: SeriesName, p: Project): Job {
  const patches: JobPatch[] = patchFiles(name).map((f, i) => jobPatchFromFile(f, i + 1));
  const job = makeJob(patches, { checkpatch: p.checkpatch });
  job.project.testDescription = p.tests?.student ? { path: p.tests.student.path, required: p.tests.student.required } : null;
  return job;
}

/** Every file a series' diffs touch. */
function touchedFiles(name: SeriesName): string[] {
  const files = new Set<string>();
  for (const f of patchFiles(name)) {
    for (const d of parseDiff(jobPatchFromFile(f, 1).diff)) for (const p of [d.oldPath, d.newPath]) if (p) files.add(p);
  }
  return [...files].sort();
}

/** The ELF machine of a binary: 62 is x86-64, 183 is AArch64. */
function elfMachine(file: string): number {
  const head = fs.readFileSync(file).subarray(0, 20);
  assert.equal(head.subarray(0, 4).toString('latin1'), '\x7fELF', `${file} is not an ELF file`);
  return head.readUInt16LE(18);
}

describe('the proctree course project', () => {
  it('loads with x86_64 and arm64 builds that boot, its fragment, its reference tests and the student test path', () => {
    const p = project();
    assert.equal(p.name, 'Proctree Syscall');
    assert.equal(p.policy, 'open');
    assert.equal(p.tree?.url, KERNEL_TREE);
    assert.equal(p.tree?.branch, 'master');
    assert.deepEqual(
      p.builds.map((b) => [b.arch, b.lava]),
      [
        ['x86_64', true],
        ['arm64', true],
      ],
    );
    const fragment = path.join(COURSE, 'config', 'proctree_syscall');
    for (const b of p.builds) assert.deepEqual(b.config, [fragment]);
    const options = fs.readFileSync(fragment, 'utf8').split('\n').filter((l) => l.startsWith('CONFIG_'));
    for (const o of ['CONFIG_PROC_FS=y', 'CONFIG_PRINTK=y', 'CONFIG_PANIC_ON_OOPS=y']) assert.ok(options.includes(o), `the fragment lacks ${o}`);
    assert.equal(p.tests?.path, path.join(COURSE, 'tests', 'proctree.yaml'));
    assert.equal(p.tests?.programs, PROGRAMS);
    assert.deepEqual(p.tests?.student, { path: 'tools/testing/proctree/*.yaml', required: true });
    assert.deepEqual(p.checkpatch.ignore, ['FILE_PATH_CHANGES']);
    assert.equal(p.report.signature, 'LSE Team');
    assert.ok(p.maintainers.length > 0);
  });

  it('ships a valid reference test definition whose seven cases are all cases of proctree-test', () => {
    const check = validateTestDefinition(fs.readFileSync(path.join(COURSE, 'tests', 'proctree.yaml'), 'utf8'));
    assert.deepEqual(check.errors, []);
    assert.equal(check.name, 'proctree');
    assert.deepEqual(check.testCases, CASES);
    // The program's own table of cases (proctree-test.c): the definition runs nothing it does not know.
    const source = fs.readFileSync(path.join(PROGRAMS, 'proctree-test.c'), 'utf8');
    const known = [...source.matchAll(/^\t\{ "([a-z0-9-]+)", [a-z_]+ \},$/gm)].map((m) => m[1]);
    assert.deepEqual(known, CASES);
  });

  it('calls the system call by the numbers the solution gives it on x86_64 and in the generic table (arm64)', () => {
    const diff = patchFiles('solution')
      .map((f) => jobPatchFromFile(f, 1).diff)
      .join('\n');
    const x86 = /^\+(\d+)\tcommon\tproctree\t+sys_proctree$/m.exec(diff)?.[1];
    const generic = /^\+#define __NR_proctree (\d+)$/m.exec(diff)?.[1];
    assert.ok(x86 && generic, 'the solution adds proctree to syscall_64.tbl and to asm-generic/unistd.h');
    const header = fs.readFileSync(path.join(PROGRAMS, 'proctree.h'), 'utf8');
    assert.match(header, new RegExp(`#if defined\\(__x86_64__\\)\\n#define __NR_proctree ${x86}\\b`));
    assert.match(header, new RegExp(`#elif defined\\(__aarch64__\\).*\\n#define __NR_proctree ${generic}\\b`));
  });

  it('makes the two wrong examples differ from the solution only in patch 1: a typo, and a panic on the first call', () => {
    const diffs = (name: SeriesName) => patchFiles(name).map((f) => jobPatchFromFile(f, 1).diff);
    const good = diffs('solution');
    assert.equal(good.length, 3);
    for (const name of ['compile-error', 'panic'] as const) {
      const bad = diffs(name);
      assert.equal(bad.length, 3, name);
      assert.deepEqual(bad.slice(1), good.slice(1), `${name}: patches 2 and 3 are the solution's`);
      assert.notEqual(bad[0], good[0], `${name}: patch 1 differs`);
    }
    assert.match(diffs('compile-error')[0]!, /^\+\t\t\tcout\+\+;$/m);
    assert.match(diffs('panic')[0]!, /^\+\tpanic\("proctree: called for pid %d\\n", pid\);$/m);
  });
});

describe('the proctree test programs', { skip: NO_TREE || NO_GCC }, () => {
  let nolibc: string;
  before(() => {
    // The tree's nolibc (tools/include/nolibc), extracted from the demo tree's master.
    const dir = tempDir('patchbay-nolibc-');
    const tar = execFileSync('git', ['-C', KERNEL_TREE, 'archive', '--format=tar', 'master', 'tools/include/nolibc'], { maxBuffer: 16 << 20 });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
    nolibc = path.join(dir, 'tools', 'include', 'nolibc');
    assert.ok(fs.existsSync(path.join(nolibc, 'nolibc.h')));
  });

  const sources = fs.readdirSync(PROGRAMS).filter((f) => f.endsWith('.c')).sort();

  /** <cross>gcc -static -nostdlib -include nolibc.h, as the test step builds them; fails on any warning. */
  function compile(cc: string, source: string): string {
    const out = path.join(tempDir('patchbay-prog-'), path.basename(source, '.c'));
    const args = ['-Os', '-static', '-nostdlib', '-fno-asynchronous-unwind-tables', '-fno-ident', '-Wall', '-Werror', '-include', path.join(nolibc, 'nolibc.h'), '-I', nolibc, '-o', out, path.join(PROGRAMS, source), '-lgcc'];
    const r = spawnSync(cc, args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `${cc} ${source}:\n${r.stderr}`);
    return out;
  }

  it('has the reference test program and the students\' proctree tool', () => {
    assert.deepEqual(sources, ['proctree-test.c', 'proctree.c']);
  });

  it('compiles each program for x86_64 with nolibc, statically, without a warning', () => {
    for (const s of sources) assert.equal(elfMachine(compile('gcc', s)), 62, s);
  });

  it('compiles each program for arm64 with nolibc', { skip: NO_ARM64_GCC }, () => {
    for (const s of sources) assert.equal(elfMachine(compile('aarch64-linux-gnu-gcc', s)), 183, s);
  });
});

describe('the proctree series', { skip: NO_TREE }, () => {
  let p: Project;
  let clone: string;
  let master: string;

  before(() => {
    p = project();
    // A clone of the demo tree that shares its objects and checks out only checkpatch and the touched files.
    clone = path.join(tempDir('patchbay-proctree-clone-'), 'linux');
    git(path.dirname(clone), 'clone', '-q', '--shared', '--no-checkout', KERNEL_TREE, clone);
    const files = new Set<string>([...CHECKPATCH_FILES, ...Object.keys(SERIES).flatMap((n) => touchedFiles(n as SeriesName))]);
    git(clone, 'sparse-checkout', 'set', '--no-cone', ...[...files].map((f) => `/${f}`));
    git(clone, 'checkout', '-q', 'master');
    master = git(clone, 'rev-parse', 'HEAD').trim();
  });

  function ctx(name: string): StepContext {
    return { logPath: path.join(tempDir('patchbay-proctree-log-'), `${name}.log`), mirror: KERNEL_TREE, worktree: clone, previous: {}, timeoutMs: 60_000 };
  }

  for (const name of Object.keys(SERIES) as SeriesName[]) {
    it(`${name}: every patch is signed off by its author`, async () => {
      const r = await signoffStep(jobFor(name, p), ctx('signoff'));
      assert.equal(r.status, 'pass', r.summary);
    });

    it(`${name}: adds the student's test definition under tools/testing/proctree/, valid, with its cases`, async () => {
      const r = await testdescStep(jobFor(name, p), ctx('testdesc'));
      assert.equal(r.status, 'pass', r.summary);
      assert.deepEqual(JSON.parse(String(r.outputs?.files)), ['tools/testing/proctree/proctree.yaml']);
      assert.deepEqual(testCasesOf(r), ['my-init-has-a-tree', 'my-caller-is-pid-0', 'my-pid-max-is-esrch', 'my-negative-is-einval']);
    });

    it(`${name}: is clean for the tree's checkpatch under the project's policy`, async () => {
      const r = await checkpatchStep(jobFor(name, p), ctx('checkpatch'));
      assert.deepEqual(r.findings, []);
      assert.equal(r.status, 'pass', r.summary);
    });

    it(`${name}: applies with git am on the demo tree's master`, () => {
      git(clone, 'checkout', '-q', '--detach', master);
      git(clone, 'am', '-q', ...patchFiles(name));
      const log = git(clone, 'log', '--format=%s%x09%(trailers:key=Signed-off-by,valueonly,separator=%x2c)', `${master}..HEAD`).trim().split('\n').reverse();
      assert.deepEqual(log, [
        'kernel: add the proctree system call\tJohn Smith <john.smith@students.example.org>',
        'syscalls: wire up proctree on x86_64 and the generic table\tJohn Smith <john.smith@students.example.org>',
        'tools/testing/proctree: add my tests of proctree\tJohn Smith <john.smith@students.example.org>',
      ]);
      const source = fs.readFileSync(path.join(clone, 'kernel', 'proctree.c'), 'utf8');
      assert.match(source, /^SYSCALL_DEFINE1\(proctree, pid_t, pid\)$/m);
      assert.match(fs.readFileSync(path.join(clone, 'include', 'uapi', 'asm-generic', 'unistd.h'), 'utf8'), /^#define __NR_syscalls 452$/m);
    });
  }
});

// The checkpatch step on a small tree holding the kernel's own scripts/checkpatch.pl, with patches made by
// `git format-patch` in a student's clone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { checkpatchStep } from '../../src/pipeline/steps/checkpatch.step.js';
import type { CheckpatchPolicy, JobPatch, StepContext } from '../../src/pipeline/types.js';
import { tempDir } from '../helpers/dirs.js';
import { commitAll, editFile, formatPatches, git, makeJob, smallTree, studentClone, type SmallTree } from '../helpers/small-tree.js';

const DRIVER = 'drivers/misc/dummy-irq.c';

let tree: SmallTree;
let student: string;

function ctx(worktree = tree.dir): StepContext {
  const logDir = tempDir('patchbay-step-log-');
  return { logPath: path.join(logDir, 'checkpatch.log'), mirror: tree.bare, worktree, previous: {}, timeoutMs: 60_000 };
}

/** A branch from master in the student's clone, its commits made by `work`, returned as format-patch JobPatches. */
function series(name: string, work: () => void): JobPatch[] {
  git(student, 'checkout', '-q', '-b', name, 'master');
  work();
  return formatPatches(student, `master..${name}`).patches;
}

function run(patches: JobPatch[], policy: Partial<CheckpatchPolicy> = {}, worktree?: string) {
  return checkpatchStep(makeJob(patches, { checkpatch: policy }), ctx(worktree));
}

// Clean: a description string changed.
const cleanEdit = () => {
  editFile(student, DRIVER, (t) => t.replace('MODULE_DESCRIPTION("Dummy IRQ handler driver");', 'MODULE_DESCRIPTION("Dummy IRQ handler driver, for debugging");'));
  commitAll(student, 'misc: dummy-irq: say what the module is for', 'The description now says the driver is a debugging aid.');
};

// Two errors on one line: trailing whitespace and the open brace of a function on the same line.
const styleEdit = () => {
  editFile(student, DRIVER, (t) => t.replace('static int irq = -1;\n', 'static int irq = -1;\nstatic int dummy_count;\n\nstatic void dummy_note(void){ \n\tdummy_count++;\n}\n'));
  commitAll(student, 'misc: dummy-irq: count interrupts', 'Count them so the module can report them.');
};

let clean: JobPatch[];
let style: JobPatch[];
let three: JobPatch[];

before(() => {
  tree = smallTree();
  student = studentClone(tree);
  clean = series('clean', cleanEdit);
  style = series('style', styleEdit);
  // Three patches, the second with a line over 100 columns (a warning only).
  three = series('three', () => {
    editFile(student, DRIVER, (t) => t.replace('static int irq = -1;\n', 'static int irq = -1;\nstatic int dummy_first;\n'));
    commitAll(student, 'misc: dummy-irq: add a first counter', 'The first counter.');
    editFile(student, DRIVER, (t) =>
      t.replace('static int dummy_first;\n', 'static int dummy_first;\nstatic int dummy_second_counter_with_a_rather_long_name_that_keeps_going = 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9;\n'),
    );
    commitAll(student, 'misc: dummy-irq: add a second counter', 'The second counter.');
    editFile(student, DRIVER, (t) => t.replace('MODULE_AUTHOR("Jiri Kosina");', 'MODULE_AUTHOR("Jiri Kosina");\nMODULE_VERSION("1.1");'));
    commitAll(student, 'misc: dummy-irq: add a version', 'A version for the module.');
  });
});

describe('checkpatch step', () => {
  it('passes a clean patch', async () => {
    const r = await run(clean);
    assert.equal(r.status, 'pass', r.summary);
    assert.deepEqual(r.findings, []);
    assert.equal(r.summary, 'no problems in 1 patch');
    assert.ok(r.childMs > 0);
    assert.match(fs.readFileSync(r.logPath, 'utf8'), /checkpatch\.pl --no-tree --show-types --color=never -/);
  });

  it('fails a style error, quoting the source line with its file:line', async () => {
    const r = await run(style);
    assert.equal(r.status, 'fail');
    assert.equal(r.summary, '2 errors in patch 1/1');
    const ws = r.findings.find((f) => f.type === 'TRAILING_WHITESPACE');
    assert.deepEqual(ws, {
      patch: 1,
      level: 'ERROR',
      type: 'TRAILING_WHITESPACE',
      message: 'trailing whitespace',
      file: DRIVER,
      line: 21,
      patchLine: 26,
      quote: '+static void dummy_note(void){ $',
    });
    const brace = r.findings.find((f) => f.type === 'OPEN_BRACE');
    assert.equal(brace?.file, DRIVER);
    assert.equal(brace?.line, 21);
    assert.equal(brace?.quote, '+static void dummy_note(void){ ');
  });

  it('warns on warnings only, naming the patch of the series', async () => {
    const r = await run(three);
    assert.equal(r.status, 'warn');
    assert.equal(r.summary, '1 warning in patch 2/3');
    assert.equal(r.findings.length, 1);
    assert.equal(r.findings[0]!.patch, 2);
    assert.equal(r.findings[0]!.type, 'LONG_LINE');
    assert.equal(r.findings[0]!.file, DRIVER);
    assert.match(r.findings[0]!.quote ?? '', /^\+static int dummy_second_counter/);
  });

  it('checks the patches at once within the CPUs it is given, and logs them in patch order', async () => {
    for (const cpus of [1, 3]) {
      const c = { ...ctx(), cpus };
      const r = await checkpatchStep(makeJob(three), c);
      assert.equal(r.summary, '1 warning in patch 2/3', `cpus ${cpus}`);
      assert.deepEqual(r.findings.map((f) => [f.patch, f.type]), [[2, 'LONG_LINE']]);
      const log = fs.readFileSync(c.logPath, 'utf8');
      const heads = [...log.matchAll(/^--- patch (\d)\/3: /gm)].map((m) => Number(m[1]));
      assert.deepEqual(heads, [1, 2, 3], `cpus ${cpus}`);
      // Each patch's checkpatch output sits under its own heading.
      const second = log.slice(log.indexOf('--- patch 2/3'), log.indexOf('--- patch 3/3'));
      assert.match(second, /LONG_LINE/);
      assert.equal((log.match(/^\$ perl /gm) ?? []).length, 3);
      assert.deepEqual(fs.readdirSync(path.dirname(c.logPath)), ['checkpatch.log'], 'the per-patch logs are joined and removed');
    }
  });

  it('fails warnings when the project says warnings fail', async () => {
    const r = await run(three, { warnings: 'fail' });
    assert.equal(r.status, 'fail');
    assert.equal(r.findings[0]!.type, 'LONG_LINE');
  });

  it('passes warnings when the project ignores them, and does not quote them', async () => {
    const r = await run(three, { warnings: 'ignore' });
    assert.equal(r.status, 'pass');
    assert.deepEqual(r.findings, []);
    assert.equal(r.summary, 'no problems in 3 patches (1 warning not counted)');
  });

  it('checks a CRLF patch on its LF copy and reports the CRLF once', async () => {
    const crlf = clean.map((p) => ({ ...p, mbox: p.mbox.replace(/\n/g, '\r\n') }));
    const r = await run(crlf);
    assert.equal(r.status, 'warn');
    assert.deepEqual(
      r.findings.map((f) => f.type),
      ['CRLF_LINE_ENDINGS'],
    );
    assert.equal(r.findings[0]!.patch, 1);
    assert.match(r.findings[0]!.message, /end in CRLF/);
  });

  it('leaves out the types on the ignore list', async () => {
    const r = await run(style, { ignore: ['TRAILING_WHITESPACE'] });
    assert.equal(r.status, 'fail');
    assert.deepEqual(
      r.findings.map((f) => f.type),
      ['OPEN_BRACE'],
    );
    assert.match(fs.readFileSync(r.logPath, 'utf8'), /--ignore=TRAILING_WHITESPACE/);
  });

  it('passes extra options (--strict) but drops those that change the output format', async () => {
    const r = await run(style, { options: ['--terse', '--strict'] });
    assert.equal(r.status, 'fail');
    // Still parsed with file and line: --terse was not passed.
    assert.ok(r.findings.every((f) => f.file === DRIVER && f.line === 21));
    const log = fs.readFileSync(r.logPath, 'utf8');
    assert.match(log, /dropped project option --terse/);
    assert.match(log, / --strict -\n/);
  });

  it('reports a missing Signed-off-by without a file', async () => {
    const patches = series('nosob', () => {
      editFile(student, DRIVER, (t) => t.replace('MODULE_AUTHOR("Jiri Kosina");', 'MODULE_AUTHOR("Jiri Kosina");\nMODULE_VERSION("1.2");'));
      commitAll(student, 'misc: dummy-irq: add a version', 'A version for the module.', { signoff: false });
    });
    const r = await run(patches);
    assert.equal(r.status, 'fail');
    const f = r.findings.find((x) => x.type === 'MISSING_SIGN_OFF');
    assert.ok(f, JSON.stringify(r.findings));
    assert.equal(f.file, undefined);
    assert.equal(f.level, 'ERROR');
  });

  it('skips when the project turned checkpatch off', async () => {
    const r = await run(style, { enabled: false });
    assert.equal(r.status, 'skip');
    assert.equal(r.childMs, 0);
  });

  it('is an error of ours, not the student, when the tree has no checkpatch', async () => {
    const r = await run(style, {}, tempDir('patchbay-no-checkpatch-'));
    assert.equal(r.status, 'error');
    assert.match(r.summary, /scripts\/checkpatch\.pl not found/);
  });

  it('is an error of ours when checkpatch dies', async () => {
    // A tree whose checkpatch.pl does not compile: perl exits 255 before printing any counts.
    const broken = tempDir('patchbay-broken-checkpatch-');
    fs.mkdirSync(path.join(broken, 'scripts'));
    fs.writeFileSync(path.join(broken, 'scripts', 'checkpatch.pl'), 'use strict;\nmy $x = ;\n');
    const r = await run(style, {}, broken);
    assert.equal(r.status, 'error');
    assert.match(r.summary, /^checkpatch failed on patch 1\/1: /);
  });
});

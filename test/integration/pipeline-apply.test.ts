// The apply step: real `git am -3` in a linked worktree of a small mirror, on series made by `git format-patch`.
//
// History of the mirror in these tests:
//   M0 (small tree)  ── M1 (the teacher changes the "registered for IRQ" message)   ← master
// The "old" student cloned at M0, before M1; the "new" student cloned at M1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { APPLY_COMMITTER, applyStep } from '../../src/pipeline/steps/apply.step.js';
import type { JobPatch, StepContext } from '../../src/pipeline/types.js';
import { tempDir } from '../helpers/dirs.js';
import { addWorktree, commitAll, editFile, formatPatches, git, makeJob, smallTree, studentClone, type SmallTree } from '../helpers/small-tree.js';

const DRIVER = 'drivers/misc/dummy-irq.c';
const DMA = 'kernel/dma.c';
const REGISTERED = 'printk(KERN_INFO "dummy-irq: registered for IRQ %d\\n", irq);';
const REGISTERED_M1 = 'printk(KERN_INFO "dummy-irq: now registered for IRQ %d\\n", irq);';

let tree: SmallTree;
let m0: string;
let m1: string;
let oldStudent: string;
let newStudent: string;
let worktree: string;

function ctx(): StepContext {
  return { logPath: path.join(tempDir('patchbay-step-log-'), 'apply.log'), mirror: tree.bare, worktree, previous: {}, timeoutMs: 60_000 };
}

/** A branch from `from` in `repo`, its commits made by `work`, as format-patch JobPatches (extra options: --base). */
function series(repo: string, name: string, from: string, work: () => void, ...options: string[]): JobPatch[] {
  git(repo, 'checkout', '-q', '-b', name, from);
  work();
  return formatPatches(repo, `${from}..${name}`, ...options).patches;
}

/** Three patches: a counter in the driver, a change to the "registered" message, a line in kernel/dma.c. */
function threePatches(repo: string, message: string, line = REGISTERED) {
  return () => {
    editFile(repo, DRIVER, (t) => t.replace('static int irq = -1;\n', 'static int irq = -1;\nstatic int dummy_count;\n'));
    commitAll(repo, 'misc: dummy-irq: add a counter', 'A counter for the interrupts.');
    editFile(repo, DRIVER, (t) => t.replace(line, message));
    commitAll(repo, 'misc: dummy-irq: say more when registered', 'Say which driver registered.');
    editFile(repo, DMA, (t) => `${t}/* The DMA channel list ends here. */\n`);
    commitAll(repo, 'dma: mark the end of the channel list', 'A comment at the end.');
  };
}

before(() => {
  tree = smallTree();
  m0 = tree.head;
  oldStudent = studentClone(tree);
  // The teacher moves master on: the line the old student's patch 2 changes.
  const teacher = studentClone(tree);
  editFile(teacher, DRIVER, (t) => t.replace(REGISTERED, REGISTERED_M1));
  m1 = commitAll(teacher, 'misc: dummy-irq: reword the registration message', 'Reworded.');
  git(teacher, 'push', '-q', 'origin', 'master');
  newStudent = studentClone(tree);
  worktree = addWorktree(tree);
});

function log(repo: string, range: string): string[] {
  return git(repo, 'log', '--format=%s', range).trim().split('\n').filter(Boolean);
}

describe('apply step', () => {
  it('applies a clean three-patch series on the branch tip and says so', async () => {
    const patches = series(newStudent, 'clean', 'master', threePatches(newStudent, 'printk(KERN_INFO "dummy-irq: now registered for IRQ %d (dummy)\\n", irq);', REGISTERED_M1));
    assert.equal(patches.length, 3);
    const r = await applyStep(makeJob(patches), ctx());
    assert.equal(r.status, 'pass', r.summary);
    assert.equal(r.summary, `applied 3/3 patches on master at ${m1.slice(0, 12)}`);
    assert.deepEqual(r.findings, []);
    assert.equal(r.outputs?.base, m1);
    assert.equal(r.outputs?.baseSource, 'branch');
    assert.equal(r.outputs?.applied, 3);
    const head = git(worktree, 'rev-parse', 'HEAD').trim();
    assert.equal(r.outputs?.head, head);
    assert.deepEqual(log(worktree, `${m1}..HEAD`), ['dma: mark the end of the channel list', 'misc: dummy-irq: say more when registered', 'misc: dummy-irq: add a counter']);
    assert.equal(git(worktree, 'log', '-1', '--format=%cn <%ce> %cI %an').trim(), `${APPLY_COMMITTER.name} <${APPLY_COMMITTER.email}> 2000-01-01T00:00:00+00:00 Zoé Étudiante`);
    assert.ok(r.childMs > 0);
  });

  it('fails a series whose patch 2/3 conflicts with the tree, quoting the rejected hunk; 3/3 is not applied', async () => {
    const patches = series(oldStudent, 'conflict', m0, threePatches(oldStudent, 'printk(KERN_INFO "dummy-irq: registered for IRQ %d (student)\\n", irq);'));
    const r = await applyStep(makeJob(patches), ctx());
    assert.equal(r.status, 'fail');
    assert.equal(r.summary, `patch 2/3 "misc: dummy-irq: say more when registered" does not apply on master at ${m1.slice(0, 12)} (${DRIVER}); 3/3 not applied`);
    const hunk = r.findings.find((f) => f.type === 'REJECTED_HUNK');
    assert.ok(hunk, JSON.stringify(r.findings));
    assert.equal(hunk.patch, 2);
    assert.equal(hunk.file, DRIVER);
    assert.equal(hunk.line, 41);
    assert.match(hunk.quote ?? '', /^@@ -41,7 \+41,7 @@ static int __init dummy_irq_init\(void\)\n/);
    assert.ok(hunk.quote?.includes('-\tprintk(KERN_INFO "dummy-irq: registered for IRQ %d\\n", irq);'), hunk.quote);
    assert.ok(hunk.quote?.includes('+\tprintk(KERN_INFO "dummy-irq: registered for IRQ %d (student)\\n", irq);'), hunk.quote);
    const notApplied = r.findings.find((f) => f.type === 'NOT_APPLIED');
    assert.match(notApplied?.message ?? '', /^3\/3 not applied/);
    assert.equal(r.outputs?.applied, 1);
    assert.equal(r.outputs?.failedPatch, 2);
    assert.equal(r.outputs?.head, null);
    // The worktree holds patch 1 only, with no .rej left behind and no git am in progress.
    assert.deepEqual(log(worktree, `${m1}..HEAD`), ['misc: dummy-irq: add a counter']);
    assert.equal(git(worktree, 'status', '--porcelain', '--ignored').trim(), '');
    assert.equal(fs.existsSync(path.resolve(worktree, git(worktree, 'rev-parse', '--git-path', 'rebase-apply').trim())), false);
  });

  it('quotes the hunk too when a 3-way merge conflicts (the tree has the blob the patch was made on)', async () => {
    // Patch 1 touches another file, so patch 2's preimage is M0's driver: git am falls back to a 3-way merge.
    const patches = series(oldStudent, 'threeway', m0, () => {
      editFile(oldStudent, DMA, (t) => `${t}/* first */\n`);
      commitAll(oldStudent, 'dma: first', 'First.');
      editFile(oldStudent, DRIVER, (t) => t.replace(REGISTERED, 'printk(KERN_INFO "dummy-irq: registered for IRQ %d (merge)\\n", irq);'));
      commitAll(oldStudent, 'misc: dummy-irq: merge me', 'Conflicts with master.');
    });
    const r = await applyStep(makeJob(patches), ctx());
    assert.equal(r.status, 'fail');
    const hunk = r.findings.find((f) => f.type === 'REJECTED_HUNK');
    assert.equal(hunk?.patch, 2);
    assert.equal(hunk?.file, DRIVER);
    assert.ok(hunk?.quote?.includes('(merge)'), hunk?.quote);
    assert.equal(r.findings.some((f) => f.type === 'NOT_APPLIED'), false, 'the last patch failed: nothing after it');
    assert.equal(git(worktree, 'status', '--porcelain', '--ignored').trim(), '');
  });

  it('applies on the base-commit of the series when the tree has it', async () => {
    // The same conflicting series, sent with --base=M0: it applies there.
    const patches = series(oldStudent, 'based', m0, threePatches(oldStudent, 'printk(KERN_INFO "dummy-irq: registered for IRQ %d (based)\\n", irq);'), `--base=${m0}`);
    assert.match(patches[0]!.mbox, new RegExp(`^base-commit: ${m0}$`, 'm'));
    const r = await applyStep(makeJob(patches, { baseCommit: m0 }), ctx());
    assert.equal(r.status, 'pass', r.summary);
    assert.equal(r.summary, `applied 3/3 patches based on ${m0.slice(0, 12)} (base-commit of the series)`);
    assert.equal(r.outputs?.base, m0);
    assert.equal(r.outputs?.baseSource, 'base-commit');
    assert.deepEqual(r.findings, []);
    assert.equal(git(worktree, 'rev-parse', 'HEAD~3').trim(), m0);
  });

  it('applies on the branch with a warning when the base-commit is unknown', async () => {
    // The student's own unpushed commit is the base: the mirror has never seen it.
    git(newStudent, 'checkout', '-q', '-b', 'unknown-base', 'master');
    editFile(newStudent, DMA, (t) => `/* local experiment */\n${t}`);
    const local = commitAll(newStudent, 'local: experiment', 'Never sent.');
    editFile(newStudent, DRIVER, (t) => t.replace('MODULE_AUTHOR("Jiri Kosina");', 'MODULE_AUTHOR("Jiri Kosina");\nMODULE_VERSION("1.1");'));
    commitAll(newStudent, 'misc: dummy-irq: add a version', 'A version.');
    const withBase = formatPatches(newStudent, `${local}..unknown-base`, `--base=${local}`).patches;
    assert.equal(withBase.length, 1);
    assert.match(withBase[0]!.mbox, new RegExp(`^base-commit: ${local}$`, 'm'));
    const r = await applyStep(makeJob(withBase, { baseCommit: local }), ctx());
    assert.equal(r.status, 'pass', r.summary);
    assert.equal(r.outputs?.baseSource, 'branch');
    assert.equal(r.outputs?.base, m1);
    assert.deepEqual(r.findings, [
      { level: 'WARNING', type: 'BASE_COMMIT_UNKNOWN', message: `base-commit ${local} not found; applied on master at ${m1.slice(0, 12)}` },
    ]);
  });

  it('starts from a clean worktree whatever the last run left (a stopped git am, stray files)', async () => {
    const patches = series(newStudent, 'again', 'master', () => {
      editFile(newStudent, DRIVER, (t) => t.replace('MODULE_AUTHOR("Jiri Kosina");', 'MODULE_AUTHOR("Jiri Kosina");\nMODULE_VERSION("2.0");'));
      commitAll(newStudent, 'misc: dummy-irq: version 2', 'Version 2.');
    });
    // Leave a git am stopped half-way, a modified file and an untracked one.
    const stale = series(oldStudent, 'stale', m0, threePatches(oldStudent, 'printk(KERN_INFO "dummy-irq: registered for IRQ %d (stale)\\n", irq);'));
    git(worktree, 'checkout', '-q', '--detach', m1);
    const stopped = spawnSync('git', ['-c', 'user.name=x', '-c', 'user.email=x@y', 'am', '-3'], { cwd: worktree, input: stale.map((p) => p.mbox).join('') });
    assert.notEqual(stopped.status, 0, 'the stale git am stops');
    fs.writeFileSync(path.join(worktree, 'stray.o'), 'junk');
    fs.appendFileSync(path.join(worktree, DMA), '/* dirty */\n');

    const r = await applyStep(makeJob(patches), ctx());
    assert.equal(r.status, 'pass', r.summary);
    assert.deepEqual(log(worktree, `${m1}..HEAD`), ['misc: dummy-irq: version 2']);
    assert.equal(fs.existsSync(path.join(worktree, 'stray.o')), false);
    assert.equal(git(worktree, 'status', '--porcelain', '--ignored').trim(), '');
  });

  it('skips its own reset when the engine leased the tree clean at the base, and resets when that was another commit', async () => {
    const patches = series(newStudent, 'pristine', 'master', () => {
      editFile(newStudent, DMA, (t) => `${t}/* pristine */\n`);
      commitAll(newStudent, 'dma: a pristine note', 'A note.');
    });
    // The tree as a lease leaves it: a clean checkout of the base.
    git(worktree, 'checkout', '-q', '--detach', '-f', m1);
    git(worktree, 'clean', '-q', '-ffdx');
    const kept = { ...ctx(), pristineAt: m1 };
    const r = await applyStep(makeJob(patches), kept);
    assert.equal(r.status, 'pass', r.summary);
    assert.deepEqual(log(worktree, `${m1}..HEAD`), ['dma: a pristine note']);
    const keptLog = fs.readFileSync(kept.logPath, 'utf8');
    assert.match(keptLog, /the worktree is a clean checkout of/);
    assert.doesNotMatch(keptLog, /^\$ git .*\b(reset|clean|checkout)\b/m);

    // The series' head is still checked out: a context that names the base as pristine for another commit resets.
    fs.writeFileSync(path.join(worktree, 'stray.o'), 'junk');
    const other = { ...ctx(), pristineAt: m0 };
    const again = await applyStep(makeJob(patches), other);
    assert.equal(again.status, 'pass', again.summary);
    assert.deepEqual(log(worktree, `${m1}..HEAD`), ['dma: a pristine note']);
    assert.match(fs.readFileSync(other.logPath, 'utf8'), /^\$ git .*\breset\b/m);
    assert.equal(git(worktree, 'status', '--porcelain', '--ignored').trim(), '');
  });

  it('warns about a patch the tree already has', async () => {
    // The old student makes the teacher's change again, then one of their own.
    const patches = series(oldStudent, 'again-m1', m0, () => {
      editFile(oldStudent, DRIVER, (t) => t.replace(REGISTERED, REGISTERED_M1));
      commitAll(oldStudent, 'misc: dummy-irq: reword it myself', 'Same as master.');
      editFile(oldStudent, DMA, (t) => `${t}/* mine */\n`);
      commitAll(oldStudent, 'dma: mine', 'Mine.');
    });
    const r = await applyStep(makeJob(patches), ctx());
    assert.equal(r.status, 'warn', r.summary);
    assert.equal(r.outputs?.applied, 1);
    assert.deepEqual(
      r.findings.map((f) => [f.patch, f.type]),
      [[1, 'ALREADY_APPLIED']],
    );
  });

  it("does not run the mirror's hooks", async () => {
    const hook = path.join(tree.bare, 'hooks', 'applypatch-msg');
    fs.writeFileSync(hook, '#!/bin/sh\necho hook ran >&2\nexit 1\n', { mode: 0o755 });
    try {
      const patches = series(newStudent, 'hooked', 'master', () => {
        editFile(newStudent, DMA, (t) => `${t}/* hooked */\n`);
        commitAll(newStudent, 'dma: hooked', 'Hooked.');
      });
      const r = await applyStep(makeJob(patches), ctx());
      assert.equal(r.status, 'pass', r.summary);
      assert.doesNotMatch(fs.readFileSync(r.logPath, 'utf8'), /hook ran/);
    } finally {
      fs.rmSync(hook);
    }
  });

  it('is an error of ours when the branch is not in the mirror', async () => {
    const patches = series(newStudent, 'nobranch', 'master', () => {
      editFile(newStudent, DMA, (t) => `${t}/* x */\n`);
      commitAll(newStudent, 'dma: x', 'x');
    });
    const r = await applyStep(makeJob(patches, { branch: 'no-such-branch' }), ctx());
    assert.equal(r.status, 'error');
    assert.match(r.summary, /branch no-such-branch not found in the mirror/);
  });
});

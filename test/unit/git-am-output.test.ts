// git am / git apply --reject output rules: every pattern against its verbatim samples, and the parsers on real
// outputs of git 2.39 (LC_ALL=C), stdout and stderr as git separates them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  GIT_AM_RULES,
  GIT_APPLY_REJECT_RULES,
  REJ_FILE_RULES,
  parseAmOutput,
  parseApplyRejectOutput,
  parseRejFile,
} from '../../src/pipeline/rules/git-am-output.js';

const TABLES = { am: GIT_AM_RULES, apply: GIT_APPLY_REJECT_RULES, rej: REJ_FILE_RULES };

describe('git output rules', () => {
  for (const [table, rules] of Object.entries(TABLES)) {
    for (const rule of Object.values(rules)) {
      it(`${table} ${rule.id} matches each of its samples`, () => {
        assert.ok(rule.samples.length > 0);
        for (const s of rule.samples) assert.match(s, rule.pattern, `${rule.id}: ${JSON.stringify(s)}`);
      });
    }
  }

  it('keeps the git am rules apart: each sample matches only its own rule', () => {
    const rules = Object.values(GIT_AM_RULES);
    for (const rule of rules) {
      for (const s of rule.samples) {
        const others = rules.filter((r) => r !== rule && r.pattern.test(s)).map((r) => r.id);
        assert.deepEqual(others, [], `${JSON.stringify(s)} also matches ${others.join(', ')}`);
      }
    }
  });
});

describe('parseAmOutput', () => {
  it('names the patch a 3-way conflict stopped, and the file', () => {
    const stdout = [
      'Applying: p1: fork',
      'Applying: p2: change message',
      'Using index info to reconstruct a base tree...',
      'M\td.c',
      'Falling back to patching base and 3-way merge...',
      'Auto-merging d.c',
      'CONFLICT (content): Merge conflict in d.c',
      'Patch failed at 0002 p2: change message',
      'When you have resolved this problem, run "git am --continue".',
      'If you prefer to skip this patch, run "git am --skip" instead.',
      'To restore the original branch and stop patching, run "git am --abort".',
      '',
    ].join('\n');
    const stderr = "error: Failed to merge in the changes.\nhint: Use 'git am --show-current-patch=diff' to see the failed patch\n";
    const out = parseAmOutput(stdout, stderr);
    assert.deepEqual(out.applying, ['p1: fork', 'p2: change message']);
    assert.deepEqual(out.failedAt, { position: 2, subject: 'p2: change message' });
    assert.equal(out.threeWay, true);
    assert.deepEqual(out.conflicts, ['d.c']);
    assert.deepEqual(out.errors.map((e) => e.rule), ['merge-failed']);
  });

  it('reads the file from "sha1 information is lacking" when the tree lacks the preimage', () => {
    const stdout = 'Applying: p4: rm new\nPatch failed at 0001 p4: rm new\n';
    const stderr = [
      'error: sha1 information is lacking or useless (new.c).',
      'error: could not build fake ancestor',
      "hint: Use 'git am --show-current-patch=diff' to see the failed patch",
      '',
    ].join('\n');
    const out = parseAmOutput(stdout, stderr);
    assert.deepEqual(out.failedAt, { position: 1, subject: 'p4: rm new' });
    assert.deepEqual(
      out.errors.map((e) => [e.rule, e.file ?? null]),
      [
        ['sha1-lacking', 'new.c'],
        ['fake-ancestor', null],
      ],
    );
  });

  it('reads file and line from a plain apply failure', () => {
    const out = parseAmOutput('Applying: p2: change message\nPatch failed at 0001 p2: change message\n', 'error: patch failed: d.c:40\nerror: d.c: patch does not apply\n');
    assert.deepEqual(out.errors[0], { rule: 'patch-failed', text: 'error: patch failed: d.c:40', file: 'd.c', line: 40 });
    assert.deepEqual(out.errors[1], { rule: 'does-not-apply', text: 'error: d.c: patch does not apply', file: 'd.c' });
  });

  it('counts a patch the tree already has, without failing', () => {
    const stdout = [
      'Applying: p3: new file',
      'Applying: p3: new file',
      'Using index info to reconstruct a base tree...',
      'Falling back to patching base and 3-way merge...',
      'No changes -- Patch already applied.',
      '',
    ].join('\n');
    const out = parseAmOutput(stdout, '');
    assert.deepEqual(out.alreadyApplied, [2]);
    assert.equal(out.failedAt, null);
  });

  it('places an empty patch after the last "Applying:" (git names no failed patch then)', () => {
    const stdout = 'Applying: p1: fork\nPatch is empty.\nWhen you have resolved this problem, run "git am --continue".\n';
    const out = parseAmOutput(stdout, '');
    assert.deepEqual(out.failedAt, { position: 2, subject: '' });
  });
});

describe('git apply --reject', () => {
  it('finds the files with rejects and the failing line', () => {
    const stderr = [
      'Checking patch drivers/misc/dummy-irq.c...',
      'error: while searching for:',
      '\t\tprintk(KERN_ERR "dummy-irq: cannot register IRQ %d\\n", irq);',
      '\t\treturn -EIO;',
      '\t}',
      '\tprintk(KERN_INFO "dummy-irq: registered for IRQ %d\\n", irq);',
      '\treturn 0;',
      '}',
      '',
      '',
      'error: patch failed: drivers/misc/dummy-irq.c:41',
      'Applying patch drivers/misc/dummy-irq.c with 1 reject...',
      'Rejected hunk #1.',
      '',
    ].join('\n');
    const out = parseApplyRejectOutput(stderr);
    assert.deepEqual(out.rejects, [{ file: 'drivers/misc/dummy-irq.c', hunks: 1 }]);
    assert.deepEqual(out.failed, [{ file: 'drivers/misc/dummy-irq.c', line: 41 }]);
    assert.deepEqual(out.errors, []);
  });

  it('reports a missing file as an error without rejects', () => {
    const out = parseApplyRejectOutput('Checking patch new.c...\nerror: new.c: No such file or directory\n');
    assert.deepEqual(out.rejects, []);
    assert.deepEqual(out.errors, [{ rule: 'no-such-file', text: 'error: new.c: No such file or directory', file: 'new.c' }]);
  });

  it('splits a .rej file into hunks with their old line', () => {
    const rej = [
      'diff a/drivers/misc/dummy-irq.c b/drivers/misc/dummy-irq.c\t(rejected hunks)',
      '@@ -41,7 +41,7 @@ static int __init dummy_irq_init(void)',
      ' \t\tprintk(KERN_ERR "dummy-irq: cannot register IRQ %d\\n", irq);',
      ' \t\treturn -EIO;',
      ' \t}',
      '-\tprintk(KERN_INFO "dummy-irq: registered for IRQ %d\\n", irq);',
      '+\tprintk(KERN_INFO "dummy-irq: registered for IRQ %d (student)\\n", irq);',
      ' \treturn 0;',
      ' }',
      ' ',
      '',
    ].join('\n');
    const hunks = parseRejFile(rej);
    assert.equal(hunks.length, 1);
    assert.equal(hunks[0]!.oldLine, 41);
    assert.ok(hunks[0]!.text.startsWith('@@ -41,7 +41,7 @@'));
    assert.ok(hunks[0]!.text.includes('+\tprintk(KERN_INFO "dummy-irq: registered for IRQ %d (student)\\n", irq);'));
    assert.equal(hunks[0]!.text.split('\n').length, 9);
  });
});

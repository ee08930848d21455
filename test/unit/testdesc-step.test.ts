// The test-description gate on real series: commits in a throwaway repository, `git format-patch`, the diff split
// as the series engine does; the tree's copy read from a bare clone standing in for the project's mirror.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { splitPatch } from '../../src/series/diff.js';
import { applyHunks, globMatcher, parseDiff, seriesFiles, testCasesOf, testdescStep } from '../../src/pipeline/steps/testdesc.step.js';
import type { Job, JobPatch, StepContext, TestDescriptionPolicy } from '../../src/pipeline/types.js';
import { tempDir } from '../helpers/dirs.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/testdefs');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');
const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'John Smith',
  GIT_AUTHOR_EMAIL: 'john@students.example.org',
  GIT_COMMITTER_NAME: 'John Smith',
  GIT_COMMITTER_EMAIL: 'john@students.example.org',
  GIT_AUTHOR_DATE: '2026-11-20T10:00:00+00:00',
  GIT_COMMITTER_DATE: '2026-11-20T10:00:00+00:00',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: '/nonexistent',
};
const POLICY: TestDescriptionPolicy = { path: 'tests/*.yaml', required: true };

/** A student's clone: master holds the course's skeleton; each scenario is a branch made by `edit`. */
class StudentRepo {
  readonly dir = tempDir('patchbay-testdesc-');
  constructor() {
    this.git('init', '-q', '-b', 'master', '.');
    this.write('kernel/dummy.c', '#include <linux/syscalls.h>\n\nSYSCALL_DEFINE0(dummy)\n{\n\treturn 0;\n}\n');
    this.write('tests/skeleton.yaml', fixture('valid-proctree.yaml'));
    this.git('add', '.');
    this.git('commit', '-qm', 'course skeleton');
  }
  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.dir, env: ENV, encoding: 'utf8' });
  }
  write(file: string, text: string): void {
    fs.mkdirSync(path.dirname(path.join(this.dir, file)), { recursive: true });
    fs.writeFileSync(path.join(this.dir, file), text);
  }
  read(file: string): string {
    return fs.readFileSync(path.join(this.dir, file), 'utf8');
  }
  /** A bare clone of master: the project's mirror as the pipeline sees it. */
  mirror(): string {
    const dir = path.join(tempDir('patchbay-mirror-'), 'tree.git');
    execFileSync('git', ['clone', '-q', '--bare', this.dir, dir], { env: ENV });
    return dir;
  }
  /** Commits on a new branch from master, then the patches as `git format-patch` mails them. */
  series(branch: string, commits: [subject: string, change: () => void][]): JobPatch[] {
    this.git('checkout', '-qb', branch, 'master');
    for (const [subject, change] of commits) {
      change();
      this.git('add', '-A');
      this.git('commit', '-qs', '-m', subject);
    }
    const out = tempDir('patchbay-patches-');
    this.git('format-patch', '-q', '--zero-commit', '-o', out, `master..${branch}`);
    this.git('checkout', '-q', 'master');
    return fs
      .readdirSync(out)
      .sort()
      .map((file, i) => {
        const mail = fs.readFileSync(path.join(out, file), 'utf8');
        const split = mail.indexOf('\n\n');
        const subject = /^Subject: (.*)$/m.exec(mail.slice(0, split))![1]!;
        return {
          id: i + 1,
          number: i + 1,
          name: subject.replace(/^\[PATCH[^\]]*\] /, ''),
          msgid: `${branch}-${i + 1}@example.org`,
          author: { name: 'John Smith', email: 'john@students.example.org' },
          signoffOk: true,
          signoffs: ['John Smith <john@students.example.org>'],
          diff: splitPatch(mail.slice(split + 2)).diff,
          mbox: mail,
        };
      });
  }
}

function job(patches: JobPatch[], testDescription: TestDescriptionPolicy | null = POLICY): Job {
  return {
    runId: 3,
    project: { slug: 'hts', name: 'HTS Syscall', branch: 'master', checkpatch: { enabled: true, ignore: [], options: [], warnings: 'warn' }, testDescription },
    series: { id: 12, name: 'syscall: add dummy system call', version: 9, total: patches.length, baseCommit: null, submitter: patches[0]?.author ?? { name: null, email: 'x@example.org' }, patches },
  };
}

function ctx(mirror: string): StepContext {
  return { logPath: path.join(tempDir(), 'testdesc.log'), mirror, worktree: '', previous: {}, timeoutMs: 30_000 };
}

describe('testdescStep', () => {
  let repo: StudentRepo;
  let mirror: string;
  before(() => {
    repo = new StudentRepo();
    mirror = repo.mirror();
  });

  it('passes a series whose second patch adds a valid test definition, and lists its test cases', async () => {
    const patches = repo.series('valid', [
      ['syscall: add dummy', () => repo.write('kernel/dummy.c', repo.read('kernel/dummy.c').replace('return 0', 'return 42'))],
      ['tests: add the dummy tests', () => repo.write('tests/dummy.yaml', fixture('valid-parse.yaml'))],
    ]);
    const c = ctx(mirror);
    const r = await testdescStep(job(patches), c);
    assert.equal(r.status, 'pass', r.summary);
    assert.equal(r.summary, 'tests/dummy.yaml is a valid LAVA test definition (2 test cases: dummy-returns-zero, dummy-counts-calls)');
    assert.deepEqual(testCasesOf(r), ['dummy-returns-zero', 'dummy-counts-calls']);
    assert.equal(r.outputs?.files, '["tests/dummy.yaml"]');
    assert.equal(r.outputs?.complete, true);
    assert.match(fs.readFileSync(c.logPath, 'utf8'), /^tests\/dummy\.yaml \(\d+ lines, patch 2\): valid$/m);
  });

  it('fails with the file, the line and what is wrong, quoting the line', async () => {
    const patches = repo.series('bad-format', [['tests: add proctree', () => repo.write('tests/proctree.yaml', fixture('invalid-format.yaml'))]]);
    const r = await testdescStep(job(patches), ctx(mirror));
    assert.equal(r.status, 'fail');
    assert.equal(r.summary, "tests/proctree.yaml:3: metadata.format must be 'Lava-Test Test Definition 1.0', found 'Lava-Test 1.0'");
    assert.deepEqual(r.findings, [
      {
        patch: 1,
        level: 'ERROR',
        type: 'TESTDEF_INVALID',
        message: "metadata.format must be 'Lava-Test Test Definition 1.0', found 'Lava-Test 1.0'",
        file: 'tests/proctree.yaml',
        line: 3,
        quote: '  format: Lava-Test 1.0',
      },
    ]);
  });

  it('gives the YAML syntax error with its line', async () => {
    const patches = repo.series('tab', [['tests: add proctree', () => repo.write('tests/proctree.yaml', fixture('invalid-tab.yaml'))]]);
    const r = await testdescStep(job(patches), ctx(mirror));
    assert.equal(r.status, 'fail');
    assert.match(r.summary, /^tests\/proctree\.yaml:4: YAML syntax error: Tabs are not allowed as indentation/);
  });

  it('fails a series without a test description when the project requires one, skips it otherwise', async () => {
    const patches = repo.series('none', [['syscall: add dummy', () => repo.write('kernel/dummy.c', repo.read('kernel/dummy.c').replace('return 0', 'return 1'))]]);
    const required = await testdescStep(job(patches), ctx(mirror));
    assert.equal(required.status, 'fail');
    assert.equal(required.summary, 'no test description: the series must add a file matching tests/*.yaml');
    assert.equal(required.findings[0]!.type, 'TESTDEF_MISSING');
    assert.equal((await testdescStep(job(patches, { path: 'tests/*.yaml', required: false }), ctx(mirror))).status, 'skip');
    assert.equal((await testdescStep(job(patches, null), ctx(mirror))).status, 'skip');
  });

  it("validates a changed file as a whole, rebuilt from the tree's copy: the line is the file's, not the hunk's", async () => {
    // The skeleton's last step gets an unquoted "key: value": a mapping where a command was expected.
    const patches = repo.series('modify', [
      ['tests: check the error path', () => repo.write('tests/skeleton.yaml', repo.read('tests/skeleton.yaml') + '    - echo efault: checked\n')],
    ]);
    const after = repo.git('show', 'modify:tests/skeleton.yaml').split('\n');
    const r = await testdescStep(job(patches), ctx(mirror));
    assert.equal(r.status, 'fail');
    const line = after.indexOf('    - echo efault: checked') + 1;
    assert.ok(line > 20, 'the error is far below the hunk header');
    assert.equal(r.summary, `tests/skeleton.yaml:${line}: run.steps[5] must be a string, found a mapping (a command containing ": " must be quoted)`);
    assert.equal(r.outputs?.complete, true);
  });

  it("checks only the added lines, and says so, when the tree's copy cannot be read", async () => {
    const patches = repo.series('modify-blind', [
      ['tests: one more case', () => repo.write('tests/skeleton.yaml', repo.read('tests/skeleton.yaml') + '    - lava-test-case proctree-twice --shell true\n')],
    ]);
    const r = await testdescStep(job(patches), ctx(''));
    assert.equal(r.status, 'warn');
    assert.match(r.summary, /^tests\/skeleton\.yaml: only the added lines were checked/);
    assert.deepEqual(testCasesOf(r), ['proctree-twice']);
    assert.equal(r.outputs?.complete, false);

    const tabbed = repo.series('modify-blind-tab', [['tests: tabbed', () => repo.write('tests/skeleton.yaml', repo.read('tests/skeleton.yaml') + '\t- ls\n')]]);
    const t = await testdescStep(job(tabbed), ctx(''));
    const added = repo.git('show', 'modify-blind-tab:tests/skeleton.yaml').split('\n').indexOf('\t- ls') + 1;
    assert.equal(t.status, 'fail');
    assert.equal(t.summary, `tests/skeleton.yaml:${added}: YAML syntax error: Tabs are not allowed as indentation`);
  });

  it('judges the file as the last patch leaves it: a mistake fixed by a later patch passes', async () => {
    const patches = repo.series('fixed-later', [
      ['tests: add proctree', () => repo.write('tests/proctree.yaml', fixture('invalid-format.yaml'))],
      ['tests: fix the format line', () => repo.write('tests/proctree.yaml', repo.read('tests/proctree.yaml').replace('Lava-Test 1.0', 'Lava-Test Test Definition 1.0'))],
    ]);
    const r = await testdescStep(job(patches), ctx(mirror));
    assert.equal(r.status, 'pass', r.summary);
    assert.deepEqual(testCasesOf(r), ['proctree-exists']);
  });
});

describe('seriesFiles and parseDiff', () => {
  it('rebuilds exactly what git has at the end of the series, through renames and several patches', async () => {
    const repo = new StudentRepo();
    const patches = repo.series('moves', [
      ['tests: rename the skeleton', () => repo.git('mv', 'tests/skeleton.yaml', 'tests/proctree.yaml')],
      ['tests: describe it', () => repo.write('tests/proctree.yaml', repo.read('tests/proctree.yaml').replace('Checks the proctree', 'Checks my proctree'))],
      ['tests: one more case', () => repo.write('tests/proctree.yaml', repo.read('tests/proctree.yaml').replace('run:\n', 'run:\n  # cases\n'))],
    ]);
    const mirror = repo.mirror();
    const read = async (file: string) => {
      try {
        return execFileSync('git', ['--git-dir', mirror, 'show', `master:${file}`], { encoding: 'utf8' });
      } catch {
        return null;
      }
    };
    const files = await seriesFiles(patches, globMatcher('tests/*.yaml'), read);
    assert.deepEqual([...files.keys()], ['tests/proctree.yaml']);
    const f = files.get('tests/proctree.yaml')!;
    assert.equal(f.patch, 3);
    assert.equal(f.lines!.join('\n') + '\n', repo.git('show', 'moves:tests/proctree.yaml'));
  });

  it('reads new, deleted, renamed and quoted file names from real diffs', () => {
    const repo = new StudentRepo();
    repo.write('tests/é t.yaml', 'a: 1\n');
    repo.git('add', '.');
    repo.git('rm', '-q', 'kernel/dummy.c');
    repo.git('mv', 'tests/skeleton.yaml', 'tests/moved.yaml');
    const diff = repo.git('diff', '--cached', '-M', 'master');
    const files = parseDiff(diff).map((d) => [d.oldPath, d.newPath]);
    assert.deepEqual(files.sort(), [
      ['kernel/dummy.c', null],
      ['tests/skeleton.yaml', 'tests/moved.yaml'],
      [null, 'tests/é t.yaml'],
    ].sort());
  });

  it('applies a hunk where its old side moved (the tree gained lines above it), and refuses one that matches nowhere', () => {
    const hunk = { oldStart: 2, oldLines: 2, newStart: 2, newLines: 2, lines: [' b', '-c', '+C'] };
    assert.deepEqual(applyHunks(['x', 'y', 'a', 'b', 'c', 'd'], [hunk]), ['x', 'y', 'a', 'b', 'C', 'd']);
    assert.equal(applyHunks(['a', 'b', 'z'], [hunk]), null);
    const big = Array.from({ length: 200_000 }, (_, i) => `l${i}`);
    assert.equal(applyHunks([...big, 'a', 'b', 'c'], [{ ...hunk, oldStart: 200_002 }])!.length, 200_003);
  });

  const globs: [string, string, boolean][] = [
    ['tests/*.yaml', 'tests/proctree.yaml', true],
    ['tests/*.yaml', 'tests/sub/proctree.yaml', false],
    ['tests/*.yaml', 'proctree.yaml', false],
    ['tests/**/*.yaml', 'tests/proctree.yaml', true],
    ['tests/**/*.yaml', 'tests/a/b/proctree.yaml', true],
    ['epita/proctree.{yaml,yml}', 'epita/proctree.yml', true],
    ['./tests/?.yaml', 'tests/a.yaml', true],
    ['tests/*.yaml', 'tests/a.yaml.orig', false],
  ];
  for (const [glob, file, expected] of globs) {
    it(`${expected ? 'matches' : 'does not match'} ${file} with ${glob}`, () => assert.equal(globMatcher(glob)(file), expected));
  }

  it('matches a glob of many stars against a long path in linear time', { timeout: 5000 }, () => {
    assert.equal(globMatcher('*a*a*a*a*b')('a'.repeat(4000)), false);
  });
});

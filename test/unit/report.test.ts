// The reply mails' text: which report a run gets, the lines each quotes, and the talk's example.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderInfraError, renderReport, reportKind, showWhitespace, stripControls, type ReportInput, type ReportStep } from '../../src/pipeline/report.js';
import { artifactUrl, reproduceTest } from '../../src/pipeline/reply.service.js';
import { checkpatchCommand, parseCheckpatchOutput } from '../../src/pipeline/rules/checkpatch-output.js';
import type { Finding, StepStatus } from '../../src/pipeline/types.js';

const URL = 'https://patchbay.example.org/series/12/';
const BASE = { branch: 'master', commit: '1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5', fromSeries: false };
const FALSE_POSITIVE = 'If you think this is a false positive,\nplease reply-all to this message.\nSincerely,\nLSE Team\n';

function step(name: string, status: StepStatus, summary = `${name}: ${status}`, findings: Finding[] = []): ReportStep {
  return { name, result: { status, summary, findings, logPath: `/var/lib/patchbay/runs/4/${name}.log`, childMs: 0 } };
}
const GATES_OK = [step('signoff', 'pass'), step('testdesc', 'pass'), step('checkpatch', 'pass'), step('apply', 'pass')];

function input(over: Partial<ReportInput>): ReportInput {
  return {
    student: { name: 'John Smith', email: 'john@students.example.org' },
    project: 'HTS Syscall',
    series: { name: 'syscall: add dummy system call', version: 9, total: 3 },
    base: BASE,
    url: URL,
    steps: GATES_OK,
    signature: 'LSE Team',
    ...over,
  };
}

/** What every report carries: the header with base and URL, the false-positive sentence, the signature. */
function assertFrame(text: string): void {
  assert.ok(text.startsWith('Hi John Smith,\nProject: HTS Syscall\nPatch: [v9] syscall: add dummy system call\n'), text);
  assert.match(text, /^Base: master at 1a2b3c4d5e6f$/m);
  assert.ok(text.includes(`\nDetails: ${URL}\n`));
  assert.ok(text.endsWith(FALSE_POSITIVE), text);
}

describe('renderReport', () => {
  it("renders the talk's example: only the base and the link are added", () => {
    const r = renderReport(input({ tests: [{ suite: 'dummy', cases: Array.from({ length: 7 }, (_, i) => ({ name: `dummy-${i + 1}`, result: 'pass' as const })) }] }));
    assert.equal(r.kind, 'test-results');
    assert.equal(r.status, 'pass');
    assertFrame(r.text);
    const withoutAdditions = r.text
      .split('\n')
      .filter((l) => !l.startsWith('Base: ') && !l.startsWith('Details: '))
      .join('\n');
    assert.equal(
      withoutAdditions,
      'Hi John Smith,\nProject: HTS Syscall\nPatch: [v9] syscall: add dummy system call\nTests suite: dummy\nYou have passed 7 tests on 7.\nPerfect! Your work will be examined.\nIf you think this is a false positive,\nplease reply-all to this message.\nSincerely,\nLSE Team\n',
    );
  });

  it('reports a missing sign-off, naming the patch and what was found, and that nothing else ran', () => {
    const message = "patch 2/3 'syscall: wire it' has no Signed-off-by from John Smith <john@students.example.org>; found: none";
    const r = renderReport(input({ steps: [step('signoff', 'fail', message, [{ patch: 2, level: 'ERROR', type: 'NO_AUTHOR_SIGNOFF', message }])] }));
    assert.equal(r.kind, 'signoff-missing');
    assert.equal(r.status, 'fail');
    assert.equal(r.subject, 'Sign off missing');
    assertFrame(r.text);
    assert.match(r.text, /^Sign off missing\.$/m);
    assert.ok(r.text.includes(`\n${message}\n`));
    assert.match(r.text, /git commit --amend -s/);
    assert.match(r.text, /The other checks did not run\./);
  });

  it('reports an invalid test description with file:line, the reason and the numbered line', () => {
    const message = "metadata.format must be 'Lava-Test Test Definition 1.0', found 'Lava-Test 1.0'";
    const r = renderReport(
      input({
        steps: [
          step('signoff', 'pass'),
          step('testdesc', 'fail', `tests/proctree.yaml:3: ${message}`, [{ patch: 3, level: 'ERROR', type: 'TESTDEF_INVALID', message, file: 'tests/proctree.yaml', line: 3, quote: '  format: Lava-Test 1.0' }]),
        ],
      }),
    );
    assert.equal(r.kind, 'test-description');
    assertFrame(r.text);
    assert.match(r.text, /^Invalid test description\.$/m);
    assert.ok(r.text.includes(`\ntests/proctree.yaml:3: ${message}\n    3 |   format: Lava-Test 1.0\n`), r.text);
  });

  it('reports a missing test description as missing', () => {
    const message = 'no test description: the series must add a file matching tests/*.yaml';
    const r = renderReport(input({ steps: [step('signoff', 'pass'), step('testdesc', 'fail', message, [{ level: 'ERROR', type: 'TESTDEF_MISSING', message }])] }));
    assert.equal(r.kind, 'test-description');
    assert.match(r.text, /^Missing test description\.$/m);
    assert.ok(r.text.includes(`\n${message}\n`));
  });

  it("reports wrong coding style quoting checkpatch's message, the place and the source line", () => {
    const findings: Finding[] = [
      { patch: 1, level: 'ERROR', type: 'CODE_INDENT', message: 'code indent should use tabs where possible', file: 'kernel/dummy.c', line: 12, quote: '+        return 42;$' },
      { patch: 2, level: 'WARNING', type: 'LONG_LINE', message: 'line length of 104 exceeds 100 columns', file: 'kernel/sys.c', line: 3010, quote: '+\tpr_info("dummy called by %d with a message that is far too long to be read on one line\\n", pid);' },
    ];
    const r = renderReport(input({ steps: [step('signoff', 'pass'), step('testdesc', 'pass'), step('checkpatch', 'fail', 'checkpatch: 1 error, 1 warning', findings)] }));
    assert.equal(r.kind, 'coding-style');
    assert.equal(r.subject, 'Wrong coding style');
    assertFrame(r.text);
    assert.match(r.text, /^Wrong coding style\.$/m);
    assert.ok(r.text.includes('\npatch 1/3, kernel/dummy.c:12: ERROR: code indent should use tabs where possible\n    +········return 42;\n'), r.text);
    assert.ok(r.text.includes('\npatch 2/3, kernel/sys.c:3010: WARNING: line length of 104 exceeds 100 columns\n    +\tpr_info('));
  });

  it('reports a failed apply with the rejected hunk and the base-commit the student named', () => {
    const hunk = ['@@ -1203,6 +1203,8 @@ SYSCALL_DEFINE1(newuname, struct new_utsname __user *, name)', ' \tup_read(&uts_sem);', '+\tif (dummy_enabled)', '+\t\tdummy_count++;', ' \treturn 0;'].join('\n');
    const r = renderReport(
      input({
        base: { branch: 'master', commit: '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c', fromSeries: true },
        steps: [
          ...GATES_OK.slice(0, 3),
          step('apply', 'fail', 'patch 2/3 "syscall: wire it" does not apply based on 0f1e2d3c4b5a (base-commit of the series) (kernel/sys.c); 3/3 not applied', [
            { patch: 2, level: 'ERROR', type: 'REJECTED_HUNK', message: 'patch 2/3: hunk at kernel/sys.c:1203 does not apply', file: 'kernel/sys.c', line: 1203, quote: hunk },
            { level: 'ERROR', type: 'NOT_APPLIED', message: '3/3 not applied: git am stops at the first patch that fails' },
          ]),
        ],
      }),
    );
    assert.equal(r.kind, 'apply-failed');
    assertFrame(r.text.replace('Base: base-commit 0f1e2d3c4b5a', 'Base: master at 1a2b3c4d5e6f'));
    assert.match(r.text, /^Base: base-commit 0f1e2d3c4b5a$/m);
    assert.ok(r.text.includes('\npatch 2/3 "syscall: wire it" does not apply based on 0f1e2d3c4b5a (base-commit of the series) (kernel/sys.c); 3/3 not applied\n'));
    assert.ok(r.text.includes(`\npatch 2/3: hunk at kernel/sys.c:1203 does not apply\n${hunk.split('\n').map((l) => `    ${l}`).join('\n')}\n`), r.text);
    assert.match(r.text, /^3\/3 not applied: git am stops at the first patch that fails$/m);
    assert.ok(r.text.endsWith(FALSE_POSITIVE));
  });

  it('reports a failed build with the first errors (file:line:col and source) and new warnings marked >>', () => {
    const r = renderReport(
      input({
        steps: [...GATES_OK, step('build', 'fail', 'x86_64: 1 error')],
        builds: [
          {
            arch: 'x86_64',
            status: 'fail',
            errors: [{ file: 'kernel/dummy.c', line: 9, column: 2, level: 'error', message: "'dummy_count' undeclared (first use in this function)", source: '\tdummy_count++;', isNew: true }],
            warnings: [
              { file: 'kernel/dummy.c', line: 4, column: 12, level: 'warning', message: "unused variable 'ret' [-Wunused-variable]", source: null, isNew: true },
              { file: 'arch/x86/kernel/setup.c', line: 80, column: 1, level: 'warning', message: 'old warning', source: null, isNew: false },
            ],
          },
          { arch: 'powerpc64', status: 'pass', errors: [], warnings: [] },
        ],
      }),
    );
    assert.equal(r.kind, 'build-failed');
    assertFrame(r.text);
    assert.ok(r.text.includes("\nx86_64: FAILED\nkernel/dummy.c:9:2: error: 'dummy_count' undeclared (first use in this function)\n    9 | \tdummy_count++;\n"), r.text);
    assert.ok(r.text.includes("\n>> kernel/dummy.c:4:12: warning: unused variable 'ret' [-Wunused-variable]\n   arch/x86/kernel/setup.c:80:1: warning: old warning\n"));
    assert.match(r.text, /^Warnings \(new ones prefixed by >>\):$/m);
    assert.match(r.text, /^powerpc64: ok$/m);
  });

  it('reports failing tests with their log tail and does not call the work perfect', () => {
    const r = renderReport(
      input({
        steps: [...GATES_OK, step('test', 'fail', 'dummy: 5 of 7 passed')],
        tests: [
          {
            suite: 'dummy',
            cases: [
              ...Array.from({ length: 5 }, (_, i) => ({ name: `dummy-${i + 1}`, result: 'pass' as const })),
              { name: 'dummy-counts-calls', result: 'fail' as const, logTail: 'calling dummy 3 times\r\nexpected 3, got 0\n' },
              { name: 'dummy-efault', result: 'fail' as const, logTail: 'Segmentation fault' },
            ],
          },
        ],
      }),
    );
    assert.equal(r.kind, 'test-results');
    assert.equal(r.status, 'fail');
    assertFrame(r.text);
    assert.ok(r.text.includes('\nTests suite: dummy\nYou have passed 5 tests on 7.\nFailed: dummy-counts-calls (fail)\n    calling dummy 3 times\n    expected 3, got 0\nFailed: dummy-efault (fail)\n    Segmentation fault\n'), r.text);
    assert.doesNotMatch(r.text, /Perfect!/);
  });

  it('says which checks passed and quotes the warnings when a run passes with warnings', () => {
    const r = renderReport(
      input({
        steps: [
          step('signoff', 'pass'),
          step('testdesc', 'skip'),
          step('checkpatch', 'warn', 'checkpatch: 1 warning', [{ patch: 1, level: 'WARNING', message: 'Missing a blank line after declarations', file: 'kernel/dummy.c', line: 5, quote: '+\tint ret;\n+\tret = 0;' }]),
          step('apply', 'pass'),
        ],
      }),
    );
    assert.equal(r.kind, 'test-results');
    assert.equal(r.status, 'warn');
    assertFrame(r.text);
    assert.match(r.text, /^Checks passed: signoff, apply\.$/m);
    // The skipped step is said not to have run, never counted as passed.
    assert.match(r.text, /^Not run: testdesc \(testdesc: skip\)\.$/m);
    assert.ok(r.text.includes('Warnings from checkpatch: checkpatch: 1 warning\npatch 1/3, kernel/dummy.c:5: WARNING: Missing a blank line after declarations\n    +\tint ret;\n    +\tret = 0;\n'), r.text);
    assert.doesNotMatch(r.text, /Perfect!/);
  });

  it('greets by address when the name is unknown and strips control characters from what it quotes', () => {
    const r = renderReport(
      input({
        student: { name: null, email: 'john@students.example.org' },
        series: { name: 'syscall:\x1b[2J add\r\n dummy', version: 2, total: 1 },
        steps: [step('signoff', 'pass'), step('testdesc', 'pass'), step('checkpatch', 'fail', 'bad\x07', [{ patch: 1, level: 'ERROR', message: 'trailing whitespace', file: 'a.c', line: 1, quote: '+int x;\x1b]0;pwned\x07 \r\n+\tint y;\x00' }])],
      }),
    );
    assert.ok(r.text.startsWith('Hi john@students.example.org,\n'));
    assert.match(r.text, /^Patch: \[v2\] syscall:\[2J add dummy$/m);
    assert.ok(r.text.includes('\n    +int x;]0;pwned \n    +\tint y;\n'), JSON.stringify(r.text));
    assert.doesNotMatch(r.text, /[\x00-\x08\x0b-\x1f\x7f]/);
  });

  it('counts the findings it leaves out instead of quoting hundreds', () => {
    const findings = Array.from({ length: 25 }, (_, i): Finding => ({ patch: 1, level: 'ERROR', message: `error ${i + 1}`, file: 'a.c', line: i + 1 }));
    const r = renderReport(input({ steps: [step('checkpatch', 'fail', '25 errors', findings)] }));
    assert.match(r.text, /^patch 1\/3, a\.c:20: ERROR: error 20$/m);
    assert.doesNotMatch(r.text, /error 21$/m);
    assert.match(r.text, /^\[… and 5 more: the full log is on the web page\]$/m);
  });

  it('refuses a run that stopped on our own error: that one goes to the maintainers', () => {
    assert.throws(() => renderReport(input({ steps: [step('signoff', 'pass'), step('checkpatch', 'error', 'perl not found')] })), { code: 'report_for_infra_error' });
  });
});

describe('reportKind', () => {
  const table: [string, ReportStep[], string][] = [
    ['signoff fails', [step('signoff', 'fail')], 'signoff-missing'],
    ['testdesc fails', [step('signoff', 'pass'), step('testdesc', 'fail')], 'test-description'],
    ['checkpatch fails after a skipped testdesc', [step('signoff', 'pass'), step('testdesc', 'skip'), step('checkpatch', 'fail')], 'coding-style'],
    ['apply fails', [...GATES_OK.slice(0, 3), step('apply', 'fail')], 'apply-failed'],
    ['build fails', [...GATES_OK, step('build', 'fail')], 'build-failed'],
    ['a test stage fails', [...GATES_OK, step('build', 'pass'), step('test', 'fail')], 'test-results'],
    ['everything passes', GATES_OK, 'test-results'],
    ['checkpatch only warns', [step('signoff', 'pass'), step('checkpatch', 'warn'), step('apply', 'pass')], 'test-results'],
    ['our error comes first', [step('signoff', 'pass'), step('apply', 'error')], 'infra-error'],
  ];
  for (const [what, steps, kind] of table) it(`is ${kind} when ${what}`, () => assert.equal(reportKind(steps), kind));
});

describe('renderInfraError', () => {
  it('tells the maintainers which step failed, why and where the log is, and not the false-positive sentence', () => {
    const r = renderInfraError({
      project: 'HTS Syscall',
      series: { name: 'syscall: add dummy system call', version: 9, total: 3 },
      submitter: { name: 'John Smith', email: 'john@students.example.org' },
      base: null,
      url: URL,
      step: step('apply', 'error', 'git worktree add failed: No space left on device', [{ message: 'fatal: could not create work tree dir', quote: 'fatal: could not create work tree dir \'/var/lib/patchbay/trees/hts/run-4\': No space left on device' }]),
      log: 'https://patchbay.example.org/runs/4/logs/apply',
      runId: 4,
      signature: 'patchbay CI',
    });
    assert.equal(r.kind, 'infra-error');
    assert.equal(r.status, 'error');
    assert.match(r.text, /^Step: apply$/m);
    assert.match(r.text, /^What failed: git worktree add failed: No space left on device$/m);
    assert.match(r.text, /^    fatal: could not create work tree dir '.*': No space left on device$/m);
    assert.match(r.text, /^Full log: https:\/\/patchbay\.example\.org\/runs\/4\/logs\/apply$/m);
    assert.match(r.text, /^Submitter: John Smith <john@students\.example\.org>$/m);
    assert.match(r.text, /^Series: \[v9\] syscall: add dummy system call$/m);
    assert.ok(r.text.includes(`Details: ${URL}\n`));
    assert.doesNotMatch(r.text, /false positive/);
  });
});

describe('stripControls', () => {
  it('keeps newlines and tabs and removes the other C0 and C1 controls and DEL', () => {
    assert.equal(stripControls('a\tb\nc\r\x1b[31md\x7f\u0085e\u009bf'), 'a\tb\nc[31mdef');
  });
});

// Verbatim output of Linux 6.1's scripts/checkpatch.pl --no-tree --show-types --color=never --ignore=FILE_PATH_CHANGES -
// on a patch adding (cat -A) `        return 1; $`, `int b = 1; ^I/* c */$`, `   int c;$` and `^Iint d;^I$` to x.c.
const WHITESPACE_OUTPUT = `ERROR:TRAILING_WHITESPACE: trailing whitespace
#21: FILE: x.c:4:
+        return 1; $

ERROR:CODE_INDENT: code indent should use tabs where possible
#21: FILE: x.c:4:
+        return 1; $

WARNING:SPACE_BEFORE_TAB: please, no space before tabs
#23: FILE: x.c:6:
+int b = 1; ^I/* c */$

WARNING:LEADING_SPACE: please, no spaces at the start of a line
#24: FILE: x.c:7:
+   int c;$

ERROR:TRAILING_WHITESPACE: trailing whitespace
#25: FILE: x.c:8:
+^Iint d;^I$

total: 3 errors, 2 warnings, 8 lines checked
`;

describe('checkpatch findings in the reply', () => {
  const policy = { ignore: ['FILE_PATH_CHANGES'], options: ['--strict', '--max-line-length=80'] };
  const findings = (): Finding[] =>
    parseCheckpatchOutput(WHITESPACE_OUTPUT).findings.map((f) => ({ patch: 1, level: f.level, type: f.type, message: f.message, file: f.file!, line: f.line!, quote: f.quote! }));
  const styleReport = (status: 'fail' | 'warn') =>
    renderReport(
      input({
        series: { name: 'x: change', version: 1, total: 1 },
        steps: [step('signoff', 'pass'), { name: 'checkpatch', result: { status, summary: '3 errors, 2 warnings in patch 1/1', findings: findings(), logPath: '', childMs: 0, outputs: { command: checkpatchCommand(policy) } } }, ...(status === 'warn' ? [step('apply', 'pass')] : [])],
      }),
    );

  it("quotes whitespace findings without checkpatch's ^I and $ marks, tabs and the spaces in question made visible", () => {
    const r = styleReport('fail');
    assert.doesNotMatch(r.text, /\^I|\$$/m, r.text);
    assert.ok(r.text.includes('patch 1/1, x.c:4: ERROR: trailing whitespace\n    +········return 1;·\n'), r.text);
    assert.ok(r.text.includes('patch 1/1, x.c:6: WARNING: please, no space before tabs\n    +int b = 1;·→    /* c */\n'), r.text);
    assert.ok(r.text.includes('patch 1/1, x.c:7: WARNING: please, no spaces at the start of a line\n    +···int c;\n'), r.text);
    assert.ok(r.text.includes('patch 1/1, x.c:8: ERROR: trailing whitespace\n    +→       int d;→\n'), r.text);
    assert.match(r.text, /^\(In the quoted lines, → is a tab and · a space\.\)$/m);
  });

  it('gives the exact checkpatch command the bot ran: our options, the ignore list and the project options', () => {
    const r = styleReport('fail');
    assert.ok(r.text.includes('\n    ./scripts/checkpatch.pl --no-tree --show-types --color=never --ignore=FILE_PATH_CHANGES --strict --max-line-length=80 *.patch\n'), r.text);
    assert.doesNotMatch(r.text, /checkpatch\.pl \*\.patch/);
  });

  it('gives the command with the warnings of a run that passed', () => {
    const r = styleReport('warn');
    assert.equal(r.kind, 'test-results');
    assert.ok(r.text.includes('To see them on your patches, at the top of your tree:\n    ./scripts/checkpatch.pl --no-tree --show-types --color=never --ignore=FILE_PATH_CHANGES --strict --max-line-length=80 *.patch\n'), r.text);
  });

  it('leaves the lines of other findings as checkpatch quoted them (a $ there is the source)', () => {
    const r = renderReport(
      input({
        steps: [step('checkpatch', 'fail', '1 error', [{ patch: 1, level: 'ERROR', type: 'SPACING', message: "space required before the open brace '{'", file: 'a.sh', line: 2, quote: '+\tif (x){ y = $' }])],
      }),
    );
    assert.ok(r.text.includes('\n    +\tif (x){ y = $\n'), r.text);
    assert.doesNotMatch(r.text, /In the quoted lines/);
  });
});

describe('showWhitespace', () => {
  const cases: [string, string][] = [
    ['+\tint d;\t', '+→       int d;→'],
    ['+        return 1; ', '+········return 1;·'],
    ['+int b = 1; \t/* c */', '+int b = 1;·→    /* c */'],
    ['+int x = a + b;', '+int x = a + b;'],
    ['+x\r', '+x␍'],
    [' \tkeep(); ', ' →       keep();·'],
  ];
  for (const [raw, shown] of cases) it(`shows ${JSON.stringify(raw)} as ${shown}`, () => assert.equal(showWhitespace(raw), shown));
});

describe('artefacts in the reply', () => {
  const urls = { base: 'https://ci.example.org' };
  // A test step's outputs as test.step.ts writes them (the server's paths only in qemuCommand, never used in the mail).
  const outputs = {
    qemuCommand: 'qemu-system-x86_64 -cpu qemu64 -m 256 -smp 1 -nographic -no-reboot -nic none -kernel /var/lib/patchbay/artifacts/run-3/x86_64/bzImage',
    qemuDownloaded:
      "qemu-system-x86_64 -cpu qemu64 -m 256 -smp 1 -nographic -no-reboot -nic none -kernel bzImage -initrd initramfs.cpio.gz -append 'console=ttyS0 panic=-1 oops=panic' -drive file=modules.ext2,format=raw,if=none,id=disk0,readonly=on -device virtio-blk-pci,drive=disk0 -drive file=tests.ext2,format=raw,if=none,id=disk1,readonly=on -device virtio-blk-pci,drive=disk1",
    qemuFiles: JSON.stringify(['bzImage', 'initramfs.cpio.gz', 'modules.ext2', 'tests.ext2']),
  };

  it('downloads each file the boot needs by its absolute URL, then boots them by the names curl gave them', () => {
    const reproduce = reproduceTest(urls, 3, 'x86_64', outputs);
    assert.deepEqual(reproduce?.downloads, [
      'curl -fO https://ci.example.org/runs/3/artifacts/x86_64/bzImage',
      'curl -fO https://ci.example.org/runs/3/artifacts/x86_64/initramfs.cpio.gz',
      'curl -fO https://ci.example.org/runs/3/artifacts/x86_64/modules.ext2',
      'curl -fO https://ci.example.org/runs/3/artifacts/x86_64/tests.ext2',
    ]);
    const r = renderReport(input({ tests: [{ suite: 'dummy', arch: 'x86_64', cases: [{ name: 'dummy-1', result: 'pass' }], reproduce }] }));
    assert.ok(
      r.text.includes(`To reproduce, download the files into an empty folder and boot them:\n    curl -fO https://ci.example.org/runs/3/artifacts/x86_64/bzImage\n`),
      r.text,
    );
    assert.ok(r.text.includes(`\n    curl -fO https://ci.example.org/runs/3/artifacts/x86_64/tests.ext2\n    qemu-system-x86_64 `), r.text);
    assert.match(r.text, / -kernel bzImage -initrd initramfs\.cpio\.gz .*file=modules\.ext2,.*file=tests\.ext2,/);
    // Nothing of the server's file system.
    assert.doesNotMatch(r.text, /\/var\/lib|artifacts\/run-/);
  });

  it('gives no reproduce line rather than a server path when the step named no downloadable files', () => {
    assert.equal(reproduceTest(urls, 3, 'x86_64', { qemuCommand: outputs.qemuCommand }), null);
    assert.equal(reproduceTest(urls, 3, 'x86_64', { ...outputs, qemuFiles: JSON.stringify(['../../etc/passwd']) }), null);
    const r = renderReport(input({ tests: [{ suite: 'dummy', cases: [{ name: 'dummy-1', result: 'pass' }], reproduce: null }] }));
    assert.doesNotMatch(r.text, /To reproduce/);
  });

  it('names the make command for the student’s own tree and the build’s .config by its URL', () => {
    assert.equal(artifactUrl(urls, 3, 'x86_64', 'config'), 'https://ci.example.org/runs/3/artifacts/x86_64/config');
    const r = renderReport(
      input({
        steps: [...GATES_OK, step('build', 'fail', 'build failed for arm64')],
        builds: [
          { arch: 'x86_64', status: 'pass', errors: [], warnings: [], makeCommand: 'make O=build ARCH=x86 -j2', configUrl: artifactUrl(urls, 3, 'x86_64', 'config') },
          { arch: 'arm64', status: 'fail', errors: [{ file: 'kernel/sys.c', line: 3, column: 1, level: 'error', message: 'expected ; before }', source: null, isNew: true }], warnings: [], makeCommand: 'make O=build ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- -j2' },
        ],
      }),
    );
    assert.ok(r.text.includes('x86_64: ok\n  $ make O=build ARCH=x86 -j2\n  (its .config: https://ci.example.org/runs/3/artifacts/x86_64/config)\n'), r.text);
    assert.ok(r.text.includes('arm64: FAILED\n  $ make O=build ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- -j2\n'), r.text);
  });
});

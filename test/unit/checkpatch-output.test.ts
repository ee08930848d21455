// checkpatch's output rules: every pattern against its verbatim samples, and the parser on whole outputs printed by
// Linux 6.1's checkpatch.pl (--no-tree --show-types --color=never, patch on stdin).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHECKPATCH_RULES, checkpatchCommand, checkpatchOptions, isFormatOption, parseCheckpatchOutput, unvetQuoteLine } from '../../src/pipeline/rules/checkpatch-output.js';

// Real outputs, line by line (trailing blanks matter: checkpatch prints "#9: " and quotes trailing whitespace).
const STYLE_ERRORS = [
  'ERROR:TRAILING_WHITESPACE: trailing whitespace',
  '#26: FILE: drivers/misc/dummy-irq.c:21:',
  '+static void dummy_note(void){ $',
  '',
  "ERROR:OPEN_BRACE: open brace '{' following function definitions go on the next line",
  '#26: FILE: drivers/misc/dummy-irq.c:21:',
  '+static void dummy_note(void){ ',
  '',
  'total: 2 errors, 0 warnings, 11 lines checked',
  '',
  'NOTE: For some of the reported defects, checkpatch may be able to',
  '      mechanically convert to the typical style using --fix or --fix-inplace.',
  '',
  'NOTE: Whitespace errors detected.',
  '      You may wish to use scripts/cleanpatch or scripts/cleanfile',
  '',
  '"[PATCH] misc: dummy-irq: count interrupts" has style problems, please review.',
  '',
  'NOTE: If any of the errors are false positives, please report',
  '      them to the maintainer, see CHECKPATCH in MAINTAINERS.',
  '',
].join('\n');

const NO_LOCATION = [
  'WARNING:COMMIT_MESSAGE: Missing commit description - Add an appropriate one',
  '',
  'ERROR:MISSING_SIGN_OFF: Missing Signed-off-by: line(s)',
  '',
  'total: 1 errors, 1 warnings, 7 lines checked',
  '',
  'NOTE: For some of the reported defects, checkpatch may be able to',
  '      mechanically convert to the typical style using --fix or --fix-inplace.',
  '',
  '"[PATCH] misc: dummy-irq: swap" has style problems, please review.',
  '',
].join('\n');

// An excerpt of one real --strict output (some findings cut, the counts line adjusted to match).
const MIXED_STRICT = [
  'WARNING:COMMIT_LOG_LONG_LINE: Possible unwrapped commit description (prefer a maximum 75 chars per line)',
  '#9: ',
  'This commit message has a line that is much too long for the commit log and should wrap early.',
  '',
  'WARNING:LINE_SPACING: Missing a blank line after declarations',
  '#31: FILE: drivers/misc/dummy-irq.c:50:',
  '+\tint unused_a = 1;',
  '+\tprintk("dummy-irq unloaded\\n");',
  '',
  "CHECK:MACRO_ARG_REUSE: Macro argument reuse 'x' - possible side-effects?",
  '#40: FILE: drivers/misc/dummy-irq.c:63:',
  '+#define DUMMY_TWICE(x) x + x',
  '',
  'WARNING:FILE_PATH_CHANGES: added, moved or deleted file(s), does MAINTAINERS need updating?',
  '#42: ',
  'new file mode 100644',
  '',
  'total: 0 errors, 3 warnings, 1 checks, 53 lines checked',
  '',
].join('\n');

const IGNORED_CLEAN = [
  'total: 0 errors, 0 warnings, 11 lines checked',
  '',
  'NOTE: Whitespace errors detected.',
  '      You may wish to use scripts/cleanpatch or scripts/cleanfile',
  '',
  '"[PATCH] misc: dummy-irq: count interrupts" has no obvious style problems and is ready for submission.',
  '',
  'NOTE: Ignored message types: OPEN_BRACE TRAILING_WHITESPACE',
  '',
].join('\n');

describe('checkpatch output rules', () => {
  for (const rule of Object.values(CHECKPATCH_RULES)) {
    it(`${rule.id} matches each of its samples`, () => {
      assert.ok(rule.samples.length > 0);
      for (const s of rule.samples) assert.match(s, rule.pattern, `${rule.id}: ${JSON.stringify(s)}`);
    });
  }

  it('keeps the rules apart: a sample matches only its own rule (notes aside)', () => {
    const rules = Object.values(CHECKPATCH_RULES);
    for (const rule of rules) {
      for (const s of rule.samples) {
        const others = rules.filter((r) => r !== rule && r.id !== 'note' && rule.id !== 'note' && r.pattern.test(s)).map((r) => r.id);
        // The ignored-types line is also a NOTE: that overlap is expected and handled by order in the parser.
        assert.deepEqual(others, [], `${JSON.stringify(s)} also matches ${others.join(', ')}`);
      }
    }
  });

  it('reads a finding header into level, type and message', () => {
    const m = CHECKPATCH_RULES.finding.pattern.exec("ERROR:OPEN_BRACE: open brace '{' following function definitions go on the next line")!;
    assert.deepEqual([m[1], m[2], m[3]], ['ERROR', 'OPEN_BRACE', "open brace '{' following function definitions go on the next line"]);
  });

  it('reads a FILE location into patch line, file and source line', () => {
    const m = CHECKPATCH_RULES.fileLocation.pattern.exec('#26: FILE: drivers/misc/dummy-irq.c:21:')!;
    assert.deepEqual([m[1], m[2], m[3]], ['26', 'drivers/misc/dummy-irq.c', '21']);
  });
});

describe('parseCheckpatchOutput', () => {
  it('gives each style error its file:line and the quoted source line', () => {
    const out = parseCheckpatchOutput(STYLE_ERRORS);
    assert.deepEqual(out.total, { errors: 2, warnings: 0, checks: 0, lines: 11 });
    assert.equal(out.verdict, 'problems');
    assert.deepEqual(out.unknown, []);
    assert.deepEqual(out.findings, [
      { level: 'ERROR', type: 'TRAILING_WHITESPACE', message: 'trailing whitespace', patchLine: 26, file: 'drivers/misc/dummy-irq.c', line: 21, quote: '+static void dummy_note(void){ $' },
      {
        level: 'ERROR',
        type: 'OPEN_BRACE',
        message: "open brace '{' following function definitions go on the next line",
        patchLine: 26,
        file: 'drivers/misc/dummy-irq.c',
        line: 21,
        quote: '+static void dummy_note(void){ ',
      },
    ]);
  });

  it('keeps findings without a location (missing sign-off) as message only', () => {
    const out = parseCheckpatchOutput(NO_LOCATION);
    assert.deepEqual(out.findings, [
      { level: 'WARNING', type: 'COMMIT_MESSAGE', message: 'Missing commit description - Add an appropriate one' },
      { level: 'ERROR', type: 'MISSING_SIGN_OFF', message: 'Missing Signed-off-by: line(s)' },
    ]);
    assert.deepEqual(out.total, { errors: 1, warnings: 1, checks: 0, lines: 7 });
  });

  it('reads commit-message findings (no FILE), two-line quotes and CHECKs under --strict', () => {
    const out = parseCheckpatchOutput(MIXED_STRICT);
    assert.deepEqual(
      out.findings.map((f) => [f.level, f.type, f.patchLine, f.file ?? null, f.line ?? null]),
      [
        ['WARNING', 'COMMIT_LOG_LONG_LINE', 9, null, null],
        ['WARNING', 'LINE_SPACING', 31, 'drivers/misc/dummy-irq.c', 50],
        ['CHECK', 'MACRO_ARG_REUSE', 40, 'drivers/misc/dummy-irq.c', 63],
        ['WARNING', 'FILE_PATH_CHANGES', 42, null, null],
      ],
    );
    assert.equal(out.findings[0]!.quote, 'This commit message has a line that is much too long for the commit log and should wrap early.');
    assert.equal(out.findings[1]!.quote, '+\tint unused_a = 1;\n+\tprintk("dummy-irq unloaded\\n");');
    assert.deepEqual(out.total, { errors: 0, warnings: 3, checks: 1, lines: 53 });
  });

  it('reads a clean verdict and the ignored types', () => {
    const out = parseCheckpatchOutput(IGNORED_CLEAN);
    assert.deepEqual(out.findings, []);
    assert.equal(out.verdict, 'clean');
    assert.deepEqual(out.ignoredTypes, ['OPEN_BRACE', 'TRAILING_WHITESPACE']);
    assert.deepEqual(out.total, { errors: 0, warnings: 0, checks: 0, lines: 11 });
  });

  it('has no total when checkpatch stopped before its counts', () => {
    const out = parseCheckpatchOutput('ERROR:TRAILING_WHITESPACE: trailing whitespace\n#26: FILE: a.c:1:\n+x $\n');
    assert.equal(out.total, null);
    assert.equal(out.findings.length, 1);
  });

  it('collects lines it does not know instead of dropping them', () => {
    const out = parseCheckpatchOutput('Something new from a future checkpatch\ntotal: 0 errors, 0 warnings, 3 lines checked\n');
    assert.deepEqual(out.unknown, ['Something new from a future checkpatch']);
  });
});

describe('isFormatOption', () => {
  it('refuses options that change the output shape, with or without a value', () => {
    for (const o of ['--terse', '--showfile', '-q', '--color=always', '--summary-file', '--fix-inplace', '--emacs']) assert.equal(isFormatOption(o), true, o);
    for (const o of ['--strict', '--max-line-length=80', '--ignore=LONG_LINE', '--codespell']) assert.equal(isFormatOption(o), false, o);
  });
});

describe('unvetQuoteLine', () => {
  it("undoes checkpatch's cat_vet on the lines of whitespace findings only", () => {
    // Verbatim quoted lines (Linux 6.1, TRAILING_WHITESPACE and SPACE_BEFORE_TAB), then a CR of DOS_LINE_ENDINGS.
    assert.equal(unvetQuoteLine('TRAILING_WHITESPACE', '+^Iint d;^I$'), '+\tint d;\t');
    assert.equal(unvetQuoteLine('SPACE_BEFORE_TAB', '+int b = 1; ^I/* c */$'), '+int b = 1; \t/* c */');
    assert.equal(unvetQuoteLine('DOS_LINE_ENDINGS', '+int x;^M$'), '+int x;\r');
    // Another finding's line is the source as it is: its $ and ^I belong to the student.
    assert.equal(unvetQuoteLine('LONG_LINE', '+\tprintf("^I$");$'), '+\tprintf("^I$");$');
    assert.equal(unvetQuoteLine(undefined, '+x$'), '+x$');
  });
});

describe('checkpatchCommand', () => {
  it('is the options the step runs with, on the patch files, format options left out as the step leaves them', () => {
    const policy = { ignore: ['FILE_PATH_CHANGES', 'SPDX_LICENSE_TAG'], options: ['--strict', '--terse'] };
    assert.deepEqual(checkpatchOptions(policy), { options: ['--no-tree', '--show-types', '--color=never', '--ignore=FILE_PATH_CHANGES,SPDX_LICENSE_TAG', '--strict'], dropped: ['--terse'] });
    assert.equal(checkpatchCommand(policy), './scripts/checkpatch.pl --no-tree --show-types --color=never --ignore=FILE_PATH_CHANGES,SPDX_LICENSE_TAG --strict *.patch');
    assert.equal(checkpatchCommand({ ignore: [], options: [] }), './scripts/checkpatch.pl --no-tree --show-types --color=never *.patch');
  });
});

// Build-log rules against their verbatim samples, and the parser on real gcc 12.2 / ld / make output.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GCC_OUTPUT_RULES, newWarnings, parseBuildLog, warningKey } from '../../src/pipeline/rules/gcc-output.js';
import { sourcePathMapper } from '../../src/pipeline/steps/build.step.js';

describe('build output rules', () => {
  for (const rule of Object.values(GCC_OUTPUT_RULES)) {
    it(`${rule.id} matches each of its samples`, () => {
      assert.ok(rule.samples.length > 0);
      for (const s of rule.samples) assert.match(s, rule.pattern, `${rule.id}: ${JSON.stringify(s)}`);
    });
  }

  it('does not take a quoted source line or a CC line for a diagnostic', () => {
    for (const s of [...GCC_OUTPUT_RULES.sourceLine.samples, ...GCC_OUTPUT_RULES.caretLine.samples, ...GCC_OUTPUT_RULES.compiled.samples]) {
      assert.doesNotMatch(s, GCC_OUTPUT_RULES.diagnostic.pattern);
    }
  });
});

// gcc -Wall -Wextra -c t.c (LC_ALL=C), then gcc u.c (an undefined function), then a make recursion that failed.
const GCC_LOG = `t.c: In function 'f':
t.c:4:20: error: 'undeclared_thing' undeclared (first use in this function)
    4 |         return a + undeclared_thing;
      |                    ^~~~~~~~~~~~~~~~
t.c:4:20: note: each undeclared identifier is reported only once for each function it appears in
t.c:3:13: warning: unused variable 'unused' [-Wunused-variable]
    3 |         int unused;
      |             ^~~~~~
t.c:5:1: warning: control reaches end of non-void function [-Wreturn-type]
    5 | }
      | ^
t.c: At top level:
t.c:6:12: warning: 'g' defined but not used [-Wunused-function]
    6 | static int g(void) { return 1; }
      |            ^
/usr/bin/ld: /tmp/ccZqbqXu.o: in function \`main':
u.c:(.text+0x5): undefined reference to \`nothere'
collect2: error: ld returned 1 exit status
make[1]: *** [Makefile.sub:2: t.o] Error 1
make: *** [Makefile:3: sub] Error 2
`;

describe('parseBuildLog', () => {
  const log = parseBuildLog(GCC_LOG);

  it('reads errors and warnings with file, line, column, flag, function and the quoted source', () => {
    const d = log.diagnostics;
    assert.deepEqual(
      d.map((x) => [x.level, x.file, x.line, x.column, x.flag, x.function]),
      [
        ['error', 't.c', 4, 20, null, 'f'],
        ['note', 't.c', 4, 20, null, 'f'],
        ['warning', 't.c', 3, 13, '-Wunused-variable', 'f'],
        ['warning', 't.c', 5, 1, '-Wreturn-type', 'f'],
        ['warning', 't.c', 6, 12, '-Wunused-function', null],
      ],
    );
    assert.equal(d[0]!.message, "'undeclared_thing' undeclared (first use in this function)");
    assert.equal(d[0]!.quote, '    4 |         return a + undeclared_thing;\n      |                    ^~~~~~~~~~~~~~~~');
    assert.equal(d[2]!.message, "unused variable 'unused'");
  });

  it('reads the undefined reference with its function, and make error lines', () => {
    assert.deepEqual(log.linkErrors, [
      { kind: 'undefined-reference', symbol: 'nothere', where: 'u.c', function: 'main', text: "u.c:(.text+0x5): undefined reference to `nothere'" },
    ]);
    assert.deepEqual(
      log.makeErrors.map((e) => e.target),
      ['t.o', 'sub'],
    );
  });

  it('maps file names and lists the CC lines of kbuild', () => {
    const k = parseBuildLog(
      ['  CC      kernel/fork.o', '  CC [M]  drivers/misc/pb.o', '../src/kernel/fork.c:10:5: warning: unused variable \'x\' [-Wunused-variable]'].join('\n'),
      (f) => f.replace('../src/', ''),
    );
    assert.deepEqual(k.compiled, ['kernel/fork.o', 'drivers/misc/pb.o']);
    assert.equal(k.diagnostics[0]!.file, 'kernel/fork.c');
  });

  it('reads modpost errors', () => {
    const k = parseBuildLog([...GCC_OUTPUT_RULES.modpostUndefined.samples, ...GCC_OUTPUT_RULES.modpostError.samples].join('\n'));
    assert.deepEqual(
      k.linkErrors.map((e) => [e.kind, e.symbol]),
      [
        ['modpost-undefined', 'pb_missing'],
        ['modpost', null],
      ],
    );
  });
});

describe('parseBuildLog on a kernel log', () => {
  it('reads a -Werror warning as an error and maps ccache-relative paths to the source tree', () => {
    // x86_64 tinyconfig, O=/tmp/patchbay-kbuild-test/obj, source ../src, a series adding a broken function.
    const log = [
      '  CC      kernel/exit.o',
      "../src/kernel/exit.c: In function 'pb_broken':",
      "../src/kernel/exit.c:1942:16: error: 'pb_nosuch' undeclared (first use in this function)",
      ' 1942 |         return pb_nosuch;',
      '      |                ^~~~~~~~~',
      '../src/kernel/exit.c:1942:16: note: each undeclared identifier is reported only once for each function it appears in',
      '../src/kernel/exit.c:1943:1: error: control reaches end of non-void function [-Werror=return-type]',
      ' 1943 | }',
      '      | ^',
      'cc1: some warnings being treated as errors',
      'make[3]: *** [/tmp/patchbay-kbuild-test/src/scripts/Makefile.build:255: kernel/exit.o] Error 1',
    ].join('\n');
    const r = parseBuildLog(log, sourcePathMapper('/tmp/patchbay-kbuild-test/src', '/tmp/patchbay-kbuild-test/obj'));
    const errors = r.diagnostics.filter((d) => d.level === 'error');
    assert.deepEqual(
      errors.map((d) => [d.file, d.line, d.column, d.flag, d.function]),
      [
        ['kernel/exit.c', 1942, 16, null, 'pb_broken'],
        ['kernel/exit.c', 1943, 1, '-Werror=return-type', 'pb_broken'],
      ],
    );
    assert.equal(errors[0]!.quote, ' 1942 |         return pb_nosuch;\n      |                ^~~~~~~~~');
    assert.deepEqual(r.compiled, ['kernel/exit.o']);
    assert.equal(r.makeErrors[0]!.target, 'kernel/exit.o');
  });
});

describe('newWarnings', () => {
  const warn = (file: string, line: number, message: string, flag = '-Wunused-variable') =>
    parseBuildLog(`${file}:${line}:5: warning: ${message} [${flag}]`).diagnostics[0]!;

  it('ignores line numbers: a base warning that moved is not new, an added one is', () => {
    const base = [warn('kernel/exit.c', 10, "unused variable 'a'")];
    const build = [warn('kernel/exit.c', 14, "unused variable 'a'"), warn('kernel/exit.c', 20, "unused variable 'b'")];
    const fresh = newWarnings(build, base.map(warningKey));
    assert.deepEqual(
      fresh.map((d) => d.message),
      ["unused variable 'b'"],
    );
  });

  it('counts repeats: a header warning seen once per includer in the base is not new; reports a new one once', () => {
    const h = warn('include/linux/x.h', 3, "'f' defined but not used", '-Wunused-function');
    assert.deepEqual(newWarnings([h, h], [warningKey(h), warningKey(h)]), []);
    assert.equal(newWarnings([h, h, h], [warningKey(h)]).length, 1);
  });
});

// The test-description validator: students' LAVA test definitions (test/fixtures/testdefs) in, line + reason out.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { compilePythonRegex, testCasesIn, validateTestDefinition } from '../../src/pipeline/lava-testdef.js';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/testdefs');
const read = (name: string) => fs.readFileSync(path.join(DIR, name), 'utf8');

describe('validateTestDefinition', () => {
  const valid: [string, string[]][] = [
    ['valid-proctree.yaml', ['proctree-exists', 'proctree-self', 'proctree-init', 'proctree-efault']],
    ['valid-smoke.yaml', ['kernel-version', 'proc-mounted', 'sysfs-mounted', 'dmesg-no-oops']],
    ['valid-parse.yaml', ['dummy-returns-zero', 'dummy-counts-calls']],
  ];
  for (const [file, cases] of valid) {
    it(`accepts ${file} and lists the test cases it declares`, () => {
      const r = validateTestDefinition(read(file));
      assert.deepEqual(r.errors, []);
      assert.equal(r.ok, true);
      assert.deepEqual(r.testCases, cases);
    });
  }

  // [fixture, the first error's line, its message (a regex when the wording comes from a library)]
  const invalid: [string, number, string | RegExp][] = [
    ['invalid-format.yaml', 3, "metadata.format must be 'Lava-Test Test Definition 1.0', found 'Lava-Test 1.0'"],
    ['invalid-no-name.yaml', 1, 'metadata.name is missing'],
    ['invalid-name-space.yaml', 3, /^metadata\.name 'proc tree' must not contain white space/],
    ['invalid-description-bool.yaml', 4, 'metadata.description must be a non-empty string, found the boolean true (written yes; quote it to make it a string)'],
    ['invalid-no-run.yaml', 5, 'run is missing: steps: must be indented under run:'],
    ['invalid-empty-steps.yaml', 6, 'run.steps must list at least one command'],
    ['invalid-steps-string.yaml', 6, "run.steps must be a list of shell commands, found 'lava-test-case proctree-exists --shell true'"],
    ['invalid-unquoted-colon.yaml', 8, 'run.steps[2] must be a string, found a mapping (a command containing ": " must be quoted)'],
    ['invalid-tab.yaml', 4, /^YAML syntax error: Tabs are not allowed as indentation/],
    ['invalid-unclosed-quote.yaml', 4, /^YAML syntax error: .*quote.*: the quoted string opened on this line is never closed$/],
    ['invalid-duplicate-key.yaml', 8, "YAML syntax error: the key 'run' appears twice in the same mapping"],
    ['invalid-pattern.yaml', 9, 'parse.pattern does not compile: missing closing ): `^(?P<test_case_id>[\\w-]+)\\s+:\\s+(?P<result>PASS|FAIL$`'],
    ['invalid-pattern-groups.yaml', 9, 'parse.pattern must have the named groups (?P<test_case_id>…) and (?P<result>…); missing test_case_id'],
    ['invalid-list.yaml', 1, 'a test definition is a mapping with metadata: and run: keys, found a list'],
  ];
  for (const [file, line, message] of invalid) {
    it(`refuses ${file} at line ${line}`, () => {
      const r = validateTestDefinition(read(file));
      assert.equal(r.ok, false);
      const first = r.errors[0]!;
      assert.equal(first.line, line, JSON.stringify(r.errors));
      if (typeof message === 'string') assert.equal(first.message, message);
      else assert.match(first.message, message);
    });
  }

  it('covers every fixture in the folder', () => {
    const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(files, [...valid.map(([f]) => f), ...invalid.map(([f]) => f)].sort());
  });

  it('reports every mistake of a file, in line order, not only the first', () => {
    const r = validateTestDefinition(read('invalid-pattern-groups.yaml'));
    assert.deepEqual(
      r.errors.map((e) => e.line),
      [9, 12],
    );
    assert.equal(r.errors[1]!.message, "parse.fixupdict values must be one of pass, fail, skip, unknown, found 'failed'");
  });

  it('still lists the test cases of the good steps when another step is wrong', () => {
    assert.deepEqual(validateTestDefinition(read('invalid-unquoted-colon.yaml')).testCases, ['proctree-exists']);
  });

  it('reads YAML 1.1 as LAVA (PyYAML) does: an unquoted "no" is a boolean, so it is no name', () => {
    const r = validateTestDefinition('metadata:\n  format: Lava-Test Test Definition 1.0\n  name: no\n  description: x\nrun:\n  steps: [true]\n');
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.message]),
      [
        [3, 'metadata.name must be a non-empty string, found the boolean false (written no; quote it to make it a string)'],
        [6, 'run.steps[1] must be a string, found the boolean true (written true; quote it to make it a string)'],
      ],
    );
  });

  it('says a missing key is missing on the line of its parent', () => {
    const r = validateTestDefinition('# proctree\nmetadata:\n  name: proctree\n  description: x\nrun:\n  steps: [ls]\n');
    assert.deepEqual(r.errors, [{ line: 2, message: "metadata.format is missing: it must be 'Lava-Test Test Definition 1.0'" }]);
  });

  it('refuses an empty file and params that are not shell variables', () => {
    assert.equal(validateTestDefinition('').errors[0]!.message, 'a test definition is a mapping with metadata: and run: keys, found nothing');
    const r = validateTestDefinition(
      'metadata:\n  format: Lava-Test Test Definition 1.0\n  name: p\n  description: x\nparams:\n  MAX-DEPTH: 3\n  LIST: [1, 2]\nrun:\n  steps: [ls]\n',
    );
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.message]),
      [
        [6, "params: 'MAX-DEPTH' is not a valid shell variable name"],
        [7, 'params.LIST must be a single value, found a list'],
      ],
    );
  });
});

describe('testCasesIn', () => {
  const table: [string, string[]][] = [
    ['lava-test-case fork-count --result pass', ['fork-count']],
    ['lava-test-case proctree-self --shell ./proctree --pid $$', ['proctree-self']],
    ['test -e /proc/x && lava-test-case a --result pass || lava-test-case b --result fail', ['a', 'b']],
    ["lava-test-case 'two words' --result pass", ['two words']],
    ['lava-test-case "$name" --result pass', []],
    ['for t in a b; do lava-test-case $t --result pass; done', []],
    ['echo lava-test-case-like; mylava-test-case x', []],
    ['lava-test-set start group', []],
  ];
  for (const [script, names] of table) {
    it(`finds ${JSON.stringify(names)} in ${JSON.stringify(script)}`, () => assert.deepEqual(testCasesIn(script), names));
  }
});

describe('compilePythonRegex', () => {
  it("compiles Python's named groups and leading flags", () => {
    const c = compilePythonRegex('(?i)^(?P<test_case_id>\\w+) (?P<result>pass|fail)$');
    assert.ok('regex' in c);
    assert.deepEqual(c.groups, ['test_case_id', 'result']);
    assert.deepEqual({ ...(c.regex.exec('fork PASS') as RegExpExecArray).groups }, { test_case_id: 'fork', result: 'PASS' });
  });

  it('refuses back-references and look-arounds, which no linear-time engine runs', () => {
    for (const p of ['(?P<test_case_id>\\w+) (?P<result>\\w+) (?P=result)', '(?P<test_case_id>\\w+)(?= ok)']) {
      const c = compilePythonRegex(p);
      assert.ok('error' in c && c.error.startsWith('back-references and look-arounds are not supported'), p);
    }
  });

  it('matches a pattern that backtracks exponentially in linear time', { timeout: 5000 }, () => {
    const c = compilePythonRegex('^(?P<test_case_id>(a+)+)(?P<result>b)$');
    assert.ok('regex' in c);
    assert.equal(c.regex.exec(`${'a'.repeat(50_000)}c`), null);
  });

  it('reports why a pattern does not compile', () => {
    assert.deepEqual(compilePythonRegex('(?P<test_case_id>[a-'), { error: 'missing closing ]: `[a-`' });
  });
});

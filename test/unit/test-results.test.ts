// Test results from real consoles (test/fixtures/guest/consoles/) and the fixture definitions they ran: reported
// cases with their output, cases listed but never reported, parse: patterns, and the CSV and JUnit exports.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseCsv } from 'csv-parse/sync';
import { readDefinition } from '../../src/pipeline/guest/tests-disk.js';
import { readConsole } from '../../src/pipeline/rules/console-output.js';
import { collectResults, countResults, LAVA_CSV_COLUMNS, resultsCsv, resultsJunit, type TestCaseOutcome } from '../../src/pipeline/test-results.js';

const FIX = path.resolve(import.meta.dirname, '../fixtures/guest');
const reading = (name: string) => readConsole(fs.readFileSync(path.join(FIX, 'consoles', name), 'utf8'));
const defs = (...names: string[]) => names.map((n, i) => readDefinition({ name: n, path: path.join(FIX, 'definitions', `${n}.yaml`), origin: 'reference' }, i));
const byName = (cases: TestCaseOutcome[], name: string) => cases.find((c) => c.name === name)!;

describe('collectResults', () => {
  it('reports every case of a passing run, with its set, measurement, reference and parse: cases', () => {
    for (const arch of ['x86_64', 'arm64']) {
      const r = collectResults(reading(`${arch}-smoke.log`), defs('smoke'));
      assert.deepEqual(
        r.cases.map((c) => [c.suite, c.name, c.result]),
        [
          ['0_smoke', 'proc-mounted', 'pass'],
          ['0_smoke', 'greeting', 'pass'],
          ['0_smoke', 'module-loads', 'pass'],
          ['0_smoke', 'program-runs', 'pass'],
          ['0_smoke', 'boot-seconds', 'pass'],
          ['0_smoke', 'lava-docs', 'pass'],
          ['0_smoke', 'getpid-matches', 'pass'],
        ],
        arch,
      );
      const boot = byName(r.cases, 'boot-seconds');
      assert.deepEqual([boot.set, boot.measurement, boot.units], ['sizes', '1', 'seconds']);
      assert.ok(byName(r.cases, 'module-loads').tail.includes('pb_hello: loaded'), 'the output between STARTTC and ENDTC');
      assert.deepEqual(r.runs, [{ suite: '0_smoke', started: true, ended: true }]);
      assert.equal(countResults(r.cases).passed, 7);
    }
  });

  it('fails a case with its output, and the listed cases that never reported with the reason', () => {
    const r = collectResults(reading('x86_64-failing.log'), defs('failing'), { neverReported: () => 'run.sh stopped' });
    assert.deepEqual(
      r.cases.map((c) => [c.name, c.result, c.note]),
      [
        ['lists-missing', 'fail', null],
        ['still-runs', 'pass', null],
        ['after-false', 'fail', 'never reported: run.sh stopped'],
        ['ghost-case', 'fail', 'never reported: run.sh stopped'],
      ],
    );
    assert.deepEqual(byName(r.cases, 'lists-missing').tail, ['ls: /no/such/file: No such file or directory']);
    // What the run printed after its last signal, up to where /init said run.sh stopped: the failing step.
    assert.deepEqual(byName(r.cases, 'after-false').tail, ['+ false']);
    assert.deepEqual(r.runs, [{ suite: '0_failing', started: true, ended: false }]);
  });

  it('fails the cases a panic cut off; the one before it passed', () => {
    const r = collectResults(reading('arm64-panic.log'), defs('panic'));
    assert.deepEqual(
      r.cases.map((c) => [c.name, c.result]),
      [
        ['before-panic', 'pass'],
        ['load-panic', 'fail'],
        ['after-panic', 'fail'],
      ],
    );
    assert.ok(byName(r.cases, 'load-panic').tail.some((l) => l.startsWith('Kernel panic - not syncing: pb_panic')));
  });

  it('stops at lava-test-raise: the later definition never started', () => {
    const r = collectResults(reading('x86_64-raise-smoke.log'), defs('raise', 'smoke'));
    assert.deepEqual(r.raised?.message, 'proctree module did not load');
    assert.deepEqual(
      r.cases.filter((c) => c.suite === '0_raise').map((c) => [c.name, c.result]),
      [
        ['first', 'pass'],
        ['unreachable', 'fail'],
      ],
    );
    const smoke = r.cases.filter((c) => c.suite === '1_smoke');
    assert.equal(smoke.length, 5, 'the five cases smoke lists in its steps');
    assert.ok(smoke.every((c) => c.result === 'fail' && c.note === 'never reported: the definition never started'));
  });

  it('turns a result that is not pass/fail/skip/unknown into unknown, with a note', () => {
    const r = collectResults(readConsole('<LAVA_SIGNAL_STARTRUN 0_x 1_0>\n<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=odd RESULT=PASSED>\n'), []);
    assert.equal(r.cases[0]!.result, 'unknown');
    assert.match(r.cases[0]!.note!, /PASSED/);
  });
});

describe('resultsCsv', () => {
  const r = collectResults(reading('x86_64-failing.log'), defs('failing'));
  const csv = resultsCsv(42, [...r.cases, { suite: '0_failing', set: null, name: 'odd "name", here', result: 'skip', measurement: '2.5', units: 'ms', note: null, startLine: 0, endLine: 0, tail: [] }], '2026-01-01T00:00:00Z');

  it("has LAVA's columns, every field quoted, CRLF line ends", () => {
    const lines = csv.split('\r\n');
    assert.equal(lines[0], LAVA_CSV_COLUMNS.map((c) => `"${c}"`).join(','));
    assert.equal(lines.at(-1), '', 'ends with CRLF');
    assert.ok(lines.slice(1, -1).every((l) => l.startsWith('"42","0_failing","')));
  });

  it('reads back as the results, with None for no measurement as LAVA exports it', () => {
    const rows = parseCsv(csv, { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 5);
    assert.deepEqual(
      rows.map((x) => [x.name, x.result, x.measurement, x.unit]),
      [
        ['lists-missing', 'fail', 'None', ''],
        ['still-runs', 'pass', 'None', ''],
        ['after-false', 'fail', 'None', ''],
        ['ghost-case', 'fail', 'None', ''],
        ['odd "name", here', 'skip', '2.5', 'ms'],
      ],
    );
    assert.equal(rows[0]!.log_start_line, String(byName(r.cases, 'lists-missing').startLine));
    assert.equal(rows[0]!.metadata, "{'case': 'lists-missing', 'definition': '0_failing', 'result': 'fail'}");
  });
});

describe('resultsJunit', () => {
  it('writes one testsuite per definition, failures as <error> with their output, skips as <skipped>', () => {
    const cases: TestCaseOutcome[] = [
      { suite: '0_a', set: null, name: 'ok', result: 'pass', measurement: null, units: null, note: null, startLine: 0, endLine: 0, tail: [] },
      { suite: '0_a', set: 'grp', name: 'bad', result: 'fail', measurement: null, units: null, note: 'never reported: x', startLine: 3, endLine: 4, tail: ['a < b & "c"', 'bell\x07'] },
      { suite: '1_b', set: null, name: 'later', result: 'skip', measurement: null, units: null, note: null, startLine: 0, endLine: 0, tail: [] },
      { suite: '1_b', set: null, name: 'maybe', result: 'unknown', measurement: null, units: null, note: null, startLine: 0, endLine: 0, tail: [] },
    ];
    const xml = resultsJunit(cases);
    assert.match(xml, /^<\?xml version="1.0" encoding="utf-8"\?>\n<testsuites disabled="0" errors="1" failures="0" tests="4"/);
    assert.match(xml, /<testsuite disabled="0" errors="1" failures="0" name="0_a" skipped="0" tests="2" time="0">/);
    assert.match(xml, /<testsuite disabled="0" errors="0" failures="0" name="1_b" skipped="2" tests="2" time="0">/);
    assert.match(xml, /<testcase name="ok" classname="0_a"\/>/);
    assert.match(xml, /<testcase name="grp\/bad" classname="0_a">\n\t+<error type="error" message="failed">never reported: x\na &lt; b &amp; &quot;c&quot;\nbell<\/error>/);
    assert.match(xml, /<testcase name="later" classname="1_b">\n\t+<skipped type="skipped" message="skipped"\/>/);
    assert.match(xml, /<testcase name="maybe" classname="1_b">\n\t+<skipped type="skipped" message="unknown"\/>/);
    assert.equal((xml.match(/<testcase /g) ?? []).length, 4);
    assert.equal((xml.match(/<\/testsuite>/g) ?? []).length, 2);
  });
});

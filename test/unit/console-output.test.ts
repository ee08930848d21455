// The console rules: every pattern against the verbatim lines it was written for, and the reader on real serial
// consoles of TCG boots (test/fixtures/guest/consoles/, Linux 6.1.192 tinyconfig on x86_64 and arm64).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { crashLines, INIT_RULES, KERNEL_RULES, readConsole, SIGNAL_RULES, testCaseFields, type ConsoleRule } from '../../src/pipeline/rules/console-output.js';

const CONSOLES = path.resolve(import.meta.dirname, '../fixtures/guest/consoles');
const consoleOf = (name: string) => fs.readFileSync(path.join(CONSOLES, name), 'utf8');

describe('console rules', () => {
  const all: [string, ConsoleRule][] = [...Object.entries(SIGNAL_RULES), ...Object.entries(KERNEL_RULES), ...Object.entries(INIT_RULES)];
  for (const [key, rule] of all) {
    it(`${rule.id} matches each of its samples`, () => {
      assert.ok(rule.samples.length > 0, `${key} has no sample`);
      for (const s of rule.samples) assert.match(s, rule.pattern, `${rule.id} does not match ${JSON.stringify(s)}`);
    });
  }

  it('tells the kernel lines apart: a panic is not an oops, a WARNING is not a BUG', () => {
    const kinds = (l: string) => Object.values(KERNEL_RULES).filter((r) => r.pattern.test(l)).map((r) => r.id);
    assert.deepEqual(kinds('Kernel panic - not syncing: Fatal exception'), ['panic']);
    assert.deepEqual(kinds('Oops: 0002 [#1]'), ['oops']);
    assert.deepEqual(kinds('WARNING: CPU: 0 PID: 1321 at kernel/exit.c:670 do_exit+0x50/0xb20()'), ['warning']);
    assert.deepEqual(kinds('pb_hello: loaded'), []);
    assert.deepEqual(kinds('getpid-matches : PASS'), []);
  });

  it('reads the pairs of a TESTCASE signal in the order lava-test-case prints them', () => {
    assert.deepEqual(testCaseFields('TEST_CASE_ID=boot-seconds RESULT=pass UNITS=seconds MEASUREMENT=1'), {
      TEST_CASE_ID: 'boot-seconds',
      RESULT: 'pass',
      UNITS: 'seconds',
      MEASUREMENT: '1',
    });
    assert.deepEqual(testCaseFields('TEST_CASE_ID=x RESULT=fail'), { TEST_CASE_ID: 'x', RESULT: 'fail' });
  });
});

describe('readConsole', () => {
  it('finds the boot markers and every signal of a passing x86_64 run, SeaBIOS escapes and CRLF included', () => {
    const r = readConsole(consoleOf('x86_64-smoke.log'));
    assert.ok(r.marks.linuxVersion > 0, 'the banner shares its line with SeaBIOS escape sequences');
    assert.ok(r.marks.linuxVersion < r.marks.runInit && r.marks.runInit < r.marks.initUp && r.marks.initUp < r.marks.done && r.marks.done < r.marks.reboot);
    assert.equal(r.kernelRelease, '6.1.192+');
    assert.deepEqual(r.mounts, { '/dev/vda': '/mnt/modules', '/dev/vdb': '/tests' });
    assert.deepEqual(
      r.signals.map((s) => s.kind),
      ['startRun', ...Array(4).fill(['startTc', 'endTc', 'testCase']).flat(), 'testSetStart', 'testCase', 'testSetStop', 'testReference', 'endRun', 'runnerExit'],
    );
    assert.deepEqual(r.signals[0]!.args, ['0_smoke', '7_0']);
    assert.deepEqual(r.kernel, []);
    assert.ok(r.lines.every((l) => !l.includes('\r')));
  });

  it('sees the arm64 disks in the other order (virtio-mmio), and the same markers', () => {
    const r = readConsole(consoleOf('arm64-smoke.log'));
    assert.deepEqual(r.mounts, { '/dev/vda': '/tests', '/dev/vdb': '/mnt/modules' });
    assert.ok(r.marks.initUp > 0 && r.marks.done > 0);
    assert.equal(r.signals.filter((s) => s.kind === 'testCase').length, 5);
  });

  it('reads a module panic: the panic line and its message, no init end', () => {
    const r = readConsole(consoleOf('x86_64-panic.log'));
    const panic = r.kernel.find((e) => e.kind === 'panic')!;
    assert.equal(panic.detail, 'pb_panic: the proctree walk found a loop');
    assert.equal(r.marks.done, 0);
    const crash = crashLines(r)!;
    assert.equal(crash.from, panic.line);
    assert.match(crash.quote, /^Kernel panic - not syncing: pb_panic/);
  });

  it('quotes an x86_64 oops from its BUG line to the panic it turned into (oops=panic)', () => {
    const r = readConsole(consoleOf('x86_64-oops.log'));
    assert.deepEqual(
      r.kernel.map((e) => e.kind),
      ['bug', 'oops', 'panic'],
    );
    assert.equal(r.kernel[0]!.detail, 'BUG: kernel NULL pointer dereference, address: 0000000000000000');
    const crash = crashLines(r, 40)!;
    const lines = crash.quote.split('\n');
    assert.equal(lines[0], 'BUG: kernel NULL pointer dereference, address: 0000000000000000');
    assert.ok(lines.includes('Oops: 0002 [#1]'));
    assert.ok(lines.length <= 40);
    assert.ok(lines.some((l) => l.startsWith('Kernel panic - not syncing: Fatal exception')), 'the tail keeps the panic line');
  });

  it('quotes a crash after 200,000 BUG lines from the first one, in linear time', { timeout: 5000 }, () => {
    const r = readConsole(`${'BUG: spam\n'.repeat(200_000)}Kernel panic - not syncing: Fatal exception\n`);
    const crash = crashLines(r, 40)!;
    assert.deepEqual([crash.from, crash.quote.split('\n')[0]], [1, 'BUG: spam']);
  });

  it('reads a line of 100,000 unclosed LAVA signals as none, in linear time', { timeout: 5000 }, () => {
    const r = readConsole(`${'<LAVA_SIGNAL_TESTCASE x '.repeat(100_000)}\n<LAVA_SIGNAL_ENDTC a<LAVA_SIGNAL_ENDTC b>\n`);
    assert.deepEqual(r.signals, [{ kind: 'endTc', line: 2, args: ['b'] }]);
  });

  it('reads the arm64 oops, which starts with "Unable to handle kernel"', () => {
    const r = readConsole(consoleOf('arm64-oops.log'));
    assert.deepEqual(
      r.kernel.map((e) => e.kind),
      ['bug', 'oops', 'panic'],
    );
    assert.equal(r.kernel.find((e) => e.kind === 'panic')!.detail, 'Oops: Fatal exception');
    assert.match(crashLines(r)!.quote, /^Unable to handle kernel NULL pointer dereference/);
  });

  it('reads an initramfs without /bin/sh: no init, then the panic', () => {
    const r = readConsole(consoleOf('x86_64-no-sh.log'));
    assert.deepEqual(
      r.kernel.map((e) => [e.kind, e.detail]),
      [
        ['noInit', '/init (error -2)'],
        // Both read from the same panic line.
        ['panic', 'No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.'],
        ['noInit', 'no working init'],
      ],
    );
    assert.equal(r.marks.initUp, 0);
  });

  it('reads an initramfs whose busybox is for another arch (error -8, ENOEXEC)', () => {
    const r = readConsole(consoleOf('x86_64-arm64-busybox.log'));
    assert.equal(r.kernel.find((e) => e.kind === 'noInit')!.detail, '/init (error -8)');
    assert.ok(r.kernel.some((e) => e.kind === 'panic'));
  });

  it('reads an /init that exits: the exit code and the end of the panic report', () => {
    const r = readConsole(consoleOf('x86_64-init-exits-panic0.log'));
    assert.deepEqual(r.kernel.find((e) => e.kind === 'killInit')!.detail, '0x00000300');
    const crash = crashLines(r)!;
    assert.match(crash.quote.split('\n').at(-1)!, /^---\[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000300 \]---/);
  });

  it('notes a run.sh that stopped at a failing step', () => {
    const r = readConsole(consoleOf('x86_64-failing.log'));
    assert.equal(r.runExits.get(0)?.code, 1);
    assert.ok(r.marks.done > 0);
  });

  it('finds two signals glued on one line, in order', () => {
    const r = readConsole('noise<LAVA_SIGNAL_ENDTC a><LAVA_SIGNAL_TESTCASE TEST_CASE_ID=a RESULT=pass>\n');
    assert.deepEqual(
      r.signals.map((s) => [s.kind, s.line]),
      [
        ['endTc', 1],
        ['testCase', 1],
      ],
    );
  });
});

// What a booted guest prints on its serial console and how we read it (STYLE rule 12): LAVA's signals (as
// lava_test_shell's helpers and run.sh print them, notes/lava.md), the kernel's panic, oops, BUG and WARNING lines
// (Linux 6.1), and the markers of patchbay's own /init (templates/guest/init). Each rule carries the verbatim lines
// it was written for, from real TCG boots of Linux 6.1.192 tinyconfig kernels (x86_64 and arm64) by the test step
// and test/integration/pipeline-qemu.test.ts. tinyconfig has CONFIG_BUG off (no WARN or BUG() output): those
// samples are quoted from kernel bug reports, with their source.
// Pure: the console text in, events with line numbers out.
import { isSpace, trimEndWhere } from '../../text.js';

export interface ConsoleRule {
  id: string;
  /** The verbatim line(s) this pattern was written for. */
  samples: string[];
  pattern: RegExp;
  meaning: string;
}

/**
 * LAVA's signals. The dispatcher's own regex is `<LAVA_SIGNAL_(\S+) ([^>]+)>` (lava_dispatcher/actions/test/shell.py),
 * matched anywhere in the stream, so a signal glued to other output on the same line still counts. Ours also keep
 * `<` out of the fields: a field then ends at the next signal, so a line of many unclosed `<LAVA_SIGNAL_…` is read
 * in linear time (with `[^>]+`, each of them rescanned the rest of the line).
 */
export const SIGNAL_RULES = {
  startRun: {
    id: 'lava-startrun',
    samples: ['<LAVA_SIGNAL_STARTRUN 0_smoke 7_0>'],
    pattern: /<LAVA_SIGNAL_STARTRUN ([^\s<>]+) ([^<>]+)>/,
    meaning: 'a test definition starts: its TESTRUN_ID (index_name) and UUID',
  },
  endRun: {
    id: 'lava-endrun',
    samples: ['<LAVA_SIGNAL_ENDRUN 0_smoke 7_0>'],
    pattern: /<LAVA_SIGNAL_ENDRUN ([^\s<>]+) ([^<>]+)>/,
    meaning: 'the definition ran all its steps (missing when a step failed under run.sh\'s set -e)',
  },
  startTc: {
    id: 'lava-starttc',
    samples: ['<LAVA_SIGNAL_STARTTC proc-mounted>'],
    pattern: /<LAVA_SIGNAL_STARTTC ([^<>]+)>/,
    meaning: 'lava-test-case NAME --shell: the command starts; its output follows',
  },
  endTc: {
    id: 'lava-endtc',
    samples: ['<LAVA_SIGNAL_ENDTC proc-mounted>'],
    pattern: /<LAVA_SIGNAL_ENDTC ([^<>]+)>/,
    meaning: 'the --shell command ended; its TESTCASE follows',
  },
  testCase: {
    id: 'lava-testcase',
    samples: [
      '<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=proc-mounted RESULT=pass>',
      '<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=boot-seconds RESULT=pass UNITS=seconds MEASUREMENT=1>',
    ],
    pattern: /<LAVA_SIGNAL_TESTCASE ([^<>]+)>/,
    meaning: 'a result: KEY=value pairs (TEST_CASE_ID, RESULT, UNITS, MEASUREMENT) in the order lava-test-case prints them',
  },
  testSetStart: {
    id: 'lava-testset-start',
    samples: ['<LAVA_SIGNAL_TESTSET START sizes>'],
    pattern: /<LAVA_SIGNAL_TESTSET START ([^<>]+)>/,
    meaning: 'the test cases that follow belong to this set',
  },
  testSetStop: {
    id: 'lava-testset-stop',
    samples: ['<LAVA_SIGNAL_TESTSET STOP>'],
    pattern: /<LAVA_SIGNAL_TESTSET STOP>/,
    meaning: 'the current set ends',
  },
  testRaise: {
    id: 'lava-testraise',
    samples: ['<LAVA_SIGNAL_TESTRAISE proctree module did not load>'],
    pattern: /<LAVA_SIGNAL_TESTRAISE ([^<>]+)>/,
    meaning: 'lava-test-raise: the test stops the whole run (LAVA ends the job as incomplete)',
  },
  testReference: {
    id: 'lava-testreference',
    samples: ['<LAVA_SIGNAL_TESTREFERENCE lava-docs pass https://docs.lavasoftware.org/lava/writing-tests.html>'],
    pattern: /<LAVA_SIGNAL_TESTREFERENCE ([^\s<>]+) ([^\s<>]+) ([^<>]+)>/,
    meaning: 'lava-test-reference: a test case with a result and a URL',
  },
  runnerExit: {
    id: 'lava-runner-exit',
    samples: ['<LAVA_TEST_RUNNER EXIT>'],
    pattern: /<LAVA_TEST_RUNNER EXIT>/,
    meaning: 'every definition ran (lava-test-runner prints it last)',
  },
} satisfies Record<string, ConsoleRule>;

/** printk's optional prefixes: the time stamp (CONFIG_PRINTK_TIME) and the caller (CONFIG_PRINTK_CALLER). */
const TS = String.raw`(?:\[\s*[\d.]+\](?:\[\s*[CT]\d+\])?\s*)?`;

/** The kernel's lines (Linux 6.1). Unanchored where a line may follow test output that did not end in a newline. */
export const KERNEL_RULES = {
  linuxVersion: {
    id: 'linux-version',
    samples: [
      'Linux version 6.1.192+ (ci@ci) (gcc (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 2024-01-01',
      // x86_64: SeaBIOS leaves the cursor on its last line and resets the terminal, so the banner shares that line.
      'Booting from ROM..\x1bc\x1b[?7l\x1b[2JLinux version 6.1.192+ (ci@ci) (gcc (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 2024-01-01',
    ],
    pattern: /Linux version (\S+) \(/,
    meaning: 'the kernel started (the banner of init/main.c, its first console line)',
  },
  runInit: {
    id: 'run-init',
    samples: ['Run /init as init process'],
    pattern: new RegExp(`^${TS}Run (\\S+) as init process`),
    meaning: 'the kernel hands over to the initramfs /init',
  },
  panic: {
    id: 'panic',
    samples: [
      'Kernel panic - not syncing: pb_panic: the proctree walk found a loop',
      'Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000300',
      'Kernel panic - not syncing: Fatal exception',
      'Kernel panic - not syncing: Oops: Fatal exception',
      'Kernel panic - not syncing: No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.',
    ],
    // To the end of the line; no `$`, which a line break could make fail after the rest was scanned, at each match.
    pattern: /Kernel panic - not syncing: (.*)/,
    meaning: 'the kernel panicked: the run ends here (panic=-1 makes QEMU exit)',
  },
  panicEnd: {
    id: 'panic-end',
    // With panic=-1 the kernel restarts before printing it; seen with panic=0 (x86_64, /init exiting).
    samples: ['---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000300 ]---'],
    // No brackets in the message: each start scans at most to the next `[` (`.*` rescanned the line from every start).
    pattern: /---\[ end Kernel panic - not syncing: ([^[\]]*) \]---/,
    meaning: 'the last line of a panic report',
  },
  killInit: {
    id: 'kill-init',
    samples: ['Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000300'],
    pattern: /Attempted to kill init! exitcode=(0x[0-9a-f]+)/,
    meaning: '/init exited or was killed: exit code (high byte) or signal (low byte)',
  },
  noInit: {
    id: 'no-init',
    samples: [
      'Failed to execute /init (error -2)',
      // An arm64 busybox in an x86_64 initramfs: ENOEXEC.
      'Failed to execute /init (error -8)',
      'Kernel panic - not syncing: No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.',
    ],
    pattern: /Failed to execute (\S+) \(error (-?\d+)\)|No working init found/,
    meaning: 'the initramfs has no runnable /init (missing /bin/sh, wrong arch busybox…)',
  },
  oops: {
    id: 'oops',
    samples: [
      'Oops: 0002 [#1]',
      'Internal error: Oops: 0000000096000046 [#1] SMP',
      // github.com/beagleboard/linux/issues/89 and raspberrypi/linux/issues/600 (32-bit arm):
      '[48816.076047] Internal error: Oops - BUG: 0 [#7] PREEMPT SMP THUMB2',
      '[ 7846.595177] Internal error: Oops - undefined instruction: 0 [#1] PREEMPT ARM',
    ],
    pattern: /(?:^|\s|\])(?:Internal error: )?Oops(?: - [\w ]+)?: ([0-9a-fx]+ )?\[#(\d+)\]/,
    meaning: 'a kernel oops (x86: "Oops: <code> [#n]", arm64: "Internal error: Oops: <esr> [#n]")',
  },
  bug: {
    id: 'bug',
    samples: [
      'BUG: kernel NULL pointer dereference, address: 0000000000000000',
      // github.com/beagleboard/linux/issues/89, lf-edge/eve/pull/2653, ssrg-vt/popcorn-kernel/issues/17:
      '[48816.076042] kernel BUG at kernel/sched/core.c:2734!',
      '[  129.338433][    C1] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [002-logging:310]',
      'BUG: unable to handle kernel paging request at ffffffffffffffd8',
    ],
    pattern: /(?:^|\s|\])(?:kernel BUG at (\S+)!$|BUG: (.+))/,
    meaning: 'a kernel BUG report (an oops follows)',
  },
  unableToHandle: {
    id: 'unable-to-handle',
    samples: ['Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000'],
    pattern: /Unable to handle kernel (.+)/,
    meaning: 'arm64: a bad kernel memory access (an "Internal error: Oops" follows)',
  },
  warning: {
    id: 'warning',
    // github.com/ssrg-vt/popcorn-kernel/issues/17 (a 4.x kernel: 6.1 prints the same words without the "()").
    samples: ['WARNING: CPU: 0 PID: 1321 at kernel/exit.c:670 do_exit+0x50/0xb20()'],
    pattern: new RegExp(`^${TS}WARNING: CPU: \\d+ PID: \\d+ at (\\S+) (.*)$`),
    meaning: 'WARN() fired: the kernel goes on, the report quotes it',
  },
  traceEnd: {
    id: 'trace-end',
    samples: ['---[ end trace 0000000000000000 ]---'],
    pattern: /---\[ end trace [0-9a-f]+ \]---/,
    meaning: 'the end of an oops or WARNING report',
  },
  reboot: {
    id: 'reboot',
    samples: ['reboot: Restarting system', 'reboot: System halted'],
    pattern: new RegExp(`^${TS}reboot: (Restarting system|System halted|Power down)`),
    meaning: 'the guest is going down (after /init ran reboot -f, QEMU exits because of -no-reboot)',
  },
} satisfies Record<string, ConsoleRule>;

/** patchbay's /init (templates/guest/init). */
export const INIT_RULES = {
  initUp: {
    id: 'init-up',
    samples: ['patchbay: init up, kernel 6.1.192+ x86_64, uptime 0.84s', 'patchbay: init up, kernel 6.1.192+ aarch64, uptime 0.78s'],
    pattern: /^patchbay: init up, kernel (\S+) (\S+), uptime ([\d.]+)s/,
    meaning: 'our /init runs: the kernel booted and the initramfs is good',
  },
  mounted: {
    id: 'mounted',
    samples: ['patchbay: /dev/vda mounted on /mnt/modules', 'patchbay: /dev/vdb mounted on /tests'],
    pattern: /^patchbay: (\S+) mounted on (\S+)/,
    meaning: 'a disk was recognised and mounted',
  },
  runExit: {
    id: 'run-exit',
    samples: ['patchbay: 000: run.sh exited with code 1'],
    pattern: /^patchbay: (\d+): run\.sh exited with code (\d+)/,
    meaning: 'a definition\'s run.sh stopped early: a step failed under set -e',
  },
  done: {
    id: 'done',
    samples: ['patchbay: done, uptime 0.95s'],
    pattern: /^patchbay: done, uptime ([\d.]+)s/,
    meaning: 'every definition ran; reboot -f follows',
  },
} satisfies Record<string, ConsoleRule>;

export type SignalKind = 'startRun' | 'endRun' | 'startTc' | 'endTc' | 'testCase' | 'testSetStart' | 'testSetStop' | 'testRaise' | 'testReference' | 'runnerExit';

export interface Signal {
  kind: SignalKind;
  /** 1-based console line. */
  line: number;
  /** The captured fields: startRun [id, uuid], testCase [raw pairs], testReference [name, result, url], others [arg]. */
  args: string[];
}

export interface KernelEvent {
  kind: 'panic' | 'oops' | 'bug' | 'warning' | 'noInit' | 'killInit';
  line: number;
  /** The line as printed (time stamp included). */
  text: string;
  /** The panic message, the BUG text, the WARNING location, the init exit code… */
  detail: string;
}

export interface ConsoleReading {
  /** The console split into lines, CRs removed (line N is lines[N-1]). */
  lines: string[];
  signals: Signal[];
  kernel: KernelEvent[];
  /** Line of the kernel banner, of "Run /init", of our init's first line, of its last line, of reboot: (0 = never). */
  marks: { linuxVersion: number; runInit: number; initUp: number; done: number; reboot: number };
  kernelRelease: string | null;
  /** Disks our init mounted: device → mount point. */
  mounts: Record<string, string>;
  /** run.sh files that stopped early: definition index → exit code and the line saying so. */
  runExits: Map<number, { code: number; line: number }>;
}

const SIGNAL_ORDER: [SignalKind, RegExp][] = (Object.keys(SIGNAL_RULES) as SignalKind[]).map((k) => [k, SIGNAL_RULES[k].pattern]);

/** Reads the whole console: every signal and kernel event with its line, and the boot markers. */
export function readConsole(text: string): ConsoleReading {
  const lines = text.replace(/\r/g, '').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const reading: ConsoleReading = {
    lines,
    signals: [],
    kernel: [],
    marks: { linuxVersion: 0, runInit: 0, initUp: 0, done: 0, reboot: 0 },
    kernelRelease: null,
    mounts: {},
    runExits: new Map(),
  };
  const first = (key: keyof ConsoleReading['marks'], n: number) => {
    if (!reading.marks[key]) reading.marks[key] = n;
  };
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[@-Z\\-_a-z]/g, '');
    if (line.includes('<LAVA_')) {
      // Several signals may share a line; take them in the order they appear. A signal's fields hold no < or >, so
      // each is one `<LAVA_…>` span of the line, which the rules are then matched on.
      for (const span of line.matchAll(/<LAVA_[^<>]*>/g)) {
        for (const [kind, re] of SIGNAL_ORDER) {
          const m = re.exec(span[0]);
          if (m) reading.signals.push({ kind, line: n, args: m.slice(1).map((a) => a ?? '') });
        }
      }
    }
    let m: RegExpExecArray | null;
    if ((m = KERNEL_RULES.linuxVersion.pattern.exec(line))) {
      first('linuxVersion', n);
      reading.kernelRelease ??= m[1]!;
    }
    if (KERNEL_RULES.runInit.pattern.test(line)) first('runInit', n);
    if (KERNEL_RULES.reboot.pattern.test(line)) first('reboot', n);
    if ((m = KERNEL_RULES.panic.pattern.exec(line))) reading.kernel.push({ kind: 'panic', line: n, text: raw, detail: m[1]!.trim() });
    if ((m = KERNEL_RULES.killInit.pattern.exec(line))) reading.kernel.push({ kind: 'killInit', line: n, text: raw, detail: m[1]! });
    if ((m = KERNEL_RULES.noInit.pattern.exec(line))) reading.kernel.push({ kind: 'noInit', line: n, text: raw, detail: m[1] ? `${m[1]} (error ${m[2]})` : 'no working init' });
    if ((m = KERNEL_RULES.oops.pattern.exec(line))) reading.kernel.push({ kind: 'oops', line: n, text: raw, detail: line.slice(line.indexOf('Oops')).trim() });
    if ((m = KERNEL_RULES.bug.pattern.exec(line))) reading.kernel.push({ kind: 'bug', line: n, text: raw, detail: m[1] ? `kernel BUG at ${m[1]}` : `BUG: ${m[2]!}` });
    else if ((m = KERNEL_RULES.unableToHandle.pattern.exec(line))) reading.kernel.push({ kind: 'bug', line: n, text: raw, detail: `Unable to handle kernel ${m[1]!}` });
    if ((m = KERNEL_RULES.warning.pattern.exec(line))) reading.kernel.push({ kind: 'warning', line: n, text: raw, detail: `${m[1]} ${m[2]}` });
    if ((m = INIT_RULES.initUp.pattern.exec(line))) {
      first('initUp', n);
      reading.kernelRelease = m[1]!;
    }
    if (INIT_RULES.done.pattern.test(line)) first('done', n);
    if ((m = INIT_RULES.mounted.pattern.exec(line))) reading.mounts[m[1]!] = m[2]!;
    if ((m = INIT_RULES.runExit.pattern.exec(line))) reading.runExits.set(Number(m[1]), { code: Number(m[2]), line: n });
  });
  return reading;
}

/**
 * `TEST_CASE_ID=x RESULT=pass UNITS=s MEASUREMENT=1` → its pairs (a value runs to the whitespace before the next
 * ` KEY=`). The keys are found first, then the values cut between them: a lazy value with a `\s+KEY=` lookahead
 * rescanned every run of spaces from each of its characters.
 */
export function testCaseFields(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = [...raw.matchAll(/(?<=^|\s)([A-Z_]+)=/g)];
  keys.forEach((k, i) => {
    const next = keys[i + 1];
    const value = raw.slice(k.index + k[0].length, next ? next.index : raw.length);
    out[k[1]!] = next ? trimEndWhere(value, isSpace) : value;
  });
  return out;
}

/**
 * The lines of a crash report to quote: from the first oops/BUG line before the panic (or the panic line itself)
 * to the panic's end marker, at most `max` lines (the head, then the last lines).
 */
export function crashLines(reading: ConsoleReading, max = 40): { from: number; to: number; quote: string } | null {
  const fatal = reading.kernel.find((e) => e.kind === 'panic') ?? reading.kernel.find((e) => e.kind === 'oops' || e.kind === 'bug');
  if (!fatal) return null;
  const before = reading.kernel.filter((e) => (e.kind === 'oops' || e.kind === 'bug' || e.kind === 'warning') && e.line <= fatal.line);
  // reduce, not Math.min(...): a console of 200,000 BUG lines would overflow the stack with the spread.
  let from = before.filter((e) => e.kind !== 'warning').reduce((a, e) => Math.min(a, e.line), fatal.line);
  // A BUG line is printed just before its oops; begin at the BUG when it is right above.
  from = Math.max(1, from);
  let to = fatal.line;
  for (let i = fatal.line; i <= reading.lines.length && i < fatal.line + 200; i++) {
    const l = reading.lines[i - 1]!;
    if (KERNEL_RULES.panicEnd.pattern.test(l) || (fatal.kind !== 'panic' && KERNEL_RULES.traceEnd.pattern.test(l))) {
      to = i;
      break;
    }
    to = i;
    if (fatal.kind === 'panic' && i > fatal.line + 60) break;
  }
  let picked = reading.lines.slice(from - 1, to);
  if (picked.length > max) {
    const tail = Math.min(8, Math.floor(max / 4));
    picked = [...picked.slice(0, max - tail - 1), `[… ${picked.length - max + 1} lines …]`, ...picked.slice(-tail)];
  }
  return { from, to, quote: picked.join('\n') };
}

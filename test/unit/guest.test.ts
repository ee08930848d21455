// The guest's pieces that need no QEMU: the newc cpio writer (checked with GNU cpio itself), the ELF check of
// busybox, the initramfs contents, LAVA's run.sh for a definition, and the QEMU command line per arch.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ELF_MACHINE, elfInfo } from '../../src/pipeline/guest/busybox.js';
import { readCpio, writeCpio } from '../../src/pipeline/guest/cpio.js';
import { initramfsEntries, LAVA_HELPERS } from '../../src/pipeline/guest/initramfs.js';
import { qemuCommand, shellLine } from '../../src/pipeline/guest/qemu.js';
import { readDefinition, runScript } from '../../src/pipeline/guest/tests-disk.js';
import { TOOLCHAINS } from '../../src/pipeline/toolchains.js';
import { tempDir } from '../helpers/dirs.js';

const FIX = path.resolve(import.meta.dirname, '../fixtures/guest');

describe('writeCpio', () => {
  const archive = writeCpio([
    { type: 'dir', path: '/dev' },
    { type: 'char', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/hello', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'empty', data: Buffer.alloc(0) },
  ]);

  it('writes what GNU cpio lists: types, modes, device numbers, symlink targets', () => {
    const listing = execFileSync('cpio', ['-itv', '--quiet'], { input: archive }).toString().trim().split('\n');
    const brief = listing.map((l) => `${l.split(/\s+/)[0]} ${/ (\S+(?: -> \S+)?)$/.exec(l)![1]}`);
    assert.deepEqual(brief, ['drwxr-xr-x dev', 'crw------- dev/console', 'drwxr-xr-x bin', '-rwxr-xr-x bin/hello', 'lrwxrwxrwx bin/sh -> busybox', '-rw-r--r-- empty']);
    assert.match(listing[1]!, /\s5,\s+1\s/, 'the console is char device 5,1');
  });

  it('reads back byte for byte, every record aligned to 4 bytes, ending with the trailer', () => {
    const members = readCpio(archive);
    assert.deepEqual(
      members.map((m) => m.name),
      ['dev', 'dev/console', 'bin', 'bin/hello', 'bin/sh', 'empty'],
    );
    assert.equal(members[3]!.data.toString(), '#!/bin/sh\necho hi\n');
    assert.equal(members[4]!.data.toString(), 'busybox');
    assert.equal(archive.length % 4, 0);
    assert.ok(archive.includes(Buffer.from('TRAILER!!!\0')));
  });

  it('refuses a path that climbs out of the root', () => {
    assert.throws(() => writeCpio([{ type: 'dir', path: '../etc' }]), /bad path/);
  });
});

describe('elfInfo', () => {
  it("knows the host's static busybox for x86_64 and a dynamic binary when it sees one", { skip: !fs.existsSync('/bin/busybox') }, () => {
    const bb = elfInfo(fs.readFileSync('/bin/busybox'));
    assert.deepEqual(bb && [bb.machine, bb.bits], [ELF_MACHINE.x86_64, 64]);
    assert.equal(bb!.static, true);
    const dyn = elfInfo(fs.readFileSync(process.execPath).subarray(0, 1 << 16))!;
    assert.equal(dyn.static, false);
    assert.equal(elfInfo(Buffer.from('#!/bin/sh\n'.padEnd(64))), null);
  });
});

describe('initramfsEntries', () => {
  it('holds busybox, /bin/sh, /init, the console node and the LAVA helpers', () => {
    const entries = initramfsEntries(Buffer.from('fake busybox'));
    const paths = entries.map((e) => e.path);
    for (const p of ['bin/busybox', 'bin/sh', 'init', 'dev/console', 'dev/null', 'mnt/probe', 'mnt/modules', 'tests', ...LAVA_HELPERS.map((h) => `usr/bin/${h}`)]) {
      assert.ok(paths.includes(p), p);
    }
    // Parents come before their children.
    for (const [i, p] of paths.entries()) {
      const parent = path.dirname(p);
      if (parent !== '.') assert.ok(paths.indexOf(parent) < i, `${parent} before ${p}`);
    }
  });
});

describe('runScript', () => {
  it("writes LAVA's run.sh: parameters exported, set -e, STARTRUN, the steps as written, ENDRUN", () => {
    const d = readDefinition({ name: 'smoke', path: path.join(FIX, 'definitions/smoke.yaml'), origin: 'reference' }, 3);
    assert.equal(d.problem, null);
    const sh = runScript(d, '9_3').split('\n');
    assert.ok(sh.includes("export GREETING='hello guest'"));
    assert.deepEqual(sh.slice(sh.indexOf('set -e'), sh.indexOf('set -e') + 8), [
      'set -e',
      'set -x',
      'export TESTRUN_ID=3_smoke',
      'cd /tests/defs/003',
      "UUID='9_3'",
      'set +x',
      'echo "<LAVA_SIGNAL_STARTRUN $TESTRUN_ID $UUID>"',
      'set -x',
    ]);
    assert.ok(sh.includes('lava-test-case greeting --shell test "$GREETING" = "hello guest"'));
    assert.equal(sh.at(-2), 'echo "<LAVA_SIGNAL_ENDRUN $TESTRUN_ID $UUID>"');
    assert.deepEqual(d.expected, ['proc-mounted', 'greeting', 'module-loads', 'program-runs', 'boot-seconds']);
  });

  it('escapes $1-style parameters in --shell steps, as LAVA does, and quotes parameter values for sh', () => {
    const dir = tempDir();
    const file = path.join(dir, 'args.yaml');
    fs.writeFileSync(
      file,
      [
        'metadata: {format: Lava-Test Test Definition 1.0, name: args, description: "positional parameters"}',
        "params: {QUOTE: \"it's\", FLAG: yes}",
        'run:',
        '  steps:',
        "    - lava-test-case first-arg --shell sh -c 'test -n $1' x y",
        '    - echo $1',
      ].join('\n'),
    );
    const d = readDefinition({ name: 'args', path: file, origin: 'student' }, 0);
    const sh = runScript(d, 'u').split('\n');
    assert.ok(sh.includes("lava-test-case first-arg --shell sh -c 'test -n \\$1' x y"));
    assert.ok(sh.includes('echo $1'), 'only --shell/--cmd steps are escaped');
    assert.ok(sh.includes("export QUOTE='it'\\''s'"));
    assert.ok(sh.includes("export FLAG='True'"), 'YAML 1.1 yes is a boolean, written as Python would');
  });

  it('says why a definition cannot run', () => {
    const d = readDefinition({ name: 'bad', path: path.resolve(import.meta.dirname, '../fixtures/testdefs/invalid-no-run.yaml'), origin: 'student' }, 0);
    assert.match(d.problem!, /^invalid-no-run\.yaml:\d+: run is missing/);
  });
});

describe('qemuCommand', () => {
  it('boots x86_64 with virtio-pci disks, read-only, no network, no reboot, the console in a file', () => {
    const q = qemuCommand(TOOLCHAINS.x86_64!, { kernel: '/k/bzImage', initrd: '/k/initrd', disks: ['/d/modules.ext2', '/d/tests.ext2'], consoleFile: '/a/console.log' });
    assert.equal(q.cmd, 'qemu-system-x86_64');
    const line = shellLine(q.cmd, q.args);
    assert.match(line, / -no-reboot /);
    assert.match(line, / -nic none /);
    assert.match(line, / -serial file:\/a\/console\.log /);
    assert.match(line, / -append 'console=ttyS0 panic=-1 oops=panic' /);
    assert.match(line, / -drive file=\/d\/tests\.ext2,format=raw,if=none,id=disk1,readonly=on -device virtio-blk-pci,drive=disk1$/);
    assert.doesNotMatch(line, /enable-kvm|nographic/);
  });

  it('boots arm64 on the virt machine with virtio-mmio disks; the line for a person uses the terminal', () => {
    const q = qemuCommand(TOOLCHAINS.arm64!, { kernel: '/k/Image', initrd: '/k/initrd', disks: ['/d/tests.ext2'] });
    assert.deepEqual(q.args.slice(0, 4), ['-M', 'virt', '-cpu', 'cortex-a57']);
    assert.ok(q.args.includes('-nographic'));
    assert.ok(q.args.includes('virtio-blk-device,drive=disk0'));
    assert.ok(q.args.includes('console=ttyAMA0 panic=-1 oops=panic'));
  });
});

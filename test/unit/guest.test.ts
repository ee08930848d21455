// The guest's pieces that need no QEMU: the newc cpio writer (checked with GNU cpio itself), the ELF check of
// busybox, the private APT configuration busybox is fetched with and the error when none can be had, the initramfs
// contents, LAVA's run.sh for a definition, and the QEMU command line per arch.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BusyboxError,
  busyboxProblem,
  busyboxSuite,
  DEBIAN_KEYRING,
  ELF_MACHINE,
  elfInfo,
  guestBusybox,
  hostDebianSuite,
  privateAptFiles,
  suiteArchitectures,
} from '../../src/pipeline/guest/busybox.js';
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

describe('busyboxProblem', () => {
  it("accepts the host's static busybox for x86_64 only, and says why another arch's cannot run it", { skip: !fs.existsSync('/bin/busybox') }, () => {
    assert.equal(busyboxProblem('/bin/busybox', TOOLCHAINS.x86_64!), null);
    assert.match(busyboxProblem('/bin/busybox', TOOLCHAINS.riscv64!)!, /is for ELF machine 62, not riscv64 \(243\)$/);
    assert.match(busyboxProblem(process.execPath, TOOLCHAINS.x86_64!)!, /dynamically linked/);
    assert.match(busyboxProblem('/nonexistent/busybox', TOOLCHAINS.x86_64!)!, /cannot be read/);
  });
});

describe('private APT for busybox-static', () => {
  it('points every APT folder at its own directory, one arch, and one signed sources line', () => {
    const apt = privateAptFiles('/c/busybox/.riscv64-x/apt', { debianArch: 'riscv64', suite: 'trixie', mirror: 'http://deb.debian.org/debian', keyring: DEBIAN_KEYRING });
    assert.equal(apt.sourcesList, `deb [arch=riscv64 signed-by=${DEBIAN_KEYRING}] http://deb.debian.org/debian trixie main\n`);
    const conf = apt.aptConf.split('\n');
    for (const line of [
      'Dir::Etc "/c/busybox/.riscv64-x/apt/etc";',
      'Dir::Etc::parts "apt.conf.d";',
      'Dir::State "/c/busybox/.riscv64-x/apt/state";',
      'Dir::State::status "/c/busybox/.riscv64-x/apt/state/status";',
      'Dir::Cache "/c/busybox/.riscv64-x/apt/cache";',
      'APT::Architecture "riscv64";',
      'APT::Architectures { "riscv64"; };',
    ]) {
      assert.ok(conf.includes(line), line);
    }
    // Nothing in it names a system folder except the root every Dir:: is relative to.
    assert.deepEqual(conf.filter((l) => /"\/(etc|var|usr)/.test(l)), []);
  });

  it('keeps the host APT proxy and refuses values that would break out of the configuration', () => {
    const ok = privateAptFiles('/c/apt', { debianArch: 'armhf', suite: 'bookworm', mirror: 'http://m/debian', keyring: '/k.gpg', proxies: { 'Acquire::http::Proxy': 'http://proxy:3128' } });
    assert.ok(ok.aptConf.includes('Acquire::http::Proxy "http://proxy:3128";'));
    const bad = { debianArch: 'armhf', suite: 'bookworm', mirror: 'http://m/debian', keyring: '/k.gpg' };
    assert.throws(() => privateAptFiles('/c/apt', { ...bad, mirror: 'http://m/debian bookworm main\ndeb http://evil/' }), BusyboxError);
    assert.throws(() => privateAptFiles('/c/apt', { ...bad, suite: 'trixie main' }), BusyboxError);
    assert.throws(() => privateAptFiles('/c/ap"t', bad), BusyboxError);
    assert.throws(() => privateAptFiles('relative/apt', bad), BusyboxError);
    assert.throws(() => privateAptFiles('/c/apt', { ...bad, proxies: { 'Acquire::http::Proxy': 'x";\nDir "/' } }), BusyboxError);
  });

  it("takes the table's suite (trixie for riscv64), else the host's Debian release, else stable", () => {
    const dir = tempDir();
    const write = (name: string, text: string) => {
      fs.writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const bookworm = write('debian', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n');
    const ubuntu = write('ubuntu', 'ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n');
    assert.equal(hostDebianSuite(bookworm), 'bookworm');
    assert.equal(hostDebianSuite(ubuntu), null);
    assert.equal(hostDebianSuite(path.join(dir, 'none')), null);
    assert.equal(busyboxSuite(TOOLCHAINS.riscv64!, bookworm), 'trixie');
    assert.equal(busyboxSuite(TOOLCHAINS.arm!, bookworm), 'bookworm');
    assert.equal(busyboxSuite(TOOLCHAINS.arm!, ubuntu), 'stable');
  });

  describe('when no busybox can be had', () => {
    // A mirror that has nothing: APT's update fails on the missing Release file.
    let server: http.Server;
    let mirror: string;
    const requests: string[] = [];
    before(async () => {
      server = http.createServer((req, res) => {
        requests.push(req.url ?? '');
        res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;
    });
    after(() => server.close());

    it('is a BusyboxError naming the package and what was tried; a wrong-arch binary in the cache is not used', { skip: !fs.existsSync('/bin/busybox') || !fs.existsSync(DEBIAN_KEYRING) }, async () => {
      const cacheDir = tempDir();
      // An x86_64 busybox where the riscv64 one belongs.
      fs.mkdirSync(path.join(cacheDir, 'busybox/riscv64'), { recursive: true });
      fs.copyFileSync('/bin/busybox', path.join(cacheDir, 'busybox/riscv64/busybox'));
      const logPath = path.join(cacheDir, 'log');
      await assert.rejects(
        guestBusybox(TOOLCHAINS.riscv64!, { cacheDir, logPath, runId: 1, timeoutMs: 60_000, hostApt: false, mirror }),
        (e: Error) => {
          assert.ok(e instanceof BusyboxError);
          assert.match(e.message, new RegExp(`^no static busybox for the riscv64 guest \\(busybox-static:riscv64\\): Debian trixie \\(${mirror.replace(/[.]/g, '\\.')}\\): `));
          assert.match(e.message, /Release/);
          return true;
        },
      );
      assert.ok(requests.some((u) => u.startsWith('/debian/dists/trixie/')), requests.join(' '));
      // The private APT's folder is gone; the host's APT state was not touched (it was never named).
      assert.deepEqual(fs.readdirSync(path.join(cacheDir, 'busybox')), ['riscv64']);
      assert.match(fs.readFileSync(logPath, 'utf8'), /private APT for busybox-static:riscv64: deb \[arch=riscv64 signed-by=/);
    });
  });
});

describe('suiteArchitectures', () => {
  it("reads the Architectures line of a suite's Release file; [] for no such suite, null for no mirror", async () => {
    const server = http.createServer((req, res) => {
      if (req.url === '/debian/dists/trixie/Release') {
        res.writeHead(206, { 'content-type': 'text/plain' }).end('Origin: Debian\nSuite: stable\nCodename: trixie\nArchitectures: all amd64 arm64 armel armhf i386 ppc64el riscv64 s390x\nComponents: main\n');
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian/`;
      const archs = await suiteArchitectures(mirror, 'trixie');
      assert.ok(archs?.includes('riscv64') && archs.includes('ppc64el'), String(archs));
      assert.deepEqual(await suiteArchitectures(mirror, 'bookworm'), []);
    } finally {
      server.close();
    }
    assert.equal(await suiteArchitectures('http://127.0.0.1:9/debian', 'trixie', 2000), null);
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

  it('boots riscv64 on virt with OpenSBI as the firmware, i386 and arm and powerpc64 on their machines', () => {
    const line = (arch: string) => shellLine(...Object.values(qemuCommand(TOOLCHAINS[arch]!, { kernel: '/k/img', initrd: '/k/initrd', disks: ['/d/t.ext2'] })) as [string, string[]]);
    assert.match(line('riscv64'), /^qemu-system-riscv64 -M virt -m 256 .* -bios default -kernel \/k\/img .* -append 'console=ttyS0 panic=-1 oops=panic' .* -device virtio-blk-device,drive=disk0$/);
    assert.match(line('i386'), /^qemu-system-i386 -m 256 .* -append 'console=ttyS0 panic=-1 oops=panic' .* -device virtio-blk-pci,drive=disk0$/);
    assert.match(line('arm'), /^qemu-system-arm -M virt -cpu cortex-a15 .* -append 'console=ttyAMA0 panic=-1 oops=panic' .* -device virtio-blk-device,drive=disk0$/);
    assert.match(line('powerpc64'), /^qemu-system-ppc64 -M pseries .* -append 'console=hvc0 panic=-1 oops=panic' .* -device virtio-blk-pci,drive=disk0$/);
  });
});

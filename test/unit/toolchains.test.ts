// The toolchain table's shape (every arch the issue names, each entry complete and consistent) and the KVM probe.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { commonFragment, COMMON_FRAGMENT, kvmStatus, toolchainFor, TOOLCHAINS } from '../../src/pipeline/toolchains.js';
import { tempDir } from '../helpers/dirs.js';

const CONFIG_LINE = /^(CONFIG_[A-Za-z0-9_]+=.+|# CONFIG_[A-Za-z0-9_]+ is not set)$/;

describe('toolchain table', () => {
  it('builds at least x86_64, i386, arm64, arm, riscv64 and powerpc64, and boots x86_64, arm64 and riscv64', () => {
    for (const arch of ['x86_64', 'i386', 'arm64', 'arm', 'riscv64', 'powerpc64']) assert.ok(toolchainFor(arch), arch);
    for (const arch of ['x86_64', 'arm64', 'riscv64']) assert.ok(toolchainFor(arch)!.qemu, `${arch} boots`);
    assert.equal(toolchainFor('sparc'), null);
    assert.equal(toolchainFor('toString'), null);
  });

  for (const tc of Object.values(TOOLCHAINS)) {
    it(`${tc.arch}: a complete entry`, () => {
      assert.equal(TOOLCHAINS[tc.arch], tc);
      assert.match(tc.debPackage, /^(gcc|gcc-[a-z0-9_]+-linux-gnu(eabihf)?)$/);
      assert.ok(tc.crossCompile === '' || tc.crossCompile.endsWith('-'), 'CROSS_COMPILE ends in -');
      if (tc.crossCompile) assert.equal(tc.debPackage, `gcc-${tc.crossCompile.slice(0, -1)}`);
      assert.match(tc.kernelArch, /^[a-z0-9_]+$/);
      assert.ok(tc.image === 'vmlinux' || tc.image.startsWith('arch/'), tc.image);
      assert.ok(['amd64', 'i386', 'arm64', 'armhf', 'riscv64', 'ppc64el'].includes(tc.busyboxArch));
      for (const line of tc.baseFragment) assert.match(line, CONFIG_LINE);
      if (tc.qemu) {
        assert.match(tc.qemu.binary, /^qemu-system-/);
        assert.ok(tc.qemu.memoryMb >= 128);
        assert.match(tc.qemu.console, /^(ttyS0|ttyAMA0|hvc0)$/);
      }
    });
  }

  it('puts CONFIG_64BIT=y in the common fragment of 64-bit archs only', () => {
    assert.equal(commonFragment(toolchainFor('x86_64')!)[0], 'CONFIG_64BIT=y');
    assert.equal(commonFragment(toolchainFor('arm')!).includes('CONFIG_64BIT=y'), false);
    assert.equal(commonFragment(toolchainFor('i386')!).includes('CONFIG_64BIT=y'), false);
    for (const line of COMMON_FRAGMENT) assert.match(line, CONFIG_LINE);
    assert.ok(COMMON_FRAGMENT.includes('CONFIG_MODULES=y'));
  });
});

describe('kvmStatus', () => {
  const dir = tempDir();
  const dev = path.join(dir, 'kvm');
  const cpuinfo = (flags: string) => {
    const p = path.join(dir, `cpuinfo-${flags.length}`);
    fs.writeFileSync(p, `processor\t: 0\nflags\t\t: fpu ${flags} sse2\n\nprocessor\t: 1\nflags\t\t: fpu ${flags} sse2\n`);
    return p;
  };

  it('uses KVM only when /dev/kvm exists and the CPU has vmx or svm', () => {
    fs.writeFileSync(dev, '');
    assert.equal(kvmStatus(dev, cpuinfo('vmx')).usable, true);
    assert.equal(kvmStatus(dev, cpuinfo('svm lm')).usable, true);
    assert.equal(kvmStatus(path.join(dir, 'nokvm'), cpuinfo('svm')).usable, false);
  });

  it('says TCG for a paravirtual KVM without vmx/svm (kvm-pvm)', () => {
    const s = kvmStatus(dev, cpuinfo('hypervisor lm'));
    assert.equal(s.usable, false);
    assert.match(s.reason, /neither vmx nor svm/);
  });
});

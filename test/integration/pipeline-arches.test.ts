// Every arch of the toolchain table, for real. The build step builds tinyconfig + the table's fragments for each, with
// the demo course's options (test/helpers/kernel-build.ts: one worktree shared by all archs, one O= dir per arch kept
// under /tmp, the shared ccache; a cold build is 5–8 min on 2 cores, x86_64 and arm64 are hits of the demo course's
// builds, a rerun is a no-op make), and each arch that boots is booted in QEMU
// (TCG) by the test step with two definitions: one whose cases pass (the guest is the arch it claims, a module from
// the modules disk, a program cross-built with the tree's nolibc where nolibc has the arch) and one whose cases fail
// in three ways. Each case's result is checked.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ELF_MACHINE, elfInfo } from '../../src/pipeline/guest/busybox.js';
import { testStep } from '../../src/pipeline/steps/test.step.js';
import { commonFragment, gccOf, TOOLCHAINS, which, type Toolchain } from '../../src/pipeline/toolchains.js';
import type { TestContext } from '../../src/pipeline/types.js';
import { tempDir } from '../helpers/dirs.js';
import { asGuestKernel, modulesImage } from '../helpers/guest-kernel.js';
import { builtKernel, buildJob, kernelRepoAvailable, type BuiltKernel } from '../helpers/kernel-build.js';

const FIX = path.resolve(import.meta.dirname, '../fixtures/guest');
/** busybox downloads and initramfs archives, kept between runs like the step's real cache (shared with pipeline-qemu). */
const CACHE = path.join(os.tmpdir(), 'patchbay-test-guest-cache');
const BUILD_MS = 1_800_000;

/** What `uname -m` says in each arch's guest. */
const MACHINE: Record<string, string> = { x86_64: 'x86_64', i386: 'i686', arm64: 'aarch64', arm: 'armv7l', riscv64: 'riscv64', powerpc64: 'ppc64le' };

/** The first bytes each table image starts with, or has at a fixed offset (the boot protocols' magic numbers). */
function imageProblem(tc: Toolchain, file: string): string | null {
  const buf = fs.readFileSync(file).subarray(0, 4096);
  const at = (o: number, s: string) => buf.subarray(o, o + s.length).toString('latin1') === s;
  if (tc.image === 'vmlinux') {
    const elf = elfInfo(buf);
    return elf?.machine === ELF_MACHINE[tc.arch] ? null : `not an ELF vmlinux for ${tc.arch}`;
  }
  if (tc.image.endsWith('/bzImage')) return at(0x202, 'HdrS') ? null : 'no x86 boot header (HdrS)';
  if (tc.image.endsWith('/zImage')) return buf.readUInt32LE(0x24) === 0x016f2818 ? null : 'no zImage magic';
  if (tc.kernelArch === 'arm64') return at(56, 'ARM\x64') ? null : 'no arm64 Image magic';
  if (tc.kernelArch === 'riscv') return at(56, 'RSC\x05') ? null : 'no RISC-V Image magic';
  return `no check for ${tc.image}`;
}

/** A definition whose every case passes on `arch`; with the program cases only where nolibc has the arch. */
function passingDefinition(arch: string, withProgram: boolean): string {
  return [
    'metadata:',
    '  format: Lava-Test Test Definition 1.0',
    '  name: arch-smoke',
    `  description: "The ${arch} guest boots, is ${MACHINE[arch]}, loads a module and runs a test program"`,
    'run:',
    '  steps:',
    `    - lava-test-case uname-machine --shell test "$(uname -m)" = ${MACHINE[arch]}`,
    '    - lava-test-case module-loads --shell modprobe pb_hello',
    ...(withProgram
      ? [
          '    - lava-test-case program-runs --shell getpid-check',
          'parse:',
          `  pattern: '^(?P<test_case_id>[\\w-]+) : (?P<result>PASS|FAIL)$'`,
          '  fixupdict:',
          '    PASS: pass',
          '    FAIL: fail',
        ]
      : []),
    '',
  ].join('\n');
}

let runs = 0;

/** PATCHBAY_TEST_ARCHES: the arches to build and boot, comma-separated; unset, every arch of the table. */
const WANTED = process.env.PATCHBAY_TEST_ARCHES?.split(',').map((a) => a.trim()).filter(Boolean) ?? null;

/** Why this arch is not built here, or false. */
function skipReason(tc: Toolchain): string | false {
  if (!kernelRepoAvailable()) return 'no kernel repository (scripts/kernel-tree.sh)';
  if (WANTED && !WANTED.includes(tc.arch)) return `PATCHBAY_TEST_ARCHES=${WANTED.join(',')} leaves ${tc.arch} out`;
  if (!which(gccOf(tc))) return `${gccOf(tc)} is not installed (${tc.debPackage})`;
  return false;
}

for (const tc of Object.values(TOOLCHAINS)) {
  const skip = skipReason(tc);

  describe(`${tc.arch}: build and boot`, { skip }, () => {
    let k: BuiltKernel;
    const dirs: string[] = [];
    before(async () => {
      k = await builtKernel(tc.arch);
    }, { timeout: BUILD_MS });
    after(() => {
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    it(`builds tinyconfig + the table's fragments for ${tc.arch} with the build step; every fragment line survives`, (t) => {
      t.diagnostic(`${tc.arch}: ${k.result.outputs?.incremental ? 'warm tree' : `built in ${Math.round(Number(k.result.outputs?.baseBuildMs ?? 0) / 1000)} s`}`);
      assert.ok(['pass', 'warn'].includes(k.result.status), k.result.summary);
      assert.equal(k.image, path.join(path.dirname(k.image), path.basename(tc.image)));
      assert.equal(imageProblem(tc, k.image), null);
      const config = fs.readFileSync(path.join(k.objDir, '.config'), 'utf8').split('\n');
      assert.deepEqual(
        [...commonFragment(tc), ...tc.baseFragment].filter((l) => !config.includes(l)),
        [],
        'lines of the table that did not survive olddefconfig',
      );
    });

    if (!tc.qemu) return;
    const bootSkip = !which(tc.qemu.binary) ? `${tc.qemu.binary} is not installed` : false;
    it(`boots ${tc.arch} in QEMU (${tc.qemu.machine ?? 'pc'}) and reports each case of a passing and a failing definition`, { skip: bootSkip }, async (t) => {
      const dir = tempDir(`patchbay-arch-${tc.arch}-`);
      dirs.push(dir);
      const guest = asGuestKernel(k);
      const mods = path.join(dir, 'modules-src');
      fs.cpSync(path.join(FIX, 'modules'), mods, { recursive: true });
      const modules = await modulesImage(guest, mods, path.join(dir, 'modules.ext2'));
      const withProgram = fs.existsSync(path.join(k.worktree, `tools/include/nolibc/arch-${tc.nolibcArch}.h`));
      const smoke = path.join(dir, 'arch-smoke.yaml');
      fs.writeFileSync(smoke, passingDefinition(tc.arch, withProgram));

      const ctx: TestContext = {
        logPath: path.join(dir, 'test.log'),
        mirror: '',
        worktree: k.worktree,
        previous: {},
        timeoutMs: 180_000,
        build: { key: tc.arch, arch: tc.arch, base: 'tinyconfig', fragments: [], lava: true },
        kernelImage: k.image,
        modulesImage: modules,
        definitions: [
          { name: 'arch-smoke', path: smoke, origin: 'reference' },
          { name: 'failing', path: path.join(FIX, 'definitions/failing.yaml'), origin: 'student' },
        ],
        programsDir: withProgram ? path.join(FIX, 'programs') : null,
        artifactsDir: path.join(dir, 'artifacts'),
        cacheDir: CACHE,
      };
      const r = await testStep(buildJob(++runs), ctx);

      const passing = ['uname-machine', 'module-loads', ...(withProgram ? ['program-runs', 'getpid-matches'] : [])];
      // Sorted: the cases a parse pattern found and those that never reported come after the signalled ones.
      const sorted = (rows: string[][]) => rows.sort((a, b) => a.join('\0').localeCompare(b.join('\0')));
      const cases = (JSON.parse(String(r.outputs?.cases ?? '[]')) as { suite: string; name: string; result: string }[]).map((c) => [c.suite, c.name, c.result]);
      assert.deepEqual(
        sorted(cases),
        sorted([
          ...passing.map((n) => ['0_arch-smoke', n, 'pass']),
          ['1_failing', 'lists-missing', 'fail'],
          ['1_failing', 'still-runs', 'pass'],
          ['1_failing', 'after-false', 'fail'],
          ['1_failing', 'ghost-case', 'fail'],
        ]),
        `${r.status}: ${r.summary} (log ${ctx.logPath})`,
      );
      assert.equal(r.status, 'fail');
      assert.equal(r.summary, `${passing.length + 1}/${passing.length + 4} test cases passed on ${tc.arch}; failed: lists-missing, after-false, ghost-case`);
      t.diagnostic(`${tc.arch}: QEMU ran ${r.outputs!.bootMs} ms`);
      assert.equal(r.outputs!.accel, 'tcg');
      const consoleLog = fs.readFileSync(String(r.outputs!.console), 'utf8');
      assert.match(consoleLog, new RegExp(`patchbay: init up, kernel \\S+ ${MACHINE[tc.arch]}`));
      assert.match(consoleLog, /pb_hello: loaded/);
      // Where the guest's busybox came from; riscv64's from trixie through the private APT (Debian 12 has none).
      const busybox = /^busybox: (.+)$/m.exec(fs.readFileSync(ctx.logPath, 'utf8'))?.[1] ?? '';
      assert.match(busybox, tc.busyboxSuite ? new RegExp(`_${tc.busyboxArch}\\.deb from Debian ${tc.busyboxSuite} `) : /busybox/);
      assert.match(String(r.outputs!.qemuCommand), new RegExp(`^${tc.qemu!.binary} `));
    });

    it(`is our error, not the student's, when the tree's nolibc cannot build test programs for ${tc.arch}`, { skip: bootSkip }, async (t) => {
      if (fs.existsSync(path.join(k.worktree, `tools/include/nolibc/arch-${tc.nolibcArch}.h`))) return t.skip(`this tree's nolibc has ${tc.nolibcArch}`);
      const dir = tempDir(`patchbay-arch-${tc.arch}-`);
      dirs.push(dir);
      const r = await testStep(buildJob(++runs), {
        logPath: path.join(dir, 'test.log'),
        mirror: '',
        worktree: k.worktree,
        previous: {},
        timeoutMs: 60_000,
        build: { key: tc.arch, arch: tc.arch, base: 'tinyconfig', fragments: [], lava: true },
        kernelImage: k.image,
        modulesImage: null,
        definitions: [{ name: 'smoke', path: path.join(FIX, 'definitions/smoke.yaml'), origin: 'reference' }],
        programsDir: path.join(FIX, 'programs'),
        artifactsDir: path.join(dir, 'artifacts'),
        cacheDir: CACHE,
      });
      assert.equal(r.status, 'error');
      assert.equal(r.summary, `the tree's nolibc has no ${tc.nolibcArch} (tools/include/nolibc/arch-${tc.nolibcArch}.h is missing): the test programs cannot be built for ${tc.arch}`);
      assert.equal(r.outputs?.console, undefined, 'no boot');
    });
  });
}

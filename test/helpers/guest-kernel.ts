// Kernels to boot in tests, and a modules image built against them. guestKernel(arch) finds a built tinyconfig
// kernel (the table's fragments): $PATCHBAY_GUEST_KERNEL_<ARCH> (an O= dir), else /tmp/qemu-kernels/<arch>, else it
// builds one there from $PATCHBAY_KERNEL_SRC or /tmp/kernel-src (a checkout of the kernel repo; 2.5–5 min cold on 2
// cores, under a minute with a hot shared ccache), else it falls back to kernel-build.ts's builtKernel (the build
// step on its own worktree). modulesImage() builds out-of-tree modules against it (`make M=`, about 1 s) and packs
// them with the exported headers as the build step's modules image does: lib/modules/<release>/ + usr/include/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commonFragment, toolchainFor } from '../../src/pipeline/toolchains.js';
import { builtKernel, SHARED_CCACHE, sourceOfObjDir, type BuiltKernel } from './kernel-build.js';
import { runCommand } from './run-command.js';

export interface GuestKernel {
  arch: string;
  image: string;
  /** The O= directory (for `make M=` and headers_install). */
  objDir: string;
  /** The source tree the O= dir was configured from (has tools/include/nolibc). */
  source: string;
  release: string;
}

const SOURCE = process.env.PATCHBAY_KERNEL_SRC ?? '/tmp/kernel-src';

function makeEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LC_ALL: 'C',
    CCACHE_DIR: SHARED_CCACHE,
    CCACHE_BASEDIR: os.tmpdir(),
    CCACHE_NOHASHDIR: '1',
    CCACHE_SLOPPINESS: 'time_macros,include_file_mtime,include_file_ctime',
    KBUILD_BUILD_TIMESTAMP: '2024-01-01',
    KBUILD_BUILD_USER: 'ci',
    KBUILD_BUILD_HOST: 'ci',
  };
}

async function make(cwd: string, args: string[], timeoutMs = 1_200_000): Promise<string> {
  const r = await runCommand('make', args, { cwd, env: makeEnv(), timeoutMs });
  if (r.code !== 0) throw new Error(`make ${args.join(' ')} failed:\n${r.output.split('\n').slice(-30).join('\n')}`);
  return r.stdout;
}

const sourceOf = sourceOfObjDir;

/** A kernel the build step built (kernel-build.ts builtKernel) as a kernel to boot. */
export function asGuestKernel(k: BuiltKernel): GuestKernel {
  const release = fs.readFileSync(path.join(k.objDir, 'include/config/kernel.release'), 'utf8').trim();
  return { arch: k.arch, image: k.image, objDir: k.objDir, source: k.worktree, release };
}

export async function guestKernel(arch = 'x86_64'): Promise<GuestKernel> {
  const tc = toolchainFor(arch);
  if (!tc) throw new Error(`unknown arch ${arch}`);
  const fromEnv = process.env[`PATCHBAY_GUEST_KERNEL_${arch.toUpperCase()}`];
  const objDir = fromEnv ?? path.join('/tmp/qemu-kernels', arch);
  const image = path.join(objDir, tc.image);
  const release = () => fs.readFileSync(path.join(objDir, 'include/config/kernel.release'), 'utf8').trim();
  if (fs.existsSync(image) && sourceOf(objDir)) return { arch, image, objDir, source: sourceOf(objDir)!, release: release() };
  if (fromEnv) throw new Error(`$PATCHBAY_GUEST_KERNEL_${arch.toUpperCase()}=${fromEnv} holds no ${tc.image}`);

  if (!fs.existsSync(path.join(SOURCE, 'Makefile'))) {
    return asGuestKernel(await builtKernel(arch));
  }
  // tinyconfig + the table's fragments, merged as the build step does (fragment paths must be absolute).
  fs.mkdirSync(objDir, { recursive: true });
  const frag = path.join(objDir, 'patchbay-test.config');
  fs.writeFileSync(frag, [...commonFragment(tc), ...tc.baseFragment].join('\n') + '\n');
  const common = [`O=${objDir}`, `ARCH=${tc.kernelArch}`, `CROSS_COMPILE=${tc.crossCompile}`];
  await make(SOURCE, [...common, 'tinyconfig']);
  const merge = await runCommand('scripts/kconfig/merge_config.sh', ['-m', '-O', objDir, path.join(objDir, '.config'), frag], {
    cwd: SOURCE,
    env: { ...makeEnv(), ARCH: tc.kernelArch, CROSS_COMPILE: tc.crossCompile },
  });
  if (merge.code !== 0) throw new Error(`merge_config failed: ${merge.output}`);
  await make(SOURCE, [...common, 'olddefconfig']);
  await make(SOURCE, [...common, `CC=ccache ${tc.crossCompile}gcc`, 'HOSTCC=ccache gcc', `-j${os.cpus().length}`]);
  return { arch, image, objDir, source: SOURCE, release: release() };
}

/**
 * Builds the modules in `moduleDir` (a Kbuild file and .c files) against the kernel, and packs them with the
 * kernel's exported headers into an ext2 image: lib/modules/<release>/extra/*.ko with modules.dep, usr/include/.
 */
export async function modulesImage(k: GuestKernel, moduleDir: string, image: string): Promise<string> {
  const tc = toolchainFor(k.arch)!;
  const common = [`ARCH=${tc.kernelArch}`, `CROSS_COMPILE=${tc.crossCompile}`];
  await make(k.objDir, [...common, `M=${moduleDir}`, 'modules']);
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'patchbay-modules-'));
  try {
    const extra = path.join(stage, 'lib/modules', k.release, 'extra');
    fs.mkdirSync(extra, { recursive: true });
    for (const f of fs.readdirSync(moduleDir)) if (f.endsWith('.ko')) fs.copyFileSync(path.join(moduleDir, f), path.join(extra, f));
    const dep = await runCommand('depmod', ['-b', stage, k.release], { cwd: stage, env: process.env });
    if (dep.code !== 0) throw new Error(`depmod failed: ${dep.output}`);
    await make(k.objDir, [...common, `INSTALL_HDR_PATH=${path.join(stage, 'usr')}`, 'headers_install']);
    fs.rmSync(image, { force: true });
    const mk = await runCommand('mke2fs', ['-q', '-t', 'ext2', '-L', 'patchbay-modules', '-d', stage, image, '32M'], { cwd: stage, env: process.env });
    if (mk.code !== 0) throw new Error(`mke2fs failed: ${mk.output}`);
    return image;
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

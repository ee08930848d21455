// The architectures patchbay builds and boots, as ONE table (issue 6 §1): Debian's cross compiler package, make's
// ARCH and CROSS_COMPILE, where the kernel image lands in O=, how QEMU boots it, the Debian arch of the guest's
// busybox-static, and the config lines the arch needs on top of tinyconfig to boot (kernel-lab.md §2). Plus the
// probes `patchbay doctor` and the build step use: is the cross gcc installed (and which version), is QEMU there,
// does KVM really work.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface QemuSpec {
  /** qemu-system-… binary. */
  binary: string;
  machine: string | null;
  /** -cpu, or null for the machine's default. */
  cpu: string | null;
  /** The kernel's console= device. */
  console: string;
  /** The -device that attaches a `-drive if=none,id=…` as a virtio disk (the guest sees /dev/vda, /dev/vdb…). */
  blockDevice: 'virtio-blk-pci' | 'virtio-blk-device';
  extraArgs: string[];
  memoryMb: number;
}

export interface Toolchain {
  arch: string;
  /** Debian package of the compiler (the host's gcc for x86_64). */
  debPackage: string;
  /** make CROSS_COMPILE=; '' for the host. */
  crossCompile: string;
  /** make ARCH=. */
  kernelArch: string;
  /** The bootable image, relative to O=. */
  image: string;
  /** How QEMU boots it; null when we only build this arch. */
  qemu: QemuSpec | null;
  /** Debian architecture of busybox-static for the guest (busybox-static:<arch>). */
  busyboxArch: string;
  /**
   * The Debian suite to fetch that busybox from when the host's APT has none (guest/busybox.ts, a private APT
   * configuration); null: the host's own Debian release.
   */
  busyboxSuite: string | null;
  /**
   * The arch's header in the tree's nolibc (tools/include/nolibc/arch-<name>.h), which test programs are built with:
   * a tree whose nolibc lacks it cannot build them (Linux 6.1 has no powerpc; later trees do).
   */
  nolibcArch: string;
  /** Pointer size: CONFIG_64BIT=y goes into the common fragment only for 64-bit archs. */
  bits: 32 | 64;
  /** Config lines this arch needs on top of the common base fragment (serial console, virtio transport, …). */
  baseFragment: string[];
}

// Verified on the 2-core box (Debian 12, gcc 12.2, QEMU 7.2, Linux 6.1.192), tinyconfig + COMMON + the arch lines:
// every arch below builds with the build step and boots under TCG with busybox and the LAVA helpers
// (test/integration/pipeline-arches.test.ts; figures in docs/pipeline.md). QEMU from Debian's qemu-system-x86 (x86_64,
// i386), -arm (arm64, arm), -misc (riscv64, with OpenSBI from the opensbi package) and -ppc (powerpc64, SLOF).
export const TOOLCHAINS: Readonly<Record<string, Toolchain>> = {
  x86_64: {
    arch: 'x86_64',
    debPackage: 'gcc',
    crossCompile: '',
    kernelArch: 'x86_64',
    image: 'arch/x86/boot/bzImage',
    qemu: {
      binary: 'qemu-system-x86_64',
      machine: null,
      cpu: 'qemu64',
      console: 'ttyS0',
      blockDevice: 'virtio-blk-pci',
      extraArgs: [],
      memoryMb: 256,
    },
    busyboxArch: 'amd64',
    busyboxSuite: null,
    nolibcArch: 'x86_64',
    bits: 64,
    baseFragment: ['CONFIG_SERIAL_8250=y', 'CONFIG_SERIAL_8250_CONSOLE=y'],
  },
  i386: {
    arch: 'i386',
    debPackage: 'gcc-i686-linux-gnu',
    crossCompile: 'i686-linux-gnu-',
    kernelArch: 'i386',
    image: 'arch/x86/boot/bzImage',
    qemu: {
      binary: 'qemu-system-i386',
      machine: null,
      // QEMU's default qemu32 runs Debian's i686 busybox.
      cpu: null,
      console: 'ttyS0',
      blockDevice: 'virtio-blk-pci',
      extraArgs: [],
      memoryMb: 256,
    },
    busyboxArch: 'i386',
    busyboxSuite: null,
    nolibcArch: 'i386',
    bits: 32,
    baseFragment: ['CONFIG_SERIAL_8250=y', 'CONFIG_SERIAL_8250_CONSOLE=y'],
  },
  arm64: {
    arch: 'arm64',
    debPackage: 'gcc-aarch64-linux-gnu',
    crossCompile: 'aarch64-linux-gnu-',
    kernelArch: 'arm64',
    image: 'arch/arm64/boot/Image',
    qemu: {
      binary: 'qemu-system-aarch64',
      machine: 'virt',
      cpu: 'cortex-a57',
      console: 'ttyAMA0',
      blockDevice: 'virtio-blk-device',
      extraArgs: [],
      memoryMb: 256,
    },
    busyboxArch: 'arm64',
    busyboxSuite: null,
    nolibcArch: 'aarch64',
    bits: 64,
    // PSCI (for reboot) is already on in tinyconfig.
    baseFragment: ['CONFIG_SERIAL_AMBA_PL011=y', 'CONFIG_SERIAL_AMBA_PL011_CONSOLE=y', 'CONFIG_PCI_HOST_GENERIC=y', 'CONFIG_VIRTIO_MMIO=y'],
  },
  arm: {
    arch: 'arm',
    debPackage: 'gcc-arm-linux-gnueabihf',
    crossCompile: 'arm-linux-gnueabihf-',
    kernelArch: 'arm',
    image: 'arch/arm/boot/zImage',
    qemu: {
      binary: 'qemu-system-arm',
      machine: 'virt',
      cpu: 'cortex-a15',
      console: 'ttyAMA0',
      blockDevice: 'virtio-blk-device',
      extraArgs: [],
      memoryMb: 256,
    },
    busyboxArch: 'armhf',
    busyboxSuite: null,
    nolibcArch: 'arm',
    bits: 32,
    // tinyconfig on arm is a no-MMU ARMv7-M kernel: the MMU brings back the multiplatform ARMv7 kernel and its QEMU
    // virt machine; Debian's armhf userland needs the EABI and VFP.
    baseFragment: [
      'CONFIG_MMU=y',
      'CONFIG_ARCH_MULTIPLATFORM=y',
      'CONFIG_ARCH_MULTI_V7=y',
      'CONFIG_ARCH_VIRT=y',
      'CONFIG_AEABI=y',
      'CONFIG_VFP=y',
      'CONFIG_VFPv3=y',
      'CONFIG_SERIAL_AMBA_PL011=y',
      'CONFIG_SERIAL_AMBA_PL011_CONSOLE=y',
      'CONFIG_PCI_HOST_GENERIC=y',
      'CONFIG_VIRTIO_MMIO=y',
    ],
  },
  riscv64: {
    arch: 'riscv64',
    debPackage: 'gcc-riscv64-linux-gnu',
    crossCompile: 'riscv64-linux-gnu-',
    kernelArch: 'riscv',
    image: 'arch/riscv/boot/Image',
    qemu: {
      binary: 'qemu-system-riscv64',
      machine: 'virt',
      cpu: null,
      console: 'ttyS0',
      blockDevice: 'virtio-blk-device',
      // OpenSBI from Debian's opensbi package, which QEMU loads as its default firmware for virt.
      extraArgs: ['-bios', 'default'],
      memoryMb: 256,
    },
    busyboxArch: 'riscv64',
    // Debian 12 has no riscv64 (it became a release arch in Debian 13).
    busyboxSuite: 'trixie',
    nolibcArch: 'riscv',
    bits: 64,
    // SOC_VIRT brings the PLIC and the syscon reset; the UART is an 8250 found through the device tree. Debian's
    // riscv64 userland is lp64d: it needs the FPU.
    baseFragment: [
      'CONFIG_SOC_VIRT=y',
      'CONFIG_FPU=y',
      'CONFIG_SERIAL_8250=y',
      'CONFIG_SERIAL_8250_CONSOLE=y',
      'CONFIG_SERIAL_OF_PLATFORM=y',
      'CONFIG_PCI_HOST_GENERIC=y',
      'CONFIG_VIRTIO_MMIO=y',
    ],
  },
  powerpc64: {
    arch: 'powerpc64',
    debPackage: 'gcc-powerpc64-linux-gnu',
    // The big-endian cross gcc builds the little-endian kernel (kernel-lab.md §2).
    crossCompile: 'powerpc64-linux-gnu-',
    kernelArch: 'powerpc',
    image: 'vmlinux',
    qemu: {
      binary: 'qemu-system-ppc64',
      machine: 'pseries',
      cpu: null,
      console: 'hvc0',
      blockDevice: 'virtio-blk-pci',
      extraArgs: [],
      // SLOF takes about 7 s of the boot (kernel-lab.md §1).
      memoryMb: 512,
    },
    busyboxArch: 'ppc64el',
    busyboxSuite: null,
    nolibcArch: 'powerpc',
    bits: 64,
    // tinyconfig turns off the OF trampoline (SLOF: "( 700 ) Program Exception") and ALTIVEC/VSX (Debian's ppc64el
    // busybox then dies of SIGILL): kernel-lab.md §2.
    baseFragment: [
      'CONFIG_PPC64=y',
      'CONFIG_PPC_BOOK3S_64=y',
      'CONFIG_CPU_LITTLE_ENDIAN=y',
      'CONFIG_PPC_PSERIES=y',
      'CONFIG_HVC_CONSOLE=y',
      'CONFIG_PPC_OF_BOOT_TRAMPOLINE=y',
      'CONFIG_ALTIVEC=y',
      'CONFIG_VSX=y',
    ],
  },
};

/**
 * The fragment every arch gets on top of its base config (kernel-lab.md §2 `frags/base.config`): printk, a tty,
 * ELF and scripts, an initramfs, devtmpfs, proc and sysfs, modules, ext2 on a virtio disk over PCI.
 */
export const COMMON_FRAGMENT: readonly string[] = [
  'CONFIG_PRINTK=y',
  'CONFIG_TTY=y',
  'CONFIG_BINFMT_ELF=y',
  'CONFIG_BINFMT_SCRIPT=y',
  'CONFIG_BLK_DEV_INITRD=y',
  'CONFIG_RD_GZIP=y',
  'CONFIG_DEVTMPFS=y',
  'CONFIG_DEVTMPFS_MOUNT=y',
  'CONFIG_PROC_FS=y',
  'CONFIG_SYSFS=y',
  'CONFIG_MODULES=y',
  'CONFIG_MODULE_UNLOAD=y',
  'CONFIG_BLOCK=y',
  'CONFIG_EXT2_FS=y',
  'CONFIG_PCI=y',
  'CONFIG_VIRTIO_MENU=y',
  'CONFIG_VIRTIO=y',
  'CONFIG_VIRTIO_PCI=y',
  'CONFIG_VIRTIO_BLK=y',
  'CONFIG_UNIX98_PTYS=y',
];

export const ARCHS = Object.keys(TOOLCHAINS);

/** The table's entry, or null for an arch we do not know. */
export function toolchainFor(arch: string): Toolchain | null {
  return Object.hasOwn(TOOLCHAINS, arch) ? TOOLCHAINS[arch]! : null;
}

/** The common fragment's lines for this arch: CONFIG_64BIT=y first on 64-bit archs. */
export function commonFragment(tc: Toolchain): string[] {
  return [...(tc.bits === 64 ? ['CONFIG_64BIT=y'] : []), ...COMMON_FRAGMENT];
}

/** The compiler the table names: `<crossCompile>gcc`. */
export function gccOf(tc: Toolchain): string {
  return `${tc.crossCompile}gcc`;
}

/** The absolute path of an executable found on PATH, or null. */
export function which(name: string, envPath = process.env.PATH ?? ''): string | null {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  for (const dir of envPath.split(':')) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (isExecutable(p)) return p;
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** First line of `cmd args` (stdout, else stderr), or null when it cannot run or fails. */
export function firstLineOf(cmd: string, args: string[], timeoutMs = 10_000): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) return resolve(null);
      const line = `${stdout}`.split('\n')[0]?.trim() || `${stderr}`.split('\n')[0]?.trim() || '';
      resolve(line || null);
    });
  });
}

export interface ToolchainStatus {
  arch: string;
  debPackage: string;
  /** `<cross>gcc` found on PATH. */
  installed: boolean;
  gcc: string;
  /** `<cross>gcc --version`'s first line, e.g. "aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0". */
  gccVersion: string | null;
  /** null when the table does not boot this arch. */
  qemu: { binary: string; present: boolean } | null;
}

/** The gcc version line of one table entry, or null when the compiler is missing. */
export async function gccVersion(tc: Toolchain): Promise<string | null> {
  const gcc = which(gccOf(tc));
  return gcc ? firstLineOf(gcc, ['--version']) : null;
}

/** Probes every arch of the table: compiler present and its version, QEMU present. */
export async function detectToolchains(): Promise<ToolchainStatus[]> {
  return Promise.all(
    Object.values(TOOLCHAINS).map(async (tc) => {
      const version = await gccVersion(tc);
      return {
        arch: tc.arch,
        debPackage: tc.debPackage,
        installed: version !== null,
        gcc: gccOf(tc),
        gccVersion: version,
        qemu: tc.qemu ? { binary: tc.qemu.binary, present: which(tc.qemu.binary) !== null } : null,
      };
    }),
  );
}

export interface KvmStatus {
  usable: boolean;
  reason: string;
}

/**
 * KVM is used only when /dev/kvm exists AND the CPU advertises vmx or svm. On these machines /dev/kvm is kvm-pvm,
 * a paravirtual KVM without vmx/svm in which ordinary guests hang until the timeout (kernel-lab.md §6): TCG then.
 */
export function kvmStatus(devKvm = '/dev/kvm', cpuinfo = '/proc/cpuinfo'): KvmStatus {
  if (!fs.existsSync(devKvm)) return { usable: false, reason: `${devKvm} does not exist: TCG` };
  let flags = '';
  try {
    flags = fs
      .readFileSync(cpuinfo, 'utf8')
      .split('\n')
      .filter((l) => /^flags\s*:/.test(l))
      .join(' ');
  } catch {
    return { usable: false, reason: `${cpuinfo} unreadable: TCG` };
  }
  if (/\b(vmx|svm)\b/.test(flags)) return { usable: true, reason: `${devKvm} present and the CPU has ${/\bvmx\b/.test(flags) ? 'vmx' : 'svm'}` };
  return { usable: false, reason: `${devKvm} present but the CPU has neither vmx nor svm (a paravirtual KVM, e.g. kvm-pvm, where guests hang): TCG` };
}

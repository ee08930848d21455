// The QEMU command line that boots a build: the machine from the toolchain table, the kernel, the initramfs and the
// disks (read-only virtio), -no-reboot so the guest's `reboot -f` (and panic=-1)
// ends QEMU. The console goes to a file, or to the terminal in the line a person pastes. TCG unless KVM really
// works (toolchains.ts kvmStatus). No network: the guest needs none.
import type { Toolchain } from '../toolchains.js';

export interface BootSpec {
  kernel: string;
  initrd: string;
  /** ext2 images, attached in this order (the guest tells them apart by content, not by name). */
  disks: string[];
  /** Extra kernel command line words after console=, panic=-1 and oops=panic. */
  append?: string[];
  kvm?: boolean;
  /**
   * Write the serial console to this file (and show nothing). Without it the console is QEMU's stdio
   * (-nographic), for a person at a terminal. A pipe is no good for capturing: QEMU's stdio backend drops
   * characters when a write to a pipe would block (seen on x86_64 boots: "BIOS-e82000000000009fc00…").
   */
  consoleFile?: string;
}

/** panic=-1: reboot at once on a panic (QEMU exits with -no-reboot); oops=panic: an oops ends the run too. */
export const KERNEL_ARGS = ['panic=-1', 'oops=panic'];

export function kernelCommandLine(tc: Toolchain, extra: string[] = []): string {
  if (!tc.qemu) throw new Error(`${tc.arch} does not boot in QEMU`);
  return [`console=${tc.qemu.console}`, ...KERNEL_ARGS, ...extra].join(' ');
}

/** QEMU's binary and arguments. */
export function qemuCommand(tc: Toolchain, boot: BootSpec): { cmd: string; args: string[] } {
  const q = tc.qemu;
  if (!q) throw new Error(`${tc.arch} does not boot in QEMU`);
  const args: string[] = [];
  if (q.machine) args.push('-M', q.machine);
  if (boot.kvm) args.push('-enable-kvm', '-cpu', 'host');
  else if (q.cpu) args.push('-cpu', q.cpu);
  args.push('-m', String(q.memoryMb), '-smp', '1');
  if (boot.consoleFile) args.push('-display', 'none', '-monitor', 'none', '-serial', `file:${boot.consoleFile}`);
  else args.push('-nographic');
  args.push('-no-reboot', '-nic', 'none');
  args.push(...q.extraArgs);
  args.push('-kernel', boot.kernel, '-initrd', boot.initrd, '-append', kernelCommandLine(tc, boot.append));
  boot.disks.forEach((disk, i) => {
    args.push('-drive', `file=${disk},format=raw,if=none,id=disk${i},readonly=on`, '-device', `${q.blockDevice},drive=disk${i}`);
  });
  return { cmd: q.binary, args };
}

/** One shell line a person can paste to boot the same guest (the console then comes to their terminal). */
export function shellLine(cmd: string, args: string[]): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return [cmd, ...args].map(quote).join(' ');
}

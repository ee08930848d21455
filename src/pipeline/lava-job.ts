// The LAVA job definition equivalent to one test run (issue 6 §5), so the same boot and tests can be submitted to a
// LAVA server: deploy to tmpfs the kernel, the initramfs and the two disks as images, boot with the qemu method,
// run the test definitions inline. device_type qemu, the arch in the job's context (LAVA's qemu.jinja2 picks the
// QEMU binary from it). The kernel gets `patchbay.shell`: our /init then mounts the disks and starts a shell for
// LAVA's test shell instead of running the tests itself (notes/lava.md, kernel-lab.md §7). Pure: data in, YAML out.
import { parseDocument, stringify } from 'yaml';
import { kernelCommandLine } from './guest/qemu.js';
import type { Toolchain } from './toolchains.js';

/**
 * LAVA's qemu device-type `arch` context values for the table's archs: qemu.jinja2's `available_architectures`,
 * from which it picks qemu-system-<…> (`ppc64` → qemu-system-ppc64 -machine pseries, whatever the endianness; an
 * unknown value such as ppc64le would become qemu-system-ppc64le, which does not exist).
 */
export const LAVA_ARCH: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  i386: 'i386',
  arm64: 'arm64',
  arm: 'arm',
  riscv64: 'riscv64',
  powerpc64: 'ppc64',
};

/** The kernel command line word that puts our /init in LAVA mode (a shell on the console, no own test run). */
export const LAVA_SHELL_FLAG = 'patchbay.shell';

export interface LavaJobSpec {
  jobName: string;
  tc: Toolchain;
  kernel: string;
  initrd: string;
  modules: string | null;
  tests: string;
  /** The definitions, inline, in run order: the job's name for each and its YAML text. */
  definitions: { name: string; text: string }[];
  /** Minutes. */
  timeouts: { job: number; test: number };
  metadata?: Record<string, string | number>;
  /** How the server fetches an artefact; file:// URLs by default (a dispatcher on this machine). */
  url?: (file: string) => string;
  /** LAVA's notify callback when the job has finished (a POST of the job's minimal data), for the LAVA runner. */
  notifyUrl?: string;
}

export function lavaJobDefinition(spec: LavaJobSpec): string {
  const q = spec.tc.qemu;
  if (!q) throw new Error(`${spec.tc.arch} does not boot in QEMU`);
  const url = spec.url ?? ((f: string) => `file://${f}`);
  const disk = (key: string, i: number) => `-drive format=raw,file={${key}},if=none,id=disk${i},readonly=on -device ${q.blockDevice},drive=disk${i}`;
  const images: Record<string, { image_arg: string; url: string }> = {
    kernel: { image_arg: `-kernel {kernel} -append "${kernelCommandLine(spec.tc, [LAVA_SHELL_FLAG])}"`, url: url(spec.kernel) },
    initrd: { image_arg: '-initrd {initrd}', url: url(spec.initrd) },
  };
  let n = 0;
  if (spec.modules) images.modules = { image_arg: disk('modules', n++), url: url(spec.modules) };
  images.tests = { image_arg: disk('tests', n++), url: url(spec.tests) };

  const context: Record<string, unknown> = { arch: LAVA_ARCH[spec.tc.arch] ?? spec.tc.arch };
  if (q.machine) context.machine = q.machine;
  if (q.cpu) context.cpu = q.cpu;
  context.memory = q.memoryMb;
  // LAVA adds its test overlay as one more disk; a tinyconfig kernel has virtio but no IDE/ATA driver.
  context.guestfs_interface = 'virtio';
  // -no-reboot as in the embedded runner: with panic=-1 a crashed kernel ends QEMU (LAVA then reports the connection
  // closed) instead of booting again, which LAVA 2023.01 would take for a new prompt and carry on (seen in the lab).
  const extra = ['-smp 1', '-nic none', '-no-reboot', ...(q.extraArgs.length ? [q.extraArgs.join(' ')] : [])];
  context.extra_options = extra;

  const job = {
    device_type: 'qemu',
    job_name: spec.jobName,
    timeouts: { job: { minutes: spec.timeouts.job }, action: { minutes: spec.timeouts.test }, connection: { minutes: 2 } },
    priority: 'medium',
    visibility: 'public',
    ...(spec.metadata ? { metadata: spec.metadata } : {}),
    ...(spec.notifyUrl
      ? { notify: { criteria: { status: 'finished' }, verbosity: 'quiet', callback: { url: spec.notifyUrl, method: 'POST', dataset: 'minimal', 'content-type': 'json' } } }
      : {}),
    context,
    actions: [
      { deploy: { to: 'tmpfs', timeout: { minutes: 5 }, images } },
      { boot: { method: 'qemu', media: 'tmpfs', timeout: { minutes: 2 }, prompts: ['/ # '] } },
      {
        test: {
          timeout: { minutes: spec.timeouts.test },
          definitions: spec.definitions.map((d) => ({
            repository: parseDocument(d.text, { version: '1.1' }).toJS({ maxAliasCount: 100 }) as unknown,
            from: 'inline',
            name: d.name,
            path: `inline/${d.name}.yaml`,
          })),
        },
      },
    ],
  };
  return `# LAVA job written by patchbay: the same kernel, initramfs, disks and test definitions for a LAVA server.\n${stringify(job, { lineWidth: 0, version: '1.1' })}`;
}

// `patchbay doctor [--json]`: what this machine can build and boot. Per arch of the toolchain table: the cross gcc
// (installed? version), the QEMU binary; then the tools builds and tests need (bwrap, ccache, make, mke2fs, rsync
// for headers_install, prlimit), whether APT can fetch busybox-static for each booting arch's guest (an APT
// candidate for busybox-static:<debian arch>, i.e. the foreign architecture is added), and whether KVM really works.
// Always exits 0: it reports, it does not judge.
import { execFile } from 'node:child_process';
import type { Command } from 'commander';
import { detectToolchains, kvmStatus, TOOLCHAINS, which, type KvmStatus, type ToolchainStatus } from '../pipeline/toolchains.js';

interface ToolCheck {
  name: string;
  /** What it is needed for. */
  purpose: string;
  path: string | null;
}

interface BusyboxCheck {
  arch: string;
  debianArch: string;
  /** APT's candidate version of busybox-static:<debianArch>, or null (no such package for the configured archs). */
  candidate: string | null;
}

export interface DoctorReport {
  toolchains: ToolchainStatus[];
  tools: ToolCheck[];
  busybox: BusyboxCheck[];
  kvm: KvmStatus;
}

const TOOLS: [string, string][] = [
  ['make', 'kernel builds'],
  ['bwrap', 'the build sandbox (bubblewrap)'],
  ['prlimit', 'sandbox resource limits (util-linux)'],
  ['ccache', 'compiler cache shared by builds'],
  ['mke2fs', 'modules and tests disk images (e2fsprogs)'],
  ['rsync', 'make headers_install'],
  ['depmod', 'make modules_install (kmod)'],
  ['cpio', 'initramfs'],
  ['apt-get', 'downloading busybox-static for guest archs'],
];

function run(cmd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout) => resolve(err ? null : stdout));
  });
}

/** APT's candidate of busybox-static for each Debian arch, from one `apt-cache policy` call (local, no network). */
async function busyboxCandidates(debianArchs: string[]): Promise<Map<string, string>> {
  const native = (await run('dpkg', ['--print-architecture']))?.trim() ?? '';
  const out = await run('apt-cache', ['policy', ...debianArchs.map((a) => `busybox-static:${a}`)]);
  const found = new Map<string, string>();
  let arch: string | null = null;
  // "busybox-static:" is the native arch's section, "busybox-static:arm64:" a foreign one; unknown archs are absent.
  for (const line of (out ?? '').split('\n')) {
    const head = /^busybox-static:(?:(\S+):)?$/.exec(line);
    if (head) arch = head[1] ?? native;
    const c = /^\s+Candidate: (.+)$/.exec(line);
    if (c && arch && c[1] !== '(none)') found.set(arch, c[1]!.trim());
  }
  return found;
}

export async function doctorReport(): Promise<DoctorReport> {
  const toolchains = await detectToolchains();
  const tools = TOOLS.map(([name, purpose]) => ({ name, purpose, path: which(name, `${process.env.PATH ?? ''}:/usr/sbin:/sbin`) }));
  const booting = Object.values(TOOLCHAINS).filter((tc) => tc.qemu);
  const candidates = await busyboxCandidates(booting.map((tc) => tc.busyboxArch));
  const busybox = booting.map((tc) => ({ arch: tc.arch, debianArch: tc.busyboxArch, candidate: candidates.get(tc.busyboxArch) ?? null }));
  return { toolchains, tools, busybox, kvm: kvmStatus() };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function formatDoctor(r: DoctorReport): string {
  const out: string[] = [];
  out.push('Toolchains');
  out.push(
    table([
      ['arch', 'compiler', 'installed', 'version', 'qemu'],
      ...r.toolchains.map((t) => [
        t.arch,
        t.gcc,
        t.installed ? 'yes' : `no (apt-get install ${t.debPackage})`,
        t.gccVersion ?? '-',
        t.qemu ? `${t.qemu.binary}${t.qemu.present ? '' : ' MISSING'}` : 'build only',
      ]),
    ]),
  );
  out.push('', 'Tools');
  out.push(table([['tool', 'found', 'needed for'], ...r.tools.map((t) => [t.name, t.path ?? 'MISSING', t.purpose])]));
  out.push('', 'Guest busybox (busybox-static:<arch> through APT multiarch)');
  out.push(
    table([
      ['arch', 'package', 'apt candidate'],
      ...r.busybox.map((b) => [b.arch, `busybox-static:${b.debianArch}`, b.candidate ?? `none (dpkg --add-architecture ${b.debianArch}; apt-get update)`]),
    ]),
  );
  out.push('', `KVM: ${r.kvm.usable ? 'usable' : 'not used'} (${r.kvm.reason})`);
  return `${out.join('\n')}\n`;
}

export function doctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('report the toolchains, QEMU, sandbox and image tools, guest busybox and KVM of this machine')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      const report = await doctorReport();
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
    });
}

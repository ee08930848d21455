// `patchbay doctor [--json]`: what this machine can build and boot. Per arch of the toolchain table: the cross gcc
// (installed? version), the QEMU binary; then the tools builds and tests need (bwrap, ccache, make, mke2fs, rsync
// for headers_install, prlimit), where each booting arch's guest busybox comes from (the order of
// src/pipeline/guest/busybox.ts: the host's own, the cache under DATA, the host's APT multiarch, a private APT on the
// arch's Debian suite — whose Release file is read to see that it lists the arch, unless --offline), whether KVM
// really works, and the build sandbox's caps (src/pipeline/sandbox-runner.ts: the build user, the process and memory
// caps and how each holds, the overlay over warm trees). Always exits 0: it reports, it does not judge.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { busyboxProblem, busyboxSuite, DEBIAN_KEYRING, DEBIAN_MIRROR, hostArch, suiteArchitectures } from '../pipeline/guest/busybox.js';
import { DEFAULT_LIMITS } from '../pipeline/sandbox.js';
import { sandboxHost, type SandboxCaps } from '../pipeline/sandbox-runner.js';
import { detectToolchains, kvmStatus, TOOLCHAINS, which, type KvmStatus, type Toolchain, type ToolchainStatus } from '../pipeline/toolchains.js';

interface ToolCheck {
  name: string;
  /** What it is needed for. */
  purpose: string;
  path: string | null;
}

interface BusyboxCheck {
  arch: string;
  debianArch: string;
  /** The host APT's candidate version of busybox-static:<debianArch>, or null (no such package for its archs). */
  candidate: string | null;
  /** Where the test step gets it: the first source that works, or null when none does (the step's `error`). */
  via: 'host' | 'cache' | 'host-apt' | 'private-apt' | null;
  /** What was found, or why none works. */
  detail: string;
}

export interface SandboxCheck extends SandboxCaps {
  /** Builds can run here (patchbay is root, every sandbox tool is installed). */
  ready: boolean;
  /** Default caps of a build command. */
  limits: { processes: number; memoryBytes: number };
  warnings: string[];
  problems: string[];
}

export interface DoctorReport {
  toolchains: ToolchainStatus[];
  tools: ToolCheck[];
  busybox: BusyboxCheck[];
  kvm: KvmStatus;
  sandbox: SandboxCheck;
}

const TOOLS: [string, string][] = [
  ['make', 'kernel builds'],
  ['bwrap', 'the build sandbox (bubblewrap)'],
  ['prlimit', 'sandbox resource limits (util-linux)'],
  ['setpriv', 'builds as the unprivileged build user (util-linux)'],
  ['unshare', 'the overlay over warm object trees (util-linux)'],
  ['mount', 'the overlay over warm object trees (mount)'],
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

export interface DoctorOptions {
  /** The data directory: the test step caches guest busyboxes in DATA/cache/guest/busybox/<arch> (pipeline.service.ts). */
  data?: string;
  /** Do not read the Debian mirror's Release files. */
  offline?: boolean;
}

/** Where one arch's guest busybox comes from, in the test step's order. */
async function busyboxCheck(tc: Toolchain, candidate: string | null, o: DoctorOptions, suites: Map<string, Promise<string[] | null>>): Promise<BusyboxCheck> {
  const base = { arch: tc.arch, debianArch: tc.busyboxArch, candidate };
  if (tc.arch === hostArch() && fs.existsSync('/bin/busybox') && !busyboxProblem('/bin/busybox', tc)) return { ...base, via: 'host', detail: "/bin/busybox (the host's busybox-static)" };
  const cached = o.data ? path.resolve(o.data, 'cache/guest/busybox', tc.arch) : null;
  if (cached && fs.existsSync(path.join(cached, 'busybox')) && !busyboxProblem(path.join(cached, 'busybox'), tc)) {
    const source = fs.existsSync(path.join(cached, 'source')) ? fs.readFileSync(path.join(cached, 'source'), 'utf8').trim() : 'busybox-static';
    return { ...base, via: 'cache', detail: `cached: ${source}` };
  }
  if (candidate) return { ...base, via: 'host-apt', detail: `host APT: busybox-static:${tc.busyboxArch} ${candidate}` };
  const suite = busyboxSuite(tc);
  const where = `private APT on Debian ${suite} (${DEBIAN_MIRROR})`;
  if (!fs.existsSync(DEBIAN_KEYRING)) return { ...base, via: null, detail: `none: ${where} needs ${DEBIAN_KEYRING} (apt-get install debian-archive-keyring)` };
  if (o.offline) return { ...base, via: 'private-apt', detail: `${where}, not checked (--offline)` };
  if (!suites.has(suite)) suites.set(suite, suiteArchitectures(DEBIAN_MIRROR, suite));
  const archs = await suites.get(suite)!;
  if (archs === null) return { ...base, via: null, detail: `none: ${where} cannot be reached` };
  if (!archs.includes(tc.busyboxArch)) return { ...base, via: null, detail: `none: ${where} has no ${tc.busyboxArch}` };
  return { ...base, via: 'private-apt', detail: `${where}, which lists ${tc.busyboxArch}` };
}

export async function doctorReport(o: DoctorOptions = {}): Promise<DoctorReport> {
  const toolchains = await detectToolchains();
  const tools = TOOLS.map(([name, purpose]) => ({ name, purpose, path: which(name, `${process.env.PATH ?? ''}:/usr/sbin:/sbin`) }));
  const booting = Object.values(TOOLCHAINS).filter((tc) => tc.qemu);
  const candidates = await busyboxCandidates(booting.map((tc) => tc.busyboxArch));
  const suites = new Map<string, Promise<string[] | null>>();
  const busybox = await Promise.all(booting.map((tc) => busyboxCheck(tc, candidates.get(tc.busyboxArch) ?? null, o, suites)));
  const host = sandboxHost();
  const sandbox: SandboxCheck = {
    ...host.caps,
    ready: !host.problems.length && host.caps.overlay && !!host.user,
    limits: { processes: DEFAULT_LIMITS.processes, memoryBytes: DEFAULT_LIMITS.memoryBytes },
    warnings: host.warnings,
    problems: [...host.problems, ...(host.root ? [] : ['not root: builds refuse to run (no build user, no overlay over the warm trees)'])],
  };
  return { toolchains, tools, busybox, kvm: kvmStatus(), sandbox };
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
  out.push('', 'Guest busybox (busybox-static for each booting arch)');
  out.push(table([['arch', 'package', 'from'], ...r.busybox.map((b) => [b.arch, `busybox-static:${b.debianArch}`, b.via ? b.detail : `MISSING ${b.detail.replace(/^none: /, '')}`])]));
  out.push('', `KVM: ${r.kvm.usable ? 'usable' : 'not used'} (${r.kvm.reason})`);
  const sb = r.sandbox;
  out.push('', `Build sandbox: ${sb.ready ? 'ready' : 'NOT READY: builds refuse to run'}`);
  out.push(
    table([
      ['cap', 'holds by'],
      ['user', sb.user],
      ['processes', `${sb.limits.processes} at once: ${sb.processes ?? 'NOT CAPPED'}`],
      ['memory', `${Math.round(sb.limits.memoryBytes / 1024 ** 2)} MiB (more at -j > 6): ${sb.memory}`],
      ['cpu', sb.cpu ?? 'no cpu cgroup: a build competes process by process'],
      ['warm trees', sb.overlay ? 'overlay per submitter (the tree and ccache stay as trusted base builds left them)' : 'NO OVERLAY'],
    ]),
  );
  for (const w of sb.warnings) out.push(`WARNING: ${w}`);
  for (const p of sb.problems) out.push(`MISSING: ${p}`);
  return `${out.join('\n')}\n`;
}

export function doctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('report the toolchains, QEMU, sandbox and image tools, guest busybox and KVM of this machine')
    .option('--json', 'print the report as JSON')
    .addOption(new Option('--data <dir>', 'data directory, for the guest busyboxes already cached').env('PATCHBAY_DATA'))
    .option('--offline', "do not read the Debian mirror's Release files")
    .action(async (opts: { json?: boolean; data?: string; offline?: boolean }) => {
      const report = await doctorReport({ ...(opts.data ? { data: opts.data } : {}), offline: opts.offline === true });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
    });
}

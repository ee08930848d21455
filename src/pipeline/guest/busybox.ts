// The guest's userland: Debian's busybox-static built for the guest's arch, found in this order:
//   1. the host's own /bin/busybox when it is the static one for the same arch;
//   2. the copy cached under cacheDir/busybox/<arch>/ by an earlier download;
//   3. `apt-get download busybox-static:<debian arch>` through the host's APT (multiarch: works when the arch was
//      added with `dpkg --add-architecture`);
//   4. the same download through a PRIVATE APT configuration made for it in a temporary folder of the cache: its own
//      sources list (`deb [arch=A signed-by=Debian's keyring] MIRROR SUITE main`), state, cache and an empty
//      apt.conf.d, so no root and no change to the system's APT. SUITE is the table's busyboxSuite (trixie for
//      riscv64: Debian 12 has no riscv64) or the host's Debian release. The signature of the suite's InRelease is
//      checked against /usr/share/keyrings/debian-archive-keyring.gpg (Debian 12's holds trixie's keys).
// The .deb is unpacked with `dpkg -x` (bin/busybox, or usr/bin/busybox since trixie's merged /usr), its ELF header
// checked (machine, static), and the binary kept in the cache.
import fs from 'node:fs';
import path from 'node:path';
import { logLine, runTool, type ToolRun } from '../exec.js';
import type { Toolchain } from '../toolchains.js';
import { trimEndChars } from '../../text.js';

/** Where the private APT configuration fetches from, and the keyring its releases are checked with. */
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** ELF e_machine of each arch of the toolchain table (elf.h): to check a binary really is for the guest. */
export const ELF_MACHINE: Readonly<Record<string, number>> = {
  x86_64: 62,
  i386: 3,
  arm64: 183,
  arm: 40,
  riscv64: 243,
  powerpc64: 21,
};

export interface ElfInfo {
  machine: number;
  bits: 32 | 64;
  /** No PT_INTERP program header: it runs without a dynamic loader. */
  static: boolean;
}

/** Reads an ELF header and its program headers; null when the bytes are not ELF. */
export function elfInfo(buf: Buffer): ElfInfo | null {
  if (buf.length < 52 || buf.readUInt32BE(0) !== 0x7f454c46) return null;
  const bits = buf[4] === 2 ? 64 : 32;
  const le = buf[5] === 1;
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const machine = u16(18);
  const phoff = bits === 64 ? Number(le ? buf.readBigUInt64LE(32) : buf.readBigUInt64BE(32)) : u32(28);
  const phentsize = u16(bits === 64 ? 54 : 42);
  const phnum = u16(bits === 64 ? 56 : 44);
  let isStatic = true;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > buf.length) break;
    if (u32(at) === 3) isStatic = false; // PT_INTERP
  }
  return { machine, bits, static: isStatic };
}

/** The Node arch of this machine in the table's words. */
export function hostArch(): string {
  return { x64: 'x86_64', arm64: 'arm64', riscv64: 'riscv64', ppc64: 'powerpc64', ia32: 'i386', arm: 'arm' }[process.arch as string] ?? process.arch;
}

export interface BusyboxOptions {
  cacheDir: string;
  logPath: string;
  runId: number;
  timeoutMs: number;
  /** The host's busybox to try first for the host's arch (Debian's busybox-static installs /bin/busybox). */
  hostBusybox?: string;
  /** Try the host's APT (multiarch) before the private one; default true. */
  hostApt?: boolean;
  /** The private APT's Debian mirror (DEBIAN_MIRROR) and keyring (DEBIAN_KEYRING). */
  mirror?: string;
  keyring?: string;
  /** The host's /etc/os-release, for its Debian release (hostDebianSuite). */
  osRelease?: string;
}

export interface GuestBusybox {
  path: string;
  /** Where it came from, for the log and the report. */
  source: string;
  childMs: number;
}

/** Why a busybox cannot be had: our infrastructure (the step reports `error`). */
export class BusyboxError extends Error {}

/** Why `file` is not a busybox the guest can run (readable, ELF for the guest's machine, static), or null. */
export function busyboxProblem(file: string, tc: Toolchain): string | null {
  let head: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    head = Buffer.alloc(4096);
    fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
  } catch {
    return `${file} cannot be read`;
  }
  const info = elfInfo(head);
  if (!info) return `${file} is not an ELF binary`;
  if (info.machine !== ELF_MACHINE[tc.arch]) return `${file} is for ELF machine ${info.machine}, not ${tc.arch} (${ELF_MACHINE[tc.arch]})`;
  if (!info.static) return `${file} is dynamically linked (the guest has no libc): install busybox-static, not busybox`;
  return null;
}

/** The host's Debian release (VERSION_CODENAME of /etc/os-release) when the host is Debian, else null. */
export function hostDebianSuite(osRelease = '/etc/os-release'): string | null {
  let text: string;
  try {
    text = fs.readFileSync(osRelease, 'utf8');
  } catch {
    return null;
  }
  // os-release(5): KEY=value lines, the value optionally in double quotes. Read as lines, not a RegExp built per key.
  const field = (k: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${k}=`));
    return line === undefined ? '' : line.slice(k.length + 1).replace(/^"/, '').replace(/"$/, '').trim();
  };
  const codename = field('VERSION_CODENAME');
  return field('ID') === 'debian' && /^[a-z]+$/.test(codename) ? codename : null;
}

/** The Debian suite the private APT fetches the arch's busybox from: the table's, else the host's, else stable. */
export function busyboxSuite(tc: Toolchain, osRelease?: string): string {
  return tc.busyboxSuite ?? hostDebianSuite(osRelease) ?? 'stable';
}

/**
 * The Debian archs a suite of the mirror publishes (the `Architectures:` line near the top of its Release file, read
 * with a range request), or null when the mirror cannot be reached in time. For `patchbay doctor`.
 */
export async function suiteArchitectures(mirror: string, suite: string, timeoutMs = 5000): Promise<string[] | null> {
  try {
    const res = await fetch(`${trimEndChars(mirror, '/')}/dists/${encodeURIComponent(suite)}/Release`, {
      headers: { Range: 'bytes=0-8191' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return res.status === 404 ? [] : null;
    const m = /^Architectures: (.+)$/m.exec((await res.text()).slice(0, 65536));
    return m ? m[1]!.trim().split(/\s+/) : [];
  } catch {
    return null;
  }
}

export interface PrivateApt {
  /** The folder holding it all; APT_CONFIG=<dir>/apt.conf. */
  dir: string;
  aptConf: string;
  sourcesList: string;
}

/**
 * The files of a private APT configuration under `dir` for one Debian arch and suite: apt.conf (read through
 * APT_CONFIG, it points every Dir:: at `dir`, so the host's apt.conf.d, sources, preferences, keyrings, state and
 * cache are neither read nor written) and its sources.list (one line, the keyring as signed-by). Pure.
 */
export function privateAptFiles(dir: string, o: { debianArch: string; suite: string; mirror: string; keyring: string; proxies?: Record<string, string> }): PrivateApt {
  // The values go into APT's configuration syntax and a sources line: refuse anything that could break out of them.
  if (!/^[a-z0-9-]+$/.test(o.debianArch)) throw new BusyboxError(`bad Debian arch ${JSON.stringify(o.debianArch)}`);
  if (!/^[a-z0-9.-]+$/.test(o.suite)) throw new BusyboxError(`bad Debian suite ${JSON.stringify(o.suite)}`);
  if (!/^https?:\/\/[^\s"\]\[;{}]+$/.test(o.mirror)) throw new BusyboxError(`bad Debian mirror ${JSON.stringify(o.mirror)}`);
  for (const p of [dir, o.keyring]) {
    if (!path.isAbsolute(p) || /[\s"\]\[;{}\\]/.test(p)) throw new BusyboxError(`the path ${JSON.stringify(p)} cannot go into an APT configuration`);
  }
  for (const v of Object.values(o.proxies ?? {})) if (/["\n;{}]/.test(v)) throw new BusyboxError(`bad proxy ${JSON.stringify(v)}`);
  const conf = [
    'Dir "/";',
    `Dir::Etc "${dir}/etc";`,
    'Dir::Etc::main "apt.conf";',
    'Dir::Etc::parts "apt.conf.d";',
    'Dir::Etc::sourcelist "sources.list";',
    'Dir::Etc::sourceparts "sources.list.d";',
    'Dir::Etc::preferences "preferences";',
    'Dir::Etc::preferencesparts "preferences.d";',
    'Dir::Etc::trusted "trusted.gpg";',
    'Dir::Etc::trustedparts "trusted.gpg.d";',
    `Dir::State "${dir}/state";`,
    `Dir::State::status "${dir}/state/status";`,
    `Dir::Cache "${dir}/cache";`,
    `Dir::Log "${dir}/log";`,
    `APT::Architecture "${o.debianArch}";`,
    `APT::Architectures { "${o.debianArch}"; };`,
    'Acquire::Languages "none";',
    ...Object.entries(o.proxies ?? {}).map(([k, v]) => `${k} "${v}";`),
  ];
  return {
    dir,
    aptConf: `${conf.join('\n')}\n`,
    sourcesList: `deb [arch=${o.debianArch} signed-by=${o.keyring}] ${o.mirror} ${o.suite} main\n`,
  };
}

/** Writes the private APT's files and folders; returns the apt.conf path for APT_CONFIG. */
function writePrivateApt(p: PrivateApt): string {
  for (const d of ['etc/apt.conf.d', 'etc/sources.list.d', 'etc/preferences.d', 'etc/trusted.gpg.d', 'state/lists/partial', 'cache/archives/partial', 'log']) {
    fs.mkdirSync(path.join(p.dir, d), { recursive: true });
  }
  fs.writeFileSync(path.join(p.dir, 'state/status'), '');
  fs.writeFileSync(path.join(p.dir, 'etc/sources.list'), p.sourcesList);
  const conf = path.join(p.dir, 'apt.conf');
  fs.writeFileSync(conf, p.aptConf);
  return conf;
}

/** The host APT's proxy settings (apt.conf.d is not read by the private configuration), as Acquire::…::Proxy → URL. */
async function hostAptProxies(opts: BusyboxOptions): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  const r = await runTool('apt-config', ['shell', 'HTTP', 'Acquire::http::Proxy', 'HTTPS', 'Acquire::https::Proxy'], {
    cwd: opts.cacheDir,
    logPath: opts.logPath,
    runId: opts.runId,
    timeoutMs: Math.min(opts.timeoutMs, 30_000),
  }).catch(() => null);
  for (const line of r?.code === 0 ? r.stdout.split('\n') : []) {
    const m = /^(HTTPS?)='([^']*)'$/.exec(line.trim());
    if (m && m[2]) found[m[1] === 'HTTP' ? 'Acquire::http::Proxy' : 'Acquire::https::Proxy'] = m[2];
  }
  return found;
}

/** APT's first `E:` line, or how it ended. */
function aptError(r: ToolRun): string {
  const line = `${r.stderr}\n${r.stdout}`.split('\n').find((l) => /^E: /.test(l));
  if (line) return line.slice(3).trim();
  return r.timedOut ? 'timed out' : `exited with ${r.code ?? r.signal}`;
}

interface Fetched {
  deb: string;
  /** Where it came from, for the log. */
  from: string;
}

/** `apt-get download busybox-static[:arch]` into `into`: the .deb's path, or why not. */
async function aptDownload(into: string, pkg: string, env: NodeJS.ProcessEnv, opts: BusyboxOptions): Promise<{ deb: string | null; ms: number; why: string }> {
  fs.mkdirSync(into, { recursive: true });
  const dl = await runTool('apt-get', ['-q', 'download', pkg], { cwd: into, logPath: opts.logPath, runId: opts.runId, timeoutMs: opts.timeoutMs, env });
  const deb = fs.readdirSync(into).find((f) => f.endsWith('.deb'));
  return { deb: dl.code === 0 && deb ? path.join(into, deb) : null, ms: dl.ms, why: aptError(dl) };
}

/** A static busybox for the guest's arch, downloading it into the cache the first time. */
export async function guestBusybox(tc: Toolchain, opts: BusyboxOptions): Promise<GuestBusybox> {
  const host = opts.hostBusybox ?? '/bin/busybox';
  if (tc.arch === hostArch() && fs.existsSync(host)) {
    const why = busyboxProblem(host, tc);
    if (!why) return { path: host, source: `${host} (the host's busybox-static)`, childMs: 0 };
    logLine(opts.logPath, `not using ${host}: ${why}`);
  }
  const dir = path.join(opts.cacheDir, 'busybox', tc.arch);
  const cached = path.join(dir, 'busybox');
  const sourceFile = path.join(dir, 'source');
  if (fs.existsSync(cached) && !busyboxProblem(cached, tc)) {
    const from = fs.existsSync(sourceFile) ? fs.readFileSync(sourceFile, 'utf8').trim() : 'busybox-static';
    return { path: cached, source: `${from} (cached)`, childMs: 0 };
  }

  const pkg = `busybox-static:${tc.busyboxArch}`;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(dir), `.${tc.arch}-`));
  // Run as root, APT downloads as the user _apt when it can reach the folders (else it warns and downloads as root).
  fs.chmodSync(tmp, 0o755);
  let childMs = 0;
  const tried: string[] = [];
  const cEnv = { ...process.env, LC_ALL: 'C' };
  try {
    let got: Fetched | null = null;
    // 3. The host's APT.
    if (opts.hostApt !== false) {
      const r = await aptDownload(path.join(tmp, 'host'), pkg, cEnv, opts);
      childMs += r.ms;
      if (r.deb) got = { deb: r.deb, from: "the host's APT" };
      else tried.push(`the host's APT: ${r.why}`);
    }
    // 4. A private APT for the suite.
    if (!got) {
      const suite = busyboxSuite(tc, opts.osRelease);
      const mirror = opts.mirror ?? DEBIAN_MIRROR;
      const keyring = opts.keyring ?? DEBIAN_KEYRING;
      const where = `Debian ${suite} (${mirror})`;
      if (!fs.existsSync(keyring)) {
        tried.push(`${where}: the keyring ${keyring} is missing (apt-get install debian-archive-keyring)`);
      } else {
        const apt = privateAptFiles(path.join(tmp, 'apt'), { debianArch: tc.busyboxArch, suite, mirror, keyring, proxies: await hostAptProxies(opts) });
        const env = { ...cEnv, APT_CONFIG: writePrivateApt(apt) };
        logLine(opts.logPath, `private APT for ${pkg}: ${apt.sourcesList.trim()}`);
        const up = await runTool('apt-get', ['-q', 'update'], { cwd: tmp, logPath: opts.logPath, runId: opts.runId, timeoutMs: opts.timeoutMs, env });
        childMs += up.ms;
        // apt-get update exits 0 when an index could not be fetched ("W: Failed to fetch URL  reason"): say so, not
        // the download's "Unable to locate package" that follows.
        const unfetched = /^[WE]: Failed to fetch (\S+)\s+(.+)$/m.exec(`${up.stderr}\n${up.stdout}`);
        const upWhy = up.code !== 0 ? aptError(up) : unfetched ? `cannot fetch ${unfetched[1]}: ${unfetched[2]!.trim()}` : null;
        const r = upWhy ? null : await aptDownload(path.join(tmp, 'private'), 'busybox-static', env, opts);
        childMs += r?.ms ?? 0;
        if (r?.deb) got = { deb: r.deb, from: where };
        else tried.push(`${where}: ${upWhy ?? (/Unable to locate package/.test(r!.why) ? `no busybox-static for ${tc.busyboxArch} in ${suite}` : r!.why)}`);
      }
    }
    if (!got) throw new BusyboxError(`no static busybox for the ${tc.arch} guest (${pkg}): ${tried.join('; ')}`);

    const debName = path.basename(got.deb).replace(/%3a/gi, ':');
    const x = await runTool('dpkg', ['-x', got.deb, 'root'], { cwd: tmp, logPath: opts.logPath, runId: opts.runId, timeoutMs: opts.timeoutMs });
    childMs += x.ms;
    // Debian 12 ships /bin/busybox; trixie's merged /usr ships /usr/bin/busybox.
    const bin = ['root/bin/busybox', 'root/usr/bin/busybox'].map((b) => path.join(tmp, b)).find((b) => fs.existsSync(b));
    if (x.code !== 0 || !bin) throw new BusyboxError(`dpkg -x ${debName} gave no bin/busybox nor usr/bin/busybox`);
    const why = busyboxProblem(bin, tc);
    if (why) throw new BusyboxError(`${pkg}: ${why}`);
    fs.mkdirSync(dir, { recursive: true });
    const source = `${debName} from ${got.from}`;
    fs.writeFileSync(sourceFile, `${source}\n`);
    // A rename within the cache is atomic: two steps downloading at once both end with a whole binary.
    fs.renameSync(bin, cached);
    return { path: cached, source, childMs };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

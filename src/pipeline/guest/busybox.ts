// The guest's userland: Debian's busybox-static built for the guest's arch. The host's own /bin/busybox when it
// is the static one for the same arch, else `apt-get download busybox-static:<debian arch>` (multiarch: the arch
// must have been added with `dpkg --add-architecture`) unpacked with `dpkg -x`, once, under cacheDir/busybox/<arch>/.
import fs from 'node:fs';
import path from 'node:path';
import { logLine, runTool } from '../exec.js';
import type { Toolchain } from '../toolchains.js';

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
}

export interface GuestBusybox {
  path: string;
  /** Where it came from, for the log and the report. */
  source: string;
  childMs: number;
}

/** Why a busybox cannot be had: our infrastructure (the step reports `error`). */
export class BusyboxError extends Error {}

function check(file: string, tc: Toolchain): string | null {
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

/** A static busybox for the guest's arch, downloading it into the cache the first time. */
export async function guestBusybox(tc: Toolchain, opts: BusyboxOptions): Promise<GuestBusybox> {
  const host = opts.hostBusybox ?? '/bin/busybox';
  if (tc.arch === hostArch() && fs.existsSync(host)) {
    const why = check(host, tc);
    if (!why) return { path: host, source: `${host} (the host's busybox-static)`, childMs: 0 };
    logLine(opts.logPath, `not using ${host}: ${why}`);
  }
  const dir = path.join(opts.cacheDir, 'busybox', tc.arch);
  const cached = path.join(dir, 'busybox');
  const sourceFile = path.join(dir, 'source');
  if (fs.existsSync(cached) && !check(cached, tc)) {
    const from = fs.existsSync(sourceFile) ? fs.readFileSync(sourceFile, 'utf8').trim() : 'busybox-static';
    return { path: cached, source: `${from} (cached)`, childMs: 0 };
  }

  const pkg = `busybox-static:${tc.busyboxArch}`;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(dir), `.${tc.arch}-`));
  let childMs = 0;
  try {
    const dl = await runTool('apt-get', ['download', pkg], { cwd: tmp, logPath: opts.logPath, runId: opts.runId, timeoutMs: opts.timeoutMs, env: { ...process.env, LC_ALL: 'C' } });
    childMs += dl.ms;
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (dl.code !== 0 || !deb) {
      const said = `${dl.stderr}${dl.stdout}`.split('\n').find((l) => /^E: /.test(l)) ?? `apt-get exited with ${dl.code ?? dl.signal}`;
      const hint = /Unable to locate package/.test(said)
        ? ` (add the arch once as root: dpkg --add-architecture ${tc.busyboxArch} && apt-get update; Debian 12 has no ${tc.busyboxArch} busybox-static when the arch is not a release arch)`
        : '';
      throw new BusyboxError(`cannot download ${pkg}: ${said.replace(/^E: /, '')}${hint}`);
    }
    const x = await runTool('dpkg', ['-x', deb, 'root'], { cwd: tmp, logPath: opts.logPath, runId: opts.runId, timeoutMs: opts.timeoutMs });
    childMs += x.ms;
    const bin = path.join(tmp, 'root/bin/busybox');
    if (x.code !== 0 || !fs.existsSync(bin)) throw new BusyboxError(`dpkg -x ${deb} gave no bin/busybox`);
    const why = check(bin, tc);
    if (why) throw new BusyboxError(`${pkg}: ${why}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(sourceFile, `${deb.replace(/%3a/gi, ':')}\n`);
    // A rename within the cache is atomic: two steps downloading at once both end with a whole binary.
    fs.renameSync(bin, cached);
    return { path: cached, source: deb.replace(/%3a/gi, ':'), childMs };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// The guest's root file system: a gzipped newc initramfs holding busybox, patchbay's /init and LAVA's on-DUT helpers
// (templates/guest/). Written by our own cpio writer, so device nodes need no root. The same busybox and templates
// give the same bytes: the archive is cached under cacheDir/initramfs/ by content hash.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { writeCpio, type CpioEntry } from './cpio.js';

export const GUEST_TEMPLATES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../templates/guest');

/** The LAVA helpers installed in /usr/bin (templates/guest/<name>). */
export const LAVA_HELPERS = ['lava-test-case', 'lava-test-set', 'lava-test-raise', 'lava-test-reference'] as const;

const DIRS = ['dev', 'proc', 'sys', 'tmp', 'root', 'etc', 'bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'lib', 'mnt', 'mnt/probe', 'mnt/modules', 'tests'];

/** Everything in the initramfs, parents first. */
export function initramfsEntries(busybox: Buffer, templatesDir = GUEST_TEMPLATES): CpioEntry[] {
  const read = (name: string) => fs.readFileSync(path.join(templatesDir, name));
  return [
    ...DIRS.map((d): CpioEntry => ({ type: 'dir', path: d, mode: d === 'tmp' ? 0o1777 : 0o755 })),
    // The kernel opens /dev/console for init's stdin/out before our init mounts devtmpfs over /dev.
    { type: 'char', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    // /init is a #!/bin/sh script: without /bin/sh the kernel says "Failed to execute /init (error -2)".
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'init', data: read('init'), mode: 0o755 },
    ...LAVA_HELPERS.map((h): CpioEntry => ({ type: 'file', path: `usr/bin/${h}`, data: read(h), mode: 0o755 })),
  ];
}

/** The gzipped archive, from the cache when the same contents were packed before. Returns its path. */
export function buildInitramfs(busyboxPath: string, cacheDir: string, templatesDir = GUEST_TEMPLATES): { path: string; cached: boolean } {
  const entries = initramfsEntries(fs.readFileSync(busyboxPath), templatesDir);
  const hash = crypto.createHash('sha256');
  for (const e of entries) {
    hash.update(`${e.type}\0${e.path}\0`);
    if (e.type === 'file') hash.update(e.data);
    if (e.type === 'symlink') hash.update(e.target);
  }
  const dir = path.join(cacheDir, 'initramfs');
  const file = path.join(dir, `${hash.digest('hex').slice(0, 16)}.cpio.gz`);
  if (fs.existsSync(file)) return { path: file, cached: true };
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}`;
  fs.writeFileSync(tmp, zlib.gzipSync(writeCpio(entries), { level: 9 }));
  fs.renameSync(tmp, file);
  return { path: file, cached: false };
}

// Files in folders that code we do not trust has shaped (a worktree a series was applied to — git am creates the
// symlinks a patch asks for —, an object tree or output folder a sandboxed build wrote): the host opens them only
// below the folder (no `..`, no symlinked folder on the way, checked again on the open descriptor), never through a
// symlink (O_NOFOLLOW), only regular files (a FIFO would block us: O_NONBLOCK, then fstat), and never more than a
// bound. One module, so every step reads and writes such files the same way.
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';

export type UnsafeReason = 'bad-path' | 'missing' | 'symlink' | 'not-regular' | 'outside' | 'too-big';

/** A file of an untrusted folder the host refused to open; `reason` says why (the message names the file). */
export class UnsafeFileError extends AppError {
  readonly reason: UnsafeReason;
  readonly file: string;
  constructor(reason: UnsafeReason, file: string, message: string) {
    super(reason === 'missing' ? 'not_found' : 'forbidden', `unsafe_file_${reason.replace('-', '_')}`, message, { reason, file });
    this.name = 'UnsafeFileError';
    this.reason = reason;
    this.file = file;
  }
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fs.constants;

/** `rel` as clean path segments below a folder: relative, no `..`, no empty name, no NUL. */
function segments(rel: string): string[] {
  if (!rel || rel.includes('\0') || path.isAbsolute(rel)) throw new UnsafeFileError('bad-path', rel, `${JSON.stringify(rel)} is not a relative path`);
  const parts = path.normalize(rel).split(path.sep).filter((p) => p && p !== '.');
  if (!parts.length || parts.includes('..')) throw new UnsafeFileError('bad-path', rel, `${JSON.stringify(rel)} leaves its folder`);
  return parts;
}

function realRoot(root: string): string {
  try {
    return fs.realpathSync.native(root);
  } catch {
    throw new UnsafeFileError('missing', root, `the folder ${root} does not exist`);
  }
}

/**
 * The absolute path of `rel` below `root` (root itself is ours and may have symlinks in its own path), after checking
 * that every folder on the way is a real folder, not a symlink. The last component is not looked at.
 */
export function pathInTree(root: string, rel: string): string {
  const parts = segments(rel);
  let at = realRoot(root);
  for (const part of parts.slice(0, -1)) {
    at = path.join(at, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch {
      throw new UnsafeFileError('missing', rel, `${rel}: ${path.relative(realRoot(root), at)} does not exist`);
    }
    if (st.isSymbolicLink()) throw new UnsafeFileError('symlink', rel, `${rel}: ${path.relative(realRoot(root), at)} is a symlink`);
    if (!st.isDirectory()) throw new UnsafeFileError('not-regular', rel, `${rel}: ${path.relative(realRoot(root), at)} is not a folder`);
  }
  return path.join(at, parts.at(-1)!);
}

/** The file the descriptor really is (Linux: /proc/self/fd), to catch a folder swapped for a symlink after the walk. */
function openedPath(fd: number): string | null {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** Opens a regular file below `root` for reading: the descriptor and its size. The caller closes it. */
export function openInTree(root: string, rel: string, maxBytes: number): { fd: number; size: number; path: string } {
  const file = pathInTree(root, rel);
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UnsafeFileError('missing', rel, `${rel} does not exist`);
    // O_NOFOLLOW on a symlink fails with ELOOP.
    if (code === 'ELOOP') throw new UnsafeFileError('symlink', rel, `${rel} is a symlink`);
    throw new UnsafeFileError('not-regular', rel, `${rel} cannot be opened (${code ?? (e as Error).message})`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new UnsafeFileError('not-regular', rel, `${rel} is not a regular file`);
    const real = openedPath(fd);
    const top = realRoot(root);
    if (real !== null && !real.startsWith(top + path.sep)) throw new UnsafeFileError('outside', rel, `${rel} is outside ${root}`);
    if (st.size > maxBytes) throw new UnsafeFileError('too-big', rel, `${rel} is ${st.size} bytes, more than the ${maxBytes} allowed`);
    return { fd, size: st.size, path: file };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** The content of a regular file below `root`, at most `maxBytes` (more is an error, not a silent cut). */
export function readInTree(root: string, rel: string, maxBytes: number): Buffer {
  const { fd, size } = openInTree(root, rel, maxBytes);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    // Read to the end rather than trusting the size: a file may grow between fstat and read.
    for (;;) {
      const buf = Buffer.alloc(Math.min(Math.max(size - total, 0) + 1, 1 << 20, maxBytes - total + 1));
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new UnsafeFileError('too-big', rel, `${rel} is more than the ${maxBytes} bytes allowed`);
      chunks.push(buf.subarray(0, n));
    }
    return Buffer.concat(chunks);
  } finally {
    fs.closeSync(fd);
  }
}

/** readInTree as UTF-8 text, or null when the file does not exist (any other refusal still throws). */
export function readTextInTree(root: string, rel: string, maxBytes: number): string | null {
  try {
    return readInTree(root, rel, maxBytes).toString('utf8');
  } catch (e) {
    if (e instanceof UnsafeFileError && e.reason === 'missing') return null;
    throw e;
  }
}

/**
 * Copies a regular file from below `root` to `dest` (a path of ours: written beside, then renamed, so `dest` is never
 * followed if something put a symlink there). Returns the bytes copied.
 */
export function copyOutOfTree(root: string, rel: string, dest: string, opts: { maxBytes: number; mode?: number }): number {
  const src = openInTree(root, rel, opts.maxBytes);
  const tmp = `${dest}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  let out: number | null = null;
  try {
    out = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, opts.mode ?? 0o644);
    const buf = Buffer.alloc(1 << 20);
    let total = 0;
    for (;;) {
      const n = fs.readSync(src.fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > opts.maxBytes) throw new UnsafeFileError('too-big', rel, `${rel} is more than the ${opts.maxBytes} bytes allowed`);
      fs.writeSync(out, buf, 0, n);
    }
    fs.closeSync(out);
    out = null;
    fs.renameSync(tmp, dest);
    return total;
  } catch (e) {
    if (out !== null) fs.closeSync(out);
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    fs.closeSync(src.fd);
  }
}

/**
 * Writes a file below `root`: a symlink or anything else already at that name is removed first (never followed), and
 * the new file is created exclusively, so the write lands at that very name inside the folder.
 */
export function writeInTree(root: string, rel: string, data: string | Buffer, mode = 0o644): void {
  const file = pathInTree(root, rel);
  try {
    const st = fs.lstatSync(file);
    if (st.isDirectory()) throw new UnsafeFileError('not-regular', rel, `${rel} is a folder`);
    fs.unlinkSync(file);
  } catch (e) {
    if (e instanceof UnsafeFileError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
  } finally {
    fs.closeSync(fd);
  }
}

/** lstat of a name below `root` (folders on the way must be real folders), or null when it does not exist. */
export function lstatInTree(root: string, rel: string): fs.Stats | null {
  try {
    return fs.lstatSync(pathInTree(root, rel));
  } catch (e) {
    if ((e instanceof UnsafeFileError && e.reason === 'missing') || (e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** A regular file (not a symlink) at `rel` below `root`. Never throws: anything else is false. */
export function isRegularInTree(root: string, rel: string): boolean {
  try {
    return lstatInTree(root, rel)?.isFile() ?? false;
  } catch {
    return false;
  }
}

/** Sets the times of a regular file below `root` without following a symlink; false when it is not one. */
export function setTimesInTree(root: string, rel: string, atime: Date, mtime: Date): boolean {
  let file: string;
  try {
    file = pathInTree(root, rel);
  } catch {
    return false;
  }
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!st?.isFile()) return false;
  fs.lutimesSync(file, atime, mtime);
  return true;
}

/** Regular files directly in a folder of ours that untrusted code may have filled: names, sizes, no symlinks. */
export function regularFilesIn(dir: string): { name: string; size: number }[] {
  const out: { name: string; size: number }[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!e.isFile()) continue;
    const st = fs.lstatSync(path.join(dir, e.name), { throwIfNoEntry: false });
    if (st?.isFile()) out.push({ name: e.name, size: st.size });
  }
  return out;
}

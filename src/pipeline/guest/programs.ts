// Test programs, cross-built on the host for the guest (never in the guest): one static binary per .c file of the
// project's programs folder, against the kernel's own nolibc (tools/include/nolibc of the run's tree, so no libc
// for the guest arch is needed) and the build's exported headers when there are any (a new system call's number
// comes from the student's asm/unistd.h). The binaries are cached by everything they are made from (the compiler, the
// program sources, nolibc and the headers, by content): a run whose series leaves the exported headers as they were
// copies them instead of compiling (~0.1 s a program on 2 cores). The compiler runs in the sandbox as the build user:
// nolibc comes from the worktree and the headers from the build, both shaped by the series (a header made a symlink
// to a file of ours would otherwise be quoted back in the compiler's errors).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { copyOutOfTree, pathInTree } from '../safe-fs.js';
import { HIDDEN_DIRS as HIDDEN, sandboxEnv } from '../sandbox.js';
import { runSandboxed, sandboxHost } from '../sandbox-runner.js';
import { gccOf, which, type Toolchain } from '../toolchains.js';

export interface ProgramBuild {
  /** Program names built (the .c file's base name), in /tests/bin of the guest. */
  built: string[];
  /** Programs that did not compile, with the compiler's first lines. */
  failed: { name: string; source: string; output: string; command: string }[];
  childMs: number;
  /** The binaries came from the cache: nothing was compiled. */
  cached: boolean;
}

export interface ProgramOptions {
  tc: Toolchain;
  /** The kernel tree (its tools/include/nolibc). */
  tree: string;
  /** A headers_install include folder (with linux/ and asm/), or null for the compiler's own. */
  headers: string | null;
  logPath: string;
  runId: number;
  timeoutMs: number;
  /** Keep the binaries under <cacheDir>/programs, keyed by their inputs; without it every call compiles. */
  cacheDir?: string;
  /** Folders of ours the compiler's sandbox must not see (the data folder). */
  privateDirs?: string[];
}

/** A static test program against nolibc is a few KB; a cached one is never bigger than this. */
const PROGRAM_BYTES = 64 * 1024 * 1024;

/** tools/include/nolibc of the tree, reached through real folders only (the series could make one a symlink). */
function nolibcDir(tree: string): string {
  return path.dirname(pathInTree(tree, 'tools/include/nolibc/nolibc.h'));
}

/** Cache entries kept; the least recently used go first. */
const CACHE_ENTRIES = 32;
/** Bumped when the layout of an entry or what goes into its key changes. */
const CACHE_FORMAT = 'patchbay-programs-1';

/** The gcc arguments for one program; the -I order puts the build's headers before the compiler's. */
export function programArgs(source: string, output: string, tree: string, headers: string | null): string[] {
  const nolibc = path.join(tree, 'tools/include/nolibc');
  return [
    '-Os',
    '-static',
    '-nostdlib',
    '-fno-asynchronous-unwind-tables',
    '-fno-ident',
    '-s',
    '-include',
    path.join(nolibc, 'nolibc.h'),
    '-I',
    nolibc,
    ...(headers ? ['-I', headers] : []),
    '-o',
    output,
    source,
    '-lgcc',
  ];
}

/** Every regular file under `dir` (relative path and content) into the hash, in a fixed order. */
function hashTree(h: crypto.Hash, label: string, dir: string): void {
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) {
        const data = fs.readFileSync(path.join(dir, r));
        h.update(`${label}\0${r}\0${data.length}\0`).update(data);
      }
    }
  };
  walk('');
}

/** The cache key: the compiler (its binary's identity), the command line, the sources, nolibc and the headers. */
function cacheKey(srcDir: string, opts: ProgramOptions): string | null {
  const gcc = which(gccOf(opts.tc));
  if (!gcc) return null;
  const h = crypto.createHash('sha256');
  const st = fs.statSync(fs.realpathSync(gcc));
  h.update(`${CACHE_FORMAT}\0${opts.tc.arch}\0${fs.realpathSync(gcc)}\0${st.size}\0${st.mtimeMs}\0`);
  h.update(programArgs('SRC', 'OUT', 'TREE', opts.headers ? 'HEADERS' : null).join('\0'));
  hashTree(h, 'src', srcDir);
  hashTree(h, 'nolibc', nolibcDir(opts.tree));
  if (opts.headers) hashTree(h, 'headers', opts.headers);
  return h.digest('hex');
}

/** Copies the cached binaries into outDir and returns their names; null when the entry is missing or incomplete. */
function fromCache(entry: string, outDir: string): string[] | null {
  try {
    const built: unknown = JSON.parse(fs.readFileSync(path.join(entry, 'built.json'), 'utf8'));
    if (!Array.isArray(built) || !built.every((b): b is string => typeof b === 'string' && /^[\w.+-]+$/.test(b))) return null;
    for (const name of built) fs.copyFileSync(path.join(entry, 'bin', name), path.join(outDir, name));
    for (const name of built) fs.chmodSync(path.join(outDir, name), 0o755);
    const now = new Date();
    fs.utimesSync(entry, now, now);
    return built;
  } catch {
    return null;
  }
}

/** Stores the binaries just built (atomically: made beside, then renamed), then drops the least recently used. */
function toCache(root: string, key: string, outDir: string, built: string[]): void {
  try {
    fs.mkdirSync(root, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(root, '.new-'));
    fs.mkdirSync(path.join(tmp, 'bin'));
    // The binaries were written by the sandboxed compiler: copied without following anything.
    for (const name of built) copyOutOfTree(outDir, name, path.join(tmp, 'bin', name), { maxBytes: PROGRAM_BYTES, mode: 0o755 });
    fs.writeFileSync(path.join(tmp, 'built.json'), JSON.stringify(built));
    try {
      fs.renameSync(tmp, path.join(root, key));
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true }); // another run stored the same entry first
    }
    const entries = fs
      .readdirSync(root)
      .filter((n) => /^[0-9a-f]{64}$/.test(n))
      .map((n) => ({ n, t: fs.statSync(path.join(root, n)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    for (const { n } of entries.slice(CACHE_ENTRIES)) fs.rmSync(path.join(root, n), { recursive: true, force: true });
  } catch {
    // a cache that cannot be written costs a compile next time, nothing more
  }
}

/**
 * Compiles every *.c of srcDir into outDir. A program that does not compile is reported, the others still built.
 * With opts.cacheDir, binaries of the same inputs are copied from the cache; only a build where every program
 * compiled is stored.
 */
export async function buildPrograms(srcDir: string, outDir: string, opts: ProgramOptions): Promise<ProgramBuild> {
  const result: ProgramBuild = { built: [], failed: [], childMs: 0, cached: false };
  let nolibc: string;
  try {
    nolibc = path.join(nolibcDir(opts.tree), 'nolibc.h');
  } catch (e) {
    throw new Error(`the tree's tools/include/nolibc cannot be used: ${(e as Error).message}`);
  }
  if (!fs.existsSync(nolibc)) throw new Error(`the tree has no ${path.relative(opts.tree, nolibc)}: test programs cannot be built`);
  fs.mkdirSync(outDir, { recursive: true });
  const user = sandboxHost().user;
  if (user) fs.chownSync(outDir, user.uid, user.gid);
  const sources = fs.readdirSync(srcDir).filter((f) => f.endsWith('.c')).sort();
  const gcc = gccOf(opts.tc);
  const root = opts.cacheDir ? path.join(opts.cacheDir, 'programs') : null;
  const key = root ? cacheKey(srcDir, opts) : null;
  if (root && key) {
    const built = fromCache(path.join(root, key), outDir);
    if (built) {
      fs.appendFileSync(opts.logPath, `test programs from the cache (${path.join(root, key)}): ${built.join(' ')}\n`);
      return { ...result, built, cached: true };
    }
  }
  for (const file of sources) {
    const name = file.slice(0, -2);
    const args = programArgs(path.join(srcDir, file), path.join(outDir, name), opts.tree, opts.headers);
    const r = await runSandboxed(gcc, args, {
      writable: [outDir],
      readable: [srcDir, opts.tree, ...(opts.headers ? [opts.headers] : [])],
      hide: [...HIDDEN, ...(opts.privateDirs ?? [])],
      cwd: srcDir,
      env: sandboxEnv(),
      logPath: opts.logPath,
      runId: opts.runId,
      timeoutMs: opts.timeoutMs,
    });
    result.childMs += r.ms;
    if (r.code !== 0 && !r.capHit && !r.timedOut && r.stderr.trim()) throw new Error(`the sandbox failed: ${r.stderr.trim().split('\n').at(-1)}`);
    if (r.code === 0) result.built.push(name);
    else {
      const lines = r.stdout.split('\n').filter((l) => l.trim());
      const firstError = lines.findIndex((l) => /\berror\b/.test(l));
      const from = Math.max(0, firstError === -1 ? 0 : firstError - 1);
      result.failed.push({ name, source: file, output: lines.slice(from, from + 12).join('\n'), command: [gcc, ...args].join(' ') });
    }
  }
  if (root && key && result.failed.length === 0 && result.built.length > 0) toCache(root, key, outDir, result.built);
  return result;
}

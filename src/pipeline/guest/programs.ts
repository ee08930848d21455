// Test programs, cross-built on the host for the guest (never in the guest): one static binary per .c file of the
// project's programs folder, against the kernel's own nolibc (tools/include/nolibc of the run's tree, so no libc
// for the guest arch is needed) and the build's exported headers when there are any (a new system call's number
// comes from the student's asm/unistd.h).
import fs from 'node:fs';
import path from 'node:path';
import { runTool } from '../exec.js';
import { gccOf, type Toolchain } from '../toolchains.js';

export interface ProgramBuild {
  /** Program names built (the .c file's base name), in /tests/bin of the guest. */
  built: string[];
  /** Programs that did not compile, with the compiler's first lines. */
  failed: { name: string; source: string; output: string; command: string }[];
  childMs: number;
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
}

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

/** Compiles every *.c of srcDir into outDir. A program that does not compile is reported, the others still built. */
export async function buildPrograms(srcDir: string, outDir: string, opts: ProgramOptions): Promise<ProgramBuild> {
  const result: ProgramBuild = { built: [], failed: [], childMs: 0 };
  const nolibc = path.join(opts.tree, 'tools/include/nolibc/nolibc.h');
  if (!fs.existsSync(nolibc)) throw new Error(`the tree has no ${path.relative(opts.tree, nolibc)}: test programs cannot be built`);
  fs.mkdirSync(outDir, { recursive: true });
  const sources = fs.readdirSync(srcDir).filter((f) => f.endsWith('.c')).sort();
  const gcc = gccOf(opts.tc);
  for (const file of sources) {
    const name = file.slice(0, -2);
    const args = programArgs(path.join(srcDir, file), path.join(outDir, name), opts.tree, opts.headers);
    const r = await runTool(gcc, args, { cwd: srcDir, logPath: opts.logPath, runId: opts.runId, timeoutMs: opts.timeoutMs, env: { ...process.env, LC_ALL: 'C' } });
    result.childMs += r.ms;
    if (r.code === 0) result.built.push(name);
    else {
      const lines = `${r.stderr}${r.stdout}`.split('\n').filter((l) => l.trim());
      const firstError = lines.findIndex((l) => /\berror\b/.test(l));
      const from = Math.max(0, firstError === -1 ? 0 : firstError - 1);
      result.failed.push({ name, source: file, output: lines.slice(from, from + 12).join('\n'), command: [gcc, ...args].join(' ') });
    }
  }
  return result;
}

// The tests disk: each LAVA test definition turned into the run.sh LAVA's dispatcher would write for it
// (lava_dispatcher/actions/deploy/testdef.py: parameters, set -e, TESTRUN_ID, STARTRUN, the steps, ENDRUN), the files
// next to the definition, and the cross-built test programs in bin/ (on the guest's PATH as /tests/bin). An ext2
// image made by `mke2fs -d`, which needs no root. The guest's /init finds it by its .patchbay-tests marker.
import fs from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { runTool } from '../exec.js';
import { copyOutOfTree, readInTree, regularFilesIn, UnsafeFileError } from '../safe-fs.js';
import { compilePythonRegex, validateTestDefinition } from '../lava-testdef.js';
import type { RunSpec } from '../test-results.js';

export const TESTS_MARKER = '.patchbay-tests';

export interface GuestDefinition extends RunSpec {
  origin: 'reference' | 'student';
  path: string;
  /** The folder on the tests disk: the index, zero-padded so the guest's glob runs them in order. */
  dir: string;
  steps: string[];
  params: [string, string][];
  /** Why it cannot run (unreadable, not a valid definition); null when it can. */
  problem: string | null;
}

export function definitionDir(index: number): string {
  return String(index).padStart(3, '0');
}

/** Python's str() of a YAML scalar, as LAVA writes parameter values into run.sh. */
function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  return String(v);
}

/**
 * Reads one definition for the guest. Pure apart from reading the file: a student's (a copy the series' file was
 * turned into) without following a symlink, regular and bounded.
 */
export function readDefinition(def: { name: string; path: string; origin: 'reference' | 'student'; problem?: string }, index: number): GuestDefinition {
  const suite = `${index}_${def.name}`;
  const base: GuestDefinition = { index, suite, name: def.name, origin: def.origin, path: def.path, dir: definitionDir(index), steps: [], params: [], expected: [], parse: null, problem: null };
  if (def.problem) return { ...base, problem: def.problem };
  let text: string;
  try {
    text = def.origin === 'student' ? readInTree(path.dirname(def.path), path.basename(def.path), SIBLING_LIMITS.fileBytes).toString('utf8') : fs.readFileSync(def.path, 'utf8');
  } catch (e) {
    return { ...base, problem: `cannot read ${def.path}: ${(e as Error).message}` };
  }
  const check = validateTestDefinition(text);
  base.expected = check.testCases;
  if (!check.ok) {
    const e = check.errors[0]!;
    return { ...base, problem: `${path.basename(def.path)}:${e.line}: ${e.message}` };
  }
  const doc = parseDocument(text, { version: '1.1' }).toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  const run = doc.run as { steps?: unknown[] };
  base.steps = (run.steps ?? []).filter((s): s is string => typeof s === 'string');
  const params = (doc.params ?? doc.parameters) as Record<string, unknown> | undefined;
  if (params && typeof params === 'object') base.params = Object.entries(params).map(([k, v]) => [k, pyStr(v)]);
  const parse = doc.parse as { pattern?: string; fixupdict?: Record<string, string> } | undefined;
  if (parse?.pattern) {
    const compiled = compilePythonRegex(parse.pattern);
    if ('regex' in compiled) base.parse = { regex: compiled.regex, fixup: parse.fixupdict ?? {} };
  }
  return base;
}

/** The name of a student's file's copy in the run's artefacts: one folder, no separator. */
export function studentCopyName(file: string): string {
  return file.replace(/[^\w.-]+/g, '_');
}

/**
 * A student's file (their test definition) copied from the worktree into `destDir` (the run's artefacts) once. The
 * series made that file: a symlink (to any file of ours), a FIFO or a file bigger than a definition is not copied,
 * and `problem` says why (the test step reports it as the student's).
 */
export function takeStudentFile(worktree: string, file: string, destDir: string): { path: string; problem?: string } {
  const dest = path.join(destDir, studentCopyName(file));
  if (fs.existsSync(dest)) return { path: dest };
  fs.mkdirSync(destDir, { recursive: true });
  try {
    copyOutOfTree(worktree, file, dest, { maxBytes: SIBLING_LIMITS.fileBytes });
    return { path: dest };
  } catch (e) {
    if (!(e instanceof UnsafeFileError)) throw e;
    return { path: dest, problem: `${file} cannot be taken from the series: ${e.message}` };
  }
}

/** Single-quotes a value for sh. */
function shq(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/**
 * run.sh as LAVA 2023.01 writes it, but with the parameters exported (so the programs a step starts see them too)
 * and the definition's own folder on the tests disk as the working directory. LAVA escapes `$1`-style positional
 * parameters in --shell/--cmd steps so they reach the command unexpanded; so do we.
 */
export function runScript(d: GuestDefinition, uuid: string): string {
  const out = [
    '#!/bin/sh',
    `# ${d.suite}: written by patchbay from ${path.basename(d.path)} (${d.origin}), as LAVA's run.sh`,
    '###default parameters from test definition###',
    ...d.params.map(([k, v]) => `export ${k}=${shq(v)}`),
    '######',
    'set -e',
    'set -x',
    `export TESTRUN_ID=${d.suite}`,
    `cd /tests/defs/${d.dir}`,
    `UUID=${shq(uuid)}`,
    'set +x',
    'echo "<LAVA_SIGNAL_STARTRUN $TESTRUN_ID $UUID>"',
    'set -x',
  ];
  for (const step of d.steps) out.push(/--cmd|--shell/.test(step) ? step.replace(/\$(\d+)\b/g, '\\$$$1') : step);
  out.push('set +x', 'echo "<LAVA_SIGNAL_ENDRUN $TESTRUN_ID $UUID>"');
  return out.join('\n') + '\n';
}

/** Limits on the files copied from a definition's folder (a student's definition may sit in a big folder). */
export const SIBLING_LIMITS = { fileBytes: 1 << 20, totalBytes: 8 << 20 };

/**
 * Writes the tests disk's tree into `stage`: the marker, defs/<dir>/{run.sh, the definition's sibling files}, and
 * bin/ (the caller puts the programs there). Returns what was left out, for the log.
 */
export function stageTestsDisk(stage: string, defs: GuestDefinition[], uuidOf: (d: GuestDefinition) => string): string[] {
  const skipped: string[] = [];
  fs.mkdirSync(path.join(stage, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(stage, TESTS_MARKER), 'patchbay tests disk\n');
  for (const d of defs) {
    if (d.problem) continue;
    const dir = path.join(stage, 'defs', d.dir);
    fs.mkdirSync(dir, { recursive: true });
    let total = 0;
    const src = path.dirname(d.path);
    // Regular files only (never through a symlink), each and all bounded.
    for (const f of regularFilesIn(src)) {
      if (f.name === 'run.sh' || f.name === 'uuid') continue;
      if (f.size > SIBLING_LIMITS.fileBytes || total + f.size > SIBLING_LIMITS.totalBytes) {
        skipped.push(path.join(src, f.name));
        continue;
      }
      total += copyOutOfTree(src, f.name, path.join(dir, f.name), { maxBytes: SIBLING_LIMITS.fileBytes });
    }
    fs.writeFileSync(path.join(dir, 'uuid'), uuidOf(d));
    fs.writeFileSync(path.join(dir, 'run.sh'), runScript(d, uuidOf(d)), { mode: 0o755 });
  }
  return skipped;
}

function du(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, f.name);
    n += f.isDirectory() ? du(p) + 4096 : f.isFile() ? fs.statSync(p).size + 4096 : 4096;
  }
  return n;
}

/** `mke2fs -q -t ext2 -d stage image SIZE` with room to spare; no root needed. */
export async function makeExt2(stage: string, image: string, label: string, opts: { logPath: string; runId: number; timeoutMs: number }): Promise<{ ok: boolean; ms: number; output: string }> {
  const kb = Math.ceil((du(stage) * 1.3) / 1024) + 2048;
  fs.rmSync(image, { force: true });
  const r = await runTool('mke2fs', ['-q', '-t', 'ext2', '-m', '0', '-L', label, '-d', stage, image, `${kb}k`], { cwd: path.dirname(image), ...opts });
  return { ok: r.code === 0, ms: r.ms, output: `${r.stderr}${r.stdout}`.trim() };
}

/**
 * The headers_install folder inside the build's modules image, copied out with debugfs (no mount, no root):
 * the first of usr/include, include, headers/include that holds linux/ and asm/. Null when there is none.
 */
export async function headersFromImage(image: string, dest: string, opts: { logPath: string; runId: number; timeoutMs: number }): Promise<{ dir: string | null; ms: number }> {
  const candidates = ['/usr/include', '/include', '/headers/include', '/usr/src/linux-headers/include'];
  fs.rmSync(dest, { recursive: true, force: true });
  const commands = candidates.map((c, i) => {
    fs.mkdirSync(path.join(dest, String(i)), { recursive: true });
    return `rdump ${c} ${path.join(dest, String(i))}`;
  });
  const r = await runTool('debugfs', ['-f', '-', image], { cwd: dest, ...opts, input: commands.join('\n') + '\n' });
  for (let i = 0; i < candidates.length; i++) {
    const dir = path.join(dest, String(i), path.basename(candidates[i]!));
    if (fs.existsSync(path.join(dir, 'linux')) && fs.existsSync(path.join(dir, 'asm'))) return { dir, ms: r.ms };
  }
  return { dir: null, ms: r.ms };
}

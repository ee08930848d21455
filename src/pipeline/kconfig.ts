// Makes the .config of one build in its O= folder (issue 6 §2): the base (`make tinyconfig`/`defconfig`, or a full
// config file copied in), then the tree's own scripts/kconfig/merge_config.sh -m with the common fragment, the
// arch's fragment and the project's fragments (absolute paths: the script runs in the source folder), then
// `make olddefconfig`; finally every fragment line is checked against the final .config (merge_config -m does not).
// Commands run through the caller's runner (the build step's sandbox: Kconfig's $(shell,…) is the student's code).
// The fragments are written in a folder of ours that the sandbox only reads; the .config is read back with
// ./safe-fs.ts (a Kconfig run in the sandbox could have made it a symlink to any file of ours).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ToolRun } from './exec.js';
import { readTextInTree, writeInTree } from './safe-fs.js';
import { checkFragments, type MissingValue } from './rules/kconfig-output.js';
import { commonFragment, toolchainFor, type Toolchain } from './toolchains.js';

export interface ConfigSpec {
  arch: string;
  /** `tinyconfig`, `defconfig` (any `*config` make target), or an absolute path to a full config file. */
  base: string;
  /** Absolute paths, merged in order. */
  fragments: string[];
}

/** Runs a command in the source folder, or in `cwd` (sandboxed by the caller). */
export type Runner = (cmd: string, args: string[], o?: { cwd?: string }) => Promise<ToolRun>;

/** A make target rather than a file: `tinyconfig`, `defconfig`, `allnoconfig`, `x86_64_defconfig`… */
export function isConfigTarget(base: string): boolean {
  return !base.includes('/') && /^[\w.-]*config$/.test(base);
}

function fileText(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return `<missing ${p}>`;
  }
}

/**
 * sha256 of what decides the .config: the arch, the base (a target's name or a file's content), the common and arch
 * fragments of the table, and each project fragment's content in order. Names the build's O= folder.
 */
export function configHash(spec: ConfigSpec): string {
  const tc = toolchainFor(spec.arch);
  const h = crypto.createHash('sha256');
  const part = (label: string, text: string) => h.update(`${label}\0${Buffer.byteLength(text)}\0${text}\0`);
  part('arch', spec.arch);
  part('base', isConfigTarget(spec.base) ? spec.base : `file:${fileText(spec.base)}`);
  part('common', tc ? commonFragment(tc).join('\n') : '');
  part('arch-fragment', tc ? tc.baseFragment.join('\n') : '');
  for (const f of spec.fragments) part('fragment', fileText(f));
  return h.digest('hex');
}

/** Writes the table's common and arch fragments as files in `dir`; returns their absolute paths. */
export function writeTableFragments(tc: Toolchain, dir: string): { common: string; arch: string } {
  fs.mkdirSync(dir, { recursive: true });
  const common = path.resolve(dir, 'common.config');
  const arch = path.resolve(dir, `${tc.arch}.config`);
  fs.writeFileSync(common, `${commonFragment(tc).join('\n')}\n`);
  fs.writeFileSync(arch, `${tc.baseFragment.join('\n')}\n`);
  return { common, arch };
}

export interface ConfigureOptions {
  spec: ConfigSpec;
  objDir: string;
  /** The source tree (its scripts/kconfig/merge_config.sh). */
  sourceDir: string;
  /** `O=… ARCH=… CROSS_COMPILE=… CC=… HOSTCC=…`: the same variables as the build, so Kconfig sees the same compiler. */
  makeVars: string[];
  run: Runner;
  /** Where the table's and the project's fragments are written: a folder of ours, read-only in the sandbox. */
  fragmentDir: string;
  /**
   * Merge the fragments into the existing .config (no base step): after the tree's Kconfig files changed. The .config
   * is then the one the sandbox sees (an overlay over objDir): it is not read back here (`missing` stays empty; the
   * build step checks the final .config).
   */
  mergeOnly?: boolean;
}

/** The largest .config read back (allyesconfig is ~300 KB). */
export const CONFIG_MAX_BYTES = 8 * 1024 * 1024;

export interface ConfigureResult {
  ok: boolean;
  /** What failed, when !ok (the command and its last line). */
  error: string | null;
  /** The fragments merged, in order (absolute paths). */
  fragments: string[];
  missing: MissingValue[];
  childMs: number;
}

function lastLine(r: ToolRun): string {
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter(Boolean);
  return r.timedOut ? 'timed out' : (lines.at(-1) ?? `exit ${r.code ?? r.signal}`);
}

/** base (unless mergeOnly) → merge → olddefconfig → check. */
export async function configure(opts: ConfigureOptions): Promise<ConfigureResult> {
  const { spec, objDir } = opts;
  const tc = toolchainFor(spec.arch);
  if (!tc) return { ok: false, error: `unknown arch ${spec.arch}`, fragments: [], missing: [], childMs: 0 };
  let childMs = 0;
  const run = async (cmd: string, args: string[], o?: { cwd?: string }) => {
    const r = await opts.run(cmd, args, o);
    childMs += r.ms;
    return r;
  };
  const fail = (what: string, r: ToolRun | null, fragments: string[] = []): ConfigureResult => ({
    ok: false,
    error: r ? `${what} failed: ${lastLine(r)}` : what,
    fragments,
    missing: [],
    childMs,
  });

  fs.mkdirSync(objDir, { recursive: true });
  const dir = opts.fragmentDir;
  const table = writeTableFragments(tc, dir);
  const fragments = [table.common, table.arch, ...spec.fragments.map((f) => path.resolve(f))];
  for (const f of spec.fragments) if (!fs.existsSync(f)) return fail(`config fragment ${f} does not exist`, null, fragments);
  // The project's fragments are copied beside the table's: the sandbox may not see where they live (a private /tmp).
  const merged = [table.common, table.arch];
  spec.fragments.forEach((f, i) => {
    const copy = path.join(dir, `project-${i + 1}-${path.basename(f)}`);
    fs.copyFileSync(f, copy);
    merged.push(copy);
  });

  if (opts.mergeOnly) {
    // keep the .config: only the fragments are merged again
  } else if (isConfigTarget(spec.base)) {
    const r = await run('make', [...opts.makeVars, spec.base]);
    if (r.code !== 0) return fail(`make ${spec.base}`, r, fragments);
  } else {
    if (!fs.existsSync(spec.base)) return fail(`base config ${spec.base} does not exist`, null, fragments);
    writeInTree(objDir, '.config', fs.readFileSync(spec.base));
  }
  const cfg = path.join(objDir, '.config');
  // In the object tree: the script makes its temporary files in the current folder, and the source tree is read-only.
  const merge = await run(path.join(opts.sourceDir, 'scripts/kconfig/merge_config.sh'), ['-m', '-O', objDir, cfg, ...merged], { cwd: objDir });
  if (merge.code !== 0) return fail('merge_config.sh', merge, fragments);
  const old = await run('make', [...opts.makeVars, 'olddefconfig']);
  if (old.code !== 0) return fail('make olddefconfig', old, fragments);

  if (opts.mergeOnly) return { ok: true, error: null, fragments, missing: [], childMs };
  const config = readTextInTree(objDir, '.config', CONFIG_MAX_BYTES);
  if (config === null) return fail('make olddefconfig wrote no .config', null, fragments);
  const missing = checkFragments(
    fragments.map((f) => ({ name: f, text: fs.readFileSync(f, 'utf8') })),
    config,
  );
  return { ok: true, error: null, fragments, missing, childMs };
}

/** The missing values of a final .config (its text) against the fragments (our files). */
export function checkConfig(config: string, fragments: string[]): MissingValue[] {
  return checkFragments(
    fragments.map((f) => ({ name: f, text: fileText(f) })),
    config,
  );
}

/** `CONFIG_X=y` in a .config's text. */
export function configEnabled(config: string, symbol: string): boolean {
  return config.split('\n').some((l) => l === `${symbol}=y`);
}

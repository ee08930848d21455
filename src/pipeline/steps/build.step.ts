// One kernel build of a run (issue 6 §2): the series is applied in the run's worktree (HEAD = series, ctx.baseCommit =
// the commit before it). The O= folder is warm: it stays at a fixed path for this worktree slot, arch and config and
// holds a build of the base (marker <objDir>/.patchbay-base = "<commit> <config hash>"). When the marker does not
// match, the base is checked out, configured if needed, built, its warnings recorded, and the series checked out
// again; then make builds the series in place, recompiling only what it touched. make runs in the sandbox
// (../sandbox.ts) through ccache. The log is read by ../rules/gcc-output.ts: the first errors, and the warnings the
// base build did not have (type NEW_WARNING). Outputs: the kernel image, the .config and an ext2 image of
// modules_install + headers_install, copied into the run's artefacts.
import fs from 'node:fs';
import path from 'node:path';
import { logLine, runTool, type ToolRun } from '../exec.js';
import { checkConfig, configEnabled, configHash, configure, type ConfigSpec, type ConfigureResult } from '../kconfig.js';
import { newWarnings, parseBuildLog, warningKey, type BuildLog, type Diagnostic } from '../rules/gcc-output.js';
import { missingValueMessage, type MissingValue } from '../rules/kconfig-output.js';
import { DEFAULT_LIMITS, sandboxed, sandboxEnv, type SandboxLimits } from '../sandbox.js';
import { firstLineOf, gccOf, toolchainFor, which, type Toolchain } from '../toolchains.js';
import type { BuildContext, Finding, Job, StepResult } from '../types.js';

/** `<objDir>/.patchbay-base`: "<base commit> <config hash>" of the build the O= folder holds. */
export const BASE_MARKER = '.patchbay-base';
/** `<objDir>/.patchbay-base-warnings.json`: the base build's warnings (keys of rules/gcc-output.ts warningKey). */
export const BASE_WARNINGS = '.patchbay-base-warnings.json';
/** `<objDir>/.patchbay-config`: the config hash the .config was made for. */
export const CONFIG_MARKER = '.patchbay-config';
/** The series files the object tree was last built from: content hash and mtime, to keep unchanged files' mtimes. */
export const SOURCES = '.patchbay-sources.json';

type Sources = Record<string, { sha: string; mtimeMs: number }>;

function readSources(objDir: string): Sources {
  try {
    const v: unknown = JSON.parse(fs.readFileSync(path.join(objDir, SOURCES), 'utf8'));
    return v && typeof v === 'object' ? (v as Sources) : {};
  } catch {
    return {};
  }
}

function writeSources(objDir: string, sources: Sources): void {
  fs.writeFileSync(path.join(objDir, SOURCES), JSON.stringify(sources));
}

function readBaseWarnings(objDir: string): BaseWarnings | null {
  try {
    return JSON.parse(readText(path.join(objDir, BASE_WARNINGS)) ?? 'null') as BaseWarnings | null;
  } catch {
    return null;
  }
}

/** The O= folder holds a build of `base` (full sha) for this config: the step builds only the series in it. */
export function holdsBase(objDir: string, base: string, spec: ConfigSpec): boolean {
  const marker = readText(path.join(objDir, BASE_MARKER))?.trim() ?? '';
  return marker === `${base} ${configHash(spec)}` && readBaseWarnings(objDir) !== null && fs.existsSync(path.join(objDir, '.config'));
}

/**
 * For builds that share one worktree and run at once (each in its warm O= folder): gives each file recorded in their
 * SOURCES its recorded mtime back when its content is what EVERY one of those trees was built from, the latest of
 * their mtimes. A file one of them built from other content keeps its fresh mtime, so that tree recompiles it (the
 * others then recompile it too: slower, never wrong). One build at a time does the same for its own tree alone
 * (buildStep); at once, a build setting an old mtime could hide a change from a sibling's make. Returns the files
 * given an old mtime.
 */
export async function keepSourceTimes(opts: { worktree: string; objDirs: string[]; logPath: string; runId: number; timeoutMs: number }): Promise<string[]> {
  const records = opts.objDirs.map(readSources);
  const files = [...new Set(records.flatMap((r) => Object.keys(r)))].filter((f) => fs.existsSync(path.join(opts.worktree, f))).sort();
  if (!files.length) return [];
  const r = await runTool('git', ['hash-object', '--', ...files], { cwd: opts.worktree, logPath: opts.logPath, timeoutMs: opts.timeoutMs, runId: opts.runId, env: { ...process.env, LC_ALL: 'C' } });
  if (r.code !== 0) return [];
  const shas = r.stdout.trim().split('\n');
  const kept: string[] = [];
  files.forEach((f, i) => {
    const recs = records.map((rec) => rec[f]);
    if (!recs.every((x) => x && x.sha === shas[i])) return;
    const t = new Date(Math.max(...recs.map((x) => x!.mtimeMs)));
    fs.utimesSync(path.join(opts.worktree, f), t, t);
    kept.push(f);
  });
  logLine(opts.logPath, `--- ${opts.objDirs.length} builds at once in this worktree; unchanged since each of their last builds, mtime kept: ${kept.join(', ') || 'none'}`);
  return kept;
}
const STAGING = '.patchbay-staging';

const MAX_ERRORS = 10;
const MAX_WARNINGS = 20;
const MAX_COMPILED_LISTED = 20;

/** Fixed so builds are reproducible and ccache hits across runs (kernel-lab.md §2). */
export const KBUILD_ENV = {
  KBUILD_BUILD_TIMESTAMP: '2024-01-01',
  KBUILD_BUILD_USER: 'patchbay',
  KBUILD_BUILD_HOST: 'patchbay',
};

interface BaseWarnings {
  commit: string;
  configHash: string;
  /** warningKey → how many times the base build printed it. */
  warnings: Record<string, number>;
}

class StepError extends Error {}

function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function readText(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** Makes gcc's file names (absolute, or relative to O= after ccache's rewriting) relative to the source tree. */
export function sourcePathMapper(worktree: string, objDir: string): (file: string) => string {
  const wt = path.resolve(worktree);
  const od = path.resolve(objDir);
  return (file) => {
    const abs = path.resolve(od, file);
    if (abs.startsWith(wt + path.sep)) return path.relative(wt, abs);
    if (abs.startsWith(od + path.sep)) return path.relative(od, abs);
    return file.startsWith('./') ? file.slice(2) : file;
  };
}

function diagnosticLine(d: Diagnostic): string {
  const where = `${d.file}:${d.line}${d.column !== null ? `:${d.column}` : ''}`;
  return `${where}: ${d.level}: ${d.message}${d.flag ? ` [${d.flag}]` : ''}`;
}

function diagnosticFinding(d: Diagnostic, type: string): Finding {
  const f: Finding = { level: d.level === 'error' ? 'error' : 'warning', type, message: diagnosticLine(d), file: d.file, line: d.line };
  if (d.quote) f.quote = d.quote;
  return f;
}

/** Findings for a failed build: the first compile errors, else link/modpost errors, else make's own lines. */
function errorFindings(log: BuildLog): Finding[] {
  const errors = log.diagnostics.filter((d) => d.level === 'error').slice(0, MAX_ERRORS);
  const out = errors.map((d) => diagnosticFinding(d, 'COMPILE_ERROR'));
  for (const e of log.linkErrors.slice(0, MAX_ERRORS)) {
    out.push({
      level: 'error',
      type: e.kind === 'undefined-reference' ? 'UNDEFINED_REFERENCE' : 'MODPOST',
      message: e.kind === 'undefined-reference' && e.function ? `${e.text} (in ${e.function})` : e.text,
    });
  }
  if (out.length === 0) for (const e of log.makeErrors.slice(0, 3)) out.push({ level: 'error', type: 'MAKE_ERROR', message: e.text });
  return out;
}

/** The size for `mke2fs` of a folder's content: its blocks plus room for metadata, in KiB. */
function ext2Size(dir: string): { kib: number; inodes: number } {
  let bytes = 0;
  let entries = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      entries++;
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        bytes += 4096;
        walk(p);
      } else if (e.isFile()) {
        bytes += Math.ceil(fs.statSync(p).size / 1024) * 1024 + 1024;
      } else {
        bytes += 1024;
      }
    }
  };
  walk(dir);
  return { kib: Math.ceil((bytes * 1.3) / 1024) + 2048, inodes: entries + 128 };
}

export interface BuildStepOptions {
  limits?: Partial<SandboxLimits>;
}

export async function buildStep(job: Job, ctx: BuildContext, opts: BuildStepOptions = {}): Promise<StepResult> {
  const started = performance.now();
  const deadline = Date.now() + ctx.timeoutMs;
  const findings: Finding[] = [];
  let childMs = 0;
  const outputs: NonNullable<StepResult['outputs']> = { arch: ctx.build.arch, key: ctx.build.key, baseCommit: ctx.baseCommit };
  const result = (status: StepResult['status'], summary: string): StepResult => ({ status, summary, findings, logPath: ctx.logPath, childMs, outputs });
  const remaining = () => {
    const ms = deadline - Date.now();
    if (ms <= 0) throw new StepError(`the build step ran out of time (${Math.round(ctx.timeoutMs / 1000)} s)`);
    return ms;
  };

  const tc: Toolchain | null = toolchainFor(ctx.build.arch);
  if (!tc) return result('error', `unknown arch ${ctx.build.arch}: not in the toolchain table`);
  const gccPath = which(gccOf(tc));
  if (!gccPath) {
    logLine(ctx.logPath, `error: ${gccOf(tc)} not found on PATH (Debian package ${tc.debPackage})`);
    return result('error', `toolchain for ${tc.arch} missing: ${gccOf(tc)} is not installed (Debian package ${tc.debPackage})`);
  }
  for (const tool of ['bwrap', 'ccache', 'make', 'prlimit']) {
    if (!which(tool)) return result('error', `${tool} is not installed: cannot build`);
  }
  const toolchain = (await firstLineOf(gccPath, ['--version'])) ?? gccOf(tc);
  outputs.toolchain = toolchain;

  const objDir = path.resolve(ctx.objDir);
  const worktree = path.resolve(ctx.worktree);
  for (const d of [objDir, ctx.ccacheDir, ctx.artifactsDir]) fs.mkdirSync(d, { recursive: true });
  const hash = configHash(ctx.build);
  outputs.configHash = hash;

  const makeVars = [
    `O=${objDir}`,
    `ARCH=${tc.kernelArch}`,
    ...(tc.crossCompile ? [`CROSS_COMPILE=${tc.crossCompile}`] : []),
    `CC=ccache ${gccOf(tc)}`,
    'HOSTCC=ccache gcc',
  ];
  const makeArgs = [...makeVars, `-j${ctx.jobs}`];
  outputs.makeCommand = ['make', ...makeArgs].map(shellQuote).join(' ');
  const env = sandboxEnv({
    CCACHE_DIR: path.resolve(ctx.ccacheDir),
    CCACHE_BASEDIR: worktree,
    CCACHE_NOHASHDIR: '1',
    CCACHE_SLOPPINESS: 'time_macros,include_file_mtime,include_file_ctime',
    ...KBUILD_ENV,
  });
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };

  /** A command in the sandbox, in the worktree; stdout holds stdout+stderr merged (and cut at the output limit). */
  const inSandbox = async (cmd: string, args: string[]): Promise<ToolRun> => {
    const sb = sandboxed(cmd, args, {
      writable: [worktree, objDir, path.resolve(ctx.ccacheDir)],
      readable: [path.resolve(ctx.mirror)],
      cwd: worktree,
      env,
      limits,
    });
    const r = await runTool(sb.cmd, sb.args, {
      cwd: worktree,
      logPath: ctx.logPath,
      timeoutMs: remaining(),
      runId: job.runId,
      env: sandboxEnv(),
      maxBuffer: limits.outputBytes + 4096,
    });
    childMs += r.ms;
    return r;
  };
  const git = async (args: string[]): Promise<string> => {
    const r = await runTool('git', ['-c', 'core.hooksPath=/dev/null', '-c', 'gc.auto=0', ...args], {
      cwd: worktree,
      logPath: ctx.logPath,
      timeoutMs: remaining(),
      runId: job.runId,
      env: { ...process.env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0' },
    });
    childMs += r.ms;
    if (r.code !== 0) throw new StepError(`git ${args[0]} failed: ${r.timedOut ? 'timed out' : (r.stderr.trim().split('\n').at(-1) ?? `exit ${r.code}`)}`);
    return r.stdout.trim();
  };
  const mapPath = sourcePathMapper(worktree, objDir);
  const make = async (label: string, targets: string[] = []): Promise<{ run: ToolRun; log: BuildLog; ms: number }> => {
    logLine(ctx.logPath, `--- ${label}`);
    const run = await inSandbox('make', [...makeArgs, ...targets]);
    return { run, log: parseBuildLog(run.stdout, mapPath), ms: run.ms };
  };
  const overLimit = (r: ToolRun) => r.stdout.length >= limits.outputBytes;
  const configureHere = async (mergeOnly: boolean): Promise<ConfigureResult> => {
    const c = await configure({ spec: ctx.build, objDir, makeVars, run: inSandbox, mergeOnly });
    if (!c.ok) throw new StepError(`configuring ${tc.arch} (${ctx.build.base}) failed: ${c.error ?? ''}`);
    return c;
  };

  try {
    const head = await git(['rev-parse', 'HEAD']);
    const base = await git(['rev-parse', `${ctx.baseCommit}^{commit}`]);
    outputs.head = head;
    const marker = readText(path.join(objDir, BASE_MARKER))?.trim() ?? '';
    const wanted = `${base} ${hash}`;
    let baseWarnings = readBaseWarnings(objDir);

    const warm = holdsBase(objDir, base, ctx.build);
    outputs.incremental = warm;
    if (warm) {
      logLine(ctx.logPath, `--- warm tree: ${objDir} holds the base ${base.slice(0, 12)} (config ${hash.slice(0, 12)}); building the series incrementally`);
    } else {
      logLine(
        ctx.logPath,
        `--- cold or stale tree: ${objDir} holds ${marker ? `"${marker}"` : 'no base build'}; building the base ${base.slice(0, 12)} (config ${hash.slice(0, 12)}) first`,
      );
      fs.rmSync(path.join(objDir, BASE_MARKER), { force: true });
      if (head !== base) await git(['checkout', '--detach', '-q', base]);
      const configured = readText(path.join(objDir, CONFIG_MARKER))?.trim() === hash && fs.existsSync(path.join(objDir, '.config'));
      if (!configured) {
        const c = await configureHere(false);
        fs.writeFileSync(path.join(objDir, CONFIG_MARKER), `${hash}\n`);
        if (c.missing.length > 0) logLine(ctx.logPath, `base config: ${c.missing.map(missingValueMessage).join('; ')}`);
      }
      const b = await make(`base build of ${base.slice(0, 12)}`);
      outputs.baseBuildMs = Math.round(b.ms);
      if (b.run.code !== 0) {
        if (head !== base) await git(['checkout', '--detach', '-q', head]);
        findings.push(...errorFindings(b.log));
        return result('error', `the base ${base.slice(0, 12)} does not build for ${tc.arch}${b.run.timedOut ? ' (timed out)' : ''}: not the series' fault`);
      }
      // An incremental base build (the branch moved) only shows the warnings of what it recompiled: keep the rest.
      const counts: Record<string, number> =
        baseWarnings && baseWarnings.configHash === hash && b.log.compiled.length < 200 ? { ...baseWarnings.warnings } : {};
      const fresh: Record<string, number> = {};
      for (const d of b.log.diagnostics) if (d.level === 'warning') fresh[warningKey(d)] = (fresh[warningKey(d)] ?? 0) + 1;
      for (const [k, n] of Object.entries(fresh)) counts[k] = Math.max(counts[k] ?? 0, n);
      baseWarnings = { commit: base, configHash: hash, warnings: counts };
      fs.writeFileSync(path.join(objDir, BASE_WARNINGS), JSON.stringify(baseWarnings, null, 1));
      fs.writeFileSync(path.join(objDir, BASE_MARKER), `${wanted}\n`);
      logLine(ctx.logPath, `--- base built in ${Math.round(b.ms / 1000)} s (${b.log.compiled.length} CC, ${Object.keys(fresh).length} distinct warnings)`);
      if (head !== base) await git(['checkout', '--detach', '-q', head]);
    }

    const changed = head !== base ? (await git(['diff', '--name-only', base, head])).split('\n').filter(Boolean) : [];
    // The project's fragments may name symbols the series adds: merge them again when it touched a Kconfig file.
    if (changed.some((f) => /(^|\/)Kconfig[^/]*$/.test(f))) {
      logLine(ctx.logPath, '--- the series changes Kconfig files: merging the fragments again');
      await configureHere(true);
    }
    // Resetting the worktree between runs gives every file a series touches a new mtime, even when its content is
    // what the object tree was last built from (every proctree series adds the same syscall-table line, which would
    // regenerate unistd.h and recompile ~540 objects): such files get their old mtime back. When builds run at once
    // in this worktree, the engine did it for all of them (keepSourceTimes); this build only records the mtimes.
    const sources = warm ? readSources(objDir) : {};
    const setTimes = !(warm && ctx.sourcesPrepared);
    if (!warm) fs.rmSync(path.join(objDir, SOURCES), { force: true });
    const candidates = [...new Set([...changed, ...Object.keys(sources)])].filter((f) => fs.existsSync(path.join(worktree, f)));
    const shas = candidates.length ? (await git(['hash-object', '--', ...candidates])).split('\n') : [];
    const current: Sources = {};
    candidates.forEach((f, i) => {
      const was = sources[f];
      const full = path.join(worktree, f);
      if (setTimes && was && was.sha === shas[i]) fs.utimesSync(full, new Date(), new Date(was.mtimeMs));
      current[f] = { sha: shas[i]!, mtimeMs: fs.statSync(full).mtimeMs };
    });
    const kept = candidates.filter((f, i) => sources[f]?.sha === shas[i]);
    if (kept.length && setTimes) logLine(ctx.logPath, `--- unchanged since the last build of this tree, mtime kept: ${kept.join(', ')}`);

    const s = await make(`build of the series at ${head.slice(0, 12)}`);
    // What the objects now reflect: after a failure only the files whose old mtime was kept are known to match.
    writeSources(objDir, s.run.code === 0 ? Object.fromEntries(changed.filter((f) => current[f]).map((f) => [f, current[f]!])) : Object.fromEntries(kept.map((f) => [f, current[f]!])));
    outputs.buildMs = Math.round(s.ms);
    outputs.compiled = s.log.compiled.length;
    outputs.compiledFiles = s.log.compiled.slice(0, MAX_COMPILED_LISTED).join(',') + (s.log.compiled.length > MAX_COMPILED_LISTED ? ',…' : '');

    const missing: MissingValue[] = checkConfig(objDir, ctx.build.fragments);
    outputs.configMissing = missing.length;

    if (s.run.code !== 0 || overLimit(s.run)) {
      findings.push(...errorFindings(s.log));
      if (overLimit(s.run)) findings.push({ level: 'error', type: 'OUTPUT_LIMIT', message: `the build printed more than ${limits.outputBytes} bytes and was stopped` });
      if (s.run.timedOut) findings.push({ level: 'error', type: 'TIMEOUT', message: `the build did not finish within the step's ${Math.round(ctx.timeoutMs / 1000)} s` });
      if (findings.length === 0) findings.push({ level: 'error', type: 'MAKE_ERROR', message: `make exited with ${s.run.code ?? s.run.signal}` });
      const first = findings[0]!;
      return result('fail', `build failed for ${tc.arch} (${ctx.build.base}): ${first.message}`);
    }

    const fresh = newWarnings(s.log.diagnostics, Object.entries(baseWarnings?.warnings ?? {}).flatMap(([k, n]) => Array<string>(n).fill(k)));
    for (const d of fresh.slice(0, MAX_WARNINGS)) findings.push(diagnosticFinding(d, 'NEW_WARNING'));
    for (const m of missing) {
      findings.push({ level: 'warning', type: 'CONFIG_VALUE_MISSING', message: `${missingValueMessage(m)} (requested ${m.requested}, actual ${m.actual || 'absent'})`, quote: m.requested });
    }
    outputs.newWarnings = fresh.length;

    // Artefacts: the image, the config, and the modules + headers image.
    const image = path.join(objDir, tc.image);
    if (!fs.existsSync(image)) throw new StepError(`make succeeded but ${tc.image} is missing`);
    const imageOut = path.join(ctx.artifactsDir, path.basename(tc.image));
    fs.copyFileSync(image, imageOut);
    outputs.image = imageOut;
    const configOut = path.join(ctx.artifactsDir, 'config');
    fs.copyFileSync(path.join(objDir, '.config'), configOut);
    outputs.config = configOut;
    outputs.modulesImage = null;
    if (configEnabled(objDir, 'CONFIG_MODULES')) {
      const staging = path.join(objDir, STAGING);
      fs.rmSync(staging, { recursive: true, force: true });
      fs.mkdirSync(staging);
      const mi = await make('modules_install', [`INSTALL_MOD_PATH=${staging}`, 'modules_install']);
      if (mi.run.code !== 0) {
        findings.push(...errorFindings(mi.log));
        return result('fail', `make modules_install failed for ${tc.arch}`);
      }
      const hi = await make('headers_install', [`INSTALL_HDR_PATH=${path.join(staging, 'usr')}`, 'headers_install']);
      if (hi.run.code !== 0) {
        findings.push(...errorFindings(hi.log));
        return result('fail', `make headers_install failed for ${tc.arch}`);
      }
      const size = ext2Size(staging);
      const modulesOut = path.join(ctx.artifactsDir, 'modules.ext2');
      fs.rmSync(modulesOut, { force: true });
      const mk = await runTool('mke2fs', ['-q', '-t', 'ext2', '-N', String(size.inodes), '-d', staging, modulesOut, `${size.kib}k`], {
        cwd: ctx.artifactsDir,
        logPath: ctx.logPath,
        timeoutMs: remaining(),
        runId: job.runId,
      });
      childMs += mk.ms;
      if (mk.code !== 0) throw new StepError(`mke2fs failed: ${mk.stderr.trim().split('\n').at(-1) ?? mk.code}`);
      fs.rmSync(staging, { recursive: true, force: true });
      outputs.modulesImage = modulesOut;
    }

    const total = Math.round(performance.now() - started);
    outputs.stepMs = total;
    const how = warm ? 'incremental on the warm tree' : `after building the base (${Math.round(Number(outputs.baseBuildMs) / 1000)} s)`;
    const what = `${tc.arch} (${ctx.build.base}) built: ${s.log.compiled.length} files compiled, ${how}`;
    if (fresh.length > 0) return result('warn', `${what}; ${fresh.length} new warning${fresh.length > 1 ? 's' : ''}`);
    if (missing.length > 0) return result('warn', `${what}; ${missing.length} config value${missing.length > 1 ? 's' : ''} not in the final .config`);
    return result('pass', what);
  } catch (e) {
    if (!(e instanceof StepError)) throw e;
    logLine(ctx.logPath, `error: ${e.message}`);
    return result('error', e.message);
  }
}

// One kernel build of a run (issue 6 §2, issue 11 §4): the series is applied in the run's worktree (HEAD = series,
// ctx.baseCommit = the commit before it). The O= folder is warm: it stays at a fixed path for this worktree slot,
// arch and config, and holds a trusted build of the base (../object-tree.ts: its state lives in a host-only folder
// beside it). When it does not hold the run's base, the base is checked out, configured if needed, built (the only
// builds that write the tree and the shared ccache, and the only ones given the ccache's remote storage in Redis
// when there is one: ../ccache-remote.service.ts), its warnings and ccache figures recorded, and the series checked
// out again. Then the series is built over an overlay: the tree as the build sees it is the base build plus the
// submitter's own layer (their last build), so only what the series touched recompiles, and nothing the build writes
// reaches the tree or the ccache for anyone else: the shared ccache is seen through an overlay too, whose upper
// folder is the submitter's own cache layer (../student-ccache.ts; read-only when another build holds it), and the
// series' build has no remote. Every make runs in the sandbox (../sandbox.ts)
// as the build user with process and memory caps (../sandbox-runner.ts); a cap hit stops the build at once and fails
// it. The log is read by ../rules/gcc-output.ts: the first errors, and the warnings the base build did not have (type
// NEW_WARNING). Outputs (the kernel image, the .config, an ext2 image of modules_install + headers_install) are taken
// out by ../build-outputs.ts and copied into the run's artefacts without following anything.
import fs from 'node:fs';
import path from 'node:path';
import { logLine, runTool, type ToolRun } from '../exec.js';
import { COLLECT_SCRIPT, collectProblems, PACK_SCRIPT } from '../build-outputs.js';
import { parseStatsLog, statsLine } from '../ccache-stats.js';
import { checkConfig, CONFIG_MAX_BYTES, configEnabled, configHash, configure, type ConfigSpec, type ConfigureResult } from '../kconfig.js';
import {
  buildKind,
  ensureHostDir,
  layerSources,
  parseLsTree,
  prepareLayer,
  pruneLayers,
  readLayer,
  readTreeState,
  restoreSourceTimes,
  studentLayer,
  worktreeId,
  writeLayer,
  writeTreeState,
  type BlobLookup,
  type Sources,
  type TreeState,
} from '../object-tree.js';
import { newWarnings, parseBuildLog, warningKey, type BuildLog, type Diagnostic } from '../rules/gcc-output.js';
import { missingValueMessage, type MissingValue } from '../rules/kconfig-output.js';
import { copyOutOfTree, isRegularInTree, readTextInTree, UnsafeFileError } from '../safe-fs.js';
import { DEFAULT_LIMITS, HIDDEN_DIRS, sandboxEnv, type SandboxLimits } from '../sandbox.js';
import { capsLine, runSandboxed, sandboxHost, type SandboxRun } from '../sandbox-runner.js';
import { ccacheLayersRoot, claimCcacheLayer, type CcacheLayer } from '../student-ccache.js';
import { firstLineOf, gccOf, toolchainFor, which, type Toolchain } from '../toolchains.js';
import type { BuildContext, Finding, Job, StepResult } from '../types.js';

/** Where modules_install and headers_install put their files, in the object tree as the series' build sees it. */
const STAGING = '.patchbay-staging';
/** The series' build's ccache stats log, in the object tree as it sees it (so in the submitter's layer). */
const SERIES_STATS_LOG = '.series-ccache-stats.log';

const MAX_ERRORS = 10;
const MAX_WARNINGS = 20;
const MAX_COMPILED_LISTED = 20;
/** The base build's ccache stats log: a few hundred bytes per compilation, so a big config's fits many times over. */
const STATS_LOG_MAX_BYTES = 64 * 1024 ** 2;

/** Fixed so builds are reproducible and ccache hits across runs (kernel-lab.md §2). */
export const KBUILD_ENV = {
  KBUILD_BUILD_TIMESTAMP: '2024-01-01',
  KBUILD_BUILD_USER: 'patchbay',
  KBUILD_BUILD_HOST: 'patchbay',
};

class StepError extends Error {}

function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** The object tree holds a trusted build of `base` (full sha) for this config, from this worktree: no base build. */
export function holdsBase(objDir: string, base: string, spec: ConfigSpec, worktree: string): boolean {
  const state = readTreeState(objDir);
  return isWarm(state, objDir, `${base} ${configHash(spec)}`, worktree);
}

function isWarm(state: TreeState | null, objDir: string, wanted: string, worktree: string): boolean {
  return !!state && state.base === wanted && state.worktree === worktreeId(worktree) && state.warnings !== null && isRegularInTree(objDir, '.config');
}

/** `git ls-tree` in the worktree: blob shas at a commit, paths taken literally. */
export function blobLookup(git: (args: string[]) => Promise<string>): BlobLookup {
  return async (commit, files) => (files.length ? parseLsTree(await git(['--literal-pathspecs', 'ls-tree', '-z', '--full-tree', commit, '--', ...files])) : new Map());
}

/**
 * For builds that share one worktree and run at once (each over its warm tree and the submitter's layer): gives the
 * series' and the slot's touched files the mtimes that suit every one of them (../object-tree.ts restoreSourceTimes).
 * One build at a time does the same for its own tree alone (buildStep). Returns the files given an old mtime.
 */
export async function keepSourceTimes(opts: {
  worktree: string;
  objDirs: string[];
  base: string;
  email: string;
  touched: string[];
  logPath: string;
  runId: number;
  timeoutMs: number;
}): Promise<string[]> {
  const git = async (args: string[]) => {
    const r = await runTool('git', args, { cwd: opts.worktree, logPath: opts.logPath, timeoutMs: opts.timeoutMs, runId: opts.runId, env: { ...process.env, LC_ALL: 'C' } });
    if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed`);
    return r.stdout;
  };
  try {
    const head = (await git(['rev-parse', 'HEAD'])).trim();
    const changed = head !== opts.base ? (await git(['diff', '--name-only', '-z', opts.base, head])).split('\0').filter(Boolean) : [];
    const layers = opts.objDirs.map((o) => {
      const state = readTreeState(o);
      const rec = readLayer(studentLayer(o, opts.email));
      return rec && state && rec.base === state.base ? rec.sources : {};
    });
    const t = await restoreSourceTimes({ worktree: opts.worktree, base: opts.base, head, changed, touched: opts.touched, layers, blobs: blobLookup(git) });
    logLine(opts.logPath, `--- ${opts.objDirs.length} builds at once in this worktree; mtime kept (built from this content): ${t.older.join(', ') || 'none'}`);
    return t.older;
  } catch (e) {
    logLine(opts.logPath, `--- mtimes not restored: ${(e as Error).message}`);
    return [];
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

/** A cap the sandbox stopped a command at, as the student's finding. */
function capFinding(r: SandboxRun, limits: SandboxLimits): Finding | null {
  if (r.capHit === 'processes') return { level: 'error', type: 'PROCESS_LIMIT', message: `the build tried to run more than ${limits.processes} processes at once and was stopped` };
  if (r.capHit === 'memory') return { level: 'error', type: 'MEMORY_LIMIT', message: `the build used more than ${Math.round(limits.memoryBytes / 1024 ** 2)} MiB of memory and was stopped` };
  return null;
}

/**
 * Gives a folder to the build user, which must own what it writes (the trusted tree and the shared ccache): when its
 * top is someone else's, or always with `all` (before a base build: a file someone else left in the tree would be
 * copied up into a layer with its owner, and the build could not rewrite it).
 */
async function ensureOwned(dir: string, owner: { uid: number; gid: number }, log: { logPath: string; runId: number }, all = false): Promise<void> {
  const st = fs.lstatSync(dir);
  if (!all && st.uid === owner.uid && st.gid === owner.gid) return;
  // -P (no symlink followed while walking) and -h (a symlink's own owner): the folder is ours, but never follow.
  const r = await runTool('chown', ['-R', '-P', '-h', `${owner.uid}:${owner.gid}`, dir], { cwd: '/', logPath: log.logPath, timeoutMs: 600_000, runId: log.runId });
  if (r.code !== 0) throw new StepError(`cannot give ${dir} to the build user: ${r.stderr.trim().split('\n').at(-1) ?? r.code}`);
}

export interface BuildStepOptions {
  limits?: Partial<SandboxLimits>;
}

/** Memory of a build: a few hundred MB per make job on top of make, the linker and the page cache of the tree. */
function buildLimits(jobs: number, given: Partial<SandboxLimits> | undefined): SandboxLimits {
  // make -jN keeps N processes busy: the build weighs that much on the CPU, a fork bomb no more.
  return { ...DEFAULT_LIMITS, memoryBytes: Math.max(DEFAULT_LIMITS.memoryBytes, (jobs + 2) * 512 * 1024 ** 2), cpuProcesses: jobs, ...given };
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
  for (const tool of ['ccache', 'make', 'mke2fs']) {
    if (!which(tool, `${process.env.PATH ?? ''}:/usr/sbin:/sbin`)) return result('error', `${tool} is not installed: cannot build`);
  }
  const host = sandboxHost();
  if (host.problems.length) return result('error', `cannot run the build sandbox: ${host.problems.join('; ')}`);
  // The overlay (and the build user) need root: without them a build could change the tree the next one uses.
  if (!host.caps.overlay || !host.user) return result('error', 'builds need patchbay to run as root (to build as an unprivileged user over an overlay of the warm tree); refusing to build unisolated');
  const user = host.user;
  const limits = buildLimits(ctx.jobs, opts.limits);
  logLine(ctx.logPath, capsLine(host, limits));
  const toolchain = (await firstLineOf(gccPath, ['--version'])) ?? gccOf(tc);
  outputs.toolchain = toolchain;

  const objDir = path.resolve(ctx.objDir);
  const worktree = path.resolve(ctx.worktree);
  const ccache = path.resolve(ctx.ccacheDir);
  for (const d of [objDir, ccache, ctx.artifactsDir]) fs.mkdirSync(d, { recursive: true });
  const hostDir = ensureHostDir(objDir);
  const fragmentDir = path.join(hostDir, 'fragments');
  const outDir = path.join(hostDir, 'out');
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
  // The same build in a student's own tree: their own object folder, their compiler, no server path, no ccache.
  outputs.makeCommandHere = ['make', 'O=build', `ARCH=${tc.kernelArch}`, ...(tc.crossCompile ? [`CROSS_COMPILE=${tc.crossCompile}`] : []), `-j${ctx.jobs}`].map(shellQuote).join(' ');
  const ccacheEnv = {
    CCACHE_DIR: ccache,
    CCACHE_BASEDIR: worktree,
    CCACHE_NOHASHDIR: '1',
    CCACHE_SLOPPINESS: 'time_macros,include_file_mtime,include_file_ctime',
    // ccache's temporary files go to the private /tmp, never into the cache folder.
    CCACHE_TEMPDIR: '/tmp',
    // The tree's scripts/setlocalversion asks git about the worktree, which belongs to us, not to the build user.
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'safe.directory',
    GIT_CONFIG_VALUE_0: '*',
    ...KBUILD_ENV,
  };
  // The base build's ccache logs what it found where (../ccache-stats.ts) into a folder of the host folder, bound for
  // it alone. With a remote, its socket (never a password: ../ccache-remote.service.ts) is bound in for it alone too.
  const statsDir = path.join(hostDir, 'ccache-stats');
  const statsLog = path.join(statsDir, 'stats.log');
  const remote = ctx.ccacheRemote ? path.resolve(ctx.ccacheRemote) : null;
  const trustedEnv = sandboxEnv({ ...ccacheEnv, CCACHE_STATSLOG: statsLog, ...(remote ? { CCACHE_REMOTE_STORAGE: `redis+unix:${remote}` } : {}) });
  // The series' build writes only the submitter's cache layer, over the shared cache; without one (another build of
  // theirs holds it) it reads the shared cache and never writes it (the folder is read-only to it too). It has no
  // remote at all: no socket, no variable.
  const seriesStats = { CCACHE_STATSLOG: path.join(objDir, SERIES_STATS_LOG) };
  const studentEnv = sandboxEnv({ ...ccacheEnv, ...seriesStats, CCACHE_READONLY: '1' });
  const layeredEnv = sandboxEnv({ ...ccacheEnv, ...seriesStats });
  const layer = studentLayer(objDir, job.series.submitter.email);
  let cacheLayer: CcacheLayer | null = null;
  // The socket's folder is root's (0700) on the host; hidden as well, it is not even a name in a sandbox.
  const hide = [...HIDDEN_DIRS, hostDir, ccacheLayersRoot(ccache), ...(ctx.privateDirs ?? []), ...(remote ? [path.dirname(remote)] : [])];
  const capStops: Finding[] = [];

  /**
   * A command in the sandbox, in the worktree (read-only). `trusted`: the base build of the project's own commit,
   * which writes the tree and the ccache; otherwise the series' build, over the overlay of the submitter's layer.
   */
  const inSandbox = async (trusted: boolean, cmd: string, args: string[], o: { writable?: string[]; cwd?: string } = {}): Promise<SandboxRun> => {
    let r: SandboxRun;
    try {
      r = await runSandboxed(cmd, args, {
        writable: trusted ? [objDir, ccache, statsDir] : [objDir, ...(cacheLayer ? [ccache] : []), ...(o.writable ?? [])],
        readable: [worktree, ...(ctx.mirror ? [path.resolve(ctx.mirror)] : []), fragmentDir, ...(trusted ? (remote ? [remote] : []) : cacheLayer ? [] : [ccache])],
        hide,
        overlays: trusted
          ? undefined
          : [{ lower: objDir, upper: layer.upper, work: layer.work }, ...(cacheLayer ? [{ lower: ccache, upper: cacheLayer.upper, work: cacheLayer.work }] : [])],
        cwd: o.cwd ?? worktree,
        env: trusted ? trustedEnv : cacheLayer ? layeredEnv : studentEnv,
        limits,
        logPath: ctx.logPath,
        timeoutMs: remaining(),
        runId: job.runId,
        maxBuffer: limits.outputBytes + 4096,
      });
    } catch (e) {
      throw new StepError((e as Error).message);
    }
    childMs += r.ms;
    // The command's own output is merged into stdout: anything on stderr is the sandbox failing to start.
    if (r.code !== 0 && !r.capHit && !r.timedOut && r.stderr.trim()) throw new StepError(`the sandbox failed: ${r.stderr.trim().split('\n').at(-1)}`);
    const cap = capFinding(r, limits);
    if (cap) capStops.push(cap);
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
    return r.stdout;
  };
  const mapPath = sourcePathMapper(worktree, objDir);
  const make = async (trusted: boolean, label: string, targets: string[] = []): Promise<{ run: SandboxRun; log: BuildLog; ms: number }> => {
    logLine(ctx.logPath, `--- ${label}`);
    const run = await inSandbox(trusted, 'make', [...makeArgs, ...targets]);
    return { run, log: parseBuildLog(run.stdout, mapPath), ms: run.ms };
  };
  const overLimit = (r: ToolRun) => r.stdout.length >= limits.outputBytes;
  /** The series build's ccache figures, from a log the build could write itself: its own figures, for its reader. */
  const seriesCcache = () => {
    try {
      const text = readTextInTree(layer.upper, SERIES_STATS_LOG, STATS_LOG_MAX_BYTES);
      if (text === null) return;
      const c = parseStatsLog(text);
      logLine(ctx.logPath, `--- ${statsLine(c, false)}`);
      Object.assign(outputs, { ccacheHits: c.hits, ccacheMisses: c.misses });
    } catch (e) {
      logLine(ctx.logPath, `--- ccache figures not read: ${(e as Error).message}`);
    }
  };
  /** The base build's ccache figures (configure's host tools included), logged and in the outputs. */
  const baseCcache = (withRemote: boolean) => {
    try {
      const text = readTextInTree(statsDir, 'stats.log', STATS_LOG_MAX_BYTES);
      if (text === null) return;
      const c = parseStatsLog(text);
      logLine(ctx.logPath, `--- ${statsLine(c, withRemote)}`);
      Object.assign(outputs, { baseCcacheHits: c.hits, baseCcacheLocalHits: c.localHits, baseCcacheRemoteHits: c.remoteHits, baseCcacheMisses: c.misses });
      if (withRemote) Object.assign(outputs, { baseCcacheRemoteErrors: c.remoteErrors, baseCcacheRemoteWrites: c.remoteWrites });
    } catch (e) {
      logLine(ctx.logPath, `--- ccache figures not read: ${(e as Error).message}`);
    }
  };
  const configureHere = async (trusted: boolean, mergeOnly: boolean): Promise<ConfigureResult> => {
    const c = await configure({ spec: ctx.build, objDir, sourceDir: worktree, makeVars, fragmentDir, run: (cmd, args, o) => inSandbox(trusted, cmd, args, o ?? {}), mergeOnly });
    if (!c.ok) throw new StepError(`configuring ${tc.arch} (${ctx.build.base}) failed: ${c.error ?? ''}`);
    return c;
  };
  /** Findings and the verdict of a series' command that failed or was stopped. */
  const failed = (r: SandboxRun, log: BuildLog, what: string): StepResult => {
    findings.push(...capStops);
    if (!capStops.length) findings.push(...errorFindings(log));
    if (overLimit(r)) findings.push({ level: 'error', type: 'OUTPUT_LIMIT', message: `the build printed more than ${limits.outputBytes} bytes and was stopped` });
    if (r.timedOut) findings.push({ level: 'error', type: 'TIMEOUT', message: `the build did not finish within the step's ${Math.round(ctx.timeoutMs / 1000)} s` });
    if (findings.length === 0) findings.push({ level: 'error', type: 'MAKE_ERROR', message: `make exited with ${r.code ?? r.signal}` });
    return result('fail', `${what} failed for ${tc.arch} (${ctx.build.base}): ${findings[0]!.message}`);
  };

  try {
    const head = (await git(['rev-parse', 'HEAD'])).trim();
    const base = (await git(['rev-parse', `${ctx.baseCommit}^{commit}`])).trim();
    outputs.head = head;
    const wanted = `${base} ${hash}`;
    let state = readTreeState(objDir);
    if (state === null) {
      // No record of ours: whatever the folder holds was not built by a trusted build of this code.
      if (fs.readdirSync(objDir).length) logLine(ctx.logPath, `--- ${objDir} has no record of a trusted build: emptied`);
      fs.rmSync(objDir, { recursive: true, force: true });
      fs.mkdirSync(objDir, { recursive: true });
      state = { base: null, config: null, worktree: null, warnings: null, compiled: null };
      writeTreeState(objDir, state);
    }
    await ensureOwned(ccache, user, { logPath: ctx.logPath, runId: job.runId });

    const warm = isWarm(state, objDir, wanted, worktree);
    outputs.incremental = warm;
    if (warm) {
      logLine(ctx.logPath, `--- warm tree: ${objDir} holds the base ${base.slice(0, 12)} (config ${hash.slice(0, 12)}); building the series over it`);
    } else {
      logLine(ctx.logPath, `--- cold or stale tree: ${objDir} holds ${state.base ? `"${state.base}"` : 'no base build'}; building the base ${base.slice(0, 12)} (config ${hash.slice(0, 12)}) first`);
      // The layers were built over what the tree held: they go with it.
      pruneLayers(objDir, { all: true });
      const wtId = worktreeId(worktree);
      state = { ...state, base: null, worktree: wtId };
      writeTreeState(objDir, state);
      await ensureOwned(objDir, user, { logPath: ctx.logPath, runId: job.runId }, true);
      fs.rmSync(statsDir, { recursive: true, force: true });
      fs.mkdirSync(statsDir, { mode: 0o755 });
      fs.chownSync(statsDir, user.uid, user.gid);
      if (remote) logLine(ctx.logPath, `--- ccache remote storage for the base build: ${remote} (Redis; the series' build has none)`);
      if (head !== base) await git(['checkout', '--detach', '-q', base]);
      if (!(state.config === hash && isRegularInTree(objDir, '.config'))) {
        const c = await configureHere(true, false);
        state = { ...state, config: hash };
        writeTreeState(objDir, state);
        if (c.missing.length > 0) logLine(ctx.logPath, `base config: ${c.missing.map(missingValueMessage).join('; ')}`);
      }
      const b = await make(true, `base build of ${base.slice(0, 12)}`);
      outputs.baseBuildMs = Math.round(b.ms);
      baseCcache(remote !== null);
      if (b.run.code !== 0) {
        if (head !== base) await git(['checkout', '--detach', '-q', head]);
        findings.push(...capStops, ...errorFindings(b.log));
        return result('error', `the base ${base.slice(0, 12)} does not build for ${tc.arch}${b.run.timedOut ? ' (timed out)' : ''}: not the series' fault`);
      }
      // An incremental base build (the branch moved) only shows the warnings of what it recompiled: keep the rest.
      const counts: Record<string, number> = state.warnings && b.log.compiled.length < 200 ? { ...state.warnings } : {};
      const fresh: Record<string, number> = {};
      for (const d of b.log.diagnostics) if (d.level === 'warning') fresh[warningKey(d)] = (fresh[warningKey(d)] ?? 0) + 1;
      for (const [k, n] of Object.entries(fresh)) counts[k] = Math.max(counts[k] ?? 0, n);
      // The most a base build of this tree compiled: a series' build is measured against it (buildKind).
      const compiled = Math.max(state.compiled ?? 0, b.log.compiled.length);
      state = { base: wanted, config: hash, worktree: wtId, warnings: counts, compiled };
      writeTreeState(objDir, state);
      logLine(ctx.logPath, `--- base built in ${Math.round(b.ms / 1000)} s (${b.log.compiled.length} CC, ${Object.keys(fresh).length} distinct warnings)`);
      if (head !== base) await git(['checkout', '--detach', '-q', head]);
    }

    // The submitter's layer: their last build over this base, or a fresh one.
    const prepared = prepareLayer(layer, wanted, user);
    pruneLayers(objDir, { keep: layer.key });
    logLine(ctx.logPath, `--- ${prepared.kept ? "the submitter's layer from their last build" : 'a new layer for the submitter'} (${layer.dir})`);
    try {
      cacheLayer = claimCcacheLayer(ccache, job.series.submitter.email, user, deadline);
      logLine(ctx.logPath, cacheLayer ? `--- the submitter's ccache layer over the shared cache (${cacheLayer.upper})` : "--- the submitter's ccache layer is in use by another build: the shared cache, read-only");
    } catch (e) {
      logLine(ctx.logPath, `--- the submitter's ccache layer cannot be made (${(e as Error).message}): the shared cache, read-only`);
    }
    const changed = head !== base ? (await git(['diff', '--name-only', '-z', base, head])).split('\0').filter(Boolean) : [];
    // A reset of the worktree gave every file a run touched a new mtime, even where the content is what the trees
    // were built from (every proctree series adds the same syscall-table line, which regenerates unistd.h and
    // recompiles ~540 objects): such files get an old mtime back. When builds run at once in this worktree, the
    // engine did it for all of them (keepSourceTimes).
    const previous: Sources = prepared.record.sources;
    if (!ctx.sourcesPrepared) {
      const t = await restoreSourceTimes({ worktree, base, head, changed, touched: ctx.touched ?? [], layers: [previous], blobs: blobLookup(git) });
      if (t.older.length) logLine(ctx.logPath, `--- built from this content before, mtime kept: ${t.older.join(', ')}`);
    }
    // While it builds, the layer records only what stays true if the build dies half way (a cancel, a crash).
    const heads = await blobLookup(git)(head, [...new Set([...changed, ...Object.keys(previous)])].filter((f) => isRegularInTree(worktree, f)));
    writeLayer(layer, { base: wanted, sources: layerSources({ worktree, changed, heads, previous, ok: false }) });
    // The project's fragments may name symbols the series adds: merge them again when it (or the layer's last
    // build) touched a Kconfig file.
    if ([...changed, ...Object.keys(previous)].some((f) => /(^|\/)Kconfig[^/]*$/.test(f))) {
      logLine(ctx.logPath, '--- the series changes Kconfig files: merging the fragments again');
      await configureHere(false, true);
    }

    // The name is the build's to shape (a folder, a symlink): removed as whatever it is, never followed.
    fs.rmSync(path.join(layer.upper, SERIES_STATS_LOG), { recursive: true, force: true });
    const s = await make(false, `build of the series at ${head.slice(0, 12)}`);
    seriesCcache();
    if (s.run.code === 0 && !capStops.length) writeLayer(layer, { base: wanted, sources: layerSources({ worktree, changed, heads, previous, ok: true }) });
    outputs.buildMs = Math.round(s.ms);
    outputs.compiled = s.log.compiled.length;
    outputs.compiledFiles = s.log.compiled.slice(0, MAX_COMPILED_LISTED).join(',') + (s.log.compiled.length > MAX_COMPILED_LISTED ? ',…' : '');
    if (s.run.code !== 0 || overLimit(s.run) || capStops.length) return failed(s.run, s.log, 'build');

    // The image and the .config, out of the tree as the build left it.
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(outDir, { mode: 0o755 });
    fs.chownSync(outDir, user.uid, user.gid);
    const got = await inSandbox(false, 'sh', ['-c', COLLECT_SCRIPT, 'collect', outDir, tc.image, 'image', '.config', 'config'], { writable: [outDir], cwd: objDir });
    const problems = collectProblems(got.stdout);
    if (problems.notRegular.length) {
      for (const f of problems.notRegular) findings.push({ level: 'error', type: 'OUTPUT_NOT_REGULAR', message: `${f} is not a regular file of the build (a symlink, or reached through one): not taken` });
      return result('fail', `build failed for ${tc.arch} (${ctx.build.base}): ${findings[0]!.message}`);
    }
    if (got.code !== 0) throw new StepError(`make succeeded but ${problems.missing.join(', ') || 'its outputs'} cannot be taken (${got.stdout.trim().split('\n').at(-1) ?? got.code})`);
    const imageOut = path.join(ctx.artifactsDir, path.basename(tc.image));
    copyOutOfTree(outDir, 'image', imageOut, { maxBytes: limits.fileSizeBytes });
    outputs.image = imageOut;
    const config = readTextInTree(outDir, 'config', CONFIG_MAX_BYTES) ?? '';
    const configOut = path.join(ctx.artifactsDir, 'config');
    copyOutOfTree(outDir, 'config', configOut, { maxBytes: CONFIG_MAX_BYTES });
    outputs.config = configOut;

    const missing: MissingValue[] = checkConfig(config, ctx.build.fragments);
    outputs.configMissing = missing.length;
    const fresh = newWarnings(s.log.diagnostics, Object.entries(state.warnings ?? {}).flatMap(([k, n]) => Array<string>(n).fill(k)));
    for (const d of fresh.slice(0, MAX_WARNINGS)) findings.push(diagnosticFinding(d, 'NEW_WARNING'));
    for (const m of missing) {
      findings.push({ level: 'warning', type: 'CONFIG_VALUE_MISSING', message: `${missingValueMessage(m)} (requested ${m.requested}, actual ${m.actual || 'absent'})`, quote: m.requested });
    }
    outputs.newWarnings = fresh.length;

    outputs.modulesImage = null;
    if (configEnabled(config, 'CONFIG_MODULES')) {
      // Only the series' builds install, so the staging folder is in the submitter's layer, never in the tree.
      fs.rmSync(path.join(layer.upper, STAGING), { recursive: true, force: true });
      const staging = path.join(objDir, STAGING);
      const mi = await make(false, 'modules_install', [`INSTALL_MOD_PATH=${staging}`, 'modules_install']);
      if (mi.run.code !== 0 || capStops.length) return failed(mi.run, mi.log, 'make modules_install');
      const hi = await make(false, 'headers_install', [`INSTALL_HDR_PATH=${path.join(staging, 'usr')}`, 'headers_install']);
      if (hi.run.code !== 0 || capStops.length) return failed(hi.run, hi.log, 'make headers_install');
      const packed = await inSandbox(false, 'sh', ['-c', PACK_SCRIPT, 'pack', staging, path.join(outDir, 'modules.ext2')], { writable: [outDir], cwd: objDir });
      if (packed.code !== 0) throw new StepError(`mke2fs failed: ${packed.stdout.trim().split('\n').at(-1) ?? packed.code}`);
      const modulesOut = path.join(ctx.artifactsDir, 'modules.ext2');
      copyOutOfTree(outDir, 'modules.ext2', modulesOut, { maxBytes: limits.fileSizeBytes });
      outputs.modulesImage = modulesOut;
    }
    fs.rmSync(outDir, { recursive: true, force: true });

    const total = Math.round(performance.now() - started);
    outputs.stepMs = total;
    // Said from what the build did, not only from the tree it started from (a warm tree whose sources all looked new,
    // after a restart, compiles as much as a cold one).
    const kind = buildKind({ warm, compiled: s.log.compiled.length, treeCompiled: state.compiled });
    outputs.incremental = kind === 'incremental';
    outputs.buildKind = kind;
    const how = {
      incremental: 'incremental on the warm tree',
      rebuilt: `over the warm tree, but as from scratch: its sources looked newer than the tree's objects (a whole build compiles ${state.compiled ?? '?'})`,
      'after-base': `after building the base (${Math.round(Number(outputs.baseBuildMs) / 1000)} s)`,
    }[kind];
    const what = `${tc.arch} (${ctx.build.base}) built: ${s.log.compiled.length} files compiled, ${how}`;
    if (fresh.length > 0) return result('warn', `${what}; ${fresh.length} new warning${fresh.length > 1 ? 's' : ''}`);
    if (missing.length > 0) return result('warn', `${what}; ${missing.length} config value${missing.length > 1 ? 's' : ''} not in the final .config`);
    return result('pass', what);
  } catch (e) {
    const message = e instanceof StepError ? e.message : e instanceof UnsafeFileError ? `an output of the build cannot be taken: ${e.message}` : null;
    if (message === null) throw e;
    logLine(ctx.logPath, `error: ${message}`);
    return result('error', message);
  } finally {
    cacheLayer?.release();
  }
}


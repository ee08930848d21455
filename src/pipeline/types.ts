// The pipeline's data: what a step gets (a job and a context, both plain data that crosses into worker threads)
// and what it returns (STYLE rule 11). Steps never touch the database.
import type { LavaStepSettings } from './lava/lava-run.js';

export type StepStatus = 'pass' | 'warn' | 'fail' | 'skip' | 'error';

/** The steps in the order they run. Gates stop the run (and the report goes out at once) when they fail. */
export const STEP_NAMES = ['signoff', 'testdesc', 'checkpatch', 'apply'] as const;
export type GateName = (typeof STEP_NAMES)[number];
/** Gates run once per series; build and test once per build of the project. */
export type StepName = GateName | 'build' | 'test';

export interface PersonRef {
  name: string | null;
  email: string;
}

export interface JobPatch {
  id: number;
  /** Position in the series, 1-based. */
  number: number;
  /** The commit's title: the patch's name without its prefixes ("[v2,1/3] x" → "x"), as the findings quote it. */
  name: string;
  msgid: string;
  author: PersonRef;
  /** From the series engine: the author's own Signed-off-by is present. */
  signoffOk: boolean;
  /** The Signed-off-by lines found (name <email>), for the report. */
  signoffs: string[];
  /** The unified diff, byte-exact apart from CRLF. */
  diff: string;
  /** The patch as one mbox message (`git am` / checkpatch input), LF newlines. */
  mbox: string;
}

export interface JobSeries {
  id: number;
  name: string;
  version: number;
  total: number;
  /** `base-commit:` from the cover or first patch, when the student gave one. */
  baseCommit: string | null;
  submitter: PersonRef;
  patches: JobPatch[];
}

export interface CheckpatchPolicy {
  enabled: boolean;
  /** checkpatch types to ignore (`--ignore`), e.g. FILE_PATH_CHANGES. */
  ignore: string[];
  /** Extra command-line options, e.g. --strict. */
  options: string[];
  /** What a WARNING (or CHECK) means for the step: warn, fail, or nothing. */
  warnings: 'warn' | 'fail' | 'ignore';
}

export interface TestDescriptionPolicy {
  /** Glob (minimatch-like: `*` within a path segment, `**` across) of the file the student's series must add or change. */
  path: string;
  required: boolean;
}

/** Everything a step may need, serialisable (it is posted to a worker thread). */
export interface Job {
  runId: number;
  project: {
    slug: string;
    name: string;
    branch: string;
    checkpatch: CheckpatchPolicy;
    testDescription: TestDescriptionPolicy | null;
  };
  series: JobSeries;
}

/** Where a step works and writes; paths are absolute. */
export interface StepContext {
  /** The step writes its full log to this file (created by the engine's directory, written by the step). */
  logPath: string;
  /** The project's bare mirror (the shared object store). */
  mirror: string;
  /** The run's worktree: checked out at the base by the apply step; other steps may read the tree's scripts there. */
  worktree: string;
  /** Results of the steps before this one, by name (e.g. apply's outputs for the build steps). */
  previous: Partial<Record<StepName, StepResult>>;
  /** Per-step timeout in ms; child processes are killed when it passes. */
  timeoutMs: number;
  /**
   * The commit the worktree is a clean checkout of, when the engine knows it (a fresh lease and no step has changed
   * the tree since): the apply step then skips its own reset. Absent: the step makes no assumption.
   */
  pristineAt?: string;
  /** The run's share of the CPU budget (--pipeline-cpus): tools a step may run at once. Default: the machine's CPUs. */
  cpus?: number;
  /** Folders of ours no sandbox may see (the data folder: database, other runs, other slots); hidden by an empty one. */
  privateDirs?: string[];
}

/** One finding a report quotes (a checkpatch line, a rejected hunk, a missing sign-off, …). */
export interface Finding {
  /** Which patch (1-based position), when the finding is about one. */
  patch?: number;
  /** ERROR, WARNING, CHECK, or the step's own word. */
  level?: string;
  /** checkpatch's type (TRAILING_WHITESPACE), or a step's own code. */
  type?: string;
  message: string;
  file?: string;
  line?: number;
  /** Line in the patch mail (a finding in the commit message has no file). */
  patchLine?: number;
  /** Verbatim lines to quote (source line, hunk). */
  quote?: string;
}

export interface StepResult {
  status: StepStatus;
  /** One line: the check's description. */
  summary: string;
  findings: Finding[];
  logPath: string;
  /** Data for later steps and the report (apply: base, head, applied count). */
  outputs?: Record<string, string | number | boolean | null>;
  /** Milliseconds spent waiting for child processes (git, checkpatch): the rest is our overhead. */
  childMs: number;
}

/** One build of the project (projects/*.yaml `builds:`), resolved: absolute paths, a stable key. */
export interface BuildSpec {
  /** Unique within the project: the arch, or `arch-N` when the project builds an arch more than once. */
  key: string;
  /** A key of the toolchain table (src/pipeline/toolchains.ts): x86_64, i386, arm64, arm, riscv64, powerpc64. */
  arch: string;
  /** `tinyconfig`, `defconfig`, or an absolute path to a full config file. */
  base: string;
  /** Config fragments merged on top with the tree's scripts/kconfig/merge_config.sh (absolute paths). */
  fragments: string[];
  /** Boot it in QEMU and run the tests. */
  lava: boolean;
  /** Who boots it: the embedded QEMU runner, or a LAVA server (`runner:` of the build, else of the project). */
  runner?: 'qemu' | 'lava';
}

/** Where one build works: its warm object tree stays at a fixed path for the worktree slot it belongs to. */
export interface BuildContext extends StepContext {
  build: BuildSpec;
  /** O= directory, kept between runs (one per worktree slot, arch and config). */
  objDir: string;
  /** Shared ccache directory. */
  ccacheDir: string;
  /**
   * The unix socket of the shared ccache's remote storage (./ccache-remote.service.ts), bound into the trusted base
   * build's sandbox only; absent: the local ccache alone.
   */
  ccacheRemote?: string;
  /** This run's artefacts for this build (kernel image, modules image, logs); kept for a configured time. */
  artifactsDir: string;
  /** make -j. */
  jobs: number;
  /** The commit the worktree was reset to before the series was applied (the base build's commit). */
  baseCommit: string;
  /**
   * Builds of the run share the worktree and run at once: the engine gave the series' files their recorded mtimes
   * once for all of them (build.step.ts keepSourceTimes), so this build only records them. Absent: the step does it.
   */
  sourcesPrepared?: boolean;
  /**
   * Files earlier runs rewrote in this worktree slot (their series, then the reset): candidates for an old mtime when
   * their content is the base's (../object-tree.ts restoreSourceTimes).
   */
  touched?: string[];
}

/** What the test step boots and runs, for one build with `lava: true`. */
export interface TestContext extends StepContext {
  build: BuildSpec;
  /** The build step's outputs. */
  kernelImage: string;
  modulesImage: string | null;
  /** LAVA test definitions to run, in order: the project's reference ones, then the student's. */
  definitions: { name: string; path: string; origin: 'reference' | 'student'; /** Why it could not be taken from the series. */ problem?: string }[];
  /** Directory of test programs (sources) the project ships, cross-built on the host for the guest. */
  programsDir: string | null;
  artifactsDir: string;
  /** Scratch space for rootfs/initramfs pieces cached across runs (busybox per arch). */
  cacheDir: string;
  /** The LAVA server and limits, for a build whose runner is `lava` (./lava/lava-run.ts); absent: QEMU here. */
  lava?: LavaStepSettings;
}

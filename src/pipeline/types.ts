// The pipeline's data: what a step gets (a job and a context, both plain data that crosses into worker threads)
// and what it returns (STYLE rule 11). Steps never touch the database.

export type StepStatus = 'pass' | 'warn' | 'fail' | 'skip' | 'error';

/** The steps in the order they run. Gates stop the run (and the report goes out at once) when they fail. */
export const STEP_NAMES = ['signoff', 'testdesc', 'checkpatch', 'apply'] as const;
export type StepName = (typeof STEP_NAMES)[number];

export interface PersonRef {
  name: string | null;
  email: string;
}

export interface JobPatch {
  id: number;
  /** Position in the series, 1-based. */
  number: number;
  /** Patchwork's name: the subject without its [PATCH …] prefix. */
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

// The portable heavy unit: a run's builds and boots as plain data (JSON-safe), so that the same unit can run in this
// process or, later, on another machine. It carries everything the host needs but its own trees: the series (the
// Job, with each patch's mbox), the base the gate lane applied it on, the builds with the project's config files by
// content, the reference test definition and test programs by content, the student's definitions as the gate lane
// took them from its worktree, the timeouts and the CPU share. Made on the server (makeHeavyUnit), unpacked by the
// host that runs it (materializeUnit) into a folder of its own.
import fs from 'node:fs';
import path from 'node:path';
import { studentCopyName } from './guest/tests-disk.js';
import { isConfigTarget } from './kconfig.js';
import type { PipelineProject } from './job.js';
import { buildSpecs } from './steps.js';
import type { BuildSpec, Job, StepResult } from './types.js';

export const HEAVY_UNIT_VERSION = 1;

/** A project file by content; `name` is a relative path (no `..`) below the unit's folder on the host. */
export interface UnitFile {
  name: string;
  base64: string;
}

export interface HeavyBuild {
  key: string;
  arch: string;
  /** A make target (`tinyconfig`, `defconfig`), or `file:NAME` for a full config file of `files`. */
  base: string;
  /** Names in `files`, merged in order. */
  fragments: string[];
  lava: boolean;
  /** Who boots it (absent in units made before issue 15: qemu). */
  runner?: 'qemu' | 'lava';
  /** The build's result when it finished before (a run resumed after a restart; its paths are the host's); null: to build. */
  built: StepResult | null;
  /** Its boot: none (no `lava`), pending, or done before (a resumed run). */
  test: 'none' | 'pending' | 'done';
}

/** A test definition the series adds, as the gate lane took it from its worktree after apply. */
export interface StudentDefinition {
  /** The file in the tree (testdesc's outputs). */
  file: string;
  /** Its content; null when the gate lane's copy is not there (the host takes it from its own applied tree). */
  base64: string | null;
}

export interface HeavyUnit {
  version: typeof HEAVY_UNIT_VERSION;
  runId: number;
  job: Job;
  tree: UnitTree;
  /** The commit the gate lane applied the series on (full sha): the host applies it there again. */
  base: string;
  /** The run's share of the CPU budget: builds at once and their make -j (steps.ts buildBudget). */
  cpus: number;
  timeouts: { apply: number; build: number; test: number };
  /** The project's LAVA limits (absent in units made before issue 15). */
  lava?: { maxJobs: number };
  builds: HeavyBuild[];
  tests: {
    /** Name in `files` of the project's reference definition. */
    reference: string | null;
    /** Folder in `files` of the project's test programs. */
    programs: string | null;
    student: StudentDefinition[];
  };
  files: UnitFile[];
}

/** The project's tree as a unit names it: whoever runs the unit fetches it into a mirror of its own. */
export interface UnitTree {
  slug: string;
  url: string;
  branch: string;
  maxAgeMs: number;
}

/** The tree of a project that has one (the callers checked). */
export function unitTree(project: PipelineProject): UnitTree {
  if (!project.tree) throw new Error(`${path.basename(project.file)} has no tree`);
  return { slug: project.slug, url: project.tree.url, branch: project.tree.branch, maxAgeMs: project.tree.max_age };
}

/** The most a unit carries of project files (config fragments, test definition, test programs). */
const FILES_MAX_BYTES = 32 * 1024 * 1024;

/** Where the gate lane keeps the student's definitions of a run (tests-disk.ts takeStudentFile names them). */
export function studentTestsDir(dataDir: string, runId: number): string {
  return path.join(dataDir, 'artifacts', `run-${runId}`, 'student-tests');
}

/**
 * The unit of a run whose gates passed. `steps`: the run's build and test rows with their results when finished.
 * `studentFiles`: the definitions testdesc found. Reads the project's files (they are the maintainers', trusted).
 */
export function makeHeavyUnit(o: {
  project: PipelineProject;
  job: Job;
  base: string;
  cpus: number;
  dataDir: string;
  steps: { step: string; job: string; result: StepResult | null }[];
  studentFiles: string[];
}): HeavyUnit {
  const { project } = o;
  const files: UnitFile[] = [];
  let bytes = 0;
  const add = (name: string, file: string): string => {
    const data = fs.readFileSync(file);
    bytes += data.length;
    if (bytes > FILES_MAX_BYTES) throw new Error(`the project's files for a build exceed ${FILES_MAX_BYTES >> 20} MiB`);
    files.push({ name, base64: data.toString('base64') });
    return name;
  };
  const named = new Map<string, string>();
  const config = (file: string): string => {
    let name = named.get(file);
    if (!name) named.set(file, (name = add(`config/${named.size}-${safeBase(file)}`, file)));
    return name;
  };
  const row = (step: string, key: string) => o.steps.find((s) => s.step === step && s.job === key);
  const builds: HeavyBuild[] = buildSpecs(project.builds).map((b) => {
    const test = row('test', b.key);
    return {
      key: b.key,
      arch: b.arch,
      base: isConfigTarget(b.base) ? b.base : `file:${config(b.base)}`,
      fragments: b.fragments.map(config),
      lava: b.lava,
      runner: b.runner ?? 'qemu',
      built: row('build', b.key)?.result ?? null,
      test: !test ? 'none' : test.result ? 'done' : 'pending',
    };
  });
  const reference = project.tests?.path ? add(`tests/${safeBase(project.tests.path)}`, project.tests.path) : null;
  let programs: string | null = null;
  if (project.tests?.programs) {
    programs = 'programs';
    for (const rel of regularFiles(project.tests.programs)) add(`programs/${rel}`, path.join(project.tests.programs, rel));
  }
  const studentDir = studentTestsDir(o.dataDir, o.job.runId);
  const student = o.studentFiles.map((file) => {
    const copy = path.join(studentDir, studentCopyName(file));
    return { file, base64: fs.existsSync(copy) ? fs.readFileSync(copy).toString('base64') : null };
  });
  return {
    version: HEAVY_UNIT_VERSION,
    runId: o.job.runId,
    job: o.job,
    tree: unitTree(project),
    base: o.base,
    cpus: o.cpus,
    timeouts: { apply: project.timeouts.apply, build: project.timeouts.build, test: project.timeouts.test },
    // Projects made in code (tests) may lack the block: its default.
    lava: { maxJobs: project.lava?.max_jobs ?? 2 },
    builds,
    tests: { reference, programs, student },
    files,
  };
}

export interface UnpackedUnit {
  /** The builds with absolute paths of this host. */
  specs: Map<string, BuildSpec>;
  reference: string | null;
  programs: string | null;
}

/** Writes the unit's files below `dir` (emptied first) and returns the builds and tests with this host's paths. */
export function materializeUnit(unit: HeavyUnit, dir: string): UnpackedUnit {
  if (unit.version !== HEAVY_UNIT_VERSION) throw new Error(`heavy unit version ${String(unit.version)} is not ${HEAVY_UNIT_VERSION}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const at = (name: string): string => {
    // The unit may come from elsewhere: a name never leaves the folder.
    if (!/^[\w.+-]+(\/[\w.+-]+)*$/.test(name) || name.split('/').some((s) => s === '.' || s === '..')) throw new Error(`bad file name in the heavy unit: ${JSON.stringify(name)}`);
    return path.join(dir, name);
  };
  for (const f of unit.files) {
    const p = at(f.name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, Buffer.from(f.base64, 'base64'));
  }
  const specs = new Map<string, BuildSpec>(
    unit.builds.map((b) => [
      b.key,
      { key: b.key, arch: b.arch, base: b.base.startsWith('file:') ? at(b.base.slice(5)) : b.base, fragments: b.fragments.map(at), lava: b.lava, runner: b.runner ?? 'qemu' },
    ]),
  );
  return { specs, reference: unit.tests.reference ? at(unit.tests.reference) : null, programs: unit.tests.programs ? at(unit.tests.programs) : null };
}

/** A file name as it may appear in the unit. */
function safeBase(file: string): string {
  return path.basename(file).replace(/[^\w.+-]+/g, '_') || 'file';
}

/** Regular files below `dir` (relative paths, sorted), names made safe; symlinks are not followed. */
function regularFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (!/^[\w.+-]+$/.test(e.name) || e.name === '.' || e.name === '..') continue;
    if (e.isDirectory()) out.push(...regularFiles(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

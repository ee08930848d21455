// Test-description gate: the series adds or changes the student's LAVA test definition (project's glob) and it is
// valid. Runs before `apply`, without a worktree: a file the series creates is read whole from its diff; a file it
// modifies is rebuilt from the tree's copy (`git show` in the mirror, at base-commit or the branch) plus the
// series' hunks. When that copy cannot be had, only the lines the series adds are checked, and the step says so.
import { globMatcher } from '../../glob.js';
import type { Finding, Job, JobPatch, StepContext, StepResult } from '../types.js';
import { logLine, runTool } from '../exec.js';
import { testCasesIn, validateTestDefinition } from '../lava-testdef.js';

export { globMatcher };

/** The test case names a passing or failing testdesc step found (outputs.testCases is a JSON array). */
export function testCasesOf(result: StepResult | undefined): string[] {
  const raw = result?.outputs?.testCases;
  return typeof raw === 'string' ? (JSON.parse(raw) as string[]) : [];
}

export async function testdescStep(job: Job, ctx: StepContext): Promise<StepResult> {
  const policy = job.project.testDescription;
  let childMs = 0;
  const finish = (r: Omit<StepResult, 'logPath' | 'childMs'>): StepResult => {
    logLine(ctx.logPath, `=> ${r.status}: ${r.summary}`);
    return { ...r, logPath: ctx.logPath, childMs };
  };
  if (!policy) {
    logLine(ctx.logPath, 'the project asks for no test description');
    return finish({ status: 'skip', summary: 'the project asks for no test description', findings: [] });
  }
  const matches = globMatcher(policy.path);
  logLine(ctx.logPath, `looking for ${policy.path} in ${job.series.patches.length} patch(es)`);

  // The tree's copy of a file, read once; null when the mirror does not have it.
  const readTree = async (file: string): Promise<string | null> => {
    if (!ctx.mirror) return null;
    const revs = [job.series.baseCommit, `refs/heads/${job.project.branch}`].filter((r): r is string => !!r);
    for (const rev of revs) {
      const r = await runTool('git', ['--git-dir', ctx.mirror, 'show', `${rev}:${file}`], {
        cwd: ctx.mirror,
        logPath: ctx.logPath,
        timeoutMs: ctx.timeoutMs,
        runId: job.runId,
        maxBuffer: 1 << 20,
      });
      childMs += r.ms;
      if (r.code === 0) return r.stdout;
    }
    return null;
  };

  let files: Map<string, TrackedFile>;
  try {
    files = await seriesFiles(job.series.patches, matches, readTree);
  } catch (e) {
    return finish({ status: 'error', summary: `could not read the tree's files: ${(e as Error).message}`, findings: [] });
  }
  const present = [...files.entries()].filter(([, f]) => !f.deleted);

  if (present.length === 0) {
    const message = `no test description: the series must add a file matching ${policy.path}`;
    if (!policy.required) return finish({ status: 'skip', summary: `no test description (optional; it would match ${policy.path})`, findings: [] });
    return finish({ status: 'fail', summary: message, findings: [{ level: 'ERROR', type: 'TESTDEF_MISSING', message }], outputs: { files: '[]', testCases: '[]' } });
  }

  const findings: Finding[] = [];
  const testCases: string[] = [];
  const partial: string[] = [];
  for (const [file, f] of present) {
    if (f.lines) {
      const text = f.lines.join('\n') + '\n';
      const check = validateTestDefinition(text);
      logLine(ctx.logPath, `${file} (${f.lines.length} lines, patch ${f.patch}): ${check.ok ? 'valid' : `${check.errors.length} error(s)`}`);
      for (const e of check.errors) {
        logLine(ctx.logPath, `${file}:${e.line}: ${e.message}`);
        findings.push({ patch: f.patch, level: 'ERROR', type: 'TESTDEF_INVALID', message: e.message, file, line: e.line, quote: f.lines[e.line - 1] ?? '' });
      }
      for (const name of check.testCases) if (!testCases.includes(name)) testCases.push(name);
    } else {
      // Without the tree's copy the YAML cannot be parsed; what the added lines alone show is still checked.
      partial.push(file);
      logLine(ctx.logPath, `${file}: the tree's copy could not be read (${f.why}); checking the ${f.added.length} added line(s) only`);
      for (const a of f.added) {
        const tab = /^( *)\t/.exec(a.text);
        if (tab) findings.push({ patch: f.patch, level: 'ERROR', type: 'TESTDEF_INVALID', message: 'YAML syntax error: Tabs are not allowed as indentation', file, line: a.line, quote: a.text });
        for (const name of testCasesIn(a.text)) if (!testCases.includes(name)) testCases.push(name);
      }
    }
  }
  if (testCases.length) logLine(ctx.logPath, `test cases: ${testCases.join(', ')}`);

  const outputs = {
    files: JSON.stringify(present.map(([file]) => file)),
    testCases: JSON.stringify(testCases),
    testCaseCount: testCases.length,
    complete: partial.length === 0,
  };
  if (findings.length) {
    const first = findings[0]!;
    const more = findings.length > 1 ? ` (and ${findings.length - 1} more)` : '';
    return finish({ status: 'fail', summary: `${first.file}:${first.line}: ${first.message}${more}`, findings, outputs });
  }
  const names = present.map(([file]) => file).join(', ');
  const cases = `${testCases.length} test case${testCases.length === 1 ? '' : 's'}${testCases.length ? `: ${testCases.join(', ')}` : ''}`;
  if (partial.length) {
    return finish({
      status: 'warn',
      summary: `${partial.join(', ')}: only the added lines were checked (the tree's copy could not be read); ${cases}`,
      findings: partial.map((file) => ({ level: 'WARNING', type: 'TESTDEF_PARTIAL', message: `only the lines the series adds to ${file} were checked: the rest of the file could not be read from the tree`, file })),
      outputs,
    });
  }
  return finish({ status: 'pass', summary: `${names} is a valid LAVA test definition (${cases})`, findings: [], outputs });
}

/** A file the series touches, as it stands after the last patch touching it. */
export interface TrackedFile {
  /** Position of the last patch that touched it. */
  patch: number;
  deleted: boolean;
  /** The full new content, line by line; null when it could not be rebuilt (see `why` and `added`). */
  lines: string[] | null;
  why?: string;
  /** The lines the series adds, with their line numbers in the new file (used when `lines` is null). */
  added: { line: number; text: string }[];
}

/**
 * Replays the series' diffs for the files matching `matches` (and the files they were renamed from), in order:
 * a new file's content is its `+` lines, a change is applied to the previous content (from an earlier patch, or
 * `readTree`). Pure apart from readTree.
 */
export async function seriesFiles(
  patches: JobPatch[],
  matches: (path: string) => boolean,
  readTree: (path: string) => Promise<string | null>,
): Promise<Map<string, TrackedFile>> {
  const files = new Map<string, TrackedFile>();
  for (const patch of patches) {
    for (const d of parseDiff(patch.diff)) {
      const target = d.newPath ?? d.oldPath!;
      if (!matches(target) && !(d.oldPath && files.has(d.oldPath))) continue;
      const added = d.hunks.flatMap((h) => addedLines(h));
      if (d.newPath === null) {
        files.set(d.oldPath!, { patch: patch.number, deleted: true, lines: null, added: [] });
        continue;
      }
      let before: string[] | null = [];
      let why: string | undefined;
      if (d.oldPath !== null) {
        const earlier = files.get(d.oldPath);
        if (earlier) {
          before = earlier.lines;
          why = earlier.why;
        } else {
          const text = await readTree(d.oldPath);
          before = text === null ? null : splitLines(text);
          if (text === null) why = `${d.oldPath} is not in the tree`;
        }
        if (d.oldPath !== d.newPath) files.delete(d.oldPath);
      }
      let lines: string[] | null = null;
      if (before) {
        lines = d.binary ? null : applyHunks(before, d.hunks);
        if (!lines) why = d.binary ? 'it is a binary change' : `the hunks of patch ${patch.number} do not apply to it`;
      }
      const prev = files.get(d.newPath)?.added ?? [];
      files.set(d.newPath, { patch: patch.number, deleted: false, lines, ...(why && !lines ? { why } : {}), added: [...prev, ...added] });
      if (!matches(d.newPath)) files.delete(d.newPath);
    }
  }
  return files;
}

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** Body lines with their first character (' ', '-', '+'); `\ No newline…` markers are dropped. */
  lines: string[];
}

export interface FileDiff {
  /** null for a new file. */
  oldPath: string | null;
  /** null for a deleted file. */
  newPath: string | null;
  binary: boolean;
  hunks: Hunk[];
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/** Splits a git diff into its files. Paths come from `---`/`+++`, else from `rename`/`diff --git` (hunkless changes). */
export function parseDiff(diff: string): FileDiff[] {
  const out: FileDiff[] = [];
  const lines = diff.split('\n');
  let cur: (FileDiff & { gitPaths: [string, string] | null; isNew: boolean; isDeleted: boolean }) | null = null;
  const close = () => {
    if (!cur) return;
    const [a, b] = cur.gitPaths ?? [cur.oldPath, cur.newPath];
    const oldPath = cur.isNew ? null : (cur.oldPath ?? a);
    const newPath = cur.isDeleted ? null : (cur.newPath ?? b);
    if (oldPath !== null || newPath !== null) out.push({ oldPath, newPath, binary: cur.binary, hunks: cur.hunks });
    cur = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('diff --git ')) {
      close();
      cur = { oldPath: null, newPath: null, binary: false, hunks: [], gitPaths: gitHeaderPaths(line.slice(11)), isNew: false, isDeleted: false };
      continue;
    }
    if (line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ') && (!cur || (cur.gitPaths === null && cur.hunks.length > 0))) {
      // A plain unified diff (no `diff --git` line), as `diff -u` or quilt write it.
      close();
      cur = { oldPath: null, newPath: null, binary: false, hunks: [], gitPaths: null, isNew: false, isDeleted: false };
    }
    if (!cur) continue;
    if (line.startsWith('new file mode')) cur.isNew = true;
    else if (line.startsWith('deleted file mode')) cur.isDeleted = true;
    else if (line.startsWith('rename from ')) cur.oldPath = unquote(line.slice(12));
    else if (line.startsWith('rename to ')) cur.newPath = unquote(line.slice(10));
    else if (line.startsWith('Binary files ') || line === 'GIT binary patch') cur.binary = true;
    else if (line.startsWith('--- ')) {
      const p = diffPath(line.slice(4));
      if (p === null) cur.isNew = true;
      else cur.oldPath = p;
    } else if (line.startsWith('+++ ')) {
      const p = diffPath(line.slice(4));
      if (p === null) cur.isDeleted = true;
      else cur.newPath = p;
    } else {
      const h = HUNK.exec(line);
      if (!h) continue;
      const hunk: Hunk = { oldStart: Number(h[1]), oldLines: h[2] === undefined ? 1 : Number(h[2]), newStart: Number(h[3]), newLines: h[4] === undefined ? 1 : Number(h[4]), lines: [] };
      // Read by count: a body line may itself look like a header ("--- " is a removed "-- " line).
      let oldLeft = hunk.oldLines;
      let newLeft = hunk.newLines;
      while ((oldLeft > 0 || newLeft > 0) && i + 1 < lines.length) {
        const body = lines[++i]!;
        if (body.startsWith('\\')) continue;
        const c = body[0] ?? ' ';
        if (c === '-') oldLeft--;
        else if (c === '+') newLeft--;
        else if (c === ' ' || body === '') (oldLeft--, newLeft--);
        else {
          i--;
          break;
        }
        hunk.lines.push(body === '' ? ' ' : body);
      }
      cur.hunks.push(hunk);
    }
  }
  close();
  return out;
}

/**
 * Applies hunks to a file's lines: each at its stated line, else at the nearest place its old side matches
 * (as `git apply` does after earlier changes moved it). Null when a hunk's old side is nowhere.
 */
export function applyHunks(before: string[], hunks: Hunk[]): string[] | null {
  const out: string[] = [];
  let pos = 0; // next line of `before` not yet copied
  for (const h of hunks) {
    const old = h.lines.filter((l) => l[0] !== '+').map((l) => l.slice(1));
    const fits = (at: number) => at >= pos && at + old.length <= before.length && old.every((l, k) => before[at + k] === l);
    const stated = h.oldLines === 0 ? h.oldStart : h.oldStart - 1;
    let at = -1;
    for (let delta = 0; at === -1 && (stated - delta >= pos || stated + delta <= before.length); delta++) {
      if (fits(stated - delta)) at = stated - delta;
      else if (fits(stated + delta)) at = stated + delta;
    }
    if (at === -1) return null;
    for (let k = pos; k < at; k++) out.push(before[k]!);
    for (const l of h.lines) if (l[0] !== '-') out.push(l.slice(1));
    pos = at + old.length;
  }
  // Line by line, not push(...slice): a file of 200,000 lines would overflow the stack with the spread.
  for (let k = pos; k < before.length; k++) out.push(before[k]!);
  return out;
}

function addedLines(h: Hunk): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let n = h.newStart;
  for (const l of h.lines) {
    if (l[0] === '+') out.push({ line: n, text: l.slice(1) });
    if (l[0] !== '-') n++;
  }
  return out;
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** `a/path`, `b/path`, `"a/p\303\251"`, or /dev/null (→ null). A tab ends the name (git adds one when it has spaces). */
function diffPath(field: string): string | null {
  const name = field.split('\t')[0]!; // a raw tab is always quoted inside a name
  const raw = name.startsWith('"') ? unquote(name) : name;
  if (raw === '/dev/null') return null;
  return raw.replace(/^[^/]+\//, '');
}

/** `a/X b/Y` from `diff --git`: certain when quoted or without spaces, else when both halves name the same file. */
function gitHeaderPaths(rest: string): [string, string] | null {
  const strip = (p: string) => unquote(p).replace(/^[^/]+\//, '');
  const tokens = /^("(?:[^"\\]|\\.)*"|[^\s"]+) ("(?:[^"\\]|\\.)*"|[^\s"]+)$/.exec(rest);
  if (tokens) return [strip(tokens[1]!), strip(tokens[2]!)];
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest[half] === ' ') {
    const a = strip(rest.slice(0, half));
    const b = strip(rest.slice(half + 1));
    if (a === b) return [a, b];
  }
  return null;
}

/** git's C-style quoting of unusual file names ("t\303\251st.yaml", "a\tb"). */
function unquote(s: string): string {
  if (!s.startsWith('"') || !s.endsWith('"') || s.length < 2) return s;
  const bytes: number[] = [];
  const body = s.slice(1, -1);
  const escapes: Record<string, number> = { n: 10, t: 9, r: 13, '"': 34, '\\': 92, a: 7, b: 8, f: 12, v: 11 };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const oct = /^[0-7]{3}/.exec(body.slice(i + 1));
    if (oct) {
      bytes.push(parseInt(oct[0], 8));
      i += 3;
    } else {
      bytes.push(escapes[body[i + 1]!] ?? body.charCodeAt(i + 1));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}


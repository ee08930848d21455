// `git range-diff` between two revisions of a series, run by the real git on commits rebuilt from the patches' text,
// and the unified-diff reading the web view shares (a patch page's coloured lines and file list).
//
// Why commits rebuilt from the diffs, not `git am` on the project's tree: range-diff compares, pair by pair, each
// commit's message and the diff `git log -p` shows for it, with hunk line numbers dropped (range-diff.c keeps only
// "@@ path: function"). So all it needs are commits whose first-parent diff says what the mail said. `git am` of both
// revisions on a kernel checkout costs seconds and gigabytes, needs the right base, and fails for the very revision
// that did not apply; rebuilding costs milliseconds and works for any two revisions. For each patch we rebuild, from
// its hunks alone, the touched files before (context and removed lines at their line numbers) and after (context and
// added lines); lines the patch does not show are blank filler, which git never prints because the hunks keep their
// positions, so `git diff` of the two gives the same hunks. A hunk's function name ("@@ … @@ static int f(void)") is
// kept by writing it, marked with \x01, on a filler line above the hunk and giving git a diff driver whose
// xfuncname matches only marked lines. Each patch's files are independent of the previous patch's (two patches of a
// series may touch one file): before each patch commit sits a merge commit holding that patch's "before" tree, and
// range-diff ignores merge commits. The throwaway repository is built by one `git fast-import` under DATA/tmp and
// deleted; results are kept in a small LRU keyed by the two series and their patches. git is spawned without a shell.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// Reading a unified diff (git's, or diff -u's).

export type DiffLineClass = 'file' | 'meta' | 'hunk' | 'add' | 'del' | 'ctx' | 'bin';

export interface DiffLine {
  cls: DiffLineClass;
  text: string;
  /** On a file's first line: its index in `files`, for an anchor. */
  file?: number;
}

export interface DiffHunk {
  oldStart: number;
  newStart: number;
  oldCount: number;
  newCount: number;
  /** The function name git printed after the second @@ ('' when none). */
  func: string;
  /** Lines of the hunk body: ' ' context, '-' removed, '+' added, '\\' no newline at end of file. */
  body: string[];
}

export interface DiffFile {
  /** Path before (null: a new file) and after (null: a deleted file), without the a/ b/ prefixes. */
  oldPath: string | null;
  newPath: string | null;
  oldMode: string | null;
  newMode: string | null;
  rename: boolean;
  copy: boolean;
  binary: boolean;
  /** The lines of a GIT binary patch (to tell two versions of it apart). */
  binaryText: string[];
  hunks: DiffHunk[];
  added: number;
  removed: number;
}

export interface ParsedDiff {
  files: DiffFile[];
  lines: DiffLine[];
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$/;
const EXTENDED = /^(old mode|new mode|deleted file mode|new file mode|copy from|copy to|rename from|rename to|similarity index|dissimilarity index|index) ?(.*)$/;

/** git's C-style quoted path ("a/t\303\251st") as text; other paths as they are. */
function unquote(p: string): string {
  if (!p.startsWith('"') || !p.endsWith('"') || p.length < 2) return p;
  const bytes: number[] = [];
  const s = p.slice(1, -1);
  const esc: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '"': 34, '\\': 92 };
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = s[i + 1] ?? '';
    if (/[0-7]/.test(n)) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8) & 0xff);
      i += 3;
    } else {
      bytes.push(esc[n] ?? n.charCodeAt(0));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** A ---/+++ path: /dev/null is none, a GNU diff timestamp after a tab goes, the first component (a/, b/) goes. */
function sidePath(raw: string): string | null {
  const p = unquote(raw.split('\t')[0]!.trimEnd());
  if (p === '/dev/null') return null;
  return p.includes('/') ? p.slice(p.indexOf('/') + 1) : p;
}

/** `diff --git a/X b/Y`: both paths when they can be told apart (always when X = Y). */
function gitHeaderPaths(line: string): [string | null, string | null] {
  const rest = line.slice('diff --git '.length);
  if (rest.startsWith('"')) {
    const m = /^("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*"|\S.*)$/.exec(rest);
    if (m) return [sidePath(m[1]!), sidePath(m[2]!)];
  }
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest[half] === ' ' && rest.slice(2, half) === rest.slice(half + 3)) {
    const p = rest.slice(2, half);
    return [p, p];
  }
  const at = rest.indexOf(' b/');
  return at > 0 ? [sidePath(rest.slice(0, at)), sidePath(rest.slice(at + 1))] : [null, null];
}

/** Splits a unified diff into files and hunks, and classes every line for display. Newlines must be LF. */
export function parseDiff(diff: string): ParsedDiff {
  const text = diff.endsWith('\n') ? diff.slice(0, -1) : diff;
  const src = text ? text.split('\n') : [];
  const files: DiffFile[] = [];
  const lines: DiffLine[] = [];
  let cur: DiffFile | null = null;
  let sawMinus = false;
  let inBinary = false;
  const start = (oldPath: string | null, newPath: string | null): DiffFile => {
    const f: DiffFile = { oldPath, newPath, oldMode: null, newMode: null, rename: false, copy: false, binary: false, binaryText: [], hunks: [], added: 0, removed: 0 };
    files.push(f);
    sawMinus = false;
    inBinary = false;
    return f;
  };

  for (let i = 0; i < src.length; i++) {
    const line = src[i]!;
    if (line.startsWith('diff ') || line.startsWith('Index: ')) {
      const [a, b] = line.startsWith('diff --git ') ? gitHeaderPaths(line) : [null, null];
      cur = start(a, b);
      lines.push({ cls: 'file', text: line, file: files.length - 1 });
      continue;
    }
    if (inBinary && cur) {
      cur.binaryText.push(line);
      lines.push({ cls: 'bin', text: line });
      continue;
    }
    if (line.startsWith('--- ') && src[i + 1]?.startsWith('+++ ')) {
      // After a `diff` line these name its paths; otherwise (diff -u output, or after a hunk) a new file starts.
      const continues = cur !== null && !sawMinus && cur.hunks.length === 0;
      const file: DiffFile = cur !== null && continues ? cur : start(null, null);
      cur = file;
      file.oldPath = sidePath(line.slice(4));
      file.newPath = sidePath(src[i + 1]!.slice(4));
      sawMinus = true;
      lines.push(continues ? { cls: 'meta', text: line } : { cls: 'file', text: line, file: files.length - 1 });
      lines.push({ cls: 'meta', text: src[i + 1]! });
      i++;
      continue;
    }
    const h = cur ? HUNK.exec(line) : null;
    if (h && cur) {
      const file: DiffFile = cur;
      const hunk: DiffHunk = {
        oldStart: Number(h[1]),
        oldCount: h[2] === undefined ? 1 : Number(h[2]),
        newStart: Number(h[3]),
        newCount: h[4] === undefined ? 1 : Number(h[4]),
        func: h[5] ?? '',
        body: [],
      };
      file.hunks.push(hunk);
      lines.push({ cls: 'hunk', text: line });
      let oldLeft = hunk.oldCount;
      let newLeft = hunk.newCount;
      while ((oldLeft > 0 || newLeft > 0 || src[i + 1]?.startsWith('\\')) && i + 1 < src.length) {
        const l = src[++i]!;
        if (l.startsWith('\\')) {
          hunk.body.push(l);
          lines.push({ cls: 'meta', text: l });
          continue;
        }
        if (l.startsWith('+')) {
          newLeft--;
          file.added++;
          lines.push({ cls: 'add', text: l });
        } else if (l.startsWith('-')) {
          oldLeft--;
          file.removed++;
          lines.push({ cls: 'del', text: l });
        } else {
          // A context line; mailers that strip trailing spaces turn " " into "".
          oldLeft--;
          newLeft--;
          lines.push({ cls: 'ctx', text: l });
        }
        hunk.body.push(l);
      }
      continue;
    }
    if (cur) {
      const file: DiffFile = cur;
      const ext = EXTENDED.exec(line);
      if (ext && !sawMinus) {
        const [, key, value = ''] = ext;
        if (key === 'old mode' || key === 'deleted file mode') file.oldMode = value.trim();
        if (key === 'new mode' || key === 'new file mode') file.newMode = value.trim();
        if (key === 'deleted file mode') file.newPath = null;
        if (key === 'new file mode') file.oldPath = null;
        if (key === 'rename from' || key === 'copy from') file.oldPath = unquote(value);
        if (key === 'rename to' || key === 'copy to') file.newPath = unquote(value);
        if (key!.startsWith('rename')) file.rename = true;
        if (key!.startsWith('copy')) file.copy = true;
        lines.push({ cls: 'meta', text: line });
        continue;
      }
      if (line.startsWith('GIT binary patch') || line.startsWith('Binary files ')) {
        file.binary = true;
        inBinary = line.startsWith('GIT');
        lines.push({ cls: 'meta', text: line });
        continue;
      }
    }
    lines.push({ cls: 'meta', text: line });
  }
  return { files, lines };
}

// Rebuilding the patch as two trees.

export interface TreeFile {
  mode: string;
  content: Buffer;
}
type Tree = Map<string, TreeFile>;

/** Marks the line holding a hunk's function name; the diff driver's xfuncname matches only such lines. */
const FUNC_MARK = '\x01';

/** A path fast-import accepts and a tree can hold: no empty, '.', '..' or .git components. */
function safePath(p: string): string {
  const parts = p.split('/').filter((s) => s && s !== '.' && s !== '..' && s.toLowerCase() !== '.git');
  return parts.join('/').replace(/[\0\n]/g, '_') || 'unnamed';
}

function treeMode(mode: string | null): string {
  if (mode === '100755' || mode === '120000') return mode;
  return '100644';
}

/** The files a patch touches, before and after it, rebuilt from its hunks (see the header comment). */
export function rebuildTrees(diff: string): { before: Tree; after: Tree } {
  const before: Tree = new Map();
  const after: Tree = new Map();
  for (const f of parseDiff(diff).files) {
    const oldPath = f.oldPath === null ? null : safePath(f.oldPath);
    const newPath = f.newPath === null ? null : safePath(f.newPath);
    if (oldPath === null && newPath === null) continue;
    const oldMode = treeMode(f.oldMode ?? f.newMode);
    const newMode = treeMode(f.newMode ?? f.oldMode);
    if (f.binary) {
      const digest = crypto.createHash('sha256').update(f.binaryText.join('\n')).digest('hex');
      if (oldPath !== null) before.set(oldPath, { mode: oldMode, content: Buffer.from(`binary file ${oldPath}: content not in the patch\n`) });
      if (newPath !== null) after.set(newPath, { mode: newMode, content: Buffer.from(`binary file ${newPath}: ${f.binaryText.length ? `patch ${digest}` : 'content not in the patch'}\n`) });
      continue;
    }
    if (!f.hunks.length) {
      if (oldPath !== null && newPath !== null) {
        // A rename, copy or mode change without hunks: the same unknown content on both sides.
        const same = Buffer.from(`${oldPath}: content not in the patch\n`);
        before.set(oldPath, { mode: oldMode, content: same });
        after.set(newPath, { mode: newMode, content: same });
        if (f.copy) after.set(oldPath, { mode: oldMode, content: same });
      } else if (oldPath !== null) {
        before.set(oldPath, { mode: oldMode, content: Buffer.alloc(0) }); // an empty file deleted
      } else {
        after.set(newPath!, { mode: newMode, content: Buffer.alloc(0) }); // an empty file created
      }
      continue;
    }
    const pre: (string | undefined)[] = [];
    const post: (string | undefined)[] = [];
    let preNoEol = false;
    let postNoEol = false;
    for (const h of f.hunks) {
      let o = h.oldCount === 0 ? h.oldStart : h.oldStart - 1;
      let n = h.newCount === 0 ? h.newStart : h.newStart - 1;
      // The function name on the line above the hunk, when that line is not shown by the patch (filler).
      if (h.func && o > 0 && n > 0 && pre[o - 1] === undefined && post[n - 1] === undefined) {
        pre[o - 1] = FUNC_MARK + h.func;
        post[n - 1] = FUNC_MARK + h.func;
      }
      let last: 'old' | 'new' | 'both' = 'both';
      for (const l of h.body) {
        if (l.startsWith('\\')) {
          if (last !== 'new') preNoEol = true;
          if (last !== 'old') postNoEol = true;
          continue;
        }
        if (l.startsWith('-')) {
          pre[o++] = l.slice(1);
          last = 'old';
        } else if (l.startsWith('+')) {
          post[n++] = l.slice(1);
          last = 'new';
        } else {
          pre[o++] = l.slice(1);
          post[n++] = l.slice(1);
          last = 'both';
        }
      }
    }
    const text = (a: (string | undefined)[], noEol: boolean) => {
      if (!a.length) return Buffer.alloc(0);
      const filled = Array.from(a, (x) => x ?? '');
      return Buffer.from(filled.join('\n') + (noEol ? '' : '\n'), 'utf8');
    };
    if (oldPath !== null) before.set(oldPath, { mode: oldMode, content: text(pre, preNoEol) });
    if (newPath !== null) after.set(newPath, { mode: newMode, content: text(post, postNoEol) });
    if (f.copy && oldPath !== null) after.set(oldPath, { mode: oldMode, content: text(pre, preNoEol) });
  }
  return { before, after };
}

// The fast-import stream.

export interface RangeDiffPatch {
  /** The commit's subject: the patch's name without its prefixes ("[v2,1/3] x" → "x"), as `git am` would commit it. */
  name: string;
  /** The mail's text before the diff: the commit message, then notes after a `---` line. */
  content: string;
  diff: string;
  authorName: string | null;
  authorEmail: string;
  date: string;
}

/** The commit message as `git am` takes it: the subject, a blank line, the body up to the `---` line. */
export function commitMessage(p: Pick<RangeDiffPatch, 'name' | 'content'>): string {
  const body: string[] = [];
  for (const l of p.content.split('\n')) {
    if (/^---\s*$/.test(l)) break;
    body.push(l);
  }
  const text = body.join('\n').trim();
  return `${p.name.replace(/\n/g, ' ')}\n${text ? `\n${text}\n` : ''}`;
}

const ident = (s: string) => s.replace(/[<>\n\r\0]/g, '').trim();

function fastImportStream(sides: RangeDiffPatch[][]): Buffer {
  const out: Buffer[] = [];
  const cmd = (s: string) => out.push(Buffer.from(`${s}\n`, 'utf8'));
  const data = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    cmd(`data ${buf.length}`);
    out.push(buf, Buffer.from('\n'));
  };
  const committer = 'committer patchbay <patchbay@localhost> 0 +0000';
  const quote = (p: string) => `"${p.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const tree = (t: Tree) => {
    cmd('deleteall');
    for (const [p, f] of [...t].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      cmd(`M ${f.mode} inline ${quote(p)}`);
      data(f.content);
    }
  };
  // :1 and :2: the base both ranges start from (empty trees); :1 is also every setup merge's second parent.
  cmd('commit refs/heads/base');
  cmd('mark :1');
  cmd(committer);
  data('root\n');
  cmd('deleteall');
  cmd('commit refs/heads/base');
  cmd('mark :2');
  cmd(committer);
  data('base\n');
  cmd('from :1');
  cmd('deleteall');
  let mark = 3;
  sides.forEach((patches, s) => {
    const ref = `refs/heads/side-${s}`;
    cmd(`reset ${ref}`);
    cmd('from :2');
    let prev = 2;
    for (const p of patches) {
      const { before, after } = rebuildTrees(p.diff);
      // The setup merge: this patch's "before" files; range-diff skips it, being a merge.
      cmd(`commit ${ref}`);
      cmd(`mark :${mark}`);
      cmd(committer);
      data('setup\n');
      cmd(`from :${prev}`);
      cmd('merge :1');
      tree(before);
      const seconds = Math.floor((Date.parse(p.date) || 0) / 1000);
      cmd(`commit ${ref}`);
      cmd(`mark :${mark + 1}`);
      cmd(`author ${ident(p.authorName ?? '') || ident(p.authorEmail) || 'unknown'} <${ident(p.authorEmail)}> ${seconds} +0000`);
      cmd(committer);
      data(commitMessage(p));
      cmd(`from :${mark}`);
      tree(after);
      prev = mark + 1;
      mark += 2;
    }
  });
  cmd('done');
  return Buffer.concat(out);
}

// Running git.

interface GitRun {
  code: number | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

function runGit(args: string[], opts: { home: string; input?: Buffer; timeoutMs: number; maxBytes: number }): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: opts.home,
        LC_ALL: 'C',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_TERMINAL_PROMPT: '0',
      },
      timeout: opts.timeoutMs,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    let truncated = false;
    child.stdout.on('data', (b: Buffer) => {
      if (bytes >= opts.maxBytes) {
        truncated = true;
        return;
      }
      out.push(b);
      bytes += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 64) err.push(b);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), truncated }));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? Buffer.alloc(0));
  });
}

// The output, classed.

export type RangeDiffLineClass = 'pair-same' | 'pair-changed' | 'pair-removed' | 'pair-added' | 'file' | 'hunk' | 'add' | 'del' | 'iadd' | 'idel' | 'ctx' | 'meta';

export interface RangeDiffLine {
  cls: RangeDiffLineClass;
  text: string;
}

// The subject runs to the end of the line, not to a `$` that a CR inside it could make fail after a rescan of it all.
const PAIR = /^\s*(\d+|-+):\s+(?:[0-9a-f]+|-+) ([=!<>]) \s*(\d+|-+):\s+(?:[0-9a-f]+|-+) ?(.*)/;
const PAIR_CLASS: Record<string, RangeDiffLineClass> = { '=': 'pair-same', '!': 'pair-changed', '<': 'pair-removed', '>': 'pair-added' };

/**
 * range-diff's lines with a class each: the pair lines (their commit ids are our throwaway commits', so they are
 * left out), and inside a pair the outer diff (-, +, @@) and the inner one (context lines' own + and -).
 */
export function classifyRangeDiff(output: string): RangeDiffLine[] {
  const out: RangeDiffLine[] = [];
  for (const line of output.replace(/\n$/, '').split('\n')) {
    const pair = PAIR.exec(line);
    if (pair) {
      const [, l, mark, r, subject] = pair;
      out.push({ cls: PAIR_CLASS[mark!]!, text: `${l!.padStart(3)} ${mark} ${r!.padStart(3)}  ${subject}` });
      continue;
    }
    const body = line.startsWith('    ') ? line.slice(4) : line;
    const outer = body[0];
    const inner = body.slice(1);
    if (outer === '-') out.push({ cls: 'del', text: line });
    else if (outer === '+') out.push({ cls: 'add', text: line });
    else if (outer === '@') out.push({ cls: 'hunk', text: line });
    // range-diff's section lines (" ## path ##", " ## Commit message ##") and the inner patches' own hunk headers.
    else if (outer === ' ' && /^ ?## .*##$/.test(inner)) out.push({ cls: 'file', text: line });
    else if (outer === ' ' && inner.startsWith('@@')) out.push({ cls: 'hunk', text: line });
    else if (outer === ' ' && inner.startsWith('+')) out.push({ cls: 'iadd', text: line });
    else if (outer === ' ' && inner.startsWith('-')) out.push({ cls: 'idel', text: line });
    else out.push({ cls: line.trim() ? 'ctx' : 'meta', text: line });
  }
  return out;
}

/**
 * git's default (60) leaves small patches unpaired once both their message and their code changed: a student's
 * 5-line patch and its v2 then show as one patch removed and one added. At 100 a pair costs at most what showing both
 * apart would, which pairs revisions of one patch as reviewers expect and still keeps unrelated patches apart.
 */
const CREATION_FACTOR = 100;

// The service.

export interface RangeDiffResult {
  lines: RangeDiffLine[];
  /** The output was longer than the page shows. */
  truncated: boolean;
  /** Why there is no output (git failed, the patches are too big). */
  error: string | null;
  ms: number;
}

export interface RangeDiffOptions {
  /** Parent folder of the throwaway repositories (DATA/tmp). */
  tmpDir: string;
  cacheSize?: number;
  timeoutMs?: number;
  /** Diff text of both revisions together above which no range-diff is made. */
  maxInputBytes?: number;
  maxOutputLines?: number;
  /** range-diffs made at once (each is three short git processes); more wait their turn. */
  concurrency?: number;
}

export type RangeDiffSides = () => Promise<[RangeDiffPatch[], RangeDiffPatch[]]>;

export interface RangeDiffService {
  /** A kept result, without computing. */
  peek(key: string): RangeDiffResult | undefined;
  /** The result for `key` (kept, being computed, or computed now from the two revisions' patches). */
  get(key: string, sides: RangeDiffSides): Promise<RangeDiffResult>;
  /**
   * Starts making it in the background when git is idle enough, so a later view finds it kept; does nothing when
   * every slot is busy (a crawler walking series pages never queues work).
   */
  prefetch(key: string, sides: RangeDiffSides): void;
}

/** Runs git range-diff on the two revisions' patches (no cache). */
export async function computeRangeDiff(
  sides: [RangeDiffPatch[], RangeDiffPatch[]],
  opts: Pick<RangeDiffOptions, 'tmpDir' | 'timeoutMs' | 'maxInputBytes' | 'maxOutputLines'>,
): Promise<RangeDiffResult> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const maxLines = opts.maxOutputLines ?? 20_000;
  const done = (r: Omit<RangeDiffResult, 'ms'>): RangeDiffResult => ({ ...r, ms: Math.round(performance.now() - started) });
  const size = [...sides[0], ...sides[1]].reduce((n, p) => n + p.diff.length + p.content.length, 0);
  if (size > (opts.maxInputBytes ?? 32 * 1024 * 1024)) return done({ lines: [], truncated: false, error: `the two revisions hold ${size} bytes of patches: too big for a range-diff here` });
  fs.mkdirSync(opts.tmpDir, { recursive: true });
  const dir = fs.mkdtempSync(path.join(opts.tmpDir, 'range-diff-'));
  try {
    const repo = path.join(dir, 'repo.git');
    const attributes = path.join(dir, 'attributes');
    fs.writeFileSync(attributes, '* diff=patchbay\n');
    const run = (args: string[], input?: Buffer, maxBytes = 1024 * 1024) => runGit(args, { home: dir, input, timeoutMs, maxBytes });
    const init = await run(['init', '--quiet', '--bare', '--template=', repo]);
    if (init.code !== 0) return done({ lines: [], truncated: false, error: `git init failed: ${init.stderr.trim()}` });
    const imported = await run(['--git-dir', repo, 'fast-import', '--quiet', '--done'], fastImportStream(sides));
    if (imported.code !== 0) return done({ lines: [], truncated: false, error: `git fast-import failed: ${lastLine(imported.stderr)}` });
    const diff = await run(
      [
        '--git-dir',
        repo,
        '-c',
        `core.attributesFile=${attributes}`,
        '-c',
        `diff.patchbay.xfuncname=^${FUNC_MARK}(.*)$`,
        '-c',
        'diff.renames=true',
        '-c',
        'core.quotePath=false',
        'range-diff',
        '--no-color',
        `--creation-factor=${CREATION_FACTOR}`,
        'refs/heads/base..refs/heads/side-0',
        'refs/heads/base..refs/heads/side-1',
      ],
      undefined,
      16 * 1024 * 1024,
    );
    if (diff.code !== 0) return done({ lines: [], truncated: false, error: `git range-diff failed: ${lastLine(diff.stderr)}` });
    const lines = classifyRangeDiff(diff.stdout);
    return done({ lines: lines.slice(0, maxLines), truncated: diff.truncated || lines.length > maxLines, error: null });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function lastLine(s: string): string {
  return s.trim().split('\n').at(-1) ?? 'no message';
}

export function createRangeDiffService(opts: RangeDiffOptions): RangeDiffService {
  const size = opts.cacheSize ?? 64;
  const slots = opts.concurrency ?? 2;
  const cache = new Map<string, RangeDiffResult>();
  const running = new Map<string, Promise<RangeDiffResult>>();
  let active = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    if (active < slots) {
      active++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve)); // the releasing one hands its slot over
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else active--;
  };
  const keep = (key: string, r: RangeDiffResult) => {
    cache.delete(key);
    if (cache.size >= size) cache.delete(cache.keys().next().value!);
    cache.set(key, r);
  };
  return {
    peek(key) {
      const r = cache.get(key);
      if (r) keep(key, r); // most recently used
      return r;
    },
    get(key, sides) {
      const kept = this.peek(key);
      if (kept) return Promise.resolve(kept);
      let p = running.get(key);
      if (!p) {
        p = (async () => {
          await acquire();
          const started = performance.now();
          try {
            const r = await computeRangeDiff(await sides(), opts);
            keep(key, r);
            return r;
          } catch (e) {
            // git missing, the temp folder unwritable: said on the page, not kept (the next view tries again).
            return { lines: [], truncated: false, error: `no range-diff: ${(e as Error).message}`, ms: Math.round(performance.now() - started) };
          } finally {
            release();
            running.delete(key);
          }
        })();
        running.set(key, p);
      }
      return p;
    },
    prefetch(key, sides) {
      if (cache.has(key) || running.has(key) || active >= slots) return;
      void this.get(key, sides);
    },
  };
}

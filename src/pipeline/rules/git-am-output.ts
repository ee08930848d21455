// What `git am -3`, `git apply --reject --verbose` and their .rej files print, and how we read it (STYLE rule 12):
// each line we rely on with the verbatim sample it was written for (git 2.39, LC_ALL=C), and pure parsers.

export interface GitOutputRule {
  id: string;
  /** The verbatim line(s) this pattern was written for. */
  samples: string[];
  pattern: RegExp;
  meaning: string;
}

/** `git am` lines. Progress ("Applying:", "Patch failed at") goes to stdout, `error:` lines to stderr. */
export const GIT_AM_RULES = {
  applying: {
    id: 'applying',
    samples: ['Applying: p2: change message', 'Applying: misc: dummy-irq: count interrupts'],
    pattern: /^Applying: (.*)$/,
    meaning: 'git am starts on the next patch of the mbox',
  },
  failedAt: {
    id: 'failed-at',
    samples: ['Patch failed at 0002 p2: change message'],
    pattern: /^Patch failed at (\d+) (.*)$/,
    meaning: 'the 1-based position in the mbox of the patch that stopped git am; later patches were not applied',
  },
  alreadyApplied: {
    id: 'already-applied',
    samples: ['No changes -- Patch already applied.'],
    pattern: /^No changes -- Patch already applied\.$/,
    meaning: 'the patch being applied changed nothing (the tree already has it); no commit is made for it',
  },
  threeWay: {
    id: 'three-way',
    samples: ['Falling back to patching base and 3-way merge...'],
    pattern: /^Falling back to patching base and 3-way merge\.\.\.$/,
    meaning: 'the patch did not apply as is; git tries a 3-way merge with the blobs named in its index lines',
  },
  conflict: {
    id: 'conflict',
    samples: ['CONFLICT (content): Merge conflict in d.c', 'CONFLICT (add/add): Merge conflict in new.c'],
    pattern: /^CONFLICT \(([^)]+)\): Merge conflict in (.+)$/,
    meaning: 'the 3-way merge of a file conflicted',
  },
  patchFailed: {
    id: 'patch-failed',
    samples: ['error: patch failed: d.c:40', 'error: patch failed: drivers/misc/dummy-irq.c:41'],
    pattern: /^error: patch failed: (.+):(\d+)$/,
    meaning: 'a hunk of this file, starting at this line of the old file, does not apply',
  },
  doesNotApply: {
    id: 'does-not-apply',
    samples: ['error: d.c: patch does not apply'],
    pattern: /^error: (.+): patch does not apply$/,
    meaning: 'the file whose hunks do not apply',
  },
  sha1Lacking: {
    id: 'sha1-lacking',
    samples: ['error: sha1 information is lacking or useless (drivers/misc/dummy-irq.c).', 'error: sha1 information is lacking or useless (new.c).'],
    pattern: /^error: sha1 information is lacking or useless \((.+)\)\.$/,
    meaning: 'no 3-way merge possible: the tree lacks the blob the patch was made against (another base)',
  },
  fakeAncestor: {
    id: 'fake-ancestor',
    samples: ['error: could not build fake ancestor'],
    pattern: /^error: could not build fake ancestor$/,
    meaning: 'follows sha1-lacking or a corrupt patch: the 3-way fallback gave up',
  },
  corrupt: {
    id: 'corrupt',
    samples: ['error: corrupt patch at line 12'],
    pattern: /^error: corrupt patch at line (\d+)$/,
    meaning: 'the diff itself is broken (hunk counts wrong, mangled by a mail client)',
  },
  notInIndex: {
    id: 'not-in-index',
    samples: ['error: new.c: does not exist in index'],
    pattern: /^error: (.+): does not exist in index$/,
    meaning: 'the patch changes or deletes a file the tree does not have',
  },
  alreadyExists: {
    id: 'already-exists',
    samples: ['error: new.c: already exists in index', 'error: new.c: already exists in working directory'],
    pattern: /^error: (.+): already exists in (?:index|working directory)$/,
    meaning: 'the patch creates a file the tree already has',
  },
  mergeFailed: {
    id: 'merge-failed',
    samples: ['error: Failed to merge in the changes.'],
    pattern: /^error: Failed to merge in the changes\.$/,
    meaning: 'follows CONFLICT lines: the 3-way merge left conflicts',
  },
  empty: {
    id: 'empty',
    // On stdout, and without "Applying:" or "Patch failed at": the empty patch is the one after the last "Applying:".
    samples: ['Patch is empty.'],
    pattern: /^Patch is empty\.$/,
    meaning: 'a mail without a diff (or one git could not find)',
  },
} satisfies Record<string, GitOutputRule>;

/** `git apply --reject --verbose` lines (stderr), used after git am failed to find the rejected hunks. */
export const GIT_APPLY_REJECT_RULES = {
  withRejects: {
    id: 'with-rejects',
    samples: ['Applying patch drivers/misc/dummy-irq.c with 1 reject...', 'Applying patch d.c with 2 rejects...'],
    pattern: /^Applying patch (.+) with (\d+) rejects?\.\.\.$/,
    meaning: 'this file got a .rej file next to it holding the hunks that did not apply',
  },
  rejectedHunk: {
    id: 'rejected-hunk',
    samples: ['Rejected hunk #1.'],
    pattern: /^Rejected hunk #(\d+)\.$/,
    meaning: 'one hunk (numbered within its file) went to the .rej file',
  },
  patchFailed: GIT_AM_RULES.patchFailed,
  noSuchFile: {
    id: 'no-such-file',
    samples: ['error: new.c: No such file or directory'],
    pattern: /^error: (.+): No such file or directory$/,
    meaning: 'the patch changes or deletes a file the tree does not have',
  },
  alreadyExists: GIT_AM_RULES.alreadyExists,
  corrupt: GIT_AM_RULES.corrupt,
} satisfies Record<string, GitOutputRule>;

/** A .rej file written by `git apply --reject`: one header line, then the rejected hunks as in the patch. */
export const REJ_FILE_RULES = {
  header: {
    id: 'rej-header',
    samples: ['diff a/drivers/misc/dummy-irq.c b/drivers/misc/dummy-irq.c\t(rejected hunks)'],
    // The second path holds no " b/": the split is its last one, found in linear time (two greedy `(.+)` rescanned
    // the line from each " b/" when the tab was missing).
    pattern: /^diff a\/(.+) b\/((?:(?! b\/).)+)\t\(rejected hunks\)$/,
    meaning: 'the .rej file header; the hunks follow',
  },
  hunk: {
    id: 'rej-hunk',
    samples: ['@@ -41,7 +41,7 @@ static int __init dummy_irq_init(void)'],
    pattern: /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/,
    meaning: 'starts a hunk: its line in the old file',
  },
} satisfies Record<string, GitOutputRule>;

export interface AmError {
  rule: string;
  /** The line as git printed it. */
  text: string;
  file?: string;
  line?: number;
}

export interface AmOutput {
  /** The subjects git am started on, in order. */
  applying: string[];
  /** 1-based positions (in the mbox) of patches that changed nothing. */
  alreadyApplied: number[];
  /** The patch that stopped git am: its 1-based position in the mbox and the subject git printed. */
  failedAt: { position: number; subject: string } | null;
  threeWay: boolean;
  conflicts: string[];
  /** The `error:` lines we know, in order. */
  errors: AmError[];
}

/** Reads git am's stdout and stderr (they are separate streams: order within each is kept). */
export function parseAmOutput(stdout: string, stderr: string): AmOutput {
  const R = GIT_AM_RULES;
  const out: AmOutput = { applying: [], alreadyApplied: [], failedAt: null, threeWay: false, conflicts: [], errors: [] };
  for (const line of stdout.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = R.applying.pattern.exec(line))) out.applying.push(m[1]!);
    else if (R.alreadyApplied.pattern.test(line)) out.alreadyApplied.push(out.applying.length);
    else if ((m = R.failedAt.pattern.exec(line))) out.failedAt = { position: Number(m[1]), subject: m[2]! };
    else if (R.threeWay.pattern.test(line)) out.threeWay = true;
    else if ((m = R.conflict.pattern.exec(line))) out.conflicts.push(m[2]!);
    else if (R.empty.pattern.test(line)) out.errors.push({ rule: R.empty.id, text: line });
  }
  for (const line of stderr.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = R.patchFailed.pattern.exec(line))) out.errors.push({ rule: R.patchFailed.id, text: line, file: m[1]!, line: Number(m[2]) });
    else if ((m = R.doesNotApply.pattern.exec(line))) out.errors.push({ rule: R.doesNotApply.id, text: line, file: m[1]! });
    else if ((m = R.sha1Lacking.pattern.exec(line))) out.errors.push({ rule: R.sha1Lacking.id, text: line, file: m[1]! });
    else if ((m = R.corrupt.pattern.exec(line))) out.errors.push({ rule: R.corrupt.id, text: line, line: Number(m[1]) });
    else if ((m = R.notInIndex.pattern.exec(line))) out.errors.push({ rule: R.notInIndex.id, text: line, file: m[1]! });
    else if ((m = R.alreadyExists.pattern.exec(line))) out.errors.push({ rule: R.alreadyExists.id, text: line, file: m[1]! });
    else if (R.fakeAncestor.pattern.test(line)) out.errors.push({ rule: R.fakeAncestor.id, text: line });
    else if (R.mergeFailed.pattern.test(line)) out.errors.push({ rule: R.mergeFailed.id, text: line });
  }
  // An empty patch stops git am without "Patch failed at": it is the one after the last "Applying:".
  if (!out.failedAt && out.errors.some((e) => e.rule === R.empty.id)) out.failedAt = { position: out.applying.length + 1, subject: '' };
  return out;
}

export interface ApplyRejectOutput {
  /** Files that got a .rej, with how many hunks were rejected. */
  rejects: { file: string; hunks: number }[];
  /** "error: patch failed: FILE:LINE" lines, in order. */
  failed: { file: string; line: number }[];
  /** Errors that stop git apply before any hunk is tried (missing file, file exists, corrupt patch). */
  errors: AmError[];
}

export function parseApplyRejectOutput(stderr: string): ApplyRejectOutput {
  const R = GIT_APPLY_REJECT_RULES;
  const out: ApplyRejectOutput = { rejects: [], failed: [], errors: [] };
  for (const line of stderr.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = R.withRejects.pattern.exec(line))) out.rejects.push({ file: m[1]!, hunks: Number(m[2]) });
    else if ((m = R.patchFailed.pattern.exec(line))) out.failed.push({ file: m[1]!, line: Number(m[2]) });
    else if ((m = R.noSuchFile.pattern.exec(line))) out.errors.push({ rule: R.noSuchFile.id, text: line, file: m[1]! });
    else if ((m = R.alreadyExists.pattern.exec(line))) out.errors.push({ rule: R.alreadyExists.id, text: line, file: m[1]! });
    else if ((m = R.corrupt.pattern.exec(line))) out.errors.push({ rule: R.corrupt.id, text: line, line: Number(m[1]) });
  }
  return out;
}

export interface RejectedHunk {
  /** The hunk's first line in the old file (from its @@ header). */
  oldLine: number;
  /** The hunk as in the patch: the @@ line and its body. */
  text: string;
}

/** Splits a .rej file into its hunks. */
export function parseRejFile(text: string): RejectedHunk[] {
  const hunks: RejectedHunk[] = [];
  let cur: { oldLine: number; lines: string[] } | null = null;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const m = REJ_FILE_RULES.hunk.pattern.exec(line);
    if (m) {
      if (cur) hunks.push({ oldLine: cur.oldLine, text: cur.lines.join('\n') });
      cur = { oldLine: Number(m[1]), lines: [line] };
    } else if (cur) {
      cur.lines.push(line);
    }
    // Lines before the first hunk: the "diff a/… b/…\t(rejected hunks)" header.
  }
  if (cur) hunks.push({ oldLine: cur.oldLine, text: cur.lines.join('\n') });
  return hunks;
}

// What checkpatch.pl prints and how we read it (STYLE rule 12): each line we rely on, with the verbatim sample it was
// written for (Linux 6.1's scripts/checkpatch.pl, run as `checkpatch.pl --no-tree --show-types --color=never -`),
// and a pure parser from the whole output to findings.

export type CheckpatchLevel = 'ERROR' | 'WARNING' | 'CHECK';

export interface OutputRule {
  id: string;
  /** The verbatim line(s) this pattern was written for. */
  samples: string[];
  pattern: RegExp;
  /** What the line means for the parser. */
  meaning: string;
}

/**
 * The lines of checkpatch's normal (not --terse) output. A finding is a header line, optional message lines, an
 * optional location line, then the quoted patch line(s), ended by a blank line:
 *
 *   ERROR:TRAILING_WHITESPACE: trailing whitespace
 *   #26: FILE: drivers/misc/dummy-irq.c:21:
 *   +static void dummy_note(void){ $
 *
 * Findings about the commit message have a location without FILE, some findings have none at all.
 */
export const CHECKPATCH_RULES = {
  finding: {
    id: 'finding',
    samples: [
      'ERROR:TRAILING_WHITESPACE: trailing whitespace',
      "ERROR:OPEN_BRACE: open brace '{' following function definitions go on the next line",
      'WARNING:LONG_LINE: line length of 140 exceeds 100 columns',
      "CHECK:MACRO_ARG_REUSE: Macro argument reuse 'x' - possible side-effects?",
      'ERROR:MISSING_SIGN_OFF: Missing Signed-off-by: line(s)',
      'WARNING:FILE_PATH_CHANGES: added, moved or deleted file(s), does MAINTAINERS need updating?',
    ],
    pattern: /^(ERROR|WARNING|CHECK):([A-Z0-9_]+): (.*)$/,
    meaning: 'starts a finding: level, type (--show-types), message',
  },
  fileLocation: {
    id: 'file-location',
    samples: ['#26: FILE: drivers/misc/dummy-irq.c:21:', '#40: FILE: drivers/misc/dummy-irq.c:63:'],
    pattern: /^#(\d+): FILE: (.+):(\d+):$/,
    meaning: 'line in the patch, then the source file and line; the quoted lines follow',
  },
  patchLocation: {
    id: 'patch-location',
    // checkpatch prints "#9: " with a trailing space for lines outside any file (commit message, git headers).
    samples: ['#9: ', '#42: '],
    pattern: /^#(\d+): ?$/,
    meaning: 'line in the patch outside any source file (commit message, new file mode); the quoted lines follow',
  },
  total: {
    id: 'total',
    samples: [
      'total: 2 errors, 0 warnings, 11 lines checked',
      'total: 7 errors, 6 warnings, 53 lines checked',
      'total: 7 errors, 6 warnings, 2 checks, 53 lines checked',
    ],
    pattern: /^total: (\d+) errors, (\d+) warnings, (?:(\d+) checks, )?(\d+) lines checked$/,
    meaning: 'the counts; printed once checkpatch has read the whole patch (its absence means it did not finish)',
  },
  clean: {
    id: 'clean',
    samples: ['"[PATCH] misc: dummy-irq: count interrupts" has no obvious style problems and is ready for submission.'],
    pattern: /^(.*) has no obvious style problems and is ready for submission\.$/,
    meaning: 'the verdict when nothing (not ignored) was found',
  },
  problems: {
    id: 'problems',
    samples: ['"[PATCH] misc: dummy-irq: count interrupts" has style problems, please review.'],
    pattern: /^(.*) has style problems, please review\.$/,
    meaning: 'the verdict when something was found',
  },
  ignoredTypes: {
    id: 'ignored-types',
    samples: ['NOTE: Ignored message types: OPEN_BRACE TRAILING_WHITESPACE'],
    pattern: /^NOTE: Ignored message types: (.*)$/,
    meaning: 'the --ignore list as checkpatch understood it',
  },
  note: {
    id: 'note',
    samples: [
      'NOTE: For some of the reported defects, checkpatch may be able to',
      '      mechanically convert to the typical style using --fix or --fix-inplace.',
      'NOTE: Whitespace errors detected.',
      '      You may wish to use scripts/cleanpatch or scripts/cleanfile',
      'NOTE: If any of the errors are false positives, please report',
      '      them to the maintainer, see CHECKPATCH in MAINTAINERS.',
    ],
    pattern: /^(NOTE: | {6}\S)/,
    meaning: 'advice after the counts; not a finding',
  },
} satisfies Record<string, OutputRule>;

/**
 * Findings whose quoted line checkpatch prints through its `cat_vet` (scripts/checkpatch.pl, Linux 6.1): every control
 * character as `^` and the character 64 above it (a tab is `^I`, a CR `^M`) and a `$` at the end of the line, so the
 * whitespace the finding is about can be seen. Samples (the patch line `+\tint d;\t`, `+        return 1; `):
 *
 *   ERROR:TRAILING_WHITESPACE: trailing whitespace
 *   #25: FILE: x.c:8:
 *   +^Iint d;^I$
 *
 *   WARNING:SPACE_BEFORE_TAB: please, no space before tabs
 *   #23: FILE: x.c:6:
 *   +int b = 1; ^I/* c *\/$
 *
 * Every other finding quotes the patch line as it is (tabs as tabs, no `$`).
 */
export const VETTED_QUOTE_TYPES: readonly string[] = ['DOS_LINE_ENDINGS', 'TRAILING_WHITESPACE', 'FSF_MAILING_ADDRESS', 'CODE_INDENT', 'SPACE_BEFORE_TAB', 'LEADING_SPACE'];

/**
 * A quoted line as the patch had it: for a VETTED_QUOTE_TYPES finding, the `$` checkpatch added at its end removed and
 * each `^X` it wrote for a control character turned back into that character (`^I` a tab, `^M` a CR). A literal `^I`
 * in the source reads as a tab too: checkpatch's own quoting cannot tell them apart. Other findings' lines are returned
 * as they are.
 */
export function unvetQuoteLine(type: string | undefined, line: string): string {
  if (!type || !VETTED_QUOTE_TYPES.includes(type) || !line.endsWith('$')) return line;
  return line.slice(0, -1).replace(/\^([@A-Z[\\\]^_])/g, (_, c: string) => String.fromCharCode(c.charCodeAt(0) - 64));
}

/**
 * Options that change the output format this parser reads (or make checkpatch rewrite files): a project's
 * `checkpatch.options` may not carry them. Matched on the option's name, before any `=`.
 */
export const FORMAT_OPTIONS: readonly string[] = [
  '-q', '--quiet', '--terse', '--showfile', '--emacs', '--no-summary', '--summary-file', '--color', '--no-color',
  '--show-types', '--no-show-types', '-v', '--verbose', '--fix', '--fix-inplace', '--list-types', '--mailback',
  '-f', '--file', '-g', '--git', '--no-tree', '--tree', '--root', '-h', '--help', '--version', '--test-only',
];

/** The options we always pass, so that the output has the shape CHECKPATCH_RULES describe. */
export const CHECKPATCH_BASE_OPTIONS: readonly string[] = ['--no-tree', '--show-types', '--color=never'];

export function isFormatOption(option: string): boolean {
  const name = option.split('=')[0]!;
  return FORMAT_OPTIONS.includes(name);
}

/** The policy's part of a checkpatch command line: what a project file asks for. */
export interface CheckpatchOptions {
  ignore: readonly string[];
  options: readonly string[];
}

/**
 * The options the step runs checkpatch with, in order: ours (CHECKPATCH_BASE_OPTIONS), the project's `--ignore` list,
 * then the project's other options minus those that would change the output format (`dropped`).
 */
export function checkpatchOptions(policy: CheckpatchOptions): { options: string[]; dropped: string[] } {
  const dropped = policy.options.filter(isFormatOption);
  return {
    options: [...CHECKPATCH_BASE_OPTIONS, ...(policy.ignore.length > 0 ? [`--ignore=${policy.ignore.join(',')}`] : []), ...policy.options.filter((o) => !isFormatOption(o))],
    dropped,
  };
}

/** The command a student runs at the top of their tree to see what the bot saw: the same options, on their patch files. */
export function checkpatchCommand(policy: CheckpatchOptions, files = '*.patch'): string {
  // Project options are `--name[=value]` without blanks (src/config/projects.ts): no quoting needed.
  return ['./scripts/checkpatch.pl', ...checkpatchOptions(policy).options, files].join(' ');
}

export interface CheckpatchFinding {
  level: CheckpatchLevel;
  type: string;
  /** The message, continuation lines joined with "\n". */
  message: string;
  /** Line in the patch file (1-based), when checkpatch gave one. */
  patchLine?: number;
  /** Source file and line (FILE: …), for findings inside a file's hunk. */
  file?: string;
  line?: number;
  /** The quoted line(s) as checkpatch printed them (a trailing "$" marks trailing whitespace, "^I" a tab there). */
  quote?: string;
}

export interface CheckpatchTotal {
  errors: number;
  warnings: number;
  checks: number;
  lines: number;
}

export interface CheckpatchOutput {
  findings: CheckpatchFinding[];
  /** null when checkpatch never printed its counts (it died, or ran with -q on a clean patch). */
  total: CheckpatchTotal | null;
  verdict: 'clean' | 'problems' | null;
  ignoredTypes: string[];
  /** Non-blank lines before the counts that belong to no finding: the parser met a shape it does not know. */
  unknown: string[];
}

function trimBlankEnd(lines: string[]): string[] {
  const out = [...lines];
  while (out.length > 0 && out[out.length - 1]!.trim() === '') out.pop();
  return out;
}

/** Reads checkpatch's stdout. Pure: the same text always gives the same findings. */
export function parseCheckpatchOutput(stdout: string): CheckpatchOutput {
  const R = CHECKPATCH_RULES;
  const lines = stdout.replace(/\r\n/g, '\n').split('\n');
  const out: CheckpatchOutput = { findings: [], total: null, verdict: null, ignoredTypes: [], unknown: [] };

  interface Open {
    finding: CheckpatchFinding;
    message: string[];
    quote: string[];
    located: boolean;
  }
  let open: Open | null = null;
  const close = () => {
    if (!open) return;
    const f = open.finding;
    f.message = trimBlankEnd(open.message).join('\n');
    const quote = trimBlankEnd(open.quote);
    if (quote.length > 0) f.quote = quote.join('\n');
    out.findings.push(f);
    open = null;
  };

  let afterTotal = false;
  for (const line of lines) {
    if (afterTotal) {
      let m: RegExpExecArray | null;
      if ((m = R.ignoredTypes.pattern.exec(line))) out.ignoredTypes.push(...m[1]!.trim().split(/\s+/).filter(Boolean));
      else if (R.clean.pattern.test(line)) out.verdict = 'clean';
      else if (R.problems.pattern.test(line)) out.verdict = 'problems';
      continue;
    }
    let m = R.finding.pattern.exec(line);
    if (m) {
      close();
      open = { finding: { level: m[1] as CheckpatchLevel, type: m[2]!, message: '' }, message: [m[3]!], quote: [], located: false };
      continue;
    }
    m = R.total.pattern.exec(line);
    if (m) {
      close();
      out.total = { errors: Number(m[1]), warnings: Number(m[2]), checks: Number(m[3] ?? 0), lines: Number(m[4]) };
      afterTotal = true;
      continue;
    }
    // Inside a finding, `open` is set; TypeScript cannot see the assignment in close(), hence the cast.
    const cur = open as Open | null;
    if (cur && !cur.located) {
      if ((m = R.fileLocation.pattern.exec(line))) {
        cur.located = true;
        cur.finding.patchLine = Number(m[1]);
        cur.finding.file = m[2]!;
        cur.finding.line = Number(m[3]);
        continue;
      }
      if ((m = R.patchLocation.pattern.exec(line))) {
        cur.located = true;
        cur.finding.patchLine = Number(m[1]);
        continue;
      }
      cur.message.push(line);
      continue;
    }
    if (cur) {
      cur.quote.push(line);
      continue;
    }
    // Before any finding (an empty report) or after the counts: the clean verdict, notes, or unknown text.
    if (R.clean.pattern.test(line)) out.verdict = 'clean';
    else if (line.trim() !== '' && !R.note.pattern.test(line)) out.unknown.push(line);
  }
  close();
  return out;
}

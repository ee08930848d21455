// The reply mail's text for a run (STYLE rule 13): which of the talk's six reports, and the lines it quotes.
// Pure: data in, text out (templates/mail/report-<kind>.hbs); the caller sets Subject "Re: …", threading and sends.
// Everything quoted comes from the student's mail or the tools' output: control characters are stripped from it.
import { AppError } from '../errors.js';
import { renderTemplate } from '../mail/compose.js';
import { trimChars, trimEndChars } from '../text.js';
import { unvetQuoteLine, VETTED_QUOTE_TYPES } from './rules/checkpatch-output.js';
import type { Finding, PersonRef, StepResult, StepStatus } from './types.js';

export type ReportKind = 'signoff-missing' | 'test-description' | 'coding-style' | 'apply-failed' | 'build-failed' | 'test-results';

/** One step's outcome, in run order. `name` is a StepName, or a later stage's ('build', 'test'). */
export interface ReportStep {
  name: string;
  result: StepResult;
}

/** What the series was (or would have been) applied on. */
export interface ReportBase {
  /** The tree's branch (the base when the series gave no usable `base-commit:`). */
  branch: string;
  /** Full or abbreviated commit id; null only when the run stopped before the base was resolved. */
  commit: string | null;
  /** True when the commit is the series' own `base-commit:`. */
  fromSeries: boolean;
  /** Where anyone can fetch the tree (the project's `tree.public_url`); null: not said (never a server path). */
  url?: string | null;
}

/** One compiler diagnostic, as the build stage parsed it (gcc/clang: `file:line:col: level: message`). */
export interface BuildDiagnostic {
  file: string;
  line: number;
  column: number | null;
  /** error, warning (fatal error counts as error). */
  level: string;
  message: string;
  /** The source line the compiler pointed at, when known. */
  source: string | null;
  /** Not on the base: this series introduced it (marked `>>`). */
  isNew: boolean;
}

export interface BuildReport {
  arch: string;
  status: StepStatus;
  /** The first errors, in the compiler's order. */
  errors: BuildDiagnostic[];
  warnings: BuildDiagnostic[];
  /** The make command, to redo the build in the student's own tree (no path of the server's). */
  makeCommand?: string | null;
  /** The build's .config, downloadable (a build that passed). */
  configUrl?: string | null;
  /** The compiler's version line. */
  toolchain?: string | null;
}

export interface TestCaseReport {
  name: string;
  result: 'pass' | 'fail' | 'skip' | 'unknown';
  /** The last lines of the case's log (console), quoted for failing cases. */
  logTail?: string;
}

export interface TestSuiteReport {
  /** The test definition's metadata.name ("dummy"). */
  suite: string;
  /** The build it ran on, when there are several. */
  arch?: string;
  cases: TestCaseReport[];
  /** The step's one-line summary (a boot failure says so). */
  summary?: string;
  /** The kernel's panic/oops lines, or why the guest never finished. */
  crash?: string | null;
  /** To reproduce the boot anywhere: `curl -fO URL` for each file, then the QEMU line naming the downloaded files. */
  reproduce?: { downloads: string[]; command: string } | null;
}

export interface ReportInput {
  /** Greeted by name, else by address. */
  student: PersonRef;
  /** The project's name ("HTS Syscall"). */
  project: string;
  /** The series' name, version and number of patches ("[v9] syscall: add dummy system call"). */
  series: { name: string; version: number; total: number };
  base: ReportBase;
  /** The series' web page. */
  url: string;
  /** Every step that ran, in order (a gate's failure ends the list). */
  steps: ReportStep[];
  /** From the build stage (next issue). */
  builds?: BuildReport[];
  /** From the test stage (next issue). */
  tests?: TestSuiteReport[];
  /** The last line ("LSE Team"). */
  signature: string;
}

export interface RenderedReport {
  kind: ReportKind | 'infra-error';
  /** For a header such as X-Patchbay-Status. */
  status: 'pass' | 'warn' | 'fail' | 'error';
  /** A short title ("Wrong coding style"); the mail's Subject stays "Re: " + the series' own. */
  subject: string;
  text: string;
}

/** What maintainers get when our own infrastructure failed (never the student). */
export interface InfraErrorInput {
  project: string;
  series: { name: string; version: number; total: number };
  submitter: PersonRef;
  base: ReportBase | null;
  url: string;
  /** The step whose status is `error`. */
  step: ReportStep;
  /** Where its full log is: its web URL, else the log file's path on the server. */
  log: string;
  runId: number;
  signature: string;
}

const KIND_OF_STEP: Record<string, ReportKind> = {
  signoff: 'signoff-missing',
  testdesc: 'test-description',
  checkpatch: 'coding-style',
  apply: 'apply-failed',
  build: 'build-failed',
  builds: 'build-failed',
};

const TITLES: Record<ReportKind, string> = {
  'signoff-missing': 'Sign off missing',
  'test-description': 'Invalid test description',
  'coding-style': 'Wrong coding style',
  'apply-failed': 'Apply failed',
  'build-failed': 'Build failed',
  'test-results': 'Test results',
};

/** Findings quoted in one mail; the rest are counted and left to the web page's log. */
const MAX_FINDINGS = 20;
/** Lines of one quote (a hunk, a log tail). */
const MAX_QUOTE_LINES = 40;
const MAX_BUILD_ERRORS = 5;
const MAX_BUILD_WARNINGS = 20;

/**
 * The first failing step decides the report; a run without one gets the test results ("everything passed").
 * 'infra-error' when our own failure (status `error`) came first: that goes to the maintainers instead.
 */
export function reportKind(steps: ReportStep[]): ReportKind | 'infra-error' {
  for (const s of steps) {
    if (s.result.status === 'error') return 'infra-error';
    if (s.result.status === 'fail') return KIND_OF_STEP[s.name] ?? 'test-results';
  }
  return 'test-results';
}

export function renderReport(input: ReportInput): RenderedReport {
  const kind = reportKind(input.steps);
  if (kind === 'infra-error') {
    throw new AppError('internal', 'report_for_infra_error', 'a run that stopped on our own error is reported to the maintainers (renderInfraError), not to the student');
  }
  const failed = input.steps.find((s) => s.result.status === 'fail') ?? null;
  const warned = input.steps.filter((s) => s.result.status === 'warn');
  const tests = input.tests ?? [];
  const testsFailed = tests.some((t) => t.cases.some((c) => c.result !== 'pass'));
  const status = failed || testsFailed ? 'fail' : warned.length ? 'warn' : 'pass';

  const data = {
    ...header(input),
    title: TITLES[kind],
    failed: failed ? stepView(failed, input.series.total) : null,
    missing: failed?.result.findings.some((f) => f.type === 'TESTDEF_MISSING') ?? false,
    builds: (input.builds ?? []).map(buildView),
    noBuilds: (input.builds ?? []).length === 0,
    suites: tests.map(suiteView),
    noSuites: tests.length === 0,
    checks: line(input.steps.filter((s) => s.result.status === 'pass').map((s) => s.name).join(', ') || 'none'),
    // A step that did not run is said so, never counted as passed (its Patchwork check is left out too).
    skipped: line(input.steps.filter((s) => s.result.status === 'skip').map((s) => `${s.name} (${s.result.summary})`).join('; ')),
    warnings: warned.map((s) => stepView(s, input.series.total)),
    perfect: status === 'pass',
    passedWithWarnings: status === 'warn',
    failedAny: status === 'fail',
  };
  const subject = kind === 'test-results' ? (status === 'pass' ? 'All checks passed' : status === 'warn' ? 'Passed with warnings' : 'Tests failed') : TITLES[kind];
  return { kind, status, subject, text: renderTemplate(`report-${kind}`, data) };
}

export function renderInfraError(input: InfraErrorInput): RenderedReport {
  const data = {
    project: line(input.project),
    patch: patchLine(input.series),
    submitter: line(person(input.submitter)),
    base: input.base ? baseLine(input.base) : 'not resolved',
    url: line(input.url),
    runId: input.runId,
    step: stepView(input.step, input.series.total),
    logLocation: line(input.log),
    signature: line(input.signature),
  };
  return { kind: 'infra-error', status: 'error', subject: `Pipeline error in step ${line(input.step.name)}`, text: renderTemplate('report-infra-error', data) };
}

/** Removes what a terminal or mail reader would interpret (C0 except \n and \t, DEL, C1): quoted text is hostile. */
export function stripControls(s: string): string {
  return s.replace(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g, '');
}

/** A field on one line of the mail: controls removed, newlines and tabs folded to spaces. */
function line(s: string): string {
  // Each run of newlines with the blanks around it becomes one space (split first: `[ \t]*[\r\n]+` rescanned blanks).
  const folded = s
    .split(/[\r\n]+/)
    .map((part) => trimChars(part, ' \t'))
    .join(' ');
  return stripControls(folded.replace(/\t/g, ' ')).trim();
}

function quoteLines(text: string | undefined | null, max = MAX_QUOTE_LINES): string[] {
  if (text === undefined || text === null || text === '') return [];
  const lines = trimEndChars(stripControls(text.replace(/\r\n?/g, '\n')), '\n').split('\n');
  if (lines.length <= max) return lines;
  return [...lines.slice(0, max), `[… ${lines.length - max} more lines]`];
}

/** The last lines of a log (where a failing test says why). */
function tailLines(text: string | undefined, max = 20): string[] {
  if (!text) return [];
  const lines = trimEndChars(stripControls(text.replace(/\r\n?/g, '\n')), '\n').split('\n');
  return lines.length <= max ? lines : [`[… ${lines.length - max} earlier lines]`, ...lines.slice(-max)];
}

function header(input: ReportInput) {
  return {
    greeting: line(input.student.name ?? '') || line(input.student.email),
    project: line(input.project),
    patch: patchLine(input.series),
    base: baseLine(input.base),
    url: line(input.url),
    signature: line(input.signature),
  };
}

function patchLine(series: { name: string; version: number }): string {
  return `[v${series.version}] ${line(series.name)}`;
}

function baseLine(base: ReportBase): string {
  const short = base.commit ? line(base.commit).slice(0, 12) : null;
  const what = base.fromSeries && short ? `base-commit ${short}` : short ? `${line(base.branch)} at ${short}` : line(base.branch);
  // "master at f210688f6ccd of https://…": the student fetches that branch from there to find the commit.
  return base.url ? `${what} of ${line(base.url)}` : what;
}

function person(p: PersonRef): string {
  return p.name ? `${p.name} <${p.email}>` : p.email;
}

/** One step as a report shows it: its summary and its findings, each a head line and the lines it quotes. */
function stepView(s: ReportStep, total: number) {
  const shown = s.result.findings.slice(0, MAX_FINDINGS);
  const command = s.result.outputs?.command;
  return {
    name: line(s.name),
    status: s.result.status,
    summary: line(s.result.summary),
    findings: shown.map((f) => findingView(s.name, f, total)),
    more: s.result.findings.length - shown.length,
    // checkpatch's whitespace findings quote their line with the whitespace shown: the marks are explained once.
    whitespaceShown: s.name === 'checkpatch' && shown.some((f) => f.quote && f.type !== undefined && VETTED_QUOTE_TYPES.includes(f.type)),
    // The command the step ran, for the student to run on their own patches (checkpatch's outputs.command).
    command: s.name === 'checkpatch' && typeof command === 'string' && command ? line(command) : null,
  };
}

/** Column of tab stops, as checkpatch and the kernel's coding style count them. */
const TAB_WIDTH = 8;

/**
 * A line checkpatch quoted for a whitespace finding (its `^I` and `$` already undone), made readable in any mail
 * reader: each tab is `→` padded to its tab stop (not at the end of the line), the spaces such findings are about
 * (the indentation, the end of the line, before a tab) are `·`, a CR is `␍`. The diff's first column stays as it is.
 */
export function showWhitespace(quoted: string): string {
  const lead = /^[+\- ]/.test(quoted) ? quoted[0]! : '';
  const body = quoted.slice(lead.length);
  const indent = /^[ \t]*/.exec(body)![0].length;
  const trail = trimEndChars(body, ' \t\r').length;
  let out = lead;
  let col = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\t') {
      const pad = TAB_WIDTH - (col % TAB_WIDTH);
      // A tab at the end of the line is not padded: the mail line would end in blanks.
      out += i < trail ? `→${' '.repeat(pad - 1)}` : '→';
      col += pad;
      continue;
    }
    col++;
    if (c === '\r') out += '␍';
    else if (c === ' ' && (i < indent || i >= trail || /^ *\t/.test(body.slice(i)))) out += '·';
    else out += c;
  }
  return out;
}

function findingView(step: string, f: Finding, total: number): { head: string; quote: string[] } {
  const where = f.file ? `${line(f.file)}${f.line ? `:${f.line}` : ''}` : '';
  const message = line(f.message);
  switch (step) {
    case 'signoff':
      // The message names the patch, its author and the sign-offs found.
      return { head: message, quote: [] };
    case 'apply':
      // The message names the patch and the place ("patch 2/3: hunk at kernel/sys.c:1203 does not apply"); the
      // quote is the rejected hunk as git wrote it.
      return { head: message, quote: quoteLines(f.quote) };
    case 'testdesc':
      // "tests/proctree.yaml:3: metadata.format must be …", then the line itself, numbered.
      return {
        head: where ? `${where}: ${message}` : message,
        quote: f.quote !== undefined && f.line ? quoteLines(f.quote, 1).map((l) => `${f.line} | ${l}`) : [],
      };
    case 'checkpatch': {
      // As checkpatch prints it: "ERROR: message", the place, the offending source line(s); a whitespace finding's
      // line without checkpatch's `^I`/`$` marks, its whitespace shown (showWhitespace).
      const vetted = f.type !== undefined && VETTED_QUOTE_TYPES.includes(f.type);
      const quote = f.quote === undefined ? undefined : vetted ? f.quote.split('\n').map((l) => showWhitespace(unvetQuoteLine(f.type, l))).join('\n') : f.quote;
      return {
        head: [f.patch ? `patch ${f.patch}/${total}` : '', where].filter(Boolean).join(', ') + `${f.patch || where ? ': ' : ''}${f.level ? `${line(f.level)}: ` : ''}${message}`,
        quote: quoteLines(quote),
      };
    }
    default:
      return {
        head: `${where ? `${where}: ` : ''}${f.level && f.level !== 'ERROR' ? `${line(f.level)}: ` : ''}${message}`,
        quote: quoteLines(f.quote),
      };
  }
}

function diagnosticView(d: BuildDiagnostic, marked: boolean) {
  const at = `${line(d.file)}:${d.line}${d.column ? `:${d.column}` : ''}`;
  return {
    mark: marked ? (d.isNew ? '>> ' : '   ') : '',
    text: `${at}: ${line(d.level)}: ${line(d.message)}`,
    // gcc's own excerpt ("   54 |   cout++;" and its caret line) is quoted as gcc printed it.
    quote: d.source === null ? [] : /^\s*\d+ \|/.test(d.source) ? quoteLines(d.source, 4) : quoteLines(d.source, 1).map((l) => `${d.line} | ${l}`),
  };
}

function buildView(b: BuildReport) {
  const errors = b.errors.slice(0, MAX_BUILD_ERRORS);
  const warnings = b.warnings.slice(0, MAX_BUILD_WARNINGS);
  return {
    arch: line(b.arch),
    outcome: { pass: 'ok', warn: 'ok, with warnings', fail: 'FAILED', skip: 'not built', error: 'not built (our error)' }[b.status],
    errors: errors.map((d) => diagnosticView(d, false)),
    moreErrors: b.errors.length - errors.length,
    warnings: warnings.map((d) => diagnosticView(d, true)),
    moreWarnings: b.warnings.length - warnings.length,
    hasNewWarnings: b.warnings.some((w) => w.isNew),
    makeCommand: b.makeCommand ? line(b.makeCommand) : null,
    configUrl: b.configUrl ? line(b.configUrl) : null,
    toolchain: b.toolchain ? line(b.toolchain) : null,
  };
}

function suiteView(t: TestSuiteReport) {
  const passed = t.cases.filter((c) => c.result === 'pass').length;
  return {
    suite: line(t.suite) + (t.arch ? ` (${line(t.arch)})` : ''),
    passed,
    total: t.cases.length,
    tests: passed === 1 ? 'test' : 'tests',
    failedCases: t.cases
      .filter((c) => c.result !== 'pass')
      .map((c) => ({ name: line(c.name), result: c.result, log: tailLines(c.logTail) })),
    crash: t.crash ? tailLines(t.crash) : null,
    reproduce: t.reproduce ? { downloads: t.reproduce.downloads.map(line), command: line(t.reproduce.command) } : null,
  };
}

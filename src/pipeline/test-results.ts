// Test results from a guest's console: every test case the LAVA signals report, the ones a definition lists but
// never reported (failed, as LAVA does for `expected:` cases), and the exports a LAVA server offers for a job:
// CSV (lava_results_app's testcase_export_fields, csv.QUOTE_ALL) and JUnit XML (lava_rest_app's junit view).
// Pure: data in, strings out.
import type { RE2JS } from 're2js';
import { testCaseFields, type ConsoleReading } from './rules/console-output.js';

export type CaseResult = 'pass' | 'fail' | 'skip' | 'unknown';
export const CASE_RESULTS: readonly CaseResult[] = ['pass', 'fail', 'skip', 'unknown'];

/** One definition as it ran in the guest. */
export interface RunSpec {
  /** Position in the job, 0-based (the run.sh folder is this, zero-padded). */
  index: number;
  /** LAVA's TESTRUN_ID and results suite: `<index>_<name>`. */
  suite: string;
  name: string;
  /** Test cases the definition lists (lava-testdef's testCases): each must report. */
  expected: string[];
  /** parse: pattern, compiled for RE2 (lava-testdef's compilePythonRegex), and its fixupdict. */
  parse?: { regex: RE2JS; fixup: Record<string, string> } | null;
}

export interface TestCaseOutcome {
  suite: string;
  set: string | null;
  name: string;
  result: CaseResult;
  measurement: string | null;
  units: string | null;
  /** Why the result is what it is when the guest did not say so itself ("never reported: …"). */
  note: string | null;
  /** Console lines of the case's output (its STARTTC…ENDTC, else since the previous signal); 0 when none. */
  startLine: number;
  endLine: number;
  /** The last lines of that output, signals left out. */
  tail: string[];
}

export interface RunOutcome {
  suite: string;
  started: boolean;
  /** ENDRUN seen: every step ran. */
  ended: boolean;
}

export interface Results {
  cases: TestCaseOutcome[];
  runs: RunOutcome[];
  /** lava-test-raise's message, when a test stopped the run. */
  raised: { message: string; line: number } | null;
}

const SIGNAL_TEXT = /<LAVA_SIGNAL_|<LAVA_TEST_RUNNER /;

/**
 * Collects the results. `neverReported(suite)` says why a listed case did not report (the kernel panicked, the
 * guest hung, run.sh stopped at a failing step…); its text goes into the case's note after "never reported".
 */
export function collectResults(
  reading: ConsoleReading,
  runs: RunSpec[],
  opts: { tailLines?: number; neverReported?: (suite: string) => string | null; lastLine?: number } = {},
): Results {
  const tailLines = opts.tailLines ?? 20;
  const lastLine = opts.lastLine ?? reading.lines.length;
  const cases: TestCaseOutcome[] = [];
  const state = new Map<string, RunOutcome & { from: number; to: number }>();
  for (const r of runs) state.set(r.suite, { suite: r.suite, started: false, ended: false, from: 0, to: 0 });
  let raised: Results['raised'] = null;

  let suite: string | null = null;
  let set: string | null = null;
  let previous = 0; // line of the previous signal
  const openTc = new Map<string, { start: number; end: number }>();
  const tailOf = (from: number, to: number) =>
    from > to ? [] : reading.lines.slice(from - 1, to).filter((l) => !SIGNAL_TEXT.test(l)).slice(-tailLines);

  for (const s of reading.signals) {
    switch (s.kind) {
      case 'startRun': {
        suite = s.args[0]!;
        set = null;
        openTc.clear();
        const st = state.get(suite) ?? { suite, started: false, ended: false, from: 0, to: 0 };
        st.started = true;
        st.from = s.line;
        state.set(suite, st);
        break;
      }
      case 'endRun': {
        const st = state.get(s.args[0]!);
        if (st) {
          st.ended = true;
          st.to = s.line;
        }
        suite = null;
        set = null;
        break;
      }
      case 'startTc':
        openTc.set(s.args[0]!, { start: s.line, end: 0 });
        break;
      case 'endTc': {
        const tc = openTc.get(s.args[0]!);
        if (tc) tc.end = s.line;
        break;
      }
      case 'testSetStart':
        set = s.args[0]!;
        break;
      case 'testSetStop':
        set = null;
        break;
      case 'testCase': {
        const f = testCaseFields(s.args[0]!);
        const name = f.TEST_CASE_ID ?? '';
        if (!name) break;
        const tc = openTc.get(name);
        const [from, to] = tc ? [tc.start + 1, (tc.end || s.line) - 1] : [previous + 1, s.line - 1];
        if (tc) openTc.delete(name);
        const raw = f.RESULT ?? '';
        const result = (CASE_RESULTS as readonly string[]).includes(raw) ? (raw as CaseResult) : 'unknown';
        cases.push({
          suite: suite ?? 'lava',
          set,
          name,
          result,
          measurement: f.MEASUREMENT ?? null,
          units: f.UNITS ?? null,
          note: result === raw ? null : `lava-test-case reported the result '${raw}', which is not pass, fail, skip or unknown`,
          startLine: from <= to ? from : 0,
          endLine: from <= to ? to : 0,
          tail: tailOf(from, to),
        });
        break;
      }
      case 'testReference': {
        const [name, raw] = s.args as [string, string, string];
        const result = (CASE_RESULTS as readonly string[]).includes(raw) ? (raw as CaseResult) : 'unknown';
        cases.push({ suite: suite ?? 'lava', set, name, result, measurement: null, units: null, note: `reference ${s.args[2]}`, startLine: 0, endLine: 0, tail: [] });
        break;
      }
      case 'testRaise':
        raised ??= { message: s.args[0]!, line: s.line };
        break;
      case 'runnerExit':
        break;
    }
    previous = s.line;
  }

  /** One past the last line of a run: its ENDRUN, else where our init said run.sh stopped, the next run or the end. */
  const runEnd = (r: RunSpec, st: { from: number; to: number; ended: boolean }) => {
    if (st.ended) return st.to;
    const stops = reading.signals.filter((s) => s.line > st.from && (s.kind === 'startRun' || s.kind === 'runnerExit')).map((s) => s.line);
    const exit = reading.runExits.get(r.index);
    if (exit && exit.line > st.from) stops.push(exit.line);
    return stops.length ? stops.reduce((a, b) => Math.min(a, b)) : lastLine + 1;
  };

  // parse: patterns turn plain output lines of their run into test cases (LAVA matches them on the run's output).
  for (const r of runs) {
    const st = state.get(r.suite);
    if (!r.parse || !st?.started) continue;
    const end = runEnd(r, st);
    for (let n = st.from + 1; n < end; n++) {
      const line = reading.lines[n - 1]!;
      if (SIGNAL_TEXT.test(line) || line.startsWith('+ ')) continue;
      // re2js's exec mirrors RegExp's (index, input, groups); its typings say any[].
      const g = (r.parse.regex.exec(line) as RegExpExecArray | null)?.groups;
      if (!g?.test_case_id || g.result === undefined) continue;
      const fixed = r.parse.fixup[g.result] ?? g.result.toLowerCase();
      const result = (CASE_RESULTS as readonly string[]).includes(fixed) ? (fixed as CaseResult) : 'unknown';
      cases.push({
        suite: r.suite,
        set: null,
        name: g.test_case_id.trim(),
        result,
        measurement: g.measurement ?? null,
        units: g.units ?? null,
        note: null,
        startLine: n,
        endLine: n,
        tail: [line],
      });
    }
  }

  // Listed but never reported: failed.
  for (const r of runs) {
    const st = state.get(r.suite)!;
    const reported = new Set(cases.filter((c) => c.suite === r.suite).map((c) => c.name));
    const missing = r.expected.filter((name) => !reported.has(name));
    if (!missing.length) continue;
    const why = opts.neverReported?.(r.suite) ?? (st.started ? null : 'the definition never started');
    // Its output: what the run printed after its last signal.
    const end = runEnd(r, st) - 1;
    const lastSignal = Math.max(st.from, ...reading.signals.filter((s) => s.line > st.from && s.line <= end).map((s) => s.line));
    const tail = st.started ? tailOf(lastSignal + 1, end) : [];
    for (const name of missing) {
      cases.push({
        suite: r.suite,
        set: null,
        name,
        result: 'fail',
        measurement: null,
        units: null,
        note: `never reported${why ? `: ${why}` : ''}`,
        startLine: tail.length ? lastSignal + 1 : 0,
        endLine: tail.length ? end : 0,
        tail,
      });
    }
  }

  return { cases, runs: [...state.values()].map(({ suite: s, started, ended }) => ({ suite: s, started, ended })), raised };
}

export function countResults(cases: TestCaseOutcome[]): { passed: number; failed: number; skipped: number; unknown: number; total: number } {
  const by = (r: CaseResult) => cases.filter((c) => c.result === r).length;
  return { passed: by('pass'), failed: by('fail'), skipped: by('skip'), unknown: by('unknown'), total: cases.length };
}

/** lava_results_app.utils.testcase_export_fields(): the CSV columns of a LAVA job's results, in order. */
export const LAVA_CSV_COLUMNS = [
  'job',
  'suite',
  'result',
  'measurement',
  'unit',
  'duration',
  'timeout',
  'logged',
  'level',
  'metadata',
  'url',
  'name',
  'id',
  'log_start_line',
  'log_end_line',
] as const;

/**
 * The results as LAVA's `/api/v0.2/jobs/<id>/csv/` gives them: a header, every field quoted (csv.QUOTE_ALL),
 * CRLF line ends (Python's csv default). Values follow export_testcase(): a missing measurement is `None`
 * (Python's str(None)), metadata is the dict's Python repr.
 */
export function resultsCsv(job: number | string, cases: TestCaseOutcome[], logged: string): string {
  const q = (v: string) => `"${v.replace(/"/g, '""')}"`;
  const rows = [LAVA_CSV_COLUMNS.map(q).join(',')];
  cases.forEach((c, i) => {
    const meta: [string, string][] = [
      ['case', c.name],
      ['definition', c.suite],
      ['result', c.result],
    ];
    if (c.set) meta.push(['set', c.set]);
    if (c.measurement !== null) meta.push(['measurement', c.measurement]);
    if (c.units !== null) meta.push(['units', c.units]);
    if (c.note) meta.push(['note', c.note]);
    const row: Record<(typeof LAVA_CSV_COLUMNS)[number], string> = {
      job: String(job),
      suite: c.suite,
      result: c.result,
      measurement: c.measurement ?? 'None',
      unit: c.units ?? '',
      duration: '',
      timeout: '',
      logged,
      level: '',
      metadata: pyDict(meta),
      url: `/results/${job}/${c.suite}/${c.set ? `${c.set}/` : ''}${c.name}`,
      name: c.name,
      id: String(i + 1),
      log_start_line: c.startLine ? String(c.startLine) : '',
      log_end_line: c.endLine ? String(c.endLine) : '',
    };
    rows.push(LAVA_CSV_COLUMNS.map((k) => q(row[k])).join(','));
  });
  return rows.join('\r\n') + '\r\n';
}

function pyDict(pairs: [string, string][]): string {
  const s = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `{${pairs.map(([k, v]) => `${s(k)}: ${s(v)}`).join(', ')}}`;
}

/**
 * JUnit XML as LAVA's junit view writes it with junit_xml: one <testsuite> per results suite (classname = suite),
 * a failed case carries <error message="failed"> with its output, a skipped one <skipped message="skipped">. An
 * `unknown` result is neither in LAVA's export; here it is <skipped message="unknown"> so a JUnit reader does not
 * count it as passed.
 */
export function resultsJunit(cases: TestCaseOutcome[]): string {
  const suites = [...new Set(cases.map((c) => c.suite))];
  const out: string[] = ['<?xml version="1.0" encoding="utf-8"?>'];
  const total = countResults(cases);
  out.push(`<testsuites disabled="0" errors="${total.failed}" failures="0" tests="${total.total}" time="0.0">`);
  for (const s of suites) {
    const cs = cases.filter((c) => c.suite === s);
    const n = countResults(cs);
    out.push(`\t<testsuite disabled="0" errors="${n.failed}" failures="0" name="${xml(s)}" skipped="${n.skipped + n.unknown}" tests="${n.total}" time="0">`);
    for (const c of cs) {
      const name = c.set ? `${c.set}/${c.name}` : c.name;
      const open = `\t\t<testcase name="${xml(name)}" classname="${xml(s)}"`;
      if (c.result === 'pass') {
        out.push(`${open}/>`);
      } else if (c.result === 'fail') {
        const output = [...(c.note ? [c.note] : []), ...c.tail].join('\n');
        out.push(`${open}>`, `\t\t\t<error type="error" message="failed">${xml(output)}</error>`, '\t\t</testcase>');
      } else {
        out.push(`${open}>`, `\t\t\t<skipped type="skipped" message="${c.result === 'skip' ? 'skipped' : 'unknown'}"/>`, '\t\t</testcase>');
      }
    }
    out.push('\t</testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}

/** XML text/attribute escaping; control characters a console may hold (not allowed in XML 1.0) are dropped. */
function xml(s: string): string {
  return s
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

// Validates a student's test description as a LAVA test definition (text in, {ok, errors with lines, test cases} out).
// Pure: no I/O. What LAVA itself accepts (lava_common/schemas/test/testdef.py, 2023.01) plus the course's rules:
// metadata.description is required here, and run.steps must not be empty.
import { RE2JS } from 're2js';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Node, type Scalar, type YAMLMap } from 'yaml';

export const LAVA_TESTDEF_FORMAT = 'Lava-Test Test Definition 1.0';

export interface TestDefError {
  /** 1-based line in the test definition. */
  line: number;
  message: string;
}

export interface TestDefCheck {
  ok: boolean;
  /** Sorted by line. */
  errors: TestDefError[];
  /** Test case names the definition declares: `lava-test-case NAME` in run.steps, then `expected:`; in order, once each. */
  testCases: string[];
  /** metadata.name when it is a string. */
  name: string | null;
}

/** LAVA's doc/v2/writing-tests.rst: the name must not contain white space, non-ASCII or any of $& "'`()<>/\|; */
const BAD_NAME = /[^\x21-\x7e]|[$&"'`()<>/\\|;]/;
/** A shell variable name (params are exported into the test shell's environment). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESULTS = ['pass', 'fail', 'skip', 'unknown'];

/**
 * Parses as YAML 1.1, as LAVA does (PyYAML's safe_load): `name: no` is the boolean false there, not a string.
 * Duplicate keys are an error here although PyYAML silently keeps the last: a student never means that.
 */
export function validateTestDefinition(text: string): TestDefCheck {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, version: '1.1', prettyErrors: false, uniqueKeys: true });
  const lastLine = Math.max(1, text.split('\n').length - (text.endsWith('\n') ? 1 : 0));
  const lineAt = (offset: number) => Math.min(counter.linePos(offset).line, lastLine);
  const errors: TestDefError[] = [];
  const testCases: string[] = [];

  if (doc.errors.length) {
    for (const e of doc.errors) {
      // An unclosed quote is found at the end of the file; the student needs the line where it opened.
      const opened = e.code === 'MISSING_CHAR' ? unclosedQuoteStart(doc, e.pos[0]) : null;
      const key = e.code === 'DUPLICATE_KEY' ? /^[^:\s]+/.exec(text.slice(e.pos[0]))?.[0] : undefined;
      if (opened !== null) {
        errors.push({ line: lineAt(opened), message: `YAML syntax error: ${firstLine(e.message)}: the quoted string opened on this line is never closed` });
      } else if (key) {
        errors.push({ line: lineAt(e.pos[0]), message: `YAML syntax error: the key '${key}' appears twice in the same mapping` });
      } else {
        errors.push({ line: lineAt(e.pos[0]), message: `YAML syntax error: ${firstLine(e.message)}` });
      }
    }
    return done(errors, testCases, null);
  }

  const err = (node: Node | null | undefined, message: string, fallback = 1) =>
    errors.push({ line: node?.range ? lineAt(node.range[0]) : fallback, message });
  const root = doc.contents;
  if (!isMap(root)) {
    err(root, `a test definition is a mapping with metadata: and run: keys, found ${describe(root)}`);
    return done(errors, testCases, null);
  }

  // metadata
  let name: string | null = null;
  const metadata = entry(root, 'metadata');
  if (!metadata) err(null, 'metadata is missing (format, name and description)');
  else if (!isMap(metadata.value)) err(metadata.value ?? metadata.key, `metadata must be a mapping, found ${describe(metadata.value)}`);
  else {
    const m = metadata.value;
    const at = lineOfKey(metadata.key, lineAt);
    const format = entry(m, 'format');
    if (!format) err(null, `metadata.format is missing: it must be '${LAVA_TESTDEF_FORMAT}'`, at);
    else if (!isScalar(format.value) || format.value.value !== LAVA_TESTDEF_FORMAT) {
      err(format.value ?? format.key, `metadata.format must be '${LAVA_TESTDEF_FORMAT}', found ${describe(format.value)}`);
    }
    const nameEntry = entry(m, 'name');
    if (!nameEntry) err(null, 'metadata.name is missing', at);
    else if (!isText(nameEntry.value)) err(nameEntry.value ?? nameEntry.key, `metadata.name must be a non-empty string, found ${describe(nameEntry.value)}`);
    else {
      name = (nameEntry.value as Scalar).value as string;
      if (BAD_NAME.test(name)) {
        err(nameEntry.value, `metadata.name '${name}' must not contain white space, non-ASCII characters or any of $&"'\`()<>/\\|;`);
      }
    }
    const description = entry(m, 'description');
    if (!description) err(null, 'metadata.description is missing', at);
    else if (!isText(description.value)) {
      err(description.value ?? description.key, `metadata.description must be a non-empty string, found ${describe(description.value)}`);
    }
    for (const key of ['environment', 'devices', 'maintainer', 'scope', 'os']) {
      const e = entry(m, key);
      if (e) stringList(e.value, e.key, `metadata.${key}`, err, true);
    }
  }

  // run
  const run = entry(root, 'run');
  if (!run) {
    const stray = entry(root, 'steps');
    if (stray) err(stray.key, 'run is missing: steps: must be indented under run:');
    else err(null, 'run is missing: run.steps lists the shell commands of the test');
  }
  else if (!isMap(run.value)) err(run.value ?? run.key, `run must be a mapping with a steps: list, found ${describe(run.value)}`);
  else {
    const steps = entry(run.value, 'steps');
    if (!steps) err(null, 'run.steps is missing: it lists the shell commands of the test', lineOfKey(run.key, lineAt));
    else if (stringList(steps.value, steps.key, 'run.steps', err, false) || isSeq(steps.value)) {
      // The test cases of the good steps are listed even when another step is wrong.
      for (const item of (steps.value as { items: unknown[] }).items) {
        if (isScalar(item) && typeof item.value === 'string') addAll(testCases, testCasesIn(item.value));
      }
    }
  }

  // params / parameters: exported as environment variables of the test shell.
  for (const key of ['params', 'parameters']) {
    const p = entry(root, key);
    if (!p) continue;
    if (!isMap(p.value)) {
      err(p.value ?? p.key, `${key} must be a mapping of VARIABLE: value, found ${describe(p.value)}`);
      continue;
    }
    for (const pair of p.value.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : null;
      if (k === null || !ENV_NAME.test(k)) err(pair.key as Node, `${key}: '${k ?? describe(pair.key as Node)}' is not a valid shell variable name`);
      else if (pair.value !== null && !isScalar(pair.value)) err(pair.value as Node, `${key}.${k} must be a single value, found ${describe(pair.value as Node)}`);
    }
  }

  // install
  const install = entry(root, 'install');
  if (install) {
    if (!isMap(install.value)) err(install.value ?? install.key, `install must be a mapping (deps, git-repos, steps…), found ${describe(install.value)}`);
    else {
      for (const pair of install.value.items) {
        const k = isScalar(pair.key) ? String(pair.key.value) : '';
        if (['deps', 'git-repos', 'keys', 'steps', 'sources'].includes(k) || k.startsWith('deps-')) {
          stringList(pair.value as Node | null, pair.key as Node, `install.${k}`, err, true);
        }
      }
    }
  }

  // parse: a regex (Python's re syntax) that turns output lines into test cases.
  const parse = entry(root, 'parse');
  if (parse) {
    if (!isMap(parse.value)) err(parse.value ?? parse.key, `parse must be a mapping with a pattern:, found ${describe(parse.value)}`);
    else {
      const pattern = entry(parse.value, 'pattern');
      if (!pattern) err(null, 'parse.pattern is missing', lineOfKey(parse.key, lineAt));
      else if (!isText(pattern.value)) err(pattern.value ?? pattern.key, `parse.pattern must be a regular expression, found ${describe(pattern.value)}`);
      else {
        const compiled = compilePythonRegex((pattern.value as Scalar).value as string);
        if ('error' in compiled) err(pattern.value, `parse.pattern does not compile: ${compiled.error}`);
        else {
          const missing = ['test_case_id', 'result'].filter((g) => !compiled.groups.includes(g));
          if (missing.length) {
            err(pattern.value, `parse.pattern must have the named groups (?P<test_case_id>…) and (?P<result>…); missing ${missing.join(' and ')}`);
          }
        }
      }
      const fixup = entry(parse.value, 'fixupdict');
      if (fixup) {
        if (!isMap(fixup.value)) err(fixup.value ?? fixup.key, `parse.fixupdict must be a mapping, found ${describe(fixup.value)}`);
        else {
          for (const pair of fixup.value.items) {
            const v = isScalar(pair.value) ? pair.value.value : undefined;
            if (typeof v !== 'string' || !RESULTS.includes(v)) {
              err((pair.value ?? pair.key) as Node, `parse.fixupdict values must be one of ${RESULTS.join(', ')}, found ${describe(pair.value as Node | null)}`);
            }
          }
        }
      }
    }
  }

  // expected: test cases that must appear in the results (LAVA marks the missing ones as failed).
  const expected = entry(root, 'expected');
  if (expected && stringList(expected.value, expected.key, 'expected', err, true)) {
    for (const item of (expected.value as { items: unknown[] }).items) if (isScalar(item)) addAll(testCases, [String(item.value)]);
  }

  return done(errors, testCases, name);
}

/**
 * Test case names in a shell step: the first word after `lava-test-case`, unquoted. Names made at run time
 * (`lava-test-case "$t"`) cannot be known here and are left out.
 */
export function testCasesIn(script: string): string[] {
  const names: string[] = [];
  const re = /(?:^|[\s;&|(`])lava-test-case[ \t]+(?:"([^"\n]*)"|'([^'\n]*)'|([^\s;&|)`'"]+))/g;
  for (const m of script.matchAll(re)) {
    const name = m[1] ?? m[2] ?? m[3] ?? '';
    if (name === '' || name.startsWith('-') || (m[2] === undefined && /[$`]/.test(name))) continue;
    names.push(name);
  }
  return names;
}

export type CompiledPattern = { regex: RE2JS; groups: string[] } | { error: string };

/**
 * LAVA compiles parse.pattern with Python's `re`; we compile it with RE2 (re2js), which reads Python's `(?P<name>…)`
 * itself and matches in time linear in the line, whatever the student wrote: the pattern and the lines it is matched
 * on both come from the student, and a backtracking engine would let `(a+)+$` hold the worker for hours. The price:
 * back-references (`(?P=name)`) and look-arounds are refused with a clear error. Leading global flags like `(?i)`
 * become RE2 flags (i, m, s; Python's a, L, u, x are ignored, as before).
 */
export function compilePythonRegex(pattern: string): CompiledPattern {
  let source = pattern;
  let flags = 0;
  const lead = /^\(\?([aiLmsux]+)\)/.exec(source);
  if (lead) {
    source = source.slice(lead[0].length);
    for (const f of lead[1]!) flags |= f === 'i' ? RE2JS.CASE_INSENSITIVE : f === 'm' ? RE2JS.MULTILINE : f === 's' ? RE2JS.DOTALL : 0;
  }
  try {
    const regex = RE2JS.compile(source, flags);
    const named = regex.namedGroups();
    const groups = Object.keys(named).sort((a, b) => named[a]! - named[b]!);
    return { regex, groups };
  } catch (e) {
    const why = (e as Error).message.replace(/^error parsing regexp: /, '');
    if (/^invalid or unsupported Perl syntax: `\(\?(P|=|!|<=|<!)/.test(why)) {
      return { error: `back-references and look-arounds are not supported (patchbay matches in linear time): ${why}` };
    }
    return { error: why };
  }
}

function unclosedQuoteStart(doc: ReturnType<typeof parseDocument>, at: number): number | null {
  let start: number | null = null;
  visit(doc, {
    Scalar(_, node) {
      if ((node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') && node.range && node.range[1] >= at) {
        start = node.range[0];
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return start;
}

function done(errors: TestDefError[], testCases: string[], name: string | null): TestDefCheck {
  errors.sort((a, b) => a.line - b.line);
  return { ok: errors.length === 0, errors, testCases, name };
}

function entry(map: YAMLMap, key: string): { key: Node; value: Node | null } | null {
  for (const pair of map.items) {
    if (isScalar(pair.key) && pair.key.value === key) return { key: pair.key, value: (pair.value as Node | null) ?? null };
  }
  return null;
}

function lineOfKey(key: Node, lineAt: (offset: number) => number): number {
  return key.range ? lineAt(key.range[0]) : 1;
}

function isText(node: Node | null): boolean {
  return isScalar(node) && typeof node.value === 'string' && node.value.trim() !== '';
}

/** Checks a list of strings (`allowEmpty` false: at least one); says what is wrong with the first bad item. */
function stringList(node: Node | null, key: Node, what: string, err: (n: Node | null | undefined, m: string) => void, allowEmpty: boolean): boolean {
  if (!isSeq(node)) {
    err(node ?? key, `${what} must be a list of ${what === 'run.steps' ? 'shell commands' : 'strings'}, found ${describe(node)}`);
    return false;
  }
  if (!allowEmpty && node.items.length === 0) {
    err(node, `${what} must list at least one command`);
    return false;
  }
  let ok = true;
  node.items.forEach((item, i) => {
    if (isScalar(item) && typeof item.value === 'string') return;
    ok = false;
    const hint = isMap(item) ? ' (a command containing ": " must be quoted)' : '';
    err(item as Node, `${what}[${i + 1}] must be a string, found ${describe(item as Node | null)}${hint}`);
  });
  return ok;
}

/** What a node is, for "found …": the scalar quoted, else its kind. */
function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'nothing';
    if (typeof v === 'string') return v === '' ? 'an empty string' : `'${v.length > 80 ? `${v.slice(0, 77)}...` : v}'`;
    if (typeof v === 'boolean') return `the boolean ${v} (written ${node.source ?? String(v)}; quote it to make it a string)`;
    if (typeof v === 'number') return `the number ${node.source ?? v}`;
    return `'${String(v)}'`;
  }
  return 'an alias or tag';
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function addAll(into: string[], names: string[]): void {
  for (const n of names) if (!into.includes(n)) into.push(n);
}

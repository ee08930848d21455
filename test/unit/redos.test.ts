// The ReDoS check: every regular expression in src/, found with the TypeScript compiler (test/helpers/regex-sites.ts),
// must match in time linear in its input according to recheck; a pattern built at run time must not exist, since no
// checker sees it (patterns that come from users are compiled with re2js, linear by construction).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { check, type Diagnostics } from 'recheck';
import { tempDir } from '../helpers/dirs.js';
import { regexSites, type RegexSite } from '../helpers/regex-sites.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * Patterns built at run time, allowed only when proven never to see attacker text (mail, HTTP input, project files,
 * tool output quoting student code all are): "file: code" → why. None today.
 */
const NOT_ATTACKER_TEXT = new Map<string, string>();

/**
 * recheck's verdict. Its automaton checker decides exactly where it applies (no look-around, no back-reference);
 * the rest goes to its fuzzer, with the time-based limits off so that a loaded machine gets the same verdict (the
 * seed is fixed). recheck runs its native binary when its npm package for this platform is installed, else its
 * pure JavaScript build (RECHECK_BACKEND=pure forces that one; about four times slower).
 */
async function verdict(source: string, flags: string): Promise<Diagnostics> {
  const d = await check(source, flags, { checker: 'automaton', timeout: 120_000 });
  if (d.status !== 'unknown' || d.error.kind !== 'unsupported') return d;
  return check(source, flags, { checker: 'fuzz', timeout: 120_000, attackTimeout: null, incubationTimeout: null, seedingTimeout: null });
}

function problem(site: RegexSite, d: Diagnostics): string | null {
  const re = `/${site.source}/${site.flags}`;
  if (d.status === 'vulnerable') return `${site.where}: ${re} is ${d.complexity.summary}; attack string: ${d.attack.pattern}`;
  if (d.status === 'unknown') return `${site.where}: ${re} could not be checked (${d.error.kind}${'message' in d.error ? `: ${d.error.message}` : ''})`;
  return null;
}

/** `tasks` run `width` at a time (recheck's native binary answers requests in parallel). */
async function pool<T>(tasks: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return out;
}

describe('ReDoS check', () => {
  it('finds literals, RegExp calls, string patterns and RE2 compiles, and evaluates constant sources', () => {
    const root = tempDir('patchbay-redos-');
    fs.mkdirSync(path.join(root, 'src'));
    fs.writeFileSync(
      path.join(root, 'src', 'sample.ts'),
      [
        'declare const RE2JS: { compile(s: string): unknown };',
        'const TS = String.raw`\\[\\d+\\]`;',
        'export const literal = /x+y/gi;',
        'export const built = new RegExp(`^${TS} (\\\\S+)`, "m");',
        'export const fromName = (name: string) => RegExp(`^${name}:`);',
        'export const stringPattern = (s: string | undefined) => s?.match("a+b");',
        'export const linear = RE2JS.compile("(a+)+");',
        'const WORD = /\\w+/;',
        'export const global = new RegExp(WORD.source + TS + TS, "g");',
      ].join('\n'),
    );
    const sites = regexSites(root).map(({ where, source, flags, engine }) => ({ where, source, flags, engine }));
    assert.deepEqual(sites, [
      { where: 'src/sample.ts:3', source: 'x+y', flags: 'gi', engine: 'RegExp' },
      { where: 'src/sample.ts:4', source: '^\\[\\d+\\] (\\S+)', flags: 'm', engine: 'RegExp' },
      { where: 'src/sample.ts:5', source: null, flags: '', engine: 'RegExp' },
      { where: 'src/sample.ts:6', source: 'a+b', flags: '', engine: 'RegExp' },
      { where: 'src/sample.ts:7', source: '(a+)+', flags: null, engine: 're2' },
      { where: 'src/sample.ts:8', source: '\\w+', flags: '', engine: 'RegExp' },
      { where: 'src/sample.ts:9', source: '\\w+\\[\\d+\\]\\[\\d+\\]', flags: 'g', engine: 'RegExp' },
    ]);
    fs.rmSync(root, { recursive: true });
  });

  it('flags a polynomial and an exponential pattern with an attack string', { timeout: 120_000 }, async () => {
    // mbox-render's rstrip before this issue: 11 s per request on 100,000 spaces.
    const poly = await verdict('\\s+$', '');
    assert.equal(poly.status, 'vulnerable');
    assert.equal(poly.status === 'vulnerable' && poly.complexity.type, 'polynomial');
    assert.match(poly.status === 'vulnerable' ? poly.attack.pattern : '', /repeat\(\d+\)/);
    // authorOf's before this issue (4 s on "From:" and 2,500 spaces).
    const author = await verdict('^From:\\s*(.*?)\\s*<([^<>\\s]+@[^<>\\s]+)>\\s*\\n', '');
    assert.equal(author.status, 'vulnerable');
    const exp = await verdict('^(a+)+$', '');
    assert.equal(exp.status === 'vulnerable' && exp.complexity.type, 'exponential');
    // A look-around sends the pattern to the fuzzer, which finds it too.
    const fuzzed = await verdict('(?!x)\\s+$', '');
    assert.equal(fuzzed.status === 'vulnerable' && fuzzed.complexity.isFuzz, true);
  });

  it('finds no regular expression in src/ that backtracks super-linearly, and none built at run time', { timeout: 900_000 }, async (t) => {
    const sites = regexSites(ROOT);
    // A scanner that silently found nothing would pass everything.
    assert.ok(sites.length > 300, `only ${sites.length} regular expressions found in src/`);
    const problems: string[] = [];
    const checked: RegexSite[] = [];
    for (const s of sites) {
      if (s.engine === 're2') continue;
      if (s.source !== null && s.flags !== null) checked.push(s);
      else if (!NOT_ATTACKER_TEXT.has(`${s.where.replace(/:\d+$/, '')}: ${s.code}`)) {
        problems.push(`${s.where}: ${s.code} is built at run time: make it a literal or a constant, match without a regex, or compile it with re2js`);
      }
    }
    const unique = [...new Map(checked.map((s) => [`/${s.source}/${s.flags}`, s])).values()];
    const verdicts = new Map<string, Diagnostics>();
    await pool(
      unique.map((s) => async () => verdicts.set(`/${s.source}/${s.flags}`, await verdict(s.source!, s.flags!))),
      2,
    );
    const tally: Record<string, number> = {};
    for (const s of checked) {
      const d = verdicts.get(`/${s.source}/${s.flags}`)!;
      const kind = d.status === 'safe' ? `${d.complexity.type}${d.complexity.isFuzz ? ' (fuzz)' : ''}` : d.status;
      tally[kind] = (tally[kind] ?? 0) + 1;
      const p = problem(s, d);
      if (p) problems.push(p);
    }
    t.diagnostic(`${sites.length} sites (${sites.filter((s) => s.engine === 're2').length} re2js), ${unique.length} distinct RegExp patterns: ${JSON.stringify(tally)}`);
    assert.deepEqual(problems, []);
  });
});

// What scripts/kconfig/merge_config.sh prints and how we read it (STYLE rule 12): each line with the verbatim sample
// it was written for (Linux 6.1.192's script, run from the source folder with -O and absolute fragment paths), a
// parser of its output, and the check patchbay runs itself after `merge_config.sh -m` + `make olddefconfig` (the -m
// mode does not check): every line of the fragments against the final .config, reported in merge_config's words.

export interface KconfigRule {
  id: string;
  samples: string[];
  pattern: RegExp;
  meaning: string;
}

export const MERGE_CONFIG_RULES = {
  valueRequested: {
    id: 'value-requested',
    samples: ['Value requested for CONFIG_NO_SUCH_THING not in final .config', 'Value requested for CONFIG_PRINTK not in final .config'],
    pattern: /^Value requested for (CONFIG_[A-Za-z0-9_]+) not in final \.config$/,
    meaning: 'a fragment asked for a value the final config does not have (unknown symbol, unmet dependency, wrong type)',
  },
  requestedValue: {
    id: 'requested-value',
    samples: ['Requested value:  CONFIG_NO_SUCH_THING=y', 'Requested value:  CONFIG_PRINTK=n'],
    pattern: /^Requested value: {2}(.*)$/,
    meaning: 'follows value-requested: the fragment line',
  },
  actualValue: {
    id: 'actual-value',
    // Empty (with the trailing spaces) when the symbol is not in the final config at all.
    samples: ['Actual value:     ', 'Actual value:     # CONFIG_PRINTK is not set'],
    pattern: /^Actual value: {5}(.*)$/,
    meaning: 'follows requested-value: the final config line, empty when the symbol is absent',
  },
  redefined: {
    id: 'redefined',
    samples: [
      'Value of CONFIG_PRINTK is redefined by fragment /tmp/kc-sample/f1.config:',
      'Value of CONFIG_PRINTK is redefined by fragment /tmp/kc-sample/f2.config:',
    ],
    pattern: /^Value of (CONFIG_[A-Za-z0-9_]+) is redefined by fragment (.+):$/,
    meaning: 'a later fragment overrides an earlier value (the later one wins); informational',
  },
  missingFile: {
    id: 'missing-file',
    samples: ["The merge file '/tmp/kc-sample/nope.config' does not exist.  Exit."],
    pattern: /^The merge file '(.+)' does not exist\. {2}Exit\.$/,
    meaning: 'a fragment path that does not exist (relative paths fail: the script runs in the source folder)',
  },
} satisfies Record<string, KconfigRule>;

export interface MissingValue {
  symbol: string;
  /** The fragment line, e.g. `CONFIG_EXT2_FS=y`. */
  requested: string;
  /** The final .config line, or '' when the symbol is not in it. */
  actual: string;
  /** The fragment file that asked for it (the last one that set the symbol). */
  fragment?: string;
}

/** The missing values merge_config.sh reported (its non -m mode), in order. */
export function parseMergeConfigOutput(text: string): { missing: MissingValue[]; missingFiles: string[]; redefined: string[] } {
  const R = MERGE_CONFIG_RULES;
  const out = { missing: [] as MissingValue[], missingFiles: [] as string[], redefined: [] as string[] };
  let cur: MissingValue | null = null;
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = R.valueRequested.pattern.exec(line))) {
      cur = { symbol: m[1]!, requested: '', actual: '' };
      out.missing.push(cur);
    } else if (cur && (m = R.requestedValue.pattern.exec(line))) cur.requested = m[1]!;
    else if (cur && (m = R.actualValue.pattern.exec(line))) {
      cur.actual = m[1]!.trim();
      cur = null;
    } else if ((m = R.redefined.pattern.exec(line))) out.redefined.push(m[1]!);
    else if ((m = R.missingFile.pattern.exec(line))) out.missingFiles.push(m[1]!);
  }
  return out;
}

/** One config line: `CONFIG_X=value` or `# CONFIG_X is not set` (the same two forms merge_config.sh reads). */
export const CONFIG_LINE = {
  set: /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/,
  unset: /^# (CONFIG_[A-Za-z0-9_]+) is not set$/,
};

/** symbol → its line, the last one winning (as in merge_config.sh). */
export function configLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = CONFIG_LINE.set.exec(line) ?? CONFIG_LINE.unset.exec(line);
    if (m) out.set(m[1]!, line);
  }
  return out;
}

/**
 * The fragment values the final config does not have, checked in merge_config.sh's way (the line must appear
 * verbatim), except that `# CONFIG_X is not set` is also satisfied by a symbol absent from the config (it is n).
 * `fragments` in merge order: a later fragment's line for a symbol replaces an earlier one.
 */
export function checkFragments(fragments: { name: string; text: string }[], finalConfig: string): MissingValue[] {
  const requested = new Map<string, { line: string; fragment: string }>();
  for (const f of fragments) for (const [sym, line] of configLines(f.text)) requested.set(sym, { line, fragment: f.name });
  const actual = configLines(finalConfig);
  const missing: MissingValue[] = [];
  for (const [symbol, { line, fragment }] of requested) {
    const have = actual.get(symbol);
    if (have === line) continue;
    if (have === undefined && CONFIG_LINE.unset.test(line)) continue;
    missing.push({ symbol, requested: line, actual: have ?? '', fragment });
  }
  return missing;
}

/** merge_config.sh's own wording for one missing value (what the report quotes). */
export function missingValueMessage(m: MissingValue): string {
  return `Value requested for ${m.symbol} not in final .config`;
}

// What a kernel build prints and how we read it (STYLE rule 12): gcc's diagnostics with the source and caret lines
// it quotes after them, the linker's undefined references, modpost's errors, make's own error lines and kbuild's
// `CC` lines, each with the verbatim sample it was written for (gcc 12.2, binutils 2.40, GNU make 4.3, Linux 6.1.192,
// LC_ALL=C so quotes are ASCII), and a pure parser of the whole log (stdout and stderr merged, in order).
// The log quotes student code and file names, so every pattern has one way to match a line (linear time): the
// fields between fixed words exclude the quote or bracket that ends them, and a message runs to the end of its line
// (never `(.*)$`, which a CR or U+2028 made fail only after each of many candidate `file:` prefixes was scanned).

export interface BuildOutputRule {
  id: string;
  samples: string[];
  pattern: RegExp;
  meaning: string;
}

export const GCC_OUTPUT_RULES = {
  diagnostic: {
    id: 'diagnostic',
    samples: [
      "t.c:4:20: error: 'undeclared_thing' undeclared (first use in this function)",
      "t.c:3:13: warning: unused variable 'unused' [-Wunused-variable]",
      't.c:5:1: warning: control reaches end of non-void function [-Wreturn-type]',
      't.c:4:20: note: each undeclared identifier is reported only once for each function it appears in',
      // A kernel build with O= beside the source: ccache (CCACHE_BASEDIR) makes the path relative to O=.
      "../src/kernel/exit.c:1942:13: warning: unused variable 'pb_base_unused' [-Wunused-variable]",
      "../src/kernel/exit.c:1942:16: error: 'pb_nosuch' undeclared (first use in this function)",
      '../src/kernel/exit.c:1943:1: error: control reaches end of non-void function [-Werror=return-type]',
    ],
    pattern: /^(.+?):(\d+):(\d+): (fatal error|error|warning|note): (.*)/,
    meaning: 'a gcc diagnostic: file, line, column, level, message (the -W flag, if any, in brackets at the end)',
  },
  diagnosticNoColumn: {
    id: 'diagnostic-no-column',
    samples: ["a.S:1: Error: no such instruction: `foo %eax'"],
    pattern: /^(.+?):(\d+): (Error|Warning|error|warning): (.*)/,
    meaning: 'an assembler (gas) or column-less diagnostic',
  },
  flag: {
    id: 'flag',
    samples: ["unused variable 'unused' [-Wunused-variable]", 'control reaches end of non-void function [-Werror=return-type]'],
    pattern: / \[(-W[\w=+-]+)\]$/,
    meaning: 'the option that enabled the warning, at the end of a diagnostic message',
  },
  inFunction: {
    id: 'in-function',
    samples: ["t.c: In function 'f':", "../src/kernel/exit.c: In function 'pb_broken':"],
    pattern: /^(.+?): In function '([^']+)':$/,
    meaning: 'the function the following diagnostics are in',
  },
  atTopLevel: {
    id: 'at-top-level',
    samples: ['t.c: At top level:'],
    pattern: /^(.+?): At top level:$/,
    meaning: 'the following diagnostics are outside any function',
  },
  includedFrom: {
    id: 'included-from',
    // Written from gcc's format (not yet met in a kernel log here): the chain is skipped, the diagnostic follows.
    samples: ['In file included from ./include/linux/kernel.h:21,', '                 from kernel/fork.c:14:'],
    pattern: /^(?:In file included from| {10,}from) (.+?):(\d+)(?::\d+)?[:,]$/,
    meaning: 'the include chain before a diagnostic in a header',
  },
  sourceLine: {
    id: 'source-line',
    samples: ['    4 |         return a + undeclared_thing;', ' 1942 |         return pb_nosuch;', ' 1943 | }'],
    pattern: /^ *(\d+) \| (.*)$/,
    meaning: 'the source line gcc quotes after a diagnostic (tabs expanded)',
  },
  caretLine: {
    id: 'caret-line',
    samples: ['      |                    ^~~~~~~~~~~~~~~~', '      |             ^~~~~~', '      | ^'],
    pattern: /^ +\|( .*|)$/,
    meaning: 'the caret (and fix-it hint) line under the quoted source line',
  },
  fixItLine: {
    id: 'fix-it-line',
    samples: ['  +++ |+#include <stdlib.h>'],
    pattern: /^ +\+\+\+ \|\+(.*)$/,
    meaning: "a line gcc suggests to add (e.g. a missing #include), part of the diagnostic's quote",
  },
  linkerInFunction: {
    id: 'linker-in-function',
    samples: ["/usr/bin/ld: /tmp/ccZqbqXu.o: in function `main':"],
    pattern: /^(?:\S*ld(?:\.bfd)?: )?(.+?): in function `([^`']+)':$/,
    meaning: 'the function the following undefined references are in',
  },
  undefinedReference: {
    id: 'undefined-reference',
    samples: ["u.c:(.text+0x5): undefined reference to `nothere'"],
    pattern: /^(?:\S*ld(?:\.bfd)?: )?(.+?):\(([^()]+)\): undefined reference to `([^`']+)'$/,
    meaning: 'a symbol the link needs and nothing defines',
  },
  modpostUndefined: {
    id: 'modpost-undefined',
    // modpost's format (scripts/mod/modpost.c of 6.1), not yet met in a log here.
    samples: ['ERROR: modpost: "pb_missing" [drivers/misc/pb.ko] undefined!'],
    pattern: /^ERROR: modpost: "([^"]+)" \[([^\]]+)\] undefined!$/,
    meaning: 'a module uses a symbol neither the kernel nor another module exports',
  },
  modpostError: {
    id: 'modpost-error',
    samples: ['ERROR: modpost: missing MODULE_LICENSE() in drivers/misc/pb.o'],
    pattern: /^ERROR: modpost: (.*)$/,
    meaning: 'any other modpost error (checked after modpost-undefined)',
  },
  makeError: {
    id: 'make-error',
    samples: [
      'make[1]: *** [Makefile.sub:2: t.o] Error 1',
      'make[3]: *** [/tmp/patchbay-kbuild-test/src/scripts/Makefile.build:255: kernel/exit.o] Error 1',
      'make: *** [Makefile:250: __sub-make] Error 2',
    ],
    pattern: /^make(?:\[(\d+)\])?: \*\*\* \[([^:\]]+):(\d+): ([^\]]+)\] Error (\d+)$/,
    meaning: 'a recipe failed: the makefile, its line, the target; make[N] is the recursion depth',
  },
  makeNoRule: {
    id: 'make-no-rule',
    // GNU make's format, not yet met in a log here.
    samples: ["make[3]: *** No rule to make target 'kernel/nosuch.o', needed by 'kernel/built-in.a'.  Stop."],
    pattern: /^make(?:\[\d+\])?: \*\*\* No rule to make target '([^']+)'(?:, needed by '([^']+)')?\. {2}Stop\.$/,
    meaning: 'a Makefile names an object whose source does not exist',
  },
  compiled: {
    id: 'compiled',
    samples: ['  CC      kernel/exit.o', '  CC      arch/x86/boot/compressed/misc.o', '  CC [M]  drivers/misc/pb.o'],
    pattern: /^ {2}CC(?: \[M\])? +(\S+)$/,
    meaning: 'kbuild compiled this object from C (quiet mode: one line per object)',
  },
} satisfies Record<string, BuildOutputRule>;

export type DiagnosticLevel = 'error' | 'warning' | 'note';

export interface Diagnostic {
  file: string;
  line: number;
  column: number | null;
  level: DiagnosticLevel;
  /** Without the trailing [-Wflag]. */
  message: string;
  /** -Wunused-variable, -Werror=unused-variable, or null. */
  flag: string | null;
  /** The function gcc named before it, if any. */
  function: string | null;
  /** The source line, caret line and fix-it lines gcc printed after it, as printed. */
  quote: string;
  /** The diagnostic line as printed. */
  text: string;
}

export interface LinkError {
  kind: 'undefined-reference' | 'modpost-undefined' | 'modpost';
  symbol: string | null;
  /** The object or module, and the function (linker) when known. */
  where: string | null;
  function: string | null;
  text: string;
}

export interface MakeError {
  kind: 'make-error' | 'make-no-rule';
  text: string;
  target: string;
}

export interface BuildLog {
  diagnostics: Diagnostic[];
  linkErrors: LinkError[];
  makeErrors: MakeError[];
  /** Objects kbuild compiled from C, in order (from the CC lines). */
  compiled: string[];
}

/** Reads a merged build log. `mapPath` turns gcc's file names into the names the report uses. */
export function parseBuildLog(text: string, mapPath: (file: string) => string = (f) => f): BuildLog {
  const R = GCC_OUTPUT_RULES;
  const out: BuildLog = { diagnostics: [], linkErrors: [], makeErrors: [], compiled: [] };
  let fn: string | null = null;
  let linkFn: string | null = null;
  let cur: Diagnostic | null = null;
  const quote: string[] = [];
  const flush = () => {
    if (cur) cur.quote = quote.join('\n');
    cur = null;
    quote.length = 0;
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    let m: RegExpExecArray | null;
    if (cur && (R.sourceLine.pattern.test(line) || R.caretLine.pattern.test(line) || R.fixItLine.pattern.test(line))) {
      quote.push(line);
      continue;
    }
    if ((m = R.diagnostic.pattern.exec(line))) {
      flush();
      const level: DiagnosticLevel = m[4] === 'note' ? 'note' : m[4] === 'warning' ? 'warning' : 'error';
      let message = m[5]!;
      const f = R.flag.pattern.exec(message);
      if (f) message = message.slice(0, f.index);
      cur = { file: mapPath(m[1]!), line: Number(m[2]), column: Number(m[3]), level, message, flag: f ? f[1]! : null, function: fn, quote: '', text: line };
      out.diagnostics.push(cur);
      continue;
    }
    if ((m = R.diagnosticNoColumn.pattern.exec(line)) && !R.undefinedReference.pattern.test(line)) {
      flush();
      const level: DiagnosticLevel = /^warning$/i.test(m[3]!) ? 'warning' : 'error';
      let message = m[4]!;
      const f = R.flag.pattern.exec(message);
      if (f) message = message.slice(0, f.index);
      cur = { file: mapPath(m[1]!), line: Number(m[2]), column: null, level, message, flag: f ? f[1]! : null, function: fn, quote: '', text: line };
      out.diagnostics.push(cur);
      continue;
    }
    flush();
    if ((m = R.inFunction.pattern.exec(line))) fn = m[2]!;
    else if (R.atTopLevel.pattern.test(line)) fn = null;
    else if (R.includedFrom.pattern.test(line)) continue;
    else if ((m = R.compiled.pattern.exec(line))) {
      out.compiled.push(m[1]!);
      fn = null;
    } else if ((m = R.linkerInFunction.pattern.exec(line))) linkFn = m[2]!;
    else if ((m = R.undefinedReference.pattern.exec(line))) {
      out.linkErrors.push({ kind: 'undefined-reference', symbol: m[3]!, where: m[1]!, function: linkFn, text: line });
    } else if ((m = R.modpostUndefined.pattern.exec(line))) {
      out.linkErrors.push({ kind: 'modpost-undefined', symbol: m[1]!, where: m[2]!, function: null, text: line });
    } else if ((m = R.modpostError.pattern.exec(line))) {
      out.linkErrors.push({ kind: 'modpost', symbol: null, where: null, function: null, text: line });
    } else if ((m = R.makeError.pattern.exec(line))) {
      out.makeErrors.push({ kind: 'make-error', text: line, target: m[4]! });
    } else if ((m = R.makeNoRule.pattern.exec(line))) {
      out.makeErrors.push({ kind: 'make-no-rule', text: line, target: m[1]! });
    }
  }
  flush();
  return out;
}

/** What identifies a warning across builds: file, message and flag; never the line (the series may move it). */
export function warningKey(d: Pick<Diagnostic, 'file' | 'message' | 'flag'>): string {
  return `${d.file}\u0000${d.message}\u0000${d.flag ?? ''}`;
}

/**
 * The warnings of `build` that the base build did not have. Counted as multisets (a header warning shows once per
 * file that includes it: the base's count covers that many), reported once per key.
 */
export function newWarnings(build: Diagnostic[], baseKeys: Iterable<string>): Diagnostic[] {
  const budget = new Map<string, number>();
  for (const k of baseKeys) budget.set(k, (budget.get(k) ?? 0) + 1);
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const d of build) {
    if (d.level !== 'warning') continue;
    const k = warningKey(d);
    const left = budget.get(k) ?? 0;
    if (left > 0) {
      budget.set(k, left - 1);
      continue;
    }
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(d);
  }
  return out;
}

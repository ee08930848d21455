// Finds every regular expression in a source tree with the TypeScript compiler: literals, RegExp(...) calls, string
// arguments to match/matchAll/search (the engine compiles them), and RE2JS.compile(...) calls (the linear engine).
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface RegexSite {
  /** Path relative to the project root, with its line: "src/series/trailers.ts:31". */
  where: string;
  /** The code as written, for the report. */
  code: string;
  /** Pattern and flags when the compiler can evaluate them, else null (a dynamic pattern). */
  source: string | null;
  flags: string | null;
  /** RegExp: V8's backtracking engine (to be checked); re2: re2js, linear in the input by construction. */
  engine: 'RegExp' | 're2';
}

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) tsFiles(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

/** A regex literal's text "/source/flags" split at its last slash (a slash inside the source is escaped or in a class). */
function splitLiteral(text: string): { source: string; flags: string } {
  const end = text.lastIndexOf('/');
  return { source: text.slice(1, end), flags: text.slice(end + 1) };
}

/**
 * The string value of an expression when the compiler can tell it without running code: literals, templates
 * (String.raw too), `+`, parentheses, a const's initializer (also imported), a regex literal's `.source`.
 * Anything else is null. `path` holds the nodes being evaluated, so that a cycle of consts ends.
 */
function constantString(node: ts.Expression, checker: ts.TypeChecker, path = new Set<ts.Node>()): string | null {
  if (path.has(node)) return null;
  path.add(node);
  try {
    return evaluate(node, checker, path);
  } finally {
    path.delete(node);
  }
}

/** The const declaration's initializer an identifier stands for (through imports), if any. */
function constInitializer(node: ts.Identifier, checker: ts.TypeChecker): ts.Expression | null {
  let sym = checker.getSymbolAtLocation(node);
  if (sym && sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
  const decl = sym?.valueDeclaration;
  return decl && ts.isVariableDeclaration(decl) && decl.initializer && ts.getCombinedNodeFlags(decl) & ts.NodeFlags.Const ? decl.initializer : null;
}

function evaluate(node: ts.Expression, checker: ts.TypeChecker, seen: Set<ts.Node>): string | null {
  if (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isSatisfiesExpression(node)) return constantString(node.expression, checker, seen);
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) {
    let s = node.head.text;
    for (const span of node.templateSpans) {
      const v = constantString(span.expression, checker, seen);
      if (v === null) return null;
      s += v + span.literal.text;
    }
    return s;
  }
  if (ts.isTaggedTemplateExpression(node) && node.tag.getText() === 'String.raw') {
    const t = node.template;
    if (ts.isNoSubstitutionTemplateLiteral(t)) return t.rawText ?? null;
    let s = t.head.rawText ?? '';
    for (const span of t.templateSpans) {
      const v = constantString(span.expression, checker, seen);
      if (v === null || span.literal.rawText === undefined) return null;
      s += v + span.literal.rawText;
    }
    return s;
  }
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const a = constantString(node.left, checker, seen);
    const b = a === null ? null : constantString(node.right, checker, seen);
    return a === null || b === null ? null : a + b;
  }
  if (ts.isPropertyAccessExpression(node) && node.name.text === 'source') {
    const re = ts.isIdentifier(node.expression) ? constInitializer(node.expression, checker) : node.expression;
    if (re && ts.isRegularExpressionLiteral(re)) return splitLiteral(re.text).source;
  }
  if (ts.isIdentifier(node)) {
    const init = constInitializer(node, checker);
    if (init) return constantString(init, checker, seen);
  }
  return null;
}

function isRegExpCtor(node: ts.Node): node is ts.NewExpression | ts.CallExpression {
  return (ts.isNewExpression(node) || ts.isCallExpression(node)) && ts.isIdentifier(node.expression) && node.expression.text === 'RegExp';
}

function isRe2Compile(node: ts.Node): node is ts.CallExpression {
  return ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.getText() === 'RE2JS.compile';
}

/** `s.match(x)`, `s.matchAll(x)`, `s.search(x)` on a string with a non-RegExp x: the engine compiles x as a pattern. */
function isStringToRegexCall(node: ts.Node, checker: ts.TypeChecker): node is ts.CallExpression {
  if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) return false;
  if (!['match', 'matchAll', 'search'].includes(node.expression.name.text) || node.arguments.length !== 1) return false;
  const receiver = checker.getNonNullableType(checker.getTypeAtLocation(node.expression.expression));
  const parts = receiver.isUnion() ? receiver.types : [receiver];
  if (!parts.every((p) => p.flags & ts.TypeFlags.StringLike)) return false;
  const arg = node.arguments[0]!;
  if (ts.isRegularExpressionLiteral(arg)) return false;
  const t = checker.getTypeAtLocation(arg);
  return checker.typeToString(t) !== 'RegExp';
}

/** Every regular expression in `dir` (under `root`), in file and line order. */
export function regexSites(root: string, dir = 'src'): RegexSite[] {
  const files = tsFiles(path.join(root, dir));
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const sites: RegexSite[] = [];
  for (const file of files) {
    const sf = program.getSourceFile(file);
    if (!sf) throw new Error(`${file}: not in the program`);
    const at = (n: ts.Node) => `${path.relative(root, file)}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
    const visit = (n: ts.Node): void => {
      if (ts.isRegularExpressionLiteral(n)) {
        sites.push({ where: at(n), code: n.text, ...splitLiteral(n.text), engine: 'RegExp' });
      } else if (isRegExpCtor(n)) {
        const [src, fl] = n.arguments ?? [];
        const lit = src && ts.isRegularExpressionLiteral(src) ? splitLiteral(src.text) : null;
        const source = lit ? lit.source : src ? constantString(src, checker) : '(?:)';
        const flags = fl ? constantString(fl, checker) : (lit?.flags ?? '');
        sites.push({ where: at(n), code: n.getText(sf), source, flags, engine: 'RegExp' });
      } else if (isStringToRegexCall(n, checker)) {
        sites.push({ where: at(n), code: n.getText(sf), source: constantString(n.arguments[0]!, checker), flags: '', engine: 'RegExp' });
      } else if (isRe2Compile(n)) {
        sites.push({ where: at(n), code: n.getText(sf), source: n.arguments[0] ? constantString(n.arguments[0], checker) : null, flags: null, engine: 're2' });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return sites;
}

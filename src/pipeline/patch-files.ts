// The files a patch names in its `--- a/X` / `+++ b/Y` lines, as git writes them (a name with special characters is
// C-quoted: `--- "a/t\303\251st"`): what git am, git apply --reject and the reset after a run rewrite in a worktree.
// Mail content: the names are only ever used below a tree through ../safe-fs.ts.

const ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '"': 34, '\\': 92 };

/** git's quoting of a path (quote.c): the bytes between the quotes, unescaped; null when malformed. */
export function unquotePath(quoted: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < quoted.length; i++) {
    const c = quoted[i]!;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = quoted[++i];
    if (n === undefined) return null;
    if (n in ESCAPES) bytes.push(ESCAPES[n]!);
    else if (/[0-7]/.test(n) && /^[0-7]{3}$/.test(quoted.slice(i, i + 3))) {
      bytes.push(parseInt(quoted.slice(i, i + 3), 8));
      i += 2;
    } else return null;
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The files the patches name (old and new sides; /dev/null left out), each once, without `..`. */
export function patchFiles(diffs: string[]): string[] {
  const out = new Set<string>();
  for (const d of diffs) {
    for (const m of d.matchAll(/^(?:---|\+\+\+) (?:"((?:[^"\\\n]|\\.)*)"|([^\t\n]+))/gm)) {
      const name = m[1] !== undefined ? unquotePath(m[1]) : m[2]!.trimEnd();
      if (!name || !/^[ab]\//.test(name)) continue;
      const f = name.slice(2);
      if (f && !f.includes('\0') && !f.split('/').includes('..')) out.add(f);
    }
  }
  return [...out];
}

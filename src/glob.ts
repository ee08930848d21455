// Path globs of project files (tests.student.path, assignments' match.path) as linear-time matchers.
import { RE2JS } from 're2js';

/**
 * The project's glob as a matcher: `*` and `?` stay within a path segment, `**` crosses them (`**\/` also matches
 * no directory), `{a,b}` is either. Paths are relative to the tree's top, without `./`.
 */
export function globMatcher(glob: string): (path: string) => boolean {
  let re = '';
  const g = glob.replace(/^\.\//, '');
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*' && g[i + 1] === '*') {
      if (g[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = g.indexOf('}', i);
      if (end === -1) re += '\\{';
      else {
        re += `(?:${g.slice(i + 1, end).split(',').map(escapeRe).join('|')})`;
        i = end;
      }
    } else re += escapeRe(c);
  }
  // RE2, not RegExp: with a glob of several stars (`*a*a*a*a*b`) a backtracking match took 3 minutes on a 300-character path.
  const regex = RE2JS.compile(`^${re}$`);
  return (path) => regex.test(path.replace(/^\.\//, ''));
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

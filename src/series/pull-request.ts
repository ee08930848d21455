// `git request-pull` text: the repository URL and branch after "are available in the git repository at:".

export interface PullRequest {
  url: string;
  branch: string | null;
}

// git request-pull writes:
//   The following changes since commit 1234abcd…:
//     …
//   are available in the Git repository at:
//
//     git://git.kernel.org/pub/scm/linux/kernel/git/tip/linux-2.6-tip.git x86-fixes-for-linus
//
// The text is searched in two steps: the first "The following changes since commit" line, then the first
// "are available…" line after it. One regex spanning both (`[\s\S]*?`) rescanned the rest of the mail from every
// line starting with the first phrase: quadratic in a mail repeating it.
const START = /^The following changes since commit/im;
const AT = /^are available in the git repository at:[ \t]*\n\s*([\w+-]+(?::\/\/|@)[\w/.@:~+-]+)(?:[\s\\]+([\w/.@:~+-]+))?[ \t]*$/im;

export function findPullRequest(text: string): PullRequest | null {
  const start = START.exec(text);
  if (!start) return null;
  // From the line after it: AT's `^` must be a real line start.
  const next = text.slice(start.index).search(/[\n\r\u2028\u2029]/);
  const m = next === -1 ? null : AT.exec(text.slice(start.index + next + 1));
  if (!m) return null;
  const branch = m[2] && !/^for$/i.test(m[2]) ? m[2] : null;
  return { url: m[1]!, branch };
}

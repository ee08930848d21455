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
const PULL = /^The following changes since commit[\s\S]*?^are available in the git repository at:\s*\n\s*([\w+-]+(?::\/\/|@)[\w/.@:~+-]+)(?:[\s\\]+([\w/.@:~+-]+))?[ \t]*$/im;

export function findPullRequest(text: string): PullRequest | null {
  const m = PULL.exec(text);
  if (!m) return null;
  const branch = m[2] && !/^for$/i.test(m[2]) ? m[2] : null;
  return { url: m[1]!, branch };
}

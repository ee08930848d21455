// Makes a real list archive with git format-patch in a throwaway repository: 20 mails, as students send them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './dirs.js';

const ENV = {
  GIT_AUTHOR_NAME: 'Zoé Étudiante',
  GIT_AUTHOR_EMAIL: 'zoe@students.example.org',
  GIT_COMMITTER_NAME: 'Zoé Étudiante',
  GIT_COMMITTER_EMAIL: 'zoe@students.example.org',
  GIT_AUTHOR_DATE: '2026-11-20T10:00:00+00:00',
  GIT_COMMITTER_DATE: '2026-11-20T10:00:00+00:00',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: '/nonexistent',
};

export interface PatchArchive {
  /** The mbox: every `git format-patch --stdout --pretty=mboxrd` output, one after the other. */
  file: string;
  count: number;
}

/**
 * The archive, in this order:
 *   [PATCH 0/3] cover letter + 3 patches (threaded under the cover), one commit message has "From " body lines;
 *   [PATCH v2 1/3..3/3] a second version, in reply to the first cover letter;
 *   [PATCH 1/6..6/6] a series without cover letter, threaded shallow;
 *   7 single patches, each in its own thread.
 */
export function makePatchArchive(): PatchArchive {
  const repo = tempDir('patchbay-repo-');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env: { ...process.env, ...ENV }, encoding: 'utf8', maxBuffer: 64 << 20 });
  const write = (file: string, text: string) => fs.writeFileSync(path.join(repo, file), text);
  const commit = (subject: string, body: string) => git('commit', '-qas', '-m', subject, '-m', body);

  git('init', '-q', '-b', 'master', '.');
  git('config', 'core.abbrev', '12');
  write('syscall.c', '#include <linux/syscalls.h>\n\nSYSCALL_DEFINE0(proctree)\n{\n\treturn 0;\n}\n');
  write('Makefile', 'obj-y += syscall.o\n');
  git('add', '.');
  git('commit', '-qm', 'initial');

  const outputs: string[] = [];
  const formatPatch = (...args: string[]) => outputs.push(git('format-patch', '--stdout', '--pretty=mboxrd', '--zero-commit', ...args));

  // v1 with a cover letter.
  git('checkout', '-qb', 'v1');
  for (let i = 1; i <= 3; i++) {
    write('syscall.c', fs.readFileSync(path.join(repo, 'syscall.c'), 'utf8') + `\n/* step ${i} */\nstatic int proctree_step${i};\n`);
    commit(`proctree: add step ${i}`, `From now on step ${i} is counted.\n>From a quoted line in the commit message.\n\nThe walk needs it.`);
  }
  formatPatch('--thread=shallow', '--cover-letter', 'master..v1');
  const cover = /^Message-Id: <([^>]+)>/m.exec(outputs[0]!)![1]!;

  // v2, in reply to the v1 cover letter.
  git('checkout', '-qb', 'v2', 'master');
  for (let i = 1; i <= 3; i++) {
    write('syscall.c', fs.readFileSync(path.join(repo, 'syscall.c'), 'utf8') + `\n/* step ${i}, v2 */\nstatic long proctree_step${i};\n`);
    commit(`proctree: add step ${i}`, `Step ${i}, now a long.\n\nChanges in v2: use long.`);
  }
  formatPatch('--thread=shallow', '-v2', `--in-reply-to=${cover}`, 'master..v2');

  // Six patches, no cover letter.
  git('checkout', '-qb', 'six', 'master');
  for (let i = 1; i <= 6; i++) {
    write(`file${i}.c`, `int value${i}(void)\n{\n\treturn ${i};\n}\n`);
    write('Makefile', fs.readFileSync(path.join(repo, 'Makefile'), 'utf8') + `obj-y += file${i}.o\n`);
    git('add', '.');
    commit(`values: add value${i}()`, `value${i}() returns ${i}, for the test suite.`);
  }
  formatPatch('--thread=shallow', 'master..six');

  // Seven unrelated single patches.
  git('checkout', '-qb', 'singles', 'master');
  for (let i = 1; i <= 7; i++) {
    write('syscall.c', fs.readFileSync(path.join(repo, 'syscall.c'), 'utf8').replace(/return \d+;/, `return ${i};`));
    commit(`proctree: return ${i}`, `Returning ${i} tells the caller which case it hit.`);
    formatPatch('--thread', '-1'); // --thread gives it a Message-Id, as git send-email would
  }
  const file = path.join(repo, 'archive.mbox');
  fs.writeFileSync(file, outputs.join(''));
  return { file, count: 20 };
}

/**
 * git's own splitter (`git mailsplit --mboxrd`): one message per file, `>From ` unquoted. It keeps each separator
 * line (git mailinfo drops it later); it is removed here, as git send-email does before sending.
 */
export function gitMailsplit(mbox: string): Buffer[] {
  const out = tempDir('patchbay-split-');
  execFileSync('git', ['mailsplit', '--mboxrd', `-o${out}`, mbox], { env: { ...process.env, ...ENV } });
  return fs
    .readdirSync(out)
    .sort()
    .map((f) => {
      const raw = fs.readFileSync(path.join(out, f));
      return raw.subarray(raw.indexOf(0x0a) + 1);
    });
}

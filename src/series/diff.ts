// Splits a mail body into its comment (commit message, notes) and its diff, line by line, as Patchwork's parser does.

const EXTENDED = /^(old mode|new mode|deleted file mode|new file mode|copy from|copy to|rename from|rename to|similarity index|dissimilarity index|index) /;
const HUNK = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/;

export interface SplitPatch {
  comment: string;
  diff: string;
}

type State = 'text' | 'header' | 'extended' | 'minus' | 'plus' | 'hunk' | 'between' | 'binary';

/** Newlines must already be LF. A header that never reaches a hunk (or a hunkless git change) is judged on its own. */
export function splitPatch(body: string): SplitPatch {
  const lines = body.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const comment: string[] = [];
  const diff: string[] = [];
  let pending: string[] = []; // header lines not yet known to be a diff
  let binaryTail = false; // the diff so far ends inside a GIT binary patch
  let state: State = 'text';
  let oldLeft = 0;
  let newLeft = 0;

  // Line by line, not push(...pending): spreading 300,000 header lines overflows the stack (a 3 MB mail did).
  const abandon = () => {
    for (const l of pending) comment.push(l);
    pending = [];
  };
  const commit = () => {
    for (const l of pending) diff.push(l);
    pending = [];
    binaryTail = false;
  };
  // A git header with extended lines (rename, mode, new empty file) is a complete change without any hunk.
  const hunklessGitChange = () => /^diff --git /.test(pending[0] ?? '') && pending.slice(1).some((l) => EXTENDED.test(l) && !l.startsWith('index '));

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    switch (state) {
      case 'text':
      case 'between': {
        if (state === 'between') {
          const hunk = HUNK.exec(line);
          if (hunk) {
            diff.push(line);
            [oldLeft, newLeft] = [hunk[1] === undefined ? 1 : Number(hunk[1]), hunk[2] === undefined ? 1 : Number(hunk[2])];
            state = oldLeft || newLeft ? 'hunk' : 'between';
            continue;
          }
          if (line.startsWith('\\')) {
            diff.push(line);
            continue;
          }
        }
        if (line.startsWith('diff ') || line.startsWith('Index: ')) {
          pending = [line];
          state = 'header';
        } else if (line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')) {
          pending = [line];
          state = 'minus';
        } else {
          comment.push(line);
          state = 'text';
        }
        continue;
      }
      case 'header':
      case 'extended': {
        if (EXTENDED.test(line)) {
          pending.push(line);
          state = 'extended';
        } else if (line.startsWith('--- ')) {
          pending.push(line);
          state = 'minus';
        } else if (line.startsWith('GIT binary patch') || line.startsWith('Binary files ')) {
          pending.push(line);
          commit();
          state = line.startsWith('GIT') ? 'binary' : 'between';
        } else if (state === 'header' && (/^=+$/.test(line) || /^(RCS file|retrieving revision|diff -u)/.test(line))) {
          pending.push(line); // CVS "Index:" preamble
        } else if (hunklessGitChange()) {
          commit();
          state = 'between';
          i--;
        } else {
          abandon();
          state = 'text';
          i--;
        }
        continue;
      }
      case 'minus': {
        if (line.startsWith('+++ ')) {
          pending.push(line);
          state = 'plus';
        } else {
          abandon();
          state = 'text';
          i--;
        }
        continue;
      }
      case 'plus': {
        const hunk = HUNK.exec(line);
        if (hunk) {
          pending.push(line);
          commit();
          [oldLeft, newLeft] = [hunk[1] === undefined ? 1 : Number(hunk[1]), hunk[2] === undefined ? 1 : Number(hunk[2])];
          state = oldLeft || newLeft ? 'hunk' : 'between';
        } else {
          abandon();
          state = 'text';
          i--;
        }
        continue;
      }
      case 'hunk': {
        diff.push(line);
        binaryTail = false;
        if (line.startsWith('-')) oldLeft--;
        else if (line.startsWith('+')) newLeft--;
        else if (!line.startsWith('\\')) {
          // A context line; mailers that strip trailing spaces turn " " into "".
          oldLeft--;
          newLeft--;
        }
        if (oldLeft <= 0 && newLeft <= 0) state = 'between';
        continue;
      }
      case 'binary': {
        if (line.startsWith('diff ')) {
          pending = [line];
          state = 'header';
        } else if (line === '-- ') {
          comment.push(line);
          state = 'text';
        } else {
          diff.push(line);
          binaryTail = true;
        }
        continue;
      }
    }
  }
  if (pending.length) {
    if (hunklessGitChange()) commit();
    else abandon();
  }
  while (diff.length && diff[diff.length - 1] === '') diff.pop();
  // A GIT binary patch's last chunk is closed by an empty line, which git apply needs.
  if (binaryTail && diff.length) diff.push('');
  return { comment: cleanComment(comment.join('\n')), diff: diff.length ? diff.join('\n') + '\n' : '' };
}

/** Drops the signature ("-- ") and list footers ("____") and surrounding blank lines, as Patchwork's clean_content. */
export function cleanComment(text: string): string {
  const lines = text.split('\n');
  const cut = lines.findIndex((l) => l === '-- ' || /^_{2,}$/.test(l));
  return (cut === -1 ? lines : lines.slice(0, cut)).join('\n').trim();
}

/** Paths the diff touches, for delegation and display: "b/" side, /dev/null skipped, first component stripped. */
export function diffFiles(diff: string): string[] {
  const files = new Set<string>();
  for (const line of diff.split('\n')) {
    const m = /^(?:---|\+\+\+) (\S+)/.exec(line);
    if (m && m[1] !== '/dev/null') files.add(m[1]!.replace(/^[^/]+\//, ''));
    const r = /^rename (?:from|to) (.+)$/.exec(line);
    if (r) files.add(r[1]!);
  }
  return [...files];
}

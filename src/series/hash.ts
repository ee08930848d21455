// The patch hash as Patchwork defines it (hasher.py): SHA-1 over the diff with line numbers and git metadata removed.
import { createHash } from 'node:crypto';

export function patchHash(diff: string): string {
  const sha = createHash('sha1');
  const text = diff.replace(/\r/g, '').trim() + '\n';
  for (const line of text.split('\n')) {
    if (!line) continue;
    const file = /^(---|\+\+\+) (\S+)/.exec(line);
    const hunk = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line);
    let kept: string | null = null;
    if (file) {
      // "-p1": the first path component goes, whatever it is ("a/", "linux-6.1/"; "/dev/null" becomes "dev/null").
      const stripped = file[2]!.split('/').slice(1).join('/');
      kept = `${file[1]} ${file[1] === '---' ? 'a' : 'b'}/${stripped}`;
    } else if (hunk) {
      kept = `@@ -${hunk[1] ?? '1'} +${hunk[2] ?? '1'} @@`;
    } else if (/^[-+ ]/.test(line)) {
      kept = line;
    }
    if (kept !== null) sha.update(kept + '\n', 'utf8');
  }
  return sha.digest('hex');
}

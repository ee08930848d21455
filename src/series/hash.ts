// The patch hash as Patchwork defines it (hasher.py): SHA-1 over the diff with line numbers and git metadata removed.
import { createHash } from 'node:crypto';

const FILE = /^(---|\+\+\+) (\S+)/;
const HUNK = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/;

export function patchHash(diff: string): string {
  const text = (diff.includes('\r') ? diff.replace(/\r/g, '') : diff).trim() + '\n';
  // The lines hashed, each followed by a newline; hashed in one update (one call into OpenSSL per patch, not per line).
  const kept: string[] = [];
  for (const line of text.split('\n')) {
    switch (line.charCodeAt(0)) {
      case 0x2d: // -
      case 0x2b: {
        // +
        const file = line.startsWith('--- ') || line.startsWith('+++ ') ? FILE.exec(line) : null;
        if (file) {
          // "-p1": the first path component goes, whatever it is ("a/", "linux-6.1/"; "/dev/null" becomes "dev/null").
          const stripped = file[2]!.split('/').slice(1).join('/');
          kept.push(`${file[1]} ${file[1] === '---' ? 'a' : 'b'}/${stripped}`);
        } else {
          kept.push(line);
        }
        break;
      }
      case 0x20: // context
        kept.push(line);
        break;
      case 0x40: {
        // @
        const hunk = HUNK.exec(line);
        if (hunk) kept.push(`@@ -${hunk[1] ?? '1'} +${hunk[2] ?? '1'} @@`);
        break;
      }
    }
  }
  const sha = createHash('sha1');
  if (kept.length) sha.update(kept.join('\n') + '\n', 'utf8');
  return sha.digest('hex');
}

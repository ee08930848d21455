// What a build leaves that the host needs (the kernel image, the .config, the modules and headers as an ext2 image)
// taken out of the object tree the way nothing in it can trick us: a fixed script copies them, inside the same
// sandbox and overlay as the build (so it sees the student's tree and can read no more than the build could), into
// an output folder of ours, refusing anything that is not a regular file at its own name (a symlinked image, or a
// symlinked folder on its way); mke2fs packs the staged modules there too. The host then copies each file into the
// run's artefacts with ./safe-fs.ts (no symlink followed, regular files only, bounded).

/**
 * `collect OUT SRC NAME [SRC NAME…]`: each SRC (relative to the cwd, the object tree) copied to OUT/NAME. One line,
 * so the step's log shows one command per line.
 */
export const COLLECT_SCRIPT = [
  'out=$1; shift; rc=0; here=$(readlink -f .);',
  'while [ $# -gt 1 ]; do',
  'if [ ! -e "$1" ] && [ ! -L "$1" ]; then echo "patchbay-collect: missing $1"; rc=1;',
  // A symlink, or a regular file reached through a symlinked folder: not the build's own file at that name.
  'elif [ -L "$1" ] || [ ! -f "$1" ] || [ "$(readlink -f -- "$1")" != "$here/$1" ]; then echo "patchbay-collect: not-regular $1"; rc=1;',
  'else cp -- "$1" "$out/$2" || rc=1; fi;',
  'shift 2;',
  'done;',
  'exit $rc',
].join(' ');

/** `pack STAGING IMAGE`: an ext2 image of the staging folder, sized from it (room for metadata), made without root. */
export const PACK_SCRIPT = [
  'set -e;',
  'kib=$(du -sk -- "$1" | cut -f1); n=$(find "$1" | wc -l);',
  'mke2fs -q -t ext2 -N $((n + 128)) -d "$1" "$2" "$((kib * 13 / 10 + n + 2048))k"',
].join(' ');

/** What the collect script said about each file it did not copy. */
export function collectProblems(output: string): { missing: string[]; notRegular: string[] } {
  const missing: string[] = [];
  const notRegular: string[] = [];
  for (const line of output.split('\n')) {
    const m = /^patchbay-collect: (missing|not-regular) (.+)$/.exec(line);
    if (!m) continue;
    (m[1] === 'missing' ? missing : notRegular).push(m[2]!);
  }
  return { missing, notRegular };
}

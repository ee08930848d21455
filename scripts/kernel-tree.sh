#!/usr/bin/env bash
# Makes a bare git repository of Debian's linux-source (one commit on `master`) for the demo project and the
# pipeline's end-to-end tests. Cached: does nothing when the repository already holds that source version.
# Usage: scripts/kernel-tree.sh [DEST]   (default: $PATCHBAY_KERNEL_TREE or ~/.cache/patchbay/linux.git)
set -euo pipefail
dest=${1:-${PATCHBAY_KERNEL_TREE:-$HOME/.cache/patchbay/linux.git}}
tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -1 || true)
[ -n "$tarball" ] || { echo "kernel-tree: no /usr/src/linux-source-*.tar.xz (apt-get install linux-source)" >&2; exit 1; }
version=$(dpkg-query -W -f='${Version}' "$(dpkg -S "$tarball" | cut -d: -f1)")
if [ -f "$dest/patchbay-source-version" ] && [ "$(cat "$dest/patchbay-source-version")" = "$version" ]; then
  echo "kernel-tree: $dest holds linux-source $version"
  exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/kernel-tree.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "kernel-tree: unpacking $tarball ($version)"
tar -xJf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)
# Debian's tarball appends "ignore everything at the top level" to .gitignore; without this `git add` adds nothing.
sed -i '/^# Debian packaging/,$d' "$src/.gitignore"
git -C "$src" init -q -b master
git -C "$src" config gc.auto 0
git -C "$src" add -A
GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z' \
  git -C "$src" -c user.name='patchbay' -c user.email='patchbay@localhost' commit -q -m "Linux $version (Debian linux-source)"
rm -rf "$dest.tmp"
mkdir -p "$(dirname "$dest")"
git clone -q --bare --no-local "$src" "$dest.tmp"
git -C "$dest.tmp" config gc.auto 0
echo "$version" > "$dest.tmp/patchbay-source-version"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "kernel-tree: made $dest ($(du -sh "$dest" | cut -f1))"

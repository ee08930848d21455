// Warm object trees: the mtimes a build gives back so make skips exactly what the trees already hold, the layer a
// build records, the files a series names, and where the control groups live (from the kernel's own files).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseMountinfo, parseOwnCgroups } from '../../src/pipeline/cgroup.js';
import { BASE_MTIME, buildKind, layerSources, recordTouched, readTouched, restoreSourceTimes, studentKey, type BlobLookup } from '../../src/pipeline/object-tree.js';
import { patchFiles, unquotePath } from '../../src/pipeline/patch-files.js';
import { tempDir } from '../helpers/dirs.js';

/** A worktree of regular files (all freshly written) and the blob shas of two commits. */
function worktree(files: string[]): string {
  const dir = tempDir('patchbay-object-tree-');
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), f);
  }
  return dir;
}
const lookup =
  (byCommit: Record<string, Record<string, string>>): BlobLookup =>
  async (commit, files) =>
    new Map(files.filter((f) => byCommit[commit]?.[f]).map((f) => [f, byCommit[commit]![f]!]));
const mtime = (dir: string, f: string) => fs.statSync(path.join(dir, f)).mtimeMs;

describe('restoreSourceTimes', () => {
  // base: syscalls.tbl=S0 fork.c=F0 sched.h=H0; head (this series): syscalls.tbl=S1, fork.c=F0, sched.h=H0.
  const blobs = lookup({ base: { 'syscalls.tbl': 'S0', 'fork.c': 'F0', 'sched.h': 'H0' }, head: { 'syscalls.tbl': 'S1', 'fork.c': 'F0', 'sched.h': 'H0' } });
  const now = new Date('2030-01-01T00:00:00Z');

  it("gives a file another run touched back to base content an mtime older than the tree, and the series' own a new one", async () => {
    const dir = worktree(['syscalls.tbl', 'fork.c', 'sched.h']);
    const t = await restoreSourceTimes({ worktree: dir, base: 'base', head: 'head', changed: ['syscalls.tbl'], touched: ['sched.h'], layers: [{}], blobs, now });
    assert.deepEqual(t.older, ['sched.h']);
    assert.deepEqual(t.newer, ['syscalls.tbl']);
    assert.equal(mtime(dir, 'sched.h'), BASE_MTIME.getTime());
    assert.equal(mtime(dir, 'syscalls.tbl'), now.getTime());
  });

  it("keeps the recorded mtime of a file the submitter's layer was built from, and renews one it was built from otherwise", async () => {
    const dir = worktree(['syscalls.tbl', 'fork.c', 'sched.h']);
    const recorded = Date.parse('2029-06-01T00:00:00Z');
    const layer = { 'syscalls.tbl': { sha: 'S1', mtimeMs: recorded }, 'fork.c': { sha: 'F9', mtimeMs: recorded } };
    const t = await restoreSourceTimes({ worktree: dir, base: 'base', head: 'head', changed: ['syscalls.tbl'], touched: [], layers: [layer], blobs, now });
    assert.equal(mtime(dir, 'syscalls.tbl'), recorded, 'the layer holds the objects of this very content');
    assert.equal(mtime(dir, 'fork.c'), now.getTime(), 'the layer holds objects of other content: rebuilt');
    assert.deepEqual(t.older, ['syscalls.tbl']);
  });

  it('takes the oldest time every tree accepts, or now when one of them needs the file rebuilt', async () => {
    const dir = worktree(['syscalls.tbl', 'sched.h']);
    const a = { 'syscalls.tbl': { sha: 'S1', mtimeMs: 2000 } };
    const b = { 'syscalls.tbl': { sha: 'S1', mtimeMs: 1000 }, 'sched.h': { sha: null, mtimeMs: 0 } };
    await restoreSourceTimes({ worktree: dir, base: 'base', head: 'head', changed: ['syscalls.tbl'], touched: ['sched.h'], layers: [a, b], blobs, now });
    assert.equal(mtime(dir, 'syscalls.tbl'), 1000);
    assert.equal(mtime(dir, 'sched.h'), now.getTime(), 'a failed build of one tree left it unknown');
  });

  it('never follows a symlink the series made, even one named by a layer', async () => {
    const dir = worktree(['fork.c']);
    const target = path.join(tempDir(), 'patchbay.sqlite');
    fs.writeFileSync(target, 'secret');
    const before = fs.statSync(target).mtimeMs;
    fs.symlinkSync(target, path.join(dir, 'sched.h'));
    const t = await restoreSourceTimes({ worktree: dir, base: 'base', head: 'head', changed: ['sched.h'], touched: [], layers: [{ 'sched.h': { sha: 'H0', mtimeMs: 1 } }], blobs, now });
    assert.deepEqual([t.older, t.newer], [[], []]);
    assert.equal(fs.statSync(target).mtimeMs, before);
  });

  it('records the changed files after a build that passed; after one that failed, only what the layer was already built from', () => {
    const dir = worktree(['syscalls.tbl', 'fork.c', 'proctree.c']);
    const heads = new Map([
      ['syscalls.tbl', 'S1'],
      ['fork.c', 'F0'],
      ['proctree.c', 'P2'],
    ]);
    const previous = { 'syscalls.tbl': { sha: 'S1', mtimeMs: 5 }, 'fork.c': { sha: 'F9', mtimeMs: 5 }, 'proctree.c': { sha: 'P1', mtimeMs: 5 } };
    const ok = layerSources({ worktree: dir, changed: ['syscalls.tbl', 'proctree.c'], heads, previous, ok: true });
    assert.deepEqual(Object.keys(ok), ['syscalls.tbl', 'proctree.c']);
    assert.equal(ok['proctree.c']!.sha, 'P2');
    const failed = layerSources({ worktree: dir, changed: ['syscalls.tbl', 'proctree.c'], heads, previous, ok: false });
    assert.deepEqual(failed, { 'syscalls.tbl': { sha: 'S1', mtimeMs: 5 }, 'proctree.c': { sha: null, mtimeMs: 0 }, 'fork.c': { sha: null, mtimeMs: 0 } });
  });
});

describe('object trees: keys and touched files', () => {
  it('keys a layer by the address, whatever its case', () => {
    assert.equal(studentKey('Zoe@Students.example.org '), studentKey('zoe@students.example.org'));
    assert.notEqual(studentKey('a@example.org'), studentKey('b@example.org'));
    assert.match(studentKey('a@example.org'), /^[0-9a-f]{16}$/);
  });

  it("keeps a slot's touched files once each, newest last", () => {
    const file = path.join(tempDir(), 'slot-0', 'touched.json');
    assert.deepEqual(readTouched(file), []);
    recordTouched(file, ['a.c', 'b.c']);
    recordTouched(file, ['a.c', 'c.c']);
    assert.deepEqual(readTouched(file), ['b.c', 'a.c', 'c.c']);
  });
});

describe('patch files', () => {
  it('names the files of both sides, unquotes C-quoted names and leaves out /dev/null and ..', () => {
    const diff = [
      'diff --git a/kernel/fork.c b/kernel/fork.c',
      '--- a/kernel/fork.c',
      '+++ b/kernel/fork.c',
      '--- /dev/null',
      '+++ b/tools/testing/proctree/t.yaml',
      '--- "a/docs/t\\303\\251st \\"q\\".txt"\t',
      '+++ b/../../etc/passwd',
    ].join('\n');
    assert.deepEqual(patchFiles([diff]), ['kernel/fork.c', 'tools/testing/proctree/t.yaml', 'docs/tést "q".txt']);
    assert.equal(unquotePath('a\\tb'), 'a\tb');
    assert.equal(unquotePath('bad\\'), null);
  });
});

describe('control groups of this process', () => {
  it('reads v1 hierarchies and the v2 one from mountinfo and /proc/self/cgroup', () => {
    // From the 2-core CI box (Debian 12 userland, kernel 6.18): v1 controllers and the unified hierarchy side by side.
    const mountinfo = [
      '35 26 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755',
      '36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw',
      '40 35 0:35 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
      '43 35 0:38 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '47 35 0:42 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
      '48 35 0:43 / /sys/fs/cgroup/my\\040mount rw - cgroup cgroup rw,cpuacct,cpuset',
    ].join('\n');
    const m = parseMountinfo(mountinfo);
    assert.deepEqual(
      m.filter((x) => x.fstype === 'cgroup').map((x) => [x.mountPoint, x.superOptions.filter((o) => o !== 'rw')]),
      [
        ['/sys/fs/cgroup/cpu', ['cpu']],
        ['/sys/fs/cgroup/memory', ['memory']],
        ['/sys/fs/cgroup/pids', ['pids']],
        ['/sys/fs/cgroup/my mount', ['cpuacct', 'cpuset']],
      ],
    );
    const own = parseOwnCgroups('8:pids:/\n4:memory:/process_api/be80\n2:cpu,cpuacct:/a\n0::/\n');
    assert.deepEqual([own.v1.get('pids'), own.v1.get('memory'), own.v1.get('cpu'), own.v1.get('cpuacct'), own.v2], ['/', '/process_api/be80', '/a', '/a', '/']);
  });
});

describe('buildKind', () => {
  it('calls a build over a warm tree incremental unless it compiled nearly all a whole build does', () => {
    // 745 files: a whole x86_64 tinyconfig build (docs/benchmarks.md). A system call series compiles 3 when the
    // mtimes are right, about 540 when its headers look new (the tree still spared 200): both incremental.
    assert.equal(buildKind({ warm: true, compiled: 3, treeCompiled: 745 }), 'incremental');
    assert.equal(buildKind({ warm: true, compiled: 540, treeCompiled: 745 }), 'incremental');
    // Every file again: as from scratch, whatever the tree held.
    assert.equal(buildKind({ warm: true, compiled: 745, treeCompiled: 745 }), 'rebuilt');
    assert.equal(buildKind({ warm: true, compiled: 700, treeCompiled: 745 }), 'rebuilt');
    assert.equal(buildKind({ warm: false, compiled: 3, treeCompiled: 745 }), 'after-base');
    // A tree built by older code (size unknown), and a two-file test tree, are never said to be rebuilt.
    assert.equal(buildKind({ warm: true, compiled: 700, treeCompiled: null }), 'incremental');
    assert.equal(buildKind({ warm: true, compiled: 2, treeCompiled: 2 }), 'incremental');
  });
});

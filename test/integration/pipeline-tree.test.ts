// Tree management against real git: a small upstream repository made here (a few commits), mirrored, fetched and
// checked out into worktree slots; one test uses the real kernel tree to show a local mirror is hardlinked and a
// second lease reuses the slot without a new checkout.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { isAppError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { TreeService, type TreeServiceOptions } from '../../src/pipeline/tree.service.js';
import { tempDir } from '../helpers/dirs.js';
import { waitFor } from '../helpers/wait.js';

const log = createLogger('silent');
const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Ada Student',
  GIT_AUTHOR_EMAIL: 'ada@example.org',
  GIT_COMMITTER_NAME: 'Ada Student',
  GIT_COMMITTER_EMAIL: 'ada@example.org',
  GIT_CONFIG_NOSYSTEM: '1',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Tries a git command that may fail; returns its exit status. */
function gitStatus(cwd: string, ...args: string[]): number {
  try {
    execFileSync('git', args, { cwd, env: gitEnv, stdio: 'ignore' });
    return 0;
  } catch (e) {
    return (e as { status: number }).status;
  }
}

const dirs: string[] = [];
function scratch(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

interface Upstream {
  dir: string;
  /** a.txt says "one". */
  first: string;
  /** a.txt says "two" (master). */
  second: string;
  /** A real `git format-patch` of a commit on `side` (from `first`) changing "one" to "uno": does not apply on `second`. */
  conflictingPatch: string;
  commit(file: string, text: string): string;
}

/** A working repository with .gitignore (*.o), a.txt and src/x.c, two commits on master and a side branch. */
function makeUpstream(): Upstream {
  const dir = scratch('patchbay-upstream-');
  git(dir, 'init', '-q', '-b', 'master');
  fs.writeFileSync(path.join(dir, '.gitignore'), '*.o\n');
  fs.writeFileSync(path.join(dir, 'a.txt'), 'one\n');
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src', 'x.c'), 'int x(void) { return 1; }\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'first');
  const first = git(dir, 'rev-parse', 'HEAD');
  git(dir, 'checkout', '-q', '-b', 'side');
  fs.writeFileSync(path.join(dir, 'a.txt'), 'uno\n');
  git(dir, 'commit', '-q', '-am', 'a: say uno');
  const patchDir = scratch('patchbay-patches-');
  git(dir, 'format-patch', '-q', '-1', '-o', patchDir);
  const conflictingPatch = path.join(patchDir, fs.readdirSync(patchDir)[0]!);
  git(dir, 'checkout', '-q', 'master');
  const commit = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', `change ${file}`);
    return git(dir, 'rev-parse', 'HEAD');
  };
  const second = commit('a.txt', 'two\n');
  return { dir, first, second, conflictingPatch, commit };
}

function service(dataDir: string, url: string, over: Partial<TreeServiceOptions> = {}): TreeService {
  return new TreeService({
    dataDir,
    projects: [{ slug: 'demo', tree: { url, branch: 'master' } }, { slug: 'notree' }],
    fetchEveryMs: 0,
    maxAgeMs: 3_600_000,
    slots: 2,
    timeoutMs: 120_000,
    log,
    ...over,
  });
}

const fetchesIn = (dataDir: string) =>
  fs.readFileSync(path.join(dataDir, 'logs', 'trees', 'demo.log'), 'utf8').split('\n').filter((l) => l.startsWith('$ git fetch')).length;

/** Everything `git status` would show, ignored files included: empty for a fresh checkout. */
const dirt = (dir: string) => git(dir, 'status', '--porcelain', '--ignored', '--untracked-files=all');

describe('tree mirror', () => {
  it('clones a bare mirror of a local tree with gc.auto 0 and records when it was fetched', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir);
    const state = await trees.ensureFresh('demo');
    const mirror = path.join(data, 'trees', 'demo.git');
    assert.equal(state.path, mirror);
    assert.equal(state.fetched, true);
    assert.equal(state.warning, null);
    assert.equal(git(mirror, 'rev-parse', '--is-bare-repository'), 'true');
    assert.equal(git(mirror, 'config', 'gc.auto'), '0');
    const recorded = new Date(fs.readFileSync(path.join(mirror, 'patchbay-fetched-at'), 'utf8').trim());
    assert.equal(recorded.getTime(), state.fetchedAt?.getTime());
    assert.equal(await trees.resolve('demo', 'master'), up.second);
    assert.equal(await trees.resolve('demo', 'side'), git(up.dir, 'rev-parse', 'side'));
    assert.equal(await trees.resolve('demo', up.first.slice(0, 12)), up.first);
    assert.equal(await trees.resolve('demo', 'no-such-branch'), null);
    assert.equal(await trees.resolve('demo', 'deadbeef'.repeat(5)), null);
    assert.equal(await trees.resolve('demo', '--all'), null);
    await assert.rejects(trees.ensureFresh('notree'), (e) => isAppError(e) && e.kind === 'not_found');
    await trees.close();
  });

  it('sees a new upstream commit only once the last fetch is older than maxAgeMs, also after a restart', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir);
    await trees.ensureFresh('demo');
    const third = up.commit('a.txt', 'three\n');

    const young = await trees.ensureFresh('demo');
    assert.equal(young.fetched, false);
    assert.equal(await trees.resolve('demo', 'master'), up.second);
    assert.equal(await trees.resolve('demo', third), null);
    await trees.close();

    // Two hours pass (the fetch time lives in the mirror): the restarted service fetches before the run.
    const stamp = path.join(data, 'trees', 'demo.git', 'patchbay-fetched-at');
    fs.writeFileSync(stamp, `${new Date(Date.now() - 2 * 3_600_000).toISOString()}\n`);
    const restarted = service(data, up.dir);
    assert.equal(await restarted.resolve('demo', 'master'), up.second);
    const old = await restarted.ensureFresh('demo');
    assert.equal(old.fetched, true);
    assert.equal(await restarted.resolve('demo', 'master'), third);
    assert.ok(Date.now() - new Date(fs.readFileSync(stamp, 'utf8').trim()).getTime() < 3_600_000);
    await restarted.close();
  });

  it('shares one fetch between concurrent requests for a project', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir, { maxAgeMs: 0 });
    await trees.ensureFresh('demo');
    const before = fetchesIn(data);
    const third = up.commit('src/x.c', 'int x(void) { return 3; }\n');
    const states = await Promise.all([trees.fetch('demo'), trees.ensureFresh('demo'), trees.ensureFresh('demo'), trees.fetch('demo')]);
    assert.equal(fetchesIn(data) - before, 1);
    assert.ok(states.every((s) => s === states[0] && s.fetched));
    assert.equal(await trees.resolve('demo', 'master'), third);
    // Once it is done, the next request fetches again.
    await trees.fetch('demo');
    assert.equal(fetchesIn(data) - before, 2);
    await trees.close();
  });

  it('fetches on its schedule once started', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir, { fetchEveryMs: 50 });
    trees.start();
    await waitFor('the first mirror', () => fs.existsSync(path.join(data, 'trees', 'demo.git', 'patchbay-fetched-at')));
    const third = up.commit('a.txt', 'three\n');
    await waitFor('the scheduled fetch to bring the new commit', async () => (await trees.resolve('demo', 'master')) === third);
    await trees.close();
    const count = fetchesIn(data);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(fetchesIn(data), count, 'close() stops the schedule');
  });

  it('refuses with an unavailable error when the upstream is missing and there is no mirror', async () => {
    const data = scratch('patchbay-data-');
    const trees = service(data, path.join(scratch('patchbay-gone-'), 'nothing-here.git'));
    await assert.rejects(trees.ensureFresh('demo'), (e) => isAppError(e) && e.kind === 'unavailable' && e.code === 'tree_unavailable');
    await assert.rejects(trees.resolve('demo', 'master'), (e) => isAppError(e) && e.kind === 'unavailable');
    await assert.rejects(trees.lease('demo', 'master', 7), (e) => isAppError(e) && e.kind === 'unavailable');
    assert.deepEqual(fs.readdirSync(path.join(data, 'trees')), [], 'no half mirror is left');
    await trees.close();
  });

  it('goes on with the old mirror, saying how old, when the upstream is gone', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir, { maxAgeMs: 0 });
    const made = await trees.ensureFresh('demo');
    fs.rmSync(up.dir, { recursive: true, force: true });
    const state = await trees.ensureFresh('demo');
    assert.equal(state.fetched, false);
    assert.match(state.warning ?? '', /failed/);
    assert.match(state.warning ?? '', /fetched \d+ s ago/);
    assert.equal(state.fetchedAt?.getTime(), made.fetchedAt?.getTime(), 'a failed fetch does not move the fetch time');
    const lease = await trees.lease('demo', 'master', 1);
    assert.equal(git(lease.path, 'rev-parse', 'HEAD'), up.second);
    assert.equal(dirt(lease.path), '');
    await lease.release();
    await trees.close();
  });
});

describe('worktree slots', () => {
  it('gives a clean tree at the commit after the previous user left junk, a half-done git am and changes', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const first = service(data, up.dir, { slots: 1 });
    await first.ensureFresh('demo');
    const lease = await first.lease('demo', 'master', 1);
    assert.equal(lease.path, path.join(data, 'work', 'demo', '0'));
    assert.equal(lease.created, true);
    assert.equal(lease.commit, up.second);
    // The previous run: a failed `git am`, a changed and a deleted tracked file, untracked and ignored files.
    assert.notEqual(gitStatus(lease.path, 'am', '-3', up.conflictingPatch), 0);
    assert.ok(fs.existsSync(path.join(data, 'trees', 'demo.git', 'worktrees', '0', 'rebase-apply')));
    fs.writeFileSync(path.join(lease.path, 'src', 'x.c'), 'broken\n');
    fs.rmSync(path.join(lease.path, '.gitignore'));
    fs.writeFileSync(path.join(lease.path, 'junk.txt'), 'junk\n');
    fs.mkdirSync(path.join(lease.path, 'build', 'deep'), { recursive: true });
    fs.writeFileSync(path.join(lease.path, 'build', 'deep', 'x.o'), 'obj\n');
    fs.writeFileSync(path.join(lease.path, 'src', 'x.o'), 'obj\n');
    assert.notEqual(dirt(lease.path), '');
    await first.close();

    // The server restarts without the release: the slot is free again and is scrubbed, not checked out anew.
    const trees = service(data, up.dir, { slots: 1 });
    const again = await trees.lease('demo', up.first, 2);
    assert.equal(again.path, lease.path);
    assert.equal(again.created, false);
    assert.equal(git(again.path, 'rev-parse', 'HEAD'), up.first);
    assert.equal(dirt(again.path), '');
    assert.equal(fs.readFileSync(path.join(again.path, 'a.txt'), 'utf8'), 'one\n');
    assert.ok(!fs.existsSync(path.join(data, 'trees', 'demo.git', 'worktrees', '0', 'rebase-apply')));
    assert.equal(gitStatus(again.path, 'symbolic-ref', '-q', 'HEAD'), 1, 'HEAD is detached');
    await again.release();
    await trees.close();
  });

  it('resets the tree to its commit on release', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir, { slots: 1 });
    await trees.ensureFresh('demo');
    const lease = await trees.lease('demo', 'master', 1);
    fs.writeFileSync(path.join(lease.path, 'a.txt'), 'student\n');
    fs.writeFileSync(path.join(lease.path, 'new.c'), 'int y;\n');
    git(lease.path, 'add', '-A');
    git(lease.path, 'commit', '-q', '-m', 'student work');
    await lease.release();
    await lease.release(); // twice is harmless
    assert.equal(git(lease.path, 'rev-parse', 'HEAD'), up.second);
    assert.equal(dirt(lease.path), '');
    await trees.close();
  });

  it('makes a second lease wait for the only slot, and hands it over on release', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir, { slots: 1 });
    await trees.ensureFresh('demo');
    const a = await trees.lease('demo', 'master', 1);
    let bDone = false;
    const b = trees.lease('demo', up.first, 2).then((l) => ((bDone = true), l));
    const cancel = new AbortController();
    const c = trees.lease('demo', 'master', 3, { signal: cancel.signal });
    // A's holder works in its tree for a while; B and C cannot get a slot meanwhile.
    fs.writeFileSync(path.join(a.path, 'junk.txt'), 'a was here\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(bDone, false);
    assert.equal(git(a.path, 'rev-parse', 'HEAD'), up.second);
    cancel.abort(new Error('run cancelled'));
    await assert.rejects(c, /run cancelled/);
    await a.release();
    const lb = await b;
    assert.equal(lb.path, a.path);
    assert.equal(git(lb.path, 'rev-parse', 'HEAD'), up.first);
    assert.equal(dirt(lb.path), '');
    await lb.release();
    await trees.close();
  });

  it('leases gate slots from a pool of their own at gate-N: a gate lease never waits for a build slot, and prune keeps both', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir, { slots: 1, gateSlots: 1 });
    await trees.ensureFresh('demo');
    const build = await trees.lease('demo', 'master', 1);
    const gate = await trees.lease('demo', up.first, 2, { pool: 'gate' });
    assert.deepEqual([build.pool, build.path], ['build', path.join(data, 'work', 'demo', '0')]);
    assert.deepEqual([gate.pool, gate.path], ['gate', path.join(data, 'work', 'demo', 'gate-0')]);
    assert.equal(git(gate.path, 'rev-parse', 'HEAD'), up.first);
    // The only gate slot is taken: the next gate lease waits for it, not for the build slot.
    let waited = true;
    const next = trees.lease('demo', 'master', 3, { pool: 'gate' }).then((l) => ((waited = false), l));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(waited, true);
    await gate.release();
    const again = await next;
    assert.equal(again.path, gate.path);
    await Promise.all([again.release(), build.release()]);
    fs.mkdirSync(path.join(data, 'work', 'demo', 'gate-1'));
    await trees.prune();
    assert.deepEqual(fs.readdirSync(path.join(data, 'work', 'demo')).sort(), ['0', 'gate-0']);
    await trees.close();
    // Without gate slots there is nothing to lease from that pool.
    const none = service(data, up.dir, { slots: 1 });
    await assert.rejects(none.lease('demo', 'master', 4, { pool: 'gate' }), (e) => isAppError(e) && e.code === 'tree_slots');
    await none.close();
  });

  it('uses separate slots at fixed paths for concurrent leases when slots allow', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir, { slots: 2 });
    await trees.ensureFresh('demo');
    const [a, b] = await Promise.all([trees.lease('demo', 'master', 1), trees.lease('demo', up.first, 2)]);
    assert.deepEqual([a.path, b.path].sort(), [0, 1].map((n) => path.join(data, 'work', 'demo', String(n))));
    assert.equal(git(a.path, 'rev-parse', 'HEAD'), up.second);
    assert.equal(git(b.path, 'rev-parse', 'HEAD'), up.first);
    await Promise.all([a.release(), b.release()]);
    // Same commit again: the slot already there is preferred.
    const again = await trees.lease('demo', up.first, 3);
    assert.equal(again.path, b.path);
    await again.release();
    await trees.close();
  });

  it('takes a slot its release left clean as it is, only checks another commit out, and resets it after a cancelled run', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir, { slots: 1 });
    await trees.ensureFresh('demo');
    // git commands on the slot (a lease also resolves the commit in the mirror: rev-parse, not counted).
    const gitCalls = () =>
      fs
        .readFileSync(path.join(data, 'logs', 'trees', 'demo.log'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('$ git ') && !l.startsWith('$ git rev-parse')).length;
    const first = await trees.lease('demo', 'master', 1);
    assert.equal(first.prepared, 'created');
    fs.writeFileSync(path.join(first.path, 'junk.o'), 'obj\n');
    await first.release();

    // Released clean at the same commit: no git at all.
    const calls = gitCalls();
    const kept = await trees.lease('demo', 'master', 2);
    assert.equal(kept.prepared, 'kept');
    assert.equal(kept.childMs, 0);
    assert.equal(gitCalls(), calls);
    assert.equal(git(kept.path, 'rev-parse', 'HEAD'), up.second);
    assert.equal(dirt(kept.path), '');

    // A cancelled run: its killed tools may write after the release's reset, so the next lease resets again.
    await kept.release({ childrenMayLinger: true });
    fs.writeFileSync(path.join(kept.path, 'late.o'), 'written by a make that had not exited yet\n');
    const reset = await trees.lease('demo', up.first, 3);
    assert.equal(reset.prepared, 'reset');
    assert.equal(git(reset.path, 'rev-parse', 'HEAD'), up.first);
    assert.equal(dirt(reset.path), '');

    // Clean at another commit: one checkout.
    await reset.release();
    const before = gitCalls();
    const moved = await trees.lease('demo', 'master', 4);
    assert.equal(moved.prepared, 'checkout');
    assert.equal(gitCalls(), before + 1);
    assert.equal(git(moved.path, 'rev-parse', 'HEAD'), up.second);
    assert.equal(dirt(moved.path), '');
    assert.equal(fs.readFileSync(path.join(moved.path, 'a.txt'), 'utf8'), 'two\n');
    await moved.release();
    await trees.close();
  });

  it('repairs a slot folder that is not a valid worktree', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir, { slots: 1 });
    await trees.ensureFresh('demo');
    const mirror = path.join(data, 'trees', 'demo.git');
    const first = await trees.lease('demo', 'master', 1);
    await first.release();

    // A crash mid-creation: the folder exists with a few files and no .git.
    fs.rmSync(first.path, { recursive: true, force: true });
    fs.mkdirSync(first.path);
    fs.writeFileSync(path.join(first.path, 'a.txt'), 'half\n');
    const repaired = await trees.lease('demo', 'master', 2);
    assert.equal(repaired.created, true);
    assert.equal(repaired.path, first.path);
    assert.equal(git(repaired.path, 'rev-parse', 'HEAD'), up.second);
    assert.equal(dirt(repaired.path), '');
    await repaired.release();

    // A .git that is a repository of its own (a build could plant hooks there) is not trusted either.
    fs.rmSync(path.join(first.path, '.git'));
    git(first.path, 'init', '-q');
    const again = await trees.lease('demo', up.first, 3);
    assert.equal(again.created, true);
    assert.ok(fs.statSync(path.join(again.path, '.git')).isFile());
    assert.equal(git(again.path, 'rev-parse', 'HEAD'), up.first);
    await again.release();

    const worktrees = git(mirror, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '));
    assert.deepEqual(worktrees.slice(1), [`worktree ${fs.realpathSync(first.path)}`], 'one registered slot, no stale entries');
    await trees.close();
  });

  it('refuses a commit the mirror does not have', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const trees = service(data, up.dir);
    await trees.ensureFresh('demo');
    await assert.rejects(trees.lease('demo', 'f'.repeat(40), 1), (e) => isAppError(e) && e.code === 'tree_commit_unknown');
    await trees.close();
  });

  it('prune drops slot folders beyond the configured count', async () => {
    const up = makeUpstream();
    const data = scratch('patchbay-data-');
    const wide = service(data, up.dir, { slots: 2 });
    await wide.ensureFresh('demo');
    const [a, b] = await Promise.all([wide.lease('demo', 'master', 1), wide.lease('demo', 'master', 2)]);
    await Promise.all([a.release(), b.release()]);
    await wide.close();
    const narrow = service(data, up.dir, { slots: 1 });
    await narrow.prune();
    assert.deepEqual(fs.readdirSync(path.join(data, 'work', 'demo')), ['0']);
    const listed = git(path.join(data, 'trees', 'demo.git'), 'worktree', 'list', '--porcelain');
    assert.equal(listed.split('\n').filter((l) => l.startsWith('worktree ')).length, 2); // the mirror and slot 0
    await narrow.close();
  });
});

const kernel = path.join(os.homedir(), '.cache', 'patchbay', 'linux.git');
const haveKernel = fs.existsSync(path.join(kernel, 'patchbay-source-version'));

describe('the real kernel tree', { skip: haveKernel ? false : `no kernel tree at ${kernel} (scripts/kernel-tree.sh)` }, () => {
  it('mirrors the local kernel repository by hardlinking its objects, and a second lease reuses the slot', { timeout: 900_000 }, async () => {
    const data = scratch('patchbay-kernel-');
    const trees = service(data, kernel, { slots: 1, timeoutMs: 600_000 });
    await trees.ensureFresh('demo');
    const pack = (dir: string) => {
      const packs = path.join(dir, 'objects', 'pack');
      const name = fs.readdirSync(packs).find((f) => f.endsWith('.pack'))!;
      return fs.statSync(path.join(packs, name));
    };
    assert.equal(pack(path.join(data, 'trees', 'demo.git')).ino, pack(kernel).ino, 'the pack is hardlinked, not copied');

    const first = await trees.lease('demo', 'master', 1);
    assert.equal(first.created, true);
    const makefile = path.join(first.path, 'Makefile');
    const before = fs.statSync(makefile);
    fs.writeFileSync(path.join(first.path, 'kernel', 'junk.o'), 'obj\n');
    await first.release();

    const second = await trees.lease('demo', 'master', 2);
    assert.equal(second.created, false);
    assert.equal(second.path, first.path);
    const afterStat = fs.statSync(makefile);
    assert.equal(afterStat.ino, before.ino, 'no new checkout: the file is the same');
    assert.equal(afterStat.mtimeMs, before.mtimeMs, 'untouched sources keep their mtime (incremental builds)');
    assert.ok(!fs.existsSync(path.join(second.path, 'kernel', 'junk.o')));
    await second.release();
    await trees.close();
  });
});

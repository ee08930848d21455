// The submitters' ccache layers: where they live, one build at a time per layer (a lock that lapses with its process
// or its time), and the least recently used removed beyond CCACHE_LAYERS_KEPT, never one a build holds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { studentKey } from '../../src/pipeline/object-tree.js';
import { CCACHE_LAYERS_KEPT, ccacheLayersRoot, claimCcacheLayer, pruneCcacheLayers } from '../../src/pipeline/student-ccache.js';

const me = { uid: process.getuid!(), gid: process.getgid!() };
const dirs: string[] = [];
const cacheDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'patchbay-ccl-'));
  dirs.push(d, `${d}-students`);
  return d;
};
const soon = () => Date.now() + 60_000;

describe('submitter ccache layers', () => {
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('lives beside the shared cache, never inside it, with an empty work folder', () => {
    const cache = cacheDir();
    const l = claimCcacheLayer(cache, 'Ann@Example.org ', me, soon())!;
    try {
      assert.equal(ccacheLayersRoot(cache), `${cache}-students`);
      assert.equal(l.key, studentKey('ann@example.org'));
      assert.equal(l.upper, path.join(`${cache}-students`, l.key, 'upper'));
      assert.ok(!l.upper.startsWith(cache + path.sep));
      assert.deepEqual(fs.readdirSync(l.work), []);
      assert.equal((fs.statSync(`${cache}-students`).mode & 0o777).toString(8), '700');
    } finally {
      l.release();
    }
  });

  it('is held by one build at a time, free again once released', () => {
    const cache = cacheDir();
    const a = claimCcacheLayer(cache, 'ann@example.org', me, soon())!;
    fs.writeFileSync(path.join(a.upper, 'entry'), 'x');
    assert.equal(claimCcacheLayer(cache, 'ann@example.org', me, soon()), null, 'held');
    const b = claimCcacheLayer(cache, 'bob@example.org', me, soon());
    assert.ok(b, "another submitter's layer is free");
    b.release();
    a.release();
    const again = claimCcacheLayer(cache, 'ann@example.org', me, soon())!;
    assert.equal(fs.readFileSync(path.join(again.upper, 'entry'), 'utf8'), 'x', 'what was compiled stays');
    again.release();
  });

  it('takes over a lock whose time is up, or whose process is gone', () => {
    const cache = cacheDir();
    const lapsed = claimCcacheLayer(cache, 'ann@example.org', me, Date.now() - 1)!;
    const taken = claimCcacheLayer(cache, 'ann@example.org', me, soon());
    assert.ok(taken, 'a lock past its time (a cancelled build never released it) is taken over');
    taken.release();
    lapsed.release();
    const dead = spawnSync('true').pid!;
    fs.writeFileSync(path.join(`${cache}-students`, `${studentKey('bob@example.org')}.lock`), JSON.stringify({ pid: dead, until: soon() }));
    const b = claimCcacheLayer(cache, 'bob@example.org', me, soon());
    assert.ok(b, 'the lock of a process that is gone is taken over');
    b.release();
  });

  it('gives no layer to a cache folder overlayfs cannot name', () => {
    const cache = `${cacheDir()}:x`;
    dirs.push(cache, `${cache}-students`);
    assert.equal(claimCcacheLayer(cache, 'ann@example.org', me, soon()), null);
  });

  it('removes the least recently used layers beyond the limit, never the one asked for nor one held', () => {
    const cache = cacheDir();
    const root = ccacheLayersRoot(cache);
    const n = CCACHE_LAYERS_KEPT + 3;
    for (let i = 0; i < n; i++) {
      fs.mkdirSync(path.join(root, studentKey(`s${i}@example.org`), 'upper'), { recursive: true });
      const t = new Date(Date.UTC(2026, 0, 1, 0, i));
      fs.utimesSync(path.join(root, studentKey(`s${i}@example.org`)), t, t);
    }
    // s1 is the second oldest and held by a build of this process; s0 (the oldest) is the one asked for.
    const heldLock = path.join(root, `${studentKey('s1@example.org')}.lock`);
    fs.writeFileSync(heldLock, JSON.stringify({ pid: process.pid, until: soon() }));
    const removed = pruneCcacheLayers(root, studentKey('s0@example.org'));
    const left = new Set(fs.readdirSync(root).filter((f) => !f.endsWith('.lock')));
    assert.ok(left.has(studentKey('s0@example.org')));
    assert.ok(left.has(studentKey('s1@example.org')));
    for (const i of [2, 3]) assert.ok(!left.has(studentKey(`s${i}@example.org`)), `s${i} removed`);
    assert.equal(removed, 2);
    assert.equal(left.size, CCACHE_LAYERS_KEPT + 1);
    assert.ok(fs.existsSync(heldLock), "the holder's lock stays");
  });
});

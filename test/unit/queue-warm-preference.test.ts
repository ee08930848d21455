// Which worker a build or boot job is handed back for: a live worker other than the one that took it, holding the
// job's warm tree, taking that lane and arch, with a build slot free.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkerInfo } from '../../src/queue/registry.js';
import { warmHolder, warmTreeOf } from '../../src/queue/warm-preference.service.js';

const BASE = '0123456789abcdef0123456789abcdef01234567';
const TREE = 'proctree/x86_64@0123456789ab';

function worker(name: string, o: Partial<WorkerInfo> = {}): WorkerInfo {
  return {
    name,
    host: `${name}.example.org`,
    pid: 1,
    lanes: ['gates', 'builds', 'tests'],
    arches: ['x86_64', 'arm64'],
    warmTrees: [TREE],
    freeBuilds: 1,
    current: null,
    startedAt: '',
    lastHeartbeat: '',
    instance: name,
    ...o,
  };
}

describe('warm-tree preference', () => {
  it('names the tree as the registry lists it: project/key@the base abbreviated to 12', () => {
    assert.equal(warmTreeOf('proctree', 'x86_64', BASE), TREE);
    assert.equal(warmTreeOf('proctree', 'arm64-2', BASE), 'proctree/arm64-2@0123456789ab');
  });

  it('hands a job back only for another worker that holds its tree, takes its lane and arch and has a build slot free', () => {
    const cases: [string, WorkerInfo[], string | null][] = [
      ['a free holder', [worker('lab-1')], 'lab-1'],
      ['only the worker that took it holds the tree', [], null],
      ['the holder is busy', [worker('lab-1', { freeBuilds: 0 })], null],
      ['the holder does not say its free slots (an older worker)', [worker('lab-1', { freeBuilds: undefined })], null],
      ['the holder holds the project at another base', [worker('lab-1', { warmTrees: ['proctree/x86_64@fedcba987654'] })], null],
      ['the holder holds another build key of the project', [worker('lab-1', { warmTrees: ['proctree/x86_64-2@0123456789ab'] })], null],
      ['the holder takes no builds', [worker('lab-1', { lanes: ['gates', 'tests'] })], null],
      ['the holder has no compiler for the arch', [worker('lab-1', { arches: ['arm64'] })], null],
      ['two holders: the one with more free slots', [worker('lab-1'), worker('lab-3', { freeBuilds: 2 })], 'lab-3'],
      ['two holders as free: by name', [worker('lab-3'), worker('lab-1')], 'lab-1'],
    ];
    for (const [what, workers, expected] of cases) {
      // lab-2 took the job; it is live and holds the tree too in every case.
      assert.equal(warmHolder(TREE, 'builds', 'x86_64', 'lab-2', [worker('lab-2'), ...workers])?.name ?? null, expected, what);
    }
  });

  it('hands a boot back only for a holder that takes the tests lane', () => {
    assert.equal(warmHolder(TREE, 'tests', 'x86_64', 'lab-2', [worker('lab-1', { lanes: ['gates', 'builds'] })]), null);
    assert.equal(warmHolder(TREE, 'tests', 'x86_64', 'lab-2', [worker('lab-1', { lanes: ['tests'] })])?.name, 'lab-1');
  });
});

// Two builds of one arch and config in a run (x86_64 booted by QEMU, x86_64-2 by LAVA) share one object tree; any
// difference in what is built gives a tree of its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { objectTreeDir } from '../../src/pipeline/heavy-runner.js';
import { buildSpecs } from '../../src/pipeline/steps.js';

test('an object tree is named by arch and config, not by the build key', () => {
  const [qemu, lava, otherConfig, otherBase, arm] = buildSpecs([
    { arch: 'x86_64', base: 'tinyconfig', config: ['a.config'], lava: true, runner: 'qemu' },
    { arch: 'x86_64', base: 'tinyconfig', config: ['a.config'], lava: true, runner: 'lava' },
    { arch: 'x86_64', base: 'tinyconfig', config: ['b.config'], lava: true },
    { arch: 'x86_64', base: 'defconfig', config: ['a.config'], lava: true },
    { arch: 'arm64', base: 'tinyconfig', config: ['a.config'], lava: true },
  ]);
  assert.deepEqual([qemu!.key, lava!.key], ['x86_64', 'x86_64-2']);
  const dir = (b: typeof qemu, slot = 0) => objectTreeDir('/data', 'course', slot, b!);
  assert.equal(dir(qemu), dir(lava));
  assert.match(dir(qemu), /^\/data\/build\/course\/slot-0\/x86_64-[0-9a-f]{12}$/);
  const all = [dir(qemu), dir(otherConfig), dir(otherBase), dir(arm), dir(qemu, 1)];
  assert.equal(new Set(all).size, all.length, 'another config, base, arch or slot: another tree');
});

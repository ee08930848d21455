// The portable heavy unit: plain data that survives JSON, carrying the project's files by content, so that a host
// unpacking it elsewhere keys its warm object trees exactly as the server's own files would (configHash is by
// content), and refusing a file name that would leave the host's folder.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadProjects } from '../../src/config/projects.js';
import { makeHeavyUnit, materializeUnit, studentTestsDir } from '../../src/pipeline/heavy-unit.js';
import { configHash } from '../../src/pipeline/kconfig.js';
import { buildSpecs } from '../../src/pipeline/steps.js';
import type { StepResult } from '../../src/pipeline/types.js';
import { tempDir } from '../helpers/dirs.js';
import { makeJob } from '../helpers/small-tree.js';

const proctree = { ...loadProjects(path.resolve('projects')).find((p) => p.slug === 'proctree')!, id: 1 };
const built: StepResult = { status: 'pass', summary: 'x86_64 built', findings: [], logPath: '/srv/logs/build-x86_64.log', childMs: 5, outputs: { image: '/srv/artifacts/run-7/x86_64/bzImage' } };

function unitFor(dataDir: string) {
  return makeHeavyUnit({
    project: proctree,
    job: makeJob([], { runId: 7 }),
    base: 'a'.repeat(40),
    cpus: 2,
    dataDir,
    steps: [
      { step: 'build', job: 'x86_64', result: built },
      { step: 'test', job: 'x86_64', result: null },
      { step: 'build', job: 'arm64', result: null },
      { step: 'test', job: 'arm64', result: null },
    ],
    studentFiles: ['tools/testing/proctree/mine.yaml', 'tools/testing/proctree/lost.yaml'],
  });
}

describe('the portable heavy unit', () => {
  it('carries the builds, what ran before, the project files and the student’s definitions as plain data', () => {
    const data = tempDir('patchbay-unit-data-');
    fs.mkdirSync(studentTestsDir(data, 7), { recursive: true });
    fs.writeFileSync(path.join(studentTestsDir(data, 7), 'tools_testing_proctree_mine.yaml'), 'metadata: {}\n');
    const unit = unitFor(data);
    assert.deepEqual(JSON.parse(JSON.stringify(unit)), unit);
    assert.deepEqual(
      unit.builds.map((b) => [b.key, b.built?.summary ?? null, b.test]),
      [
        ['x86_64', 'x86_64 built', 'pending'],
        ['arm64', null, 'pending'],
      ],
    );
    assert.deepEqual(unit.tree, { slug: 'proctree', url: proctree.tree!.url, branch: 'master', maxAgeMs: proctree.tree!.max_age });
    assert.deepEqual(
      unit.tests.student.map((s) => [s.file, s.base64 && Buffer.from(s.base64, 'base64').toString()]),
      [
        ['tools/testing/proctree/mine.yaml', 'metadata: {}\n'],
        ['tools/testing/proctree/lost.yaml', null],
      ],
    );
    // Both builds share one fragment file: carried once.
    assert.equal(unit.files.filter((f) => f.name.startsWith('config/')).length, 1);
  });

  it('unpacks on a host into files of the same content, so each build keys its warm tree as the server would', () => {
    const unit = unitFor(tempDir('patchbay-unit-data-'));
    const host = tempDir('patchbay-unit-host-');
    const unpacked = materializeUnit(JSON.parse(JSON.stringify(unit)), path.join(host, 'unit'));
    for (const spec of buildSpecs(proctree.builds)) {
      const there = unpacked.specs.get(spec.key)!;
      assert.ok(there.fragments.every((f) => f.startsWith(path.join(host, 'unit') + path.sep)));
      assert.equal(configHash(there), configHash(spec), spec.key);
    }
    assert.equal(fs.readFileSync(unpacked.reference!, 'utf8'), fs.readFileSync(proctree.tests!.path!, 'utf8'));
    assert.equal(path.basename(unpacked.reference!), path.basename(proctree.tests!.path!));
    const programs = (dir: string) => fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]);
    assert.deepEqual(programs(unpacked.programs!), programs(proctree.tests!.programs!));
  });

  it('refuses a file name that leaves the host’s folder, and a unit of another version', () => {
    const unit = unitFor(tempDir('patchbay-unit-data-'));
    const dir = path.join(tempDir('patchbay-unit-host-'), 'unit');
    for (const name of ['../escape', 'config/../../x', '/etc/passwd', 'a//b']) {
      assert.throws(() => materializeUnit({ ...unit, files: [{ name, base64: '' }] }, dir), /bad file name/, name);
    }
    assert.throws(() => materializeUnit({ ...unit, version: 2 as never }, dir), /version/);
  });
});

// What a worker hands back, on both sides of Redis (src/queue/wire.ts): a result's paths travel relative to the data
// folder and land in the server's; whatever a worker returns is checked, and a path that leaves the run's artefacts
// is dropped, never followed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '../../src/errors.js';
import type { StepResult } from '../../src/pipeline/types.js';
import { checkJobReturn, checkProgress, checkWireResult, fromWire, toWire } from '../../src/queue/wire.js';

const built: StepResult = {
  status: 'pass',
  summary: 'built x86_64',
  findings: [{ level: 'WARNING', message: 'unused variable', file: 'hello.c', line: 3 }],
  logPath: '/srv/worker/logs/runs/7/build-x86_64.log',
  outputs: { image: '/srv/worker/artifacts/run-7/x86_64/bzImage', modulesImage: null, makeCommand: 'make -j2', compiled: 3, elsewhere: '/srv/worker-other/x' },
  childMs: 1234,
};

describe('step results on the wire', () => {
  it("makes the worker's paths relative and the server's absolute again; other values pass as they are", () => {
    const w = toWire(built, '/srv/worker');
    assert.equal(w.logPath, '');
    assert.deepEqual(w.paths, ['image']);
    assert.equal(w.outputs?.image, 'artifacts/run-7/x86_64/bzImage');
    assert.equal(w.outputs?.elsewhere, '/srv/worker-other/x');
    const back = fromWire(checkWireResult(JSON.parse(JSON.stringify(w)), 7), '/var/lib/patchbay', '/var/lib/patchbay/logs/runs/7/build-x86_64.log');
    assert.deepEqual(back, { ...built, logPath: '/var/lib/patchbay/logs/runs/7/build-x86_64.log', outputs: { ...built.outputs, image: '/var/lib/patchbay/artifacts/run-7/x86_64/bzImage' } });
  });

  it("drops a path that names anything but this run's artefacts", () => {
    for (const evil of ['../../etc/passwd', 'artifacts/run-8/x86_64/bzImage', 'artifacts/run-7/../../patchbay.sqlite', '/etc/shadow', 'artifacts/run-7//x', 'logs/runs/7/build.log']) {
      const w = checkWireResult({ status: 'pass', summary: 's', findings: [], childMs: 0, outputs: { image: evil }, paths: ['image'] }, 7);
      assert.equal(w.outputs?.image, null, evil);
    }
    // A path key with no output is ignored; a worker's logPath is never taken.
    const w = checkWireResult({ status: 'pass', summary: 's', findings: [], childMs: 0, logPath: '/etc/shadow', outputs: {}, paths: ['nothing'] }, 7);
    assert.deepEqual([w.logPath, w.paths], ['', []]);
  });

  it('refuses results of the wrong shape with bad_job_result', () => {
    const bad = (v: unknown) => assert.throws(() => checkWireResult(v, 7), (e) => isAppError(e) && e.code === 'bad_job_result');
    bad(null);
    bad({ status: 'excellent', summary: 's', findings: [] });
    bad({ status: 'pass', summary: 3, findings: [] });
    bad({ status: 'pass', summary: 's', findings: 'none' });
    bad({ status: 'pass', summary: 's', findings: [{ message: 'x', line: 'twelve' }] });
    bad({ status: 'pass', summary: 's', findings: [], outputs: { nested: { a: 1 } } });
    bad({ status: 'pass', summary: 's', findings: [], outputs: { '__proto__x': 1 } });
  });

  it('checks a job return: version, worker name, steps and keys', () => {
    const ok = { v: 1, worker: 'lab-1', results: [{ step: 'build', key: 'arm64-2', result: toWire(built, '/srv/worker') }], lost: [{ step: 'build', key: 'x86_64', reason: 'disk full' }] };
    assert.equal(checkJobReturn(ok, 7).results[0]!.key, 'arm64-2');
    assert.throws(() => checkJobReturn({ ...ok, v: 2 }, 7), /version 2 is not 1/);
    assert.throws(() => checkJobReturn({ ...ok, worker: 'lab 1; rm' }, 7), /not a worker name/);
    assert.throws(() => checkJobReturn({ ...ok, results: [{ ...ok.results[0], step: 'deploy' }] }, 7), /not a step/);
    assert.throws(() => checkJobReturn({ ...ok, results: [{ ...ok.results[0], key: '../x' }] }, 7), /not a build key/);
  });

  it("reads the workers' progress reports and ignores anything else", () => {
    assert.deepEqual(checkProgress({ v: 1, t: 'started', worker: 'lab-2', step: 'checkpatch', key: '' }, 7), { v: 1, t: 'started', worker: 'lab-2', step: 'checkpatch', key: '' });
    const fin = checkProgress({ v: 1, t: 'finished', worker: 'lab-2', step: 'build', key: 'x86_64', result: toWire(built, '/srv/worker') }, 7);
    assert.equal(fin?.t === 'finished' && fin.result.outputs?.image, 'artifacts/run-7/x86_64/bzImage');
    assert.equal(checkProgress(42, 7), null);
    assert.equal(checkProgress({ v: 1, t: 'half-way' }, 7), null);
  });
});

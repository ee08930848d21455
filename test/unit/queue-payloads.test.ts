// Queued jobs carry plain data only, of the shape their queue expects, and no credential; ids are deterministic.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '../../src/errors.js';
import { allQueues, queueName, queuesFor } from '../../src/queue/names.js';
import { assertPlain, jobId, parseJobId, validateJobData } from '../../src/queue/payloads.js';

const build = { v: 1, kind: 'build', runId: 7, project: 'proctree', key: 'arm64-2', arch: 'arm64', unit: { base: 'abc', files: [{ name: 'config/0-x', base64: 'AA==' }] } };
const refusedAt = (path: string, message: RegExp) => (e: unknown) => isAppError(e) && e.code === 'bad_job_payload' && e.details?.path === path && message.test(e.message);

describe('job payloads', () => {
  it('takes each kind of job as it is, with a copy of only its fields', () => {
    const b = validateJobData(JSON.parse(JSON.stringify(build)), 'build');
    assert.deepEqual(b, build);
    assert.deepEqual(validateJobData({ v: 1, kind: 'run', runId: 7, project: 'proctree', keys: ['x86_64', 'arm64'] }).kind, 'run');
    assert.deepEqual(validateJobData({ v: 1, kind: 'gate', runId: 1, project: 'p', unit: {} }, 'gate'), { v: 1, kind: 'gate', runId: 1, project: 'p', unit: {} });
  });

  it('refuses a malformed job naming the field and the reason', () => {
    const cases: [unknown, string, RegExp][] = [
      [null, '', /expected an object/],
      [[build], '', /expected an object/],
      [{ ...build, v: 2 }, 'v', /version 2 is not 1/],
      [{ ...build, kind: 'deploy' }, 'kind', /expected gate \| build \| test \| run/],
      [{ ...build, runId: 0 }, 'runId', /positive integer/],
      [{ ...build, runId: '7' }, 'runId', /positive integer/],
      [{ ...build, project: '../etc' }, 'project', /project slug/],
      [{ ...build, arch: 'sparc', key: 'sparc' }, 'arch', /one of x86_64/],
      [{ ...build, key: 'x86_64' }, 'key', /not of arch arm64/],
      [{ ...build, key: 'arm64;rm' }, 'key', /build key/],
      [{ ...build, unit: 'x' }, 'unit', /expected an object/],
      [{ ...build, extra: 1 }, 'extra', /not a field of this job/],
      [{ v: 1, kind: 'run', runId: 1, project: 'p', keys: ['x86_64', 'x86_64'] }, 'keys', /distinct build keys/],
    ];
    for (const [data, path, message] of cases) assert.throws(() => validateJobData(data), refusedAt(path, message), JSON.stringify(data));
    assert.throws(() => validateJobData(build, 'test'), refusedAt('kind', /a build job in a queue of test jobs/));
  });

  it('refuses anything but plain JSON data', () => {
    const unit = (u: unknown) => ({ ...build, unit: { nested: u } });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    const cases: [unknown, RegExp][] = [
      [unit(undefined), /a undefined is not plain data/],
      [unit(() => 1), /a function is not plain data/],
      [unit(10n), /a bigint is not plain data/],
      [unit(NaN), /NaN is not a finite number/],
      [unit(new Date(0)), /a Date is not plain data/],
      [unit(Buffer.from('x')), /a Buffer is not plain data/],
      [unit(new Map()), /a Map is not plain data/],
      [unit(cycle), /a cycle/],
      [unit(deep), /nested deeper than 32/],
      [unit([1, , 3]), /a hole/],
      [unit(JSON.parse('{"__proto__": {"polluted": true}}')), /"__proto__" is not allowed/],
    ];
    for (const [data, message] of cases) assert.throws(() => validateJobData(data), (e) => isAppError(e) && e.code === 'bad_job_payload' && message.test(e.message), message.source);
    assert.equal(assertPlain({ a: [1, 'b', null, true, { c: 2.5 }] }), JSON.stringify({ a: [1, 'b', null, true, { c: 2.5 }] }).length);
  });

  it('refuses a job carrying anything that looks like a credential', () => {
    for (const key of ['token', 'adminToken', 'password', 'dbPath', 'secret', 'api_key']) {
      assert.throws(() => validateJobData({ ...build, unit: { deep: { [key]: 'x' } } }), refusedAt(`unit.deep.${key}`, /looks like a credential/), key);
    }
  });

  it('refuses a payload over 48 MiB', () => {
    const big = { ...build, unit: { files: [{ name: 'big', base64: 'A'.repeat(48 * 1024 * 1024) }] } };
    assert.throws(() => validateJobData(big), (e) => isAppError(e) && /more than the 50331648 allowed/.test(e.message));
  });
});

describe('queue names and job ids', () => {
  it('names a queue per lane, and per arch for builds and tests', () => {
    assert.equal(queueName('gates'), 'gates');
    assert.equal(queueName('builds', 'riscv64'), 'builds-riscv64');
    assert.deepEqual(queuesFor(['gates', 'tests'], ['x86_64', 'arm64']), ['gates', 'tests-x86_64', 'tests-arm64']);
    assert.throws(() => queueName('builds', 'sparc'), /no builds queue for arch "sparc"/);
    const all = allQueues();
    assert.deepEqual([all[0]!.name, all.at(-1)!.name, all.length], ['gates', 'runs', 2 + 2 * 6]);
    assert.ok(all.every((q) => !q.name.includes(':')));
  });

  it('gives the same id to the same job of the same run', () => {
    assert.deepEqual([jobId('run', 12), jobId('gate', 12), jobId('build', 12, 'arm64-2'), jobId('test', 12, 'x86_64')], ['run-12', 'gate-12', 'build-12-arm64-2', 'test-12-x86_64']);
    assert.throws(() => jobId('build', 12, 'a:b'), /bad build key/);
  });

  it("takes a gate part's parent (verdict) with nothing but its run, and reads every id back to its kind, run and key", () => {
    assert.deepEqual(validateJobData({ v: 1, kind: 'verdict', runId: 12, project: 'p' }, 'verdict'), { v: 1, kind: 'verdict', runId: 12, project: 'p' });
    assert.throws(() => validateJobData({ v: 1, kind: 'verdict', runId: 12, project: 'p', unit: {} }), refusedAt('unit', /not a field of this job/));
    for (const [id, parsed] of [
      [jobId('verdict', 12), { kind: 'verdict', runId: 12, key: '' }],
      [jobId('gate', 3), { kind: 'gate', runId: 3, key: '' }],
      [jobId('build', 12, 'arm64-2'), { kind: 'build', runId: 12, key: 'arm64-2' }],
      [jobId('test', 9, 'x86_64'), { kind: 'test', runId: 9, key: 'x86_64' }],
    ] as const) {
      assert.deepEqual(parseJobId(id), parsed, id);
    }
    for (const id of [undefined, '', 'build-12', 'gate-12-x86_64', 'run-0', 'test-1-../x', 'deploy-1', 'build-12-x86_64-0']) assert.equal(parseJobId(id), null, String(id));
  });
});

// LAVA 2023.01's answers (test/fixtures/lava/) read into plain data, and whose fault an ended job is: the lab's
// failures are ours, a kernel that crashed is the student's even when LAVA calls it an infrastructure error.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  jobError,
  parseCases,
  parseJob,
  parseLog,
  parsePage,
  parseSubmitted,
  queueState,
  whoseFault,
  type LavaCase,
} from '../../src/pipeline/lava/lava-answers.js';
import { crashLines, readConsole } from '../../src/pipeline/rules/console-output.js';
import { collectResults } from '../../src/pipeline/test-results.js';
import { mergeLavaCases } from '../../src/pipeline/steps/test.step.js';

const DIR = path.resolve(import.meta.dirname, '../fixtures/lava');
const json = (name: string): unknown => JSON.parse(fs.readFileSync(path.join(DIR, name), 'utf8'));
const text = (name: string) => fs.readFileSync(path.join(DIR, name), 'utf8');

function cases(suites: string, ...tests: string[]): LavaCase[] {
  const rows = tests.flatMap((t) => parsePage(json(t), 'the tests').results);
  return parseCases(parsePage(json(suites), 'the suites').results, rows);
}

function consoleFacts(logFile: string) {
  const r = readConsole(parseLog(text(logFile)).console);
  return {
    kernelSpoke: r.marks.linuxVersion > 0,
    crashed: crashLines(r) !== null,
    runnerExited: r.signals.some((s) => s.kind === 'runnerExit'),
  };
}

describe('LAVA answers', () => {
  it('takes the job id from a submit and refuses an answer without exactly one', () => {
    assert.equal(parseSubmitted(json('submitted.json')), 17);
    assert.throws(() => parseSubmitted({ message: 'x', job_ids: [1, 2] }), /not one job id/);
    assert.throws(() => parseSubmitted(json('refused.json')), /job_ids/);
  });

  it('reads a job waiting for a device, running, and finished with its health and failure comment', () => {
    const waiting = parseJob(json('job-submitted.json'));
    assert.deepEqual([waiting.state, waiting.health, waiting.device, waiting.startTime], ['Submitted', 'Unknown', null, null]);
    assert.equal(queueState(waiting), 'waiting for a device');
    const running = parseJob(json('job-running.json'));
    assert.equal(queueState(running), 'running');
    assert.equal(running.device, 'qemu-01');
    const infra = parseJob(json('job-incomplete-infra.json'));
    assert.deepEqual([infra.id, infra.state, infra.health], [18, 'Finished', 'Incomplete']);
    assert.match(infra.failureComment!, /^Unable to download http/);
  });

  it('refuses a job whose state is not one of LAVA 2023.01', () => {
    assert.throws(() => parseJob({ id: 1, state: 'Queued', health: 'Unknown' }), /unknown state "Queued"/);
  });

  it('names each case by its suite across pages, with the student suite apart from the reference', () => {
    const all = cases('suites.json', 'tests.json', 'tests-page2.json');
    assert.equal(all.length, 13);
    const ref = all.filter((c) => c.suite === '0_proctree');
    const student = all.filter((c) => c.suite === '1_proctree');
    assert.equal(ref.length, 7);
    assert.ok(ref.every((c) => c.result === 'pass'));
    assert.deepEqual(
      student.map((c) => `${c.name}=${c.result}`),
      ['my-init-has-a-tree=pass', 'my-caller-is-pid-0=pass', 'my-pid-max-is-esrch=fail', 'my-negative-is-einval=pass'],
    );
    assert.equal(jobError(all), null);
  });

  it("finds LAVA's error class in the lava/job case's metadata", () => {
    const err = jobError(cases('suites-infra.json', 'tests-infra.json'));
    assert.equal(err?.type, 'Infrastructure');
    assert.match(err!.message, /Unable to download/);
  });

  it('refuses a case whose suite is not among the job suites', () => {
    assert.throws(() => parseCases([], parsePage(json('tests-infra.json'), 'the tests').results), /not among the job's suites/);
  });

  it("keeps only the serial console of a job log, and the dispatcher's errors apart", () => {
    const log = parseLog(text('log-panic.yaml'));
    assert.equal(log.unreadable, 0);
    assert.ok(log.console.startsWith('Linux version 6.1.192+'));
    assert.ok(!log.console.includes('deployimages'));
    assert.deepEqual(log.errors, ['Connection closed']);
    const r = readConsole(log.console);
    assert.equal(r.kernel.find((e) => e.kind === 'panic')?.detail, 'pb_panic: the proctree walk found a loop');
  });

  it('counts a log line cut short as unreadable without losing the others', () => {
    const lines = text('log-pass.yaml').split('\n');
    const cut = [...lines.slice(0, 20), lines[20]!.slice(0, 30), ...lines.slice(21)].join('\n');
    const log = parseLog(cut);
    assert.equal(log.unreadable, 1);
    assert.ok(log.console.includes('<LAVA_SIGNAL_STARTRUN 0_smoke 7_0>'));
  });
});

describe('whose fault', () => {
  it('is the lab when a download failed before the kernel printed anything, and it is retried', () => {
    const job = parseJob(json('job-incomplete-infra.json'));
    const f = whoseFault(job, jobError(cases('suites-infra.json', 'tests-infra.json')), { kernelSpoke: false, crashed: false, runnerExited: false });
    assert.equal(f.who, 'lab');
    assert.ok(f.who === 'lab' && f.retry);
    assert.match(f.who === 'lab' ? f.why : '', /Incomplete with a Infrastructure error: Unable to download/);
  });

  it("is the student's when the kernel panicked, though LAVA says Connection closed (an infrastructure error)", () => {
    const job = parseJob(json('job-incomplete-panic.json'));
    const f = whoseFault(job, { type: 'Infrastructure', message: 'Connection closed' }, consoleFacts('log-panic.yaml'));
    assert.deepEqual(f, { who: 'guest', hung: false, ended: false });
  });

  it('is the guest, ended, for a complete job whose runner exited', () => {
    const f = whoseFault(parseJob(json('job-complete.json')), null, { kernelSpoke: true, crashed: false, runnerExited: true });
    assert.deepEqual(f, { who: 'guest', hung: false, ended: true });
  });

  it('is the guest, hung, when a test timed out after the kernel spoke', () => {
    const job = { ...parseJob(json('job-incomplete-panic.json')), failureComment: 'lava-test-shell timed out after 120 seconds' };
    const f = whoseFault(job, { type: 'LAVATimeout', message: 'lava-test-shell timed out after 120 seconds' }, { kernelSpoke: true, crashed: false, runnerExited: false });
    assert.deepEqual(f, { who: 'guest', hung: true, ended: false });
  });

  it('ends cleanly, not retried, for a job cancelled on the server', () => {
    const f = whoseFault(parseJob(json('job-canceled.json')), null, { kernelSpoke: true, crashed: false, runnerExited: false });
    assert.equal(f.who, 'cancelled');
  });
});

describe("LAVA's cases over the console's", () => {
  it("keeps LAVA's result where it differs, adds what only LAVA has, and leaves out the lava suite", () => {
    const reading = readConsole(parseLog(text('log-pass.yaml')).console);
    const results = collectResults(reading, [{ index: 0, suite: '0_smoke', name: 'smoke', expected: [] }]);
    const greeting = results.cases.find((c) => c.name === 'greeting')!;
    assert.equal(greeting.result, 'pass');
    const lava: LavaCase[] = [
      { suite: 'lava', name: 'job', result: 'pass', measurement: null, units: null, set: null, metadata: {} },
      { suite: '0_smoke', name: 'greeting', result: 'fail', measurement: null, units: null, set: null, metadata: {} },
      { suite: '0_smoke', name: 'boot-seconds', result: 'pass', measurement: '1.0000000000', units: 'seconds', set: 'sizes', metadata: {} },
      { suite: '0_smoke', name: 'only-in-lava', result: 'skip', measurement: null, units: null, set: null, metadata: {} },
    ];
    const said: string[] = [];
    const merged = mergeLavaCases(results, lava, (l) => said.push(l));
    assert.equal(merged.cases.find((c) => c.name === 'greeting')!.result, 'fail');
    // The console's "1" is kept over LAVA's decimal.
    assert.equal(merged.cases.find((c) => c.name === 'boot-seconds')!.measurement, '1');
    assert.equal(merged.cases.find((c) => c.name === 'only-in-lava')!.result, 'skip');
    assert.ok(!merged.cases.some((c) => c.suite === 'lava'));
    assert.equal(merged.cases.length, results.cases.length + 1);
    assert.ok(said.some((l) => l.includes("LAVA's is kept")));
  });
});

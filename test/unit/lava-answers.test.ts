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
    assert.equal(parseSubmitted(json('submitted.json')), 1);
    assert.throws(() => parseSubmitted({ message: 'x', job_ids: [1, 2] }), /not one job id/);
    assert.throws(() => parseSubmitted(json('refused.json')), /job_ids/);
  });

  it('reads a job waiting for a device, running, and finished with its health', () => {
    const waiting = parseJob(json('job-submitted.json'));
    assert.deepEqual([waiting.state, waiting.health, waiting.device, waiting.startTime], ['Submitted', 'Unknown', null, null]);
    assert.equal(queueState(waiting), 'waiting for a device');
    const running = parseJob(json('job-running.json'));
    assert.equal(queueState(running), 'running');
    assert.equal(running.device, 'qemu-01');
    const done = parseJob(json('job-complete.json'));
    assert.deepEqual([done.id, done.state, done.health, done.failureComment], [1, 'Finished', 'Complete', null]);
    assert.equal(parseJob(json('job-incomplete-404.json')).health, 'Incomplete');
    assert.equal(parseJob(json('job-canceled.json')).health, 'Canceled');
  });

  it('refuses a job whose state is not one of LAVA 2023.01', () => {
    assert.throws(() => parseJob({ id: 1, state: 'Queued', health: 'Unknown' }), /unknown state "Queued"/);
  });

  it('names each case by its suite across pages: the reference, the student and the dispatcher apart', () => {
    const all = cases('suites.json', 'tests.json', 'tests-page2.json');
    assert.equal(all.length, 23);
    const of = (suite: string) => all.filter((c) => c.suite === suite).map((c) => `${c.name}=${c.result}${c.measurement ? ` ${c.measurement} ${c.units}` : ''}`);
    assert.deepEqual(of('0_ref'), ['proc-mounted=pass', 'tests-disk-mounted=pass', 'fails-on-purpose=fail', 'measured=pass 42.0000000000 things']);
    assert.deepEqual(of('1_student'), ['my-uname=pass']);
    assert.equal(all.filter((c) => c.suite === 'lava').length, 18);
    assert.equal(jobError(all), null);
  });

  it("finds LAVA's error class in the lava/job case's metadata: a download that answered 404 is a Job error", () => {
    const err = jobError(cases('suites-404.json', 'tests-404.json'));
    assert.equal(err?.type, 'Job');
    assert.match(err!.message, /Resource unavailable at 'http:\/\/127\.0\.0\.1:\d+\/no-such-bzImage' \(404\)/);
  });

  it('refuses a case whose suite is not among the job suites', () => {
    assert.throws(() => parseCases([], parsePage(json('tests-404.json'), 'the tests').results), /not among the job's suites/);
  });

  it("keeps only the serial console of a job log, and the dispatcher's errors apart", () => {
    const log = parseLog(text('log-panic.yaml'));
    assert.equal(log.unreadable, 0);
    assert.match(log.console, /SeaBIOS/);
    assert.ok(!log.console.includes('deployimages'));
    assert.ok(log.errors.includes('ConnectionClosedError: connection closed'));
    const r = readConsole(log.console);
    assert.equal(r.kernel.find((e) => e.kind === 'panic')?.detail, 'Attempted to kill init! exitcode=0x00000000');
    assert.equal(parseLog(text('log-404.yaml')).console, '');
  });

  it('counts a log line cut short as unreadable without losing the others', () => {
    const lines = text('log-pass.yaml').split('\n');
    const cut = [...lines.slice(0, 20), lines[20]!.slice(0, 30), ...lines.slice(21)].join('\n');
    const log = parseLog(cut);
    assert.equal(log.unreadable, 1);
    assert.ok(log.console.includes('<LAVA_SIGNAL_STARTRUN 0_ref '));
  });
});

describe('whose fault', () => {
  it('is the lab when a download failed before the kernel printed anything, and it is retried', () => {
    const job = parseJob(json('job-incomplete-404.json'));
    const f = whoseFault(job, jobError(cases('suites-404.json', 'tests-404.json')), consoleFacts('log-404.yaml'));
    assert.equal(f.who, 'lab');
    assert.ok(f.who === 'lab' && f.retry);
    assert.match(f.who === 'lab' ? f.why : '', /before the kernel printed anything on the console: Invalid job data: .*\(404\)"\]$/);
  });

  it("is the student's when the kernel panicked, though LAVA says Connection closed (an infrastructure error)", () => {
    const job = parseJob(json('job-incomplete-panic.json'));
    const err = jobError(cases('suites-panic.json', 'tests-panic.json'));
    assert.deepEqual(err, { type: 'Infrastructure', message: 'Connection closed' });
    assert.deepEqual(whoseFault(job, err, consoleFacts('log-panic.yaml')), { who: 'guest', hung: false, ended: false });
  });

  it('is the lab for the same Infrastructure error when the console shows no crash', () => {
    const f = whoseFault(parseJob(json('job-incomplete-panic.json')), { type: 'Infrastructure', message: 'Connection closed' }, { kernelSpoke: true, crashed: false, runnerExited: false });
    assert.equal(f.who, 'lab');
  });

  it('is the guest, ended, for the complete job whose runner exited', () => {
    const f = whoseFault(parseJob(json('job-complete.json')), null, consoleFacts('log-pass.yaml'));
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
    const results = collectResults(reading, [
      { index: 0, suite: '0_ref', name: 'ref', expected: [] },
      { index: 1, suite: '1_student', name: 'student', expected: [] },
    ]);
    // The console and LAVA's record of the recorded job agree case for case.
    const recorded = cases('suites.json', 'tests.json', 'tests-page2.json');
    assert.deepEqual(
      results.cases.map((c) => `${c.suite}/${c.name}=${c.result}`),
      recorded.filter((c) => c.suite !== 'lava').map((c) => `${c.suite}/${c.name}=${c.result}`),
    );
    const lava: LavaCase[] = [
      ...recorded.filter((c) => c.name !== 'proc-mounted'),
      { suite: '0_ref', name: 'proc-mounted', result: 'fail', measurement: null, units: null, set: null, metadata: {} },
      { suite: '0_ref', name: 'only-in-lava', result: 'skip', measurement: null, units: null, set: null, metadata: {} },
    ];
    const said: string[] = [];
    const merged = mergeLavaCases(results, lava, (l) => said.push(l));
    assert.equal(merged.cases.find((c) => c.name === 'proc-mounted')!.result, 'fail');
    // The console's "42" is kept over LAVA's decimal.
    assert.equal(merged.cases.find((c) => c.name === 'measured')!.measurement, '42');
    assert.equal(merged.cases.find((c) => c.name === 'measured')!.units, 'things');
    assert.equal(merged.cases.find((c) => c.name === 'only-in-lava')!.result, 'skip');
    assert.ok(!merged.cases.some((c) => c.suite === 'lava'));
    assert.equal(merged.cases.length, results.cases.length + 1);
    assert.ok(said.some((l) => l.includes("LAVA's is kept")));
  });
});

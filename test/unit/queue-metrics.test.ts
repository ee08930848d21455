// /metrics' text format: escaped label values, cumulative histogram buckets with +Inf, sum and count.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelValue, renderMetrics } from '../../src/queue/metrics.js';
import { archOfKey, laneOfStep, type QueueSnapshot } from '../../src/queue/queue-view.js';

const snap: QueueSnapshot = {
  mode: 'bullmq',
  backend: 'redis://pb@h:6379',
  reachable: true,
  error: null,
  lanes: [{ lane: 'builds', arch: 'x86_64', queue: 'builds-x86_64', waiting: 4, active: 2, failed: 1, completed: 30 }],
  workers: [
    { name: 'a', host: 'h', pid: 1, lanes: ['builds'], arches: ['x86_64'], warmTrees: [], current: { queue: 'builds-x86_64', jobId: 'build-1-x86_64', since: '' }, startedAt: '', lastHeartbeat: '', instance: 'i' },
    { name: 'b', host: 'h', pid: 2, lanes: ['builds'], arches: ['x86_64'], warmTrees: [], current: null, startedAt: '', lastHeartbeat: '', instance: 'j' },
  ],
  takenAt: '',
};

describe('Prometheus metrics', () => {
  it('escapes backslashes, quotes and line feeds in label values', () => {
    assert.equal(labelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  });

  it('writes each lane by state, its depth, and the live and busy workers', () => {
    const text = renderMetrics(snap, []);
    assert.match(text, /^patchbay_queue_jobs\{lane="builds",arch="x86_64",queue="builds-x86_64",state="completed"\} 30$/m);
    assert.match(text, /^patchbay_queue_depth\{lane="builds",arch="x86_64",queue="builds-x86_64"\} 4$/m);
    assert.match(text, /^patchbay_workers 2$/m);
    assert.match(text, /^patchbay_workers_busy 1$/m);
    assert.ok(text.endsWith('\n'));
    // Every sample line belongs to a family announced before it.
    const families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      const name = line.split(/[{ ]/, 1)[0]!.replace(/_(bucket|sum|count)$/, '');
      assert.ok(families.has(name), line);
    }
  });

  it('makes cumulative histograms of step durations per step and arch', () => {
    const text = renderMetrics(snap, [
      { step: 'build', arch: 'arm64', seconds: 45 },
      { step: 'build', arch: 'arm64', seconds: 4000 },
      { step: 'build', arch: 'arm64', seconds: 9000 },
      { step: 'signoff', arch: null, seconds: 0.2 },
    ]);
    const bucket = (le: string) => new RegExp(`^patchbay_step_duration_seconds_bucket\\{step="build",arch="arm64",le="${le.replace('+', '\\+')}"\\} (\\d+)$`, 'm').exec(text)?.[1];
    assert.deepEqual(['30', '60', '3600', '7200', '+Inf'].map(bucket), ['0', '1', '1', '2', '3']);
    assert.match(text, /^patchbay_step_duration_seconds_sum\{step="build",arch="arm64"\} 13045$/m);
    assert.match(text, /^patchbay_step_duration_seconds_count\{step="signoff",arch=""\} 1$/m);
  });

  it('puts each step in its lane and each build key under its arch', () => {
    assert.deepEqual(['signoff', 'apply', 'build', 'test', 'other'].map(laneOfStep), ['gates', 'gates', 'builds', 'tests', null]);
    assert.deepEqual(['x86_64', 'arm64-2', 'riscv64-10', ''].map(archOfKey), ['x86_64', 'arm64', 'riscv64', null]);
  });
});

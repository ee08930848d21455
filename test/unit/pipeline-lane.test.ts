// A lane of the pipeline: first in, first out, at most its width at once, a run's place in it, and aborts of a
// waiting run (taken out, never run) and of a running one (its signal).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Lane } from '../../src/pipeline/lane.js';

/** A lane whose runs end when the test says so. */
function lane(width: number) {
  const started: number[] = [];
  const left: number[] = [];
  const ends = new Map<number, () => void>();
  const signals = new Map<number, AbortSignal>();
  const l = new Lane(
    'gates',
    width,
    (id, signal) =>
      new Promise<void>((resolve, reject) => {
        started.push(id);
        signals.set(id, signal);
        ends.set(id, resolve);
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      }),
    (id) => left.push(id),
  );
  return { l, started, left, end: (id: number) => ends.get(id)!(), signals };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('a pipeline lane', () => {
  it('runs its width at once in arrival order and tells each waiting run how many are ahead', async () => {
    const { l, started, left, end } = lane(2);
    for (const id of [1, 2, 3, 4]) l.push(id);
    l.push(3); // twice is once
    assert.deepEqual(started, [1, 2]);
    assert.deepEqual(l.position(2), { lane: 'gates', state: 'active', ahead: 0 });
    assert.deepEqual(l.position(4), { lane: 'gates', state: 'waiting', ahead: 1 });
    assert.deepEqual(l.counts, { waiting: 2, active: 2 });
    end(2);
    await tick();
    assert.deepEqual(started, [1, 2, 3]);
    assert.deepEqual(left, [2]);
    assert.deepEqual(l.position(4), { lane: 'gates', state: 'waiting', ahead: 0 });
    for (const id of [1, 3]) end(id);
    await tick();
    end(4);
    await tick();
    assert.equal(l.idle, true);
    assert.equal(l.position(4), null);
  });

  it('takes a waiting run out without running it, and aborts a running one through its signal', async () => {
    const { l, started, left, signals } = lane(1);
    l.push(1);
    l.push(2);
    assert.equal(l.abort(2, new Error('superseded')), true);
    assert.equal(l.position(2), null);
    assert.equal(l.abort(1, new Error('superseded')), true);
    assert.equal(signals.get(1)!.aborted, true);
    await tick();
    assert.deepEqual(left, [1]);
    assert.deepEqual(started, [1]);
    assert.equal(l.abort(7, new Error('not here')), false);
    assert.equal(l.idle, true);
  });

  it('stops: aborts the running runs and starts no waiting one', async () => {
    const { l, started } = lane(1);
    l.push(1);
    l.push(2);
    const killed: number[] = [];
    await l.stop(new Error('server stopping'), (id) => killed.push(id));
    assert.deepEqual(killed, [1]);
    assert.deepEqual(started, [1]);
    assert.deepEqual(l.position(2), { lane: 'gates', state: 'waiting', ahead: 0 });
  });
});

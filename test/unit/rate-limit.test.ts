// The per-address limiter: a burst over the limit is refused, other addresses are not affected, the window slides.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiter } from '../../src/smtp/rate-limit.js';

describe('RateLimiter', () => {
  it('allows the limit per minute, refuses the next, and counts addresses apart', () => {
    const rl = new RateLimiter(3);
    const t = 1_000_000;
    assert.deepEqual([1, 2, 3, 4].map(() => rl.hit('10.0.0.1', t)), [true, true, true, false]);
    assert.equal(rl.hit('10.0.0.2', t), true);
  });

  it('lets traffic through again as the window slides', () => {
    const rl = new RateLimiter(2);
    const t = 6_000_000;
    rl.hit('a', t);
    rl.hit('a', t);
    assert.equal(rl.hit('a', t + 1_000), false);
    assert.equal(rl.hit('a', t + 90_000), true, 'half a window later the old window weighs half');
    assert.equal(rl.hit('a', t + 300_000), true);
  });

  it('never refuses when the limit is 0', () => {
    const rl = new RateLimiter(0);
    for (let i = 0; i < 1000; i++) assert.equal(rl.hit('a'), true);
  });
});

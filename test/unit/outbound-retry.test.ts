// The outbound retry schedule: doubling from the base, capped, and read from the configuration.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { retryDelay } from '../../src/mail/outbound.service.js';

describe('outbound retry schedule', () => {
  it('doubles the wait after each failed attempt, up to the cap', () => {
    const schedule = { baseMs: 60_000, maxMs: 4 * 3_600_000, giveUpMs: 2 * 86_400_000 };
    const cases: [number, number][] = [
      [0, 60_000],
      [1, 120_000],
      [2, 240_000],
      [7, 7_680_000],
      [8, 4 * 3_600_000],
      [500, 4 * 3_600_000],
    ];
    for (const [attempts, ms] of cases) assert.equal(retryDelay(attempts, schedule), ms, `after ${attempts}`);
  });

  it('defaults to 1 minute, 4 hours and 2 days, and takes seconds from PATCHBAY_OUTBOUND_RETRY_*', () => {
    assert.deepEqual(loadConfig({}, {}).outboundRetry, { baseMs: 60_000, maxMs: 14_400_000, giveUpMs: 172_800_000 });
    const env = { PATCHBAY_OUTBOUND_RETRY_BASE: '2', PATCHBAY_OUTBOUND_RETRY_MAX: '30', PATCHBAY_OUTBOUND_GIVE_UP: '600' };
    assert.deepEqual(loadConfig({}, env).outboundRetry, { baseMs: 2_000, maxMs: 30_000, giveUpMs: 600_000 });
    assert.throws(() => loadConfig({}, { PATCHBAY_OUTBOUND_RETRY_BASE: '0' }), /PATCHBAY_OUTBOUND_RETRY_BASE/);
  });
});

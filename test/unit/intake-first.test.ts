// IntakeFirst: while SMTP mail arrives, processing pauses so that its filing keeps to its share; when intake is quiet it never waits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IntakeFirst } from '../../src/smtp/intake-first.js';

describe('IntakeFirst', () => {
  it('lets processing file at once when no mail arrived recently', () => {
    const first = new IntakeFirst(100, 0.25);
    assert.equal(first.busy(1000), false);
    assert.equal(first.pauseMs(40, 990, 1000), 0);
    first.arrived(1000);
    assert.equal(first.pauseMs(40, 1100, 1100), 0, 'busy lasts 100 ms after the last arrival');
  });

  it('while mail arrives, holds processing to its share of the time', () => {
    const first = new IntakeFirst(100, 0.25);
    first.arrived(1000);
    assert.equal(first.busy(1050), true);
    // A filing of 10 ms that just ended: 30 ms for intake before the next (10 of 40 ms is processing's).
    assert.equal(first.pauseMs(10, 1050, 1050), 30);
    // Intake's own time already passed counts toward the pause.
    assert.equal(first.pauseMs(10, 1050, 1070), 10);
    assert.equal(first.pauseMs(10, 1050, 1090), 0);
  });
});

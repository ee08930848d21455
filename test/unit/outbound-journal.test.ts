// The outbound journal file: what a crashed run left, read back; emptied once the database has every line.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OutboundJournal } from '../../src/mail/outbound-journal.js';
import { tempDir } from '../helpers/dirs.js';

describe('outbound journal', () => {
  it('reads back the copies a killed run wrote, ignoring a line the crash cut short', () => {
    const file = path.join(tempDir(), 'outbound.journal');
    fs.writeFileSync(file, '12 sent\n13 kept\nnot a line\n14 sen');
    assert.deepEqual([...OutboundJournal.read(file)], [
      [12, 'sent'],
      [13, 'kept'],
    ]);
    assert.equal(OutboundJournal.read(path.join(tempDir(), 'none')).size, 0, 'no journal: nothing left');
  });

  it('starts empty, keeps each copy until committed, and empties itself once settled with nothing pending', () => {
    const file = path.join(tempDir(), 'outbound.journal');
    fs.writeFileSync(file, '1 sent\n');
    const j = new OutboundJournal(file);
    j.open();
    assert.equal(fs.readFileSync(file, 'latin1'), '', 'what the last run left is not carried over');
    j.record(7, 'kept');
    fs.appendFileSync(file, '8 sent\n'); // the sender thread's line
    j.noted(8, 'sent');
    assert.deepEqual([...OutboundJournal.read(file)], [
      [7, 'kept'],
      [8, 'sent'],
    ]);
    assert.equal(j.departed(7), 'kept');
    j.committed(7);
    assert.equal(j.departed(7), undefined);
    j.settle();
    assert.deepEqual([...OutboundJournal.read(file).keys()], [7, 8], 'lines stay while one is not committed');
    j.committed(8);
    j.settle();
    assert.equal(fs.readFileSync(file, 'latin1'), '');
    j.record(9, 'kept');
    assert.equal(fs.readFileSync(file, 'latin1'), '9 kept\n', 'after emptying, lines start at the beginning again');
    j.close();
  });
});

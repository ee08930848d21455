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

  it('starts empty, keeps each copy until committed, and empties itself when nothing is pending', () => {
    const file = path.join(tempDir(), 'outbound.journal');
    fs.writeFileSync(file, '1 sent\n');
    const j = new OutboundJournal(file);
    j.open();
    assert.equal(fs.readFileSync(file, 'latin1'), '', 'what the last run left is not carried over');
    j.record(7, 'sent');
    j.record(8, 'kept');
    assert.deepEqual([...OutboundJournal.read(file)], [
      [7, 'sent'],
      [8, 'kept'],
    ]);
    assert.equal(j.departed(7), 'sent');
    j.committed(7);
    assert.equal(j.departed(7), undefined);
    assert.deepEqual([...OutboundJournal.read(file).keys()], [7, 8], 'lines stay until nothing is pending');
    j.committed(8);
    assert.equal(fs.readFileSync(file, 'latin1'), '');
    j.record(9, 'sent');
    assert.equal(fs.readFileSync(file, 'latin1'), '9 sent\n', 'after emptying, lines start at the beginning again');
    j.close();
  });

  it('rewrites itself with the pending lines once it passes 1 MiB while copies stay pending', () => {
    const file = path.join(tempDir(), 'outbound.journal');
    const j = new OutboundJournal(file);
    j.open();
    j.record(1, 'sent'); // stays pending throughout
    for (let id = 2; id < 120_000; id++) {
      j.record(id, 'sent');
      j.committed(id);
    }
    assert.ok(fs.statSync(file).size <= 1024 * 1024 + 16, `compacted (${fs.statSync(file).size} bytes)`);
    const left = OutboundJournal.read(file);
    assert.equal(left.get(1), 'sent', 'the pending copy survives the rewrite');
    assert.ok(left.size < 120_000 / 2, `committed lines dropped (${left.size} left)`);
    j.close();
  });
});

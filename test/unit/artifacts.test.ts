// A run's artefacts: listed, served only inside the run's folder, deleted once older than the configured time.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { artifactFile, listArtifacts, pruneArtifacts } from '../../src/pipeline/artifacts.js';
import { tempDir } from '../helpers/dirs.js';

describe('artefacts', () => {
  it('lists a run’s files and refuses names that leave its folder', () => {
    const data = tempDir();
    const dir = path.join(data, 'artifacts', 'run-7', 'x86_64');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'console.log'), 'hello\n');
    fs.writeFileSync(path.join(data, 'secret'), 'no');
    assert.deepEqual(listArtifacts(data, 7), [{ path: 'x86_64/console.log', bytes: 6 }]);
    assert.equal(artifactFile(data, 7, 'x86_64/console.log'), path.join(dir, 'console.log'));
    assert.equal(artifactFile(data, 7, '../../secret'), null);
    assert.equal(artifactFile(data, 7, 'x86_64'), null);
    assert.deepEqual(listArtifacts(data, 8), []);
  });

  it('deletes the runs older than the time kept, and only those', () => {
    const data = tempDir();
    for (const n of [1, 2]) fs.mkdirSync(path.join(data, 'artifacts', `run-${n}`), { recursive: true });
    const old = new Date(Date.now() - 20 * 86_400_000);
    fs.utimesSync(path.join(data, 'artifacts', 'run-1'), old, old);
    assert.equal(pruneArtifacts(data, 14 * 86_400_000), 1);
    assert.deepEqual(fs.readdirSync(path.join(data, 'artifacts')), ['run-2']);
  });
});

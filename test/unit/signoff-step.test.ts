// The sign-off gate: judges the series engine's per-patch flag and names every patch lacking its author's sign-off.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { signoffStep } from '../../src/pipeline/steps/signoff.step.js';
import type { Job, JobPatch, PersonRef, StepContext } from '../../src/pipeline/types.js';
import { tempDir } from '../helpers/dirs.js';

const JOHN: PersonRef = { name: 'John Smith', email: 'john@students.example.org' };

function patch(number: number, name: string, signoffOk: boolean, signoffs: string[], author = JOHN): JobPatch {
  return { id: 100 + number, number, name, msgid: `p${number}@example.org`, author, signoffOk, signoffs, diff: '', mbox: '' };
}

function job(patches: JobPatch[]): Job {
  return {
    runId: 7,
    project: { slug: 'hts', name: 'HTS Syscall', branch: 'master', checkpatch: { enabled: true, ignore: [], options: [], warnings: 'warn' }, testDescription: null },
    series: { id: 12, name: 'syscall: add dummy system call', version: 9, total: patches.length, baseCommit: null, submitter: JOHN, patches },
  };
}

function ctx(): StepContext {
  return { logPath: path.join(tempDir(), 'signoff.log'), mirror: '', worktree: '', previous: {}, timeoutMs: 30_000 };
}

describe('signoffStep', () => {
  it('passes when every patch is signed off by its author, and logs each patch', async () => {
    const c = ctx();
    const r = await signoffStep(job([patch(1, 'syscall: add dummy', true, ['John Smith <john@students.example.org>']), patch(2, 'syscall: wire it', true, ['John Smith <john@students.example.org>'])]), c);
    assert.equal(r.status, 'pass');
    assert.deepEqual(r.findings, []);
    assert.equal(r.logPath, c.logPath);
    assert.equal(r.childMs, 0);
    const log = fs.readFileSync(c.logPath, 'utf8');
    assert.match(log, /^patch 1\/2 ok: author John Smith <john@students\.example\.org>/m);
    assert.match(log, /^patch 2\/2 ok/m);
  });

  it('fails naming the patch, its author and the sign-offs it has instead', async () => {
    const r = await signoffStep(
      job([
        patch(1, 'syscall: add dummy', true, ['John Smith <john@students.example.org>']),
        patch(2, 'syscall: wire it', false, ['Jane Doe <jane@students.example.org>']),
        patch(3, 'syscall: test it', true, ['John Smith <john@students.example.org>']),
      ]),
      ctx(),
    );
    assert.equal(r.status, 'fail');
    assert.equal(r.summary, "patch 2/3 'syscall: wire it' has no Signed-off-by from John Smith <john@students.example.org>; found: Jane Doe <jane@students.example.org>");
    assert.equal(r.findings.length, 1);
    assert.equal(r.findings[0]!.patch, 2);
    assert.equal(r.findings[0]!.type, 'NO_AUTHOR_SIGNOFF');
    assert.equal(r.findings[0]!.quote, 'Signed-off-by: Jane Doe <jane@students.example.org>');
  });

  it('says "none" when a patch has no Signed-off-by at all, and lists every patch lacking one', async () => {
    const anon = { name: null, email: 'anon@students.example.org' };
    const r = await signoffStep(job([patch(1, 'a', false, [], anon), patch(2, 'b', false, [], anon)]), ctx());
    assert.equal(r.status, 'fail');
    assert.equal(r.summary, "2 of 2 patches lack their author's Signed-off-by: 1/2, 2/2");
    assert.deepEqual(
      r.findings.map((f) => f.message),
      ["patch 1/2 'a' has no Signed-off-by from anon@students.example.org; found: none", "patch 2/2 'b' has no Signed-off-by from anon@students.example.org; found: none"],
    );
    assert.equal(r.outputs?.missing, 2);
  });

  it('treats a series without patches as our error, not the student\'s', async () => {
    const r = await signoffStep(job([]), ctx());
    assert.equal(r.status, 'error');
  });
});

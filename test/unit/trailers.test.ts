// Trailers, tags and pull requests found in mail text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findPullRequest } from '../../src/series/pull-request.js';
import { baseCommit, changeId, countTags, sameName, signedOffBy, supersedes } from '../../src/series/trailers.js';

describe('trailers', () => {
  it('counts Acked-by, Reviewed-by and Tested-by, but not quoted ones', () => {
    const reply = '> Reviewed-by: Old Reviewer <o@x.org>\n\nLooks good.\n\nReviewed-by: Ann <ann@x.org>\nAcked-by: B <b@x.org>\ntested-by: C <c@x.org>\n';
    assert.deepEqual(countTags(reply), { acked: 1, reviewed: 1, tested: 1 });
  });

  it('reads Signed-off-by lines with unicode names and lowercases emails', () => {
    assert.deepEqual(signedOffBy('msg\n\nSigned-off-by: Zoé Étudiante <Zoe@Students.Example.org>\nSigned-off-by: "Doe, J." <j@x.org>\n'), [
      { name: 'Zoé Étudiante', email: 'zoe@students.example.org' },
      { name: 'Doe, J.', email: 'j@x.org' },
    ]);
  });

  it('finds base-commit, change-id and Supersedes', () => {
    const text = 'cover\n\n---\nbase-commit: 0123456789abcdef0123456789abcdef01234567\nchange-id: 20261120-proctree-3f2a1b\nSupersedes: <20261101.v2@x.org>\n';
    assert.equal(baseCommit(text), '0123456789abcdef0123456789abcdef01234567');
    assert.equal(changeId(text), '20261120-proctree-3f2a1b');
    assert.equal(supersedes(text), '20261101.v2@x.org');
    assert.equal(baseCommit('no base'), null);
  });

  // Issue 11: 13 s with 3,000 spaces, 94 s with 6,000 (the old regex was cubic).
  it('reads a Signed-off-by line of 6,000 spaces and an x as no trailer, in linear time', { timeout: 5000 }, () => {
    const poison = `msg\n\nSigned-off-by:${' '.repeat(6000)}x\nSigned-off-by: Ann <ann@x.org>\n`;
    assert.deepEqual(signedOffBy(poison), [{ name: 'Ann', email: 'ann@x.org' }]);
    assert.deepEqual(signedOffBy(`Signed-off-by:${' '.repeat(50_000)}x\n`.repeat(20)), []);
  });

  it('takes a trailer up to 998 characters (RFC 5322 line length) and no longer one', () => {
    const line = (spaces: number) => `Signed-off-by:${' '.repeat(spaces)}Ann <ann@x.org>`;
    assert.equal(line(969).length, 998);
    assert.deepEqual(signedOffBy(line(969)), [{ name: 'Ann', email: 'ann@x.org' }]);
    assert.deepEqual(signedOffBy(line(970)), []);
    assert.equal(supersedes(`Supersedes: <${'a'.repeat(990)}@x.org>`), null);
  });

  it('reads a trailer on one line only', () => {
    assert.deepEqual(signedOffBy('Signed-off-by: Ann\n<ann@x.org>\n'), []);
    assert.equal(changeId('change-id:\n I0123\n'), null);
  });

  it('compares names after NFKC, case folding and accents, with no first/last shape', () => {
    assert.ok(sameName('Zoé Étudiante', 'zoe etudiante'));
    assert.ok(sameName('ＺＯＥ', 'zoe'));
    assert.ok(sameName('Nguyễn Văn A', 'nguyen van a'));
    assert.ok(!sameName('Zoé Étudiante', 'Étudiante Zoé'));
    assert.ok(!sameName('', ''));
  });
});

describe('pull requests', () => {
  it('finds the URL and branch of git request-pull text', () => {
    const text = `Hi Linus,\n\nThe following changes since commit 0123456789abcdef:\n\n  Linux 6.7 (2026-01-07 12:00:00 -0800)\n\nare available in the Git repository at:\n\n  git://git.kernel.org/pub/scm/linux/kernel/git/tip/linux-2.6-tip.git x86-fixes-for-linus\n\nfor you to fetch changes up to fedcba9876543210:\n`;
    assert.deepEqual(findPullRequest(text), { url: 'git://git.kernel.org/pub/scm/linux/kernel/git/tip/linux-2.6-tip.git', branch: 'x86-fixes-for-linus' });
  });

  it('reads ssh and https forms, with a tag', () => {
    const ssh = 'The following changes since commit abc:\n\nare available in the git repository at:\n\n  git@github.com:user/linux.git topic\n';
    assert.deepEqual(findPullRequest(ssh), { url: 'git@github.com:user/linux.git', branch: 'topic' });
    const https = 'The following changes since commit abc:\n\nare available in the Git repository at:\n\n  https://git.kernel.org/pub/scm/linux/kernel/git/x/linux.git/ tags/v5.4-next-soc\n';
    assert.deepEqual(findPullRequest(https), { url: 'https://git.kernel.org/pub/scm/linux/kernel/git/x/linux.git/', branch: 'tags/v5.4-next-soc' });
    assert.equal(findPullRequest('please pull my tree'), null);
  });
});

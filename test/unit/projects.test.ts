// Project files: the derived addresses, and refusals that name the file, the line and the reason.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadProjects, parseProjectFile, publicTreeUrl } from '../../src/config/projects.js';
import { isAppError } from '../../src/errors.js';
import { tempDir } from '../helpers/dirs.js';

const good = `name: Proctree Syscall
slug: proctree
list: proctree@lists.example.org
tree: { url: /srv/git/linux.git, branch: master }
builds:
  - arch: x86_64
    config: [config/proctree_syscall, config/virtio_net]
    lava: true
  - arch: powerpc64
    config: [config/proctree_syscall]
tests:
  path: epita/proctree.yaml
`;

describe('project files', () => {
  it('reads the talk format and derives the four addresses', () => {
    const p = parseProjectFile('proctree.yaml', good);
    assert.equal(p.policy, 'open');
    assert.equal(p.builds.length, 2);
    assert.equal(p.builds[1]!.lava, false);
    assert.deepEqual(p.addresses, {
      list: 'proctree@lists.example.org',
      request: 'proctree-request@lists.example.org',
      bounces: 'proctree-bounces@lists.example.org',
      bot: 'proctree-bot@lists.example.org',
    });
  });

  const bad: [string, string, RegExp][] = [
    ['a wrong enum value', good.replace('slug: proctree', 'slug: proctree\npolicy: closed'), /^bad\.yaml:3: policy: /],
    ['a list that is not an address', good.replace('proctree@lists.example.org', 'proctree'), /^bad\.yaml:3: list: must be an email address/],
    ['a misspelt key', good.replace('    lava: true', '    lavva: true'), /^bad\.yaml:8: builds\.0\.lavva: unknown key "lavva"/],
    ['a wrong type deep inside', good.replace('lava: true', 'lava: sometimes'), /^bad\.yaml:8: builds\.0\.lava: /],
    ['a missing key', good.replace('name: Proctree Syscall\n', ''), /^bad\.yaml:1: name: /],
    ['broken YAML', good.replace('tests:\n', 'tests: [\n'), /^bad\.yaml:\d+: YAML syntax: /],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what} with file, line and reason`, () => {
      assert.throws(() => parseProjectFile('bad.yaml', text), (e) => isAppError(e) && message.test(e.message));
    });
  }

  it('reads visibility (public by default, private for a course) and refuses any other value with its line', () => {
    assert.equal(parseProjectFile('p.yaml', good).visibility, 'public');
    assert.equal(parseProjectFile('p.yaml', `${good}\nvisibility: private\n`).visibility, 'private');
    assert.throws(
      () => parseProjectFile('p.yaml', `${good}\nvisibility: secret\n`),
      (e) => isAppError(e) && /^p\.yaml:\d+: visibility: /.test(e.message),
    );
  });

  it('refuses two projects with the same list address', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a.yaml'), good);
    fs.writeFileSync(path.join(dir, 'b.yaml'), good.replace('slug: proctree', 'slug: other'));
    assert.throws(() => loadProjects(dir), (e) => isAppError(e) && /b\.yaml:1: "proctree@lists\.example\.org" is already used by .*a\.yaml/.test(e.message));
  });

  it('fills the pipeline keys with defaults, and resolves tree and test paths against the file', () => {
    const p = parseProjectFile('/etc/patchbay/projects/proctree.yaml', good.replace('url: /srv/git/linux.git', 'url: ../trees/linux.git'));
    assert.equal(p.tree?.url, '/etc/patchbay/trees/linux.git');
    assert.equal(p.tree?.max_age, 5 * 60_000);
    assert.equal(p.tests?.path, '/etc/patchbay/projects/epita/proctree.yaml');
    assert.deepEqual(p.checkpatch, { enabled: true, ignore: [], options: [], warnings: 'warn' });
    assert.deepEqual(p.report, { to: 'student', cc: 'none', signature: 'patchbay CI' });
    assert.deepEqual(p.timeouts, { signoff: 30_000, testdesc: 30_000, checkpatch: 300_000, apply: 600_000, build: 3_600_000, test: 600_000 });
    const remote = parseProjectFile('/x/p.yaml', good.replace('url: /srv/git/linux.git', 'url: https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git'));
    assert.equal(remote.tree?.url, 'https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git');
    const scp = parseProjectFile('/x/p.yaml', good.replace('url: /srv/git/linux.git', 'url: git@example.org:linux.git'));
    assert.equal(scp.tree?.url, 'git@example.org:linux.git');
  });

  it('reads durations and policies, and refuses a bad one with its line', () => {
    const p = parseProjectFile('p.yaml', `${good}timeouts:\n  checkpatch: 90s\n  apply: 2m\ncheckpatch:\n  warnings: fail\n  ignore: [FILE_PATH_CHANGES]\nreport:\n  to: student+list\n  cc: maintainers\n  signature: LSE Team\n`);
    assert.equal(p.timeouts.checkpatch, 90_000);
    assert.equal(p.timeouts.apply, 120_000);
    assert.equal(p.checkpatch.warnings, 'fail');
    assert.deepEqual(p.report, { to: 'student+list', cc: 'maintainers', signature: 'LSE Team' });
    assert.throws(
      () => parseProjectFile('p.yaml', `${good}timeouts:\n  apply: soon\n`),
      (e) => isAppError(e) && /^p\.yaml:\d+: timeouts\.apply: must be a duration like 30s, 5m or 2h/.test(e.message),
    );
    assert.throws(
      () => parseProjectFile('p.yaml', `${good}checkpatch:\n  warnings: loud\n`),
      (e) => isAppError(e) && /^p\.yaml:\d+: checkpatch\.warnings/.test(e.message),
    );
    assert.throws(
      () => parseProjectFile('p.yaml', `${good}report:\n  cc: teachers\n`),
      (e) => isAppError(e) && /^p\.yaml:\d+: report\.cc/.test(e.message),
    );
  });

  it('loads the shipped example project', () => {
    const projects = loadProjects(path.resolve('projects'));
    assert.ok(projects.some((p) => p.slug === 'example'));
  });
});

describe('tree.public_url', () => {
  const withTree = (tree: string) => good.replace('tree: { url: /srv/git/linux.git, branch: master }', `tree: ${tree}`);

  it('is where the tree is fetched from publicly; a local path, ssh address or URL with a password is never offered', () => {
    assert.equal(publicTreeUrl(parseProjectFile('p.yaml', withTree('{ url: /srv/git/linux.git, public_url: "https://git.example.org/linux.git" }')).tree), 'https://git.example.org/linux.git');
    assert.equal(publicTreeUrl(parseProjectFile('p.yaml', withTree('{ url: /srv/git/linux.git }')).tree), null);
    assert.equal(publicTreeUrl(parseProjectFile('p.yaml', withTree('{ url: "git@git.example.org:linux.git" }')).tree), null);
    assert.equal(publicTreeUrl(parseProjectFile('p.yaml', withTree('{ url: "https://ci:s3cret@git.example.org/linux.git" }')).tree), null);
    // A tree that is already a public URL needs no public_url.
    assert.equal(publicTreeUrl(parseProjectFile('p.yaml', withTree('{ url: "https://git.example.org/linux.git" }')).tree), 'https://git.example.org/linux.git');
    assert.equal(publicTreeUrl(undefined), null);
  });

  for (const [what, value] of [
    ['a local path', '/srv/git/linux.git'],
    ['an ssh address', 'git@git.example.org:linux.git'],
    ['a URL with a password', 'https://ci:s3cret@git.example.org/linux.git'],
  ]) {
    it(`refuses ${what} as public_url, naming the key and the line`, () => {
      assert.throws(
        () => parseProjectFile('p.yaml', withTree(`\n  url: /srv/git/linux.git\n  public_url: "${value}"`)),
        (e: unknown) => isAppError(e) && /^p\.yaml:6: tree\.public_url: must be an http\(s\):\/\/ or git:\/\/ URL/.test(e.message),
      );
    });
  }
});

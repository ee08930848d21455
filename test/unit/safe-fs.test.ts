// Files of folders untrusted code has shaped: read and written only below the folder, never through a symlink (last
// name or a folder on the way), regular files only (a FIFO never blocks us), bounded.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  copyOutOfTree,
  isRegularInTree,
  lstatInTree,
  readInTree,
  readTextInTree,
  regularFilesIn,
  setTimesInTree,
  UnsafeFileError,
  writeInTree,
} from '../../src/pipeline/safe-fs.js';
import { tempDir } from '../helpers/dirs.js';

/** A tree with a regular file, a symlink to a secret outside, a symlinked folder, a FIFO; and the secret. */
function hostile(): { root: string; secret: string; outsideDir: string } {
  const base = tempDir('patchbay-safe-fs-');
  const root = path.join(base, 'tree');
  const outsideDir = path.join(base, 'outside');
  fs.mkdirSync(path.join(root, 'arch/x86/boot'), { recursive: true });
  fs.mkdirSync(outsideDir);
  const secret = path.join(outsideDir, 'patchbay.sqlite');
  fs.writeFileSync(secret, 'secret');
  fs.writeFileSync(path.join(root, 'arch/x86/boot/bzImage'), 'kernel');
  fs.symlinkSync(secret, path.join(root, 'link'));
  fs.symlinkSync(outsideDir, path.join(root, 'dirlink'));
  execFileSync('mkfifo', [path.join(root, 'fifo')]);
  return { root, secret, outsideDir };
}

const reason = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UnsafeFileError, String(e));
    return e.reason;
  }
  return 'no error';
};

describe('safe-fs', () => {
  it('reads a regular file below the folder', () => {
    const { root } = hostile();
    assert.equal(readInTree(root, 'arch/x86/boot/bzImage', 100).toString(), 'kernel');
    assert.equal(readTextInTree(root, 'no/such/file', 100), null);
  });

  it('refuses a symlink as the last name, a symlinked folder on the way, .. and absolute paths', () => {
    const { root } = hostile();
    assert.equal(reason(() => readInTree(root, 'link', 100)), 'symlink');
    assert.equal(reason(() => readInTree(root, 'dirlink/patchbay.sqlite', 100)), 'symlink');
    assert.equal(reason(() => readInTree(root, '../outside/patchbay.sqlite', 100)), 'bad-path');
    assert.equal(reason(() => readInTree(root, 'arch/../../outside/patchbay.sqlite', 100)), 'bad-path');
    assert.equal(reason(() => readInTree(root, '/etc/passwd', 100)), 'bad-path');
    assert.equal(reason(() => readTextInTree(root, 'link', 100)), 'symlink', 'only "missing" reads as null');
  });

  it('refuses a FIFO without blocking, a folder, and a file over the bound', () => {
    const { root } = hostile();
    assert.equal(reason(() => readInTree(root, 'fifo', 100)), 'not-regular');
    assert.equal(reason(() => readInTree(root, 'arch', 100)), 'not-regular');
    assert.equal(reason(() => readInTree(root, 'arch/x86/boot/bzImage', 3)), 'too-big');
  });

  it('copies out only regular files, and never writes through a symlink at the destination', () => {
    const { root, secret } = hostile();
    const out = tempDir('patchbay-safe-fs-out-');
    // Something put a symlink where the copy goes: it is replaced, its target untouched.
    fs.symlinkSync(secret, path.join(out, 'bzImage'));
    assert.equal(copyOutOfTree(root, 'arch/x86/boot/bzImage', path.join(out, 'bzImage'), { maxBytes: 100 }), 6);
    assert.equal(fs.readFileSync(path.join(out, 'bzImage'), 'utf8'), 'kernel');
    assert.equal(fs.lstatSync(path.join(out, 'bzImage')).isFile(), true);
    assert.equal(fs.readFileSync(secret, 'utf8'), 'secret');
    assert.equal(reason(() => copyOutOfTree(root, 'link', path.join(out, 'x'), { maxBytes: 100 })), 'symlink');
    assert.equal(reason(() => copyOutOfTree(root, 'arch/x86/boot/bzImage', path.join(out, 'y'), { maxBytes: 2 })), 'too-big');
    assert.deepEqual(fs.readdirSync(out), ['bzImage'], 'nothing half-copied is left');
  });

  it('writes in the folder by replacing a planted symlink, never following it', () => {
    const { root, secret } = hostile();
    writeInTree(root, 'link', 'marker');
    assert.equal(fs.readFileSync(secret, 'utf8'), 'secret');
    assert.equal(fs.readFileSync(path.join(root, 'link'), 'utf8'), 'marker');
    assert.equal(reason(() => writeInTree(root, 'dirlink/patchbay.sqlite', 'x')), 'symlink');
    assert.equal(fs.readFileSync(secret, 'utf8'), 'secret');
  });

  it("sets times without following a symlink, and lists only a folder's regular files", () => {
    const { root, secret } = hostile();
    const before = fs.statSync(secret).mtimeMs;
    const old = new Date('2001-01-01T00:00:00Z');
    assert.equal(setTimesInTree(root, 'link', old, old), false);
    assert.equal(setTimesInTree(root, 'dirlink/patchbay.sqlite', old, old), false);
    assert.equal(fs.statSync(secret).mtimeMs, before);
    assert.equal(setTimesInTree(root, 'arch/x86/boot/bzImage', old, old), true);
    assert.equal(fs.statSync(path.join(root, 'arch/x86/boot/bzImage')).mtimeMs, old.getTime());
    assert.equal(isRegularInTree(root, 'link'), false);
    assert.equal(isRegularInTree(root, 'arch/x86/boot/bzImage'), true);
    assert.equal(lstatInTree(root, 'no/such'), null);
    assert.deepEqual(regularFilesIn(root), []);
    assert.deepEqual(regularFilesIn(path.join(root, 'arch/x86/boot')), [{ name: 'bzImage', size: 6 }]);
  });
});

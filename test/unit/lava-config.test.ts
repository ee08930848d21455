// The LAVA runner's configuration: the server and its token from the server's flags (never the project file),
// checked at start with a clear error; `runner:` of a project or one of its builds.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { acquireSlot, freeSlotsOf, heldSlots } from '../../src/pipeline/lava/lava-slots.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'patchbay-lava-config-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const tokenFile = path.join(dir, 'token');
fs.writeFileSync(tokenFile, 'abc123token\n');

describe('LAVA server flags', () => {
  it('reads the URL and the token file, with the retries, start wait and poll defaults', () => {
    const c = loadConfig({ lavaUrl: 'http://lava.example.org:9001/', lavaTokenFile: tokenFile }, {}, dir);
    assert.deepEqual(c.lava, { url: 'http://lava.example.org:9001', token: 'abc123token', retries: 2, startWaitMs: 600_000, pollMs: 5000 });
  });

  it('takes them from the environment too', () => {
    const c = loadConfig({}, { PATCHBAY_LAVA_URL: 'https://lava.example.org', PATCHBAY_LAVA_TOKEN_FILE: tokenFile, PATCHBAY_LAVA_RETRIES: '0', PATCHBAY_LAVA_START_WAIT: '30' }, dir);
    assert.equal(c.lava?.retries, 0);
    assert.equal(c.lava?.startWaitMs, 30_000);
  });

  it('has no LAVA server without --lava-url', () => {
    assert.equal(loadConfig({}, {}, dir).lava, null);
  });

  it('refuses a URL without a token file, a token file without a URL, and a missing or empty token', () => {
    assert.throws(() => loadConfig({ lavaUrl: 'http://lava' }, {}, dir), /--lava-url needs --lava-token-file/);
    assert.throws(() => loadConfig({ lavaTokenFile: tokenFile }, {}, dir), /without --lava-url/);
    assert.throws(() => loadConfig({ lavaUrl: 'http://lava', lavaTokenFile: path.join(dir, 'nope') }, {}, dir), /cannot read .*ENOENT/);
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '\n');
    assert.throws(() => loadConfig({ lavaUrl: 'http://lava', lavaTokenFile: empty }, {}, dir), /must hold one API token/);
  });

  it('refuses a URL that is not http(s) or carries credentials', () => {
    assert.throws(() => loadConfig({ lavaUrl: 'ftp://lava', lavaTokenFile: tokenFile }, {}, dir), /must be an http\(s\) URL/);
    assert.throws(() => loadConfig({ lavaUrl: 'http://admin:pw@lava', lavaTokenFile: tokenFile }, {}, dir), /without credentials/);
    assert.throws(() => loadConfig({ lavaUrl: 'lava.example.org', lavaTokenFile: tokenFile }, {}, dir), /is not a URL/);
  });
});

describe('LAVA job slots', () => {
  it('gives at most max_jobs slots and the next waits until one is released', async () => {
    const slots = path.join(dir, 'slots', 'proctree');
    const a = await acquireSlot(slots, 2, { runId: 1, key: 'x86_64' });
    const b = await acquireSlot(slots, 2, { runId: 2, key: 'x86_64' });
    assert.equal(heldSlots(slots).length, 2);
    let waited = false;
    let got = false;
    const c = acquireSlot(slots, 2, { runId: 3, key: 'arm64' }, { pollMs: 20, waiting: () => (waited = true) }).then((r) => {
      got = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(waited);
    assert.ok(!got);
    a();
    const release = await c;
    assert.deepEqual(heldSlots(slots).map((s) => s.runId).sort(), [2, 3]);
    // A cancelled run's slot is freed by the engine.
    freeSlotsOf(slots, 2);
    assert.deepEqual(heldSlots(slots).map((s) => s.runId), [3]);
    release();
    b();
  });

  it('takes over a slot whose process is gone', async () => {
    const slots = path.join(dir, 'slots', 'stale');
    fs.mkdirSync(slots, { recursive: true });
    // A pid far above pid_max (4194304) is never alive.
    fs.writeFileSync(path.join(slots, 'slot-0'), JSON.stringify({ pid: 99_999_999, runId: 7, key: 'x86_64' }));
    const r = await acquireSlot(slots, 1, { runId: 8, key: 'x86_64' });
    assert.deepEqual(heldSlots(slots), [{ runId: 8, key: 'x86_64' }]);
    r();
  });
});

describe('runner: in the project file', () => {
  const yaml = (extra: string) => `name: P\nslug: p\nlist: p@lists.example.org\ntree:\n  url: https://git.example.org/linux.git\n${extra}`;
  it('is qemu unless the project or one of its builds says lava', async () => {
    const { parseProjectFile } = await import('../../src/config/projects.js');
    const plain = parseProjectFile('/p.yaml', yaml('builds:\n  - {arch: x86_64, lava: true}\n'));
    assert.equal(plain.runner, 'qemu');
    assert.equal(plain.builds[0]!.runner, 'qemu');
    assert.equal(plain.lava.max_jobs, 2);
    const lava = parseProjectFile('/p.yaml', yaml('runner: lava\nlava: {max_jobs: 5}\nbuilds:\n  - {arch: x86_64, lava: true}\n  - {arch: arm64, lava: true, runner: qemu}\n'));
    assert.deepEqual(lava.builds.map((b) => b.runner), ['lava', 'qemu']);
    assert.equal(lava.lava.max_jobs, 5);
  });

  it('refuses a LAVA server or token in the project file', async () => {
    const { parseProjectFile } = await import('../../src/config/projects.js');
    assert.throws(() => parseProjectFile('/p.yaml', yaml('lava: {url: http://lava, token: x}\n')), /unknown key "url"/);
    assert.throws(() => parseProjectFile('/p.yaml', yaml('runner: lab\n')), /runner/);
  });
});

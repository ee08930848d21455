// The LAVA job written for a test run: read back as LAVA reads it (YAML 1.1, as PyYAML), it deploys the kernel,
// initramfs and both disks with image_arg placeholders, boots with the qemu method, and carries the definitions inline.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { LAVA_SHELL_FLAG, lavaJobDefinition } from '../../src/pipeline/lava-job.js';
import { TOOLCHAINS } from '../../src/pipeline/toolchains.js';

const DEFS = path.resolve(import.meta.dirname, '../fixtures/guest/definitions');
const text = (n: string) => fs.readFileSync(path.join(DEFS, `${n}.yaml`), 'utf8');

type Job = {
  device_type: string;
  job_name: string;
  context: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  timeouts: { job: { minutes: number } };
  actions: Record<string, Record<string, unknown>>[];
};

function job(arch: string, modules: string | null): Job {
  const yaml = lavaJobDefinition({
    jobName: 'proctree run 12 arm64: add proctree',
    tc: TOOLCHAINS[arch]!,
    kernel: '/srv/a/Image',
    initrd: '/srv/a/initramfs.cpio.gz',
    modules,
    tests: '/srv/a/tests.ext2',
    definitions: [
      { name: 'smoke', text: text('smoke') },
      { name: 'failing', text: text('failing') },
    ],
    timeouts: { job: 10, test: 5 },
    metadata: { source: 'patchbay', run: 12 },
  });
  return parse(yaml, { version: '1.1' }) as Job;
}

describe('lavaJobDefinition', () => {
  it('is a qemu job for the arch, deploying the kernel, initramfs and both disks to tmpfs', () => {
    const j = job('arm64', '/srv/a/modules.ext2');
    assert.equal(j.device_type, 'qemu');
    assert.deepEqual(j.context, { arch: 'arm64', machine: 'virt', cpu: 'cortex-a57', memory: 256, guestfs_interface: 'virtio', extra_options: ['-smp 1', '-nic none', '-no-reboot'] });
    assert.equal(j.timeouts.job.minutes, 10);
    assert.deepEqual(j.metadata, { source: 'patchbay', run: 12 });
    const deploy = j.actions[0]!.deploy as { to: string; images: Record<string, { image_arg: string; url: string }> };
    assert.equal(deploy.to, 'tmpfs');
    assert.deepEqual(Object.keys(deploy.images), ['kernel', 'initrd', 'modules', 'tests']);
    assert.equal(deploy.images.kernel!.image_arg, `-kernel {kernel} -append "console=ttyAMA0 panic=-1 oops=panic ${LAVA_SHELL_FLAG}"`);
    assert.equal(deploy.images.kernel!.url, 'file:///srv/a/Image');
    assert.equal(deploy.images.modules!.image_arg, '-drive format=raw,file={modules},if=none,id=disk0,readonly=on -device virtio-blk-device,drive=disk0');
    assert.equal(deploy.images.tests!.image_arg, '-drive format=raw,file={tests},if=none,id=disk1,readonly=on -device virtio-blk-device,drive=disk1');
    // Every image's placeholder is its own key, as LAVA substitutes them.
    for (const [key, img] of Object.entries(deploy.images)) assert.ok(img.image_arg.includes(`{${key}}`), key);
  });

  it('boots with the qemu method and waits for the shell prompt of our /init', () => {
    const boot = job('x86_64', null).actions[1]!.boot as Record<string, unknown>;
    assert.deepEqual(boot, { method: 'qemu', media: 'tmpfs', timeout: { minutes: 2 }, prompts: ['/ # '] });
  });

  it('leaves out the modules disk when the build has none; the tests disk is then disk0', () => {
    const images = (job('x86_64', null).actions[0]!.deploy as { images: Record<string, { image_arg: string }> }).images;
    assert.deepEqual(Object.keys(images), ['kernel', 'initrd', 'tests']);
    assert.match(images.tests!.image_arg, /id=disk0,readonly=on -device virtio-blk-pci,drive=disk0$/);
  });

  it('carries the definitions inline, as they read in their files', () => {
    const test = job('x86_64', null).actions[2]!.test as { timeout: unknown; definitions: { repository: unknown; from: string; name: string; path: string }[] };
    assert.deepEqual(test.timeout, { minutes: 5 });
    assert.deepEqual(
      test.definitions.map((d) => [d.from, d.name, d.path]),
      [
        ['inline', 'smoke', 'inline/smoke.yaml'],
        ['inline', 'failing', 'inline/failing.yaml'],
      ],
    );
    assert.deepEqual(test.definitions[0]!.repository, parse(text('smoke'), { version: '1.1' }));
    assert.deepEqual((test.definitions[1]!.repository as { run: { steps: string[] } }).run.steps[2], 'false', "the step 'false' stays a string for PyYAML");
  });
});

describe('test definition names', () => {
  it('are made unique for LAVA and for our suites: a later one named as an earlier one gets -2, -3', async () => {
    const { uniqueNames } = await import('../../src/pipeline/heavy-runner.js');
    const defs = uniqueNames([{ name: 'proctree' }, { name: 'proctree' }, { name: 'mine' }, { name: 'proctree' }]);
    assert.deepEqual(defs.map((d) => d.name), ['proctree', 'proctree-2', 'mine', 'proctree-3']);
  });
});

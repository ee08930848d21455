// The LAVA lab of scripts/lava-lab.sh with Debian 12's real lava-server and lava-dispatcher: a QEMU job submitted
// through POST /api/v0.2/jobs/ with the token goes scheduler → worker → lava-run → QEMU and its test cases come back
// through the REST API; the worker can be stopped and started again; `down` leaves no process of the lab running.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lavaLabSkipReason, startLavaLab, type LavaLab } from '../helpers/lava-lab.js';
import { waitFor } from '../helpers/wait.js';

/** Debian's own kernel and initramfs (linux-image-amd64, which the lab installs for libguestfs): no kernel build. */
function debianKernel(): { kernel: string; initrd: string } | null {
  const releases = fs
    .readdirSync('/boot')
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .filter((r) => fs.existsSync(`/boot/initrd.img-${r}`))
    .sort();
  const r = releases.at(-1);
  return r ? { kernel: `/boot/vmlinuz-${r}`, initrd: `/boot/initrd.img-${r}` } : null;
}

const skip = lavaLabSkipReason() ?? (debianKernel() ? null : 'no Debian kernel with an initramfs in /boot (apt-get install linux-image-amd64)');

// break=premount stops Debian's initramfs after udev loaded the drivers, at the "(initramfs)" busybox shell: enough
// for LAVA to mount its test overlay (an ext2 disk on IDE, by uuid) and run the test definition there.
function jobDefinition(k: { kernel: string; initrd: string }): string {
  return `device_type: qemu
job_name: lava-lab smoke
timeouts: {job: {minutes: 12}, action: {minutes: 8}, connection: {minutes: 2}}
priority: medium
visibility: public
context: {arch: amd64}
actions:
- deploy:
    to: tmpfs
    timeout: {minutes: 4}
    images:
      kernel: {image_arg: '-kernel {kernel} -append "console=ttyS0,115200 break=premount"', url: 'file://${k.kernel}'}
      initrd: {image_arg: '-initrd {initrd}', url: 'file://${k.initrd}'}
- boot:
    method: qemu
    media: tmpfs
    timeout: {minutes: 6}
    prompts: ['\\(initramfs\\)']
- test:
    timeout: {minutes: 4}
    definitions:
    - repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: smoke, description: lava-lab smoke}
        run:
          steps:
          - lava-test-case kernel-is-linux --shell test "$(uname -s)" = Linux
          - lava-test-case no-such-file --shell test -e /no/such/file
      from: inline
      name: smoke
      path: inline/smoke.yaml
`;
}

interface Job {
  id: number;
  state: string;
  health: string;
  actual_device: string | null;
}
interface Paged<T> {
  results: T[];
  next: string | null;
}
interface TestCase {
  name: string;
  result: string;
}

function labProcesses(dir: string, pids: number[]): string[] {
  const found: string[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, 0);
      found.push(`pid ${pid} (from state.env)`);
    } catch {
      /* gone */
    }
  }
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = fs.readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) found.push(`pid ${entry} in ${cwd}`);
    } catch {
      /* exited or not ours to read */
    }
  }
  return found;
}

describe('the LAVA lab (scripts/lava-lab.sh)', { skip: skip ?? false }, () => {
  let lab: LavaLab;
  let pids: number[] = [];

  before(async () => {
    lab = await startLavaLab({ devices: 2 });
    const state = fs.readFileSync(path.join(lab.dir, 'state.env'), 'utf8');
    pids = [...state.matchAll(/^[A-Z]+_PID=(\d+)$/gm)].map((m) => Number(m[1]));
  });
  after(async () => {
    await lab?.stop();
  });

  it('has the qemu device type, one worker online and its devices idle', async () => {
    assert.equal(lab.devices.length, 2);
    const worker = await lab.api<{ hostname: string; state: string }>(`api/v0.2/workers/${lab.workerName}/`);
    assert.equal(worker.state, 'Online');
    const devices = await lab.api<Paged<{ hostname: string; device_type: string; worker_host: string; state: string; health: string }>>('api/v0.2/devices/');
    for (const name of lab.devices) {
      const d = devices.results.find((x) => x.hostname === name);
      assert.ok(d, `device ${name} on the server`);
      assert.deepEqual([d.device_type, d.worker_host, d.state, d.health], ['qemu', lab.workerName, 'Idle', 'Good']);
    }
  });

  it('runs a QEMU job submitted with the token through lava-run on the worker, test cases and all', { timeout: 900_000 }, async () => {
    const submitted = await lab.api<{ job_ids: number[] }>('api/v0.2/jobs/', { definition: jobDefinition(debianKernel()!) });
    assert.equal(submitted.job_ids.length, 1);
    const id = submitted.job_ids[0]!;
    const job = await waitFor(
      `job ${id} to finish`,
      async () => {
        const j = await lab.api<Job>(`api/v0.2/jobs/${id}/`);
        return j.state === 'Finished' ? j : null;
      },
      840_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- lava-worker.log\n${lab.log('lava-worker', 30)}\n--- lava-scheduler.log\n${lab.log('lava-scheduler', 30)}`);
    });
    assert.equal(job.health, 'Complete', `job ${id} ${job.health}; lava-worker.log:\n${lab.log('lava-worker', 30)}`);
    assert.ok(job.actual_device && lab.devices.includes(job.actual_device), `ran on one of the lab's devices, not ${job.actual_device}`);
    // The worker started lava-run for it and reported the end to the server.
    const workerLog = lab.log('lava-worker', 10_000);
    assert.match(workerLog, new RegExp(`\\[${id}\\] Starting job`));
    assert.match(workerLog, new RegExp(`\\[${id}\\] FINISHED => server`));

    const tests = await lab.api<Paged<TestCase>>(`api/v0.2/jobs/${id}/tests/?limit=200`);
    const result = (name: string) => tests.results.find((t) => t.name === name)?.result;
    assert.equal(result('kernel-is-linux'), 'pass');
    assert.equal(result('no-such-file'), 'fail');
    assert.equal(result('job'), 'pass');
    const log = await fetch(new URL(`api/v0.2/jobs/${id}/logs/`, lab.url), { headers: { Authorization: `Token ${lab.token}` } }).then((r) => r.text());
    assert.match(log, /qemu-system-x86_64/);
    assert.match(log, /Linux version \d/);
    assert.match(log, /Received signal: <TESTCASE> TEST_CASE_ID=kernel-is-linux RESULT=pass/);
  });

  it('stops the worker and starts it again', { timeout: 120_000 }, async () => {
    await lab.stopWorker();
    const before = await lab.api<{ last_ping: string }>(`api/v0.2/workers/${lab.workerName}/`);
    assert.match(fs.readFileSync(path.join(lab.dir, 'state.env'), 'utf8'), /^WORKER_PID=\d+$/m);
    await lab.startWorker();
    // Each ping of the running worker moves last_ping (every 5 s in the lab).
    await waitFor(
      'the restarted worker to ping the server',
      async () => (await lab.api<{ last_ping: string; state: string }>(`api/v0.2/workers/${lab.workerName}/`)).last_ping !== before.last_ping,
      60_000,
    );
    const state = fs.readFileSync(path.join(lab.dir, 'state.env'), 'utf8');
    pids = [...state.matchAll(/^[A-Z]+_PID=(\d+)$/gm)].map((m) => Number(m[1]));
  });

  it('down leaves no process of the lab running', { timeout: 240_000 }, async () => {
    const dir = lab.dir;
    assert.ok(labProcesses(dir, pids).length >= 4, 'the lab runs before down');
    await lab.stop();
    assert.deepEqual(labProcesses(dir, pids), []);
    assert.equal(fs.existsSync(dir), false);
  });
});

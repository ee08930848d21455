// The sandbox's command line: what is hidden, bound read-only or writable, and the wrappers around bubblewrap (the
// control groups joined first, the overlay mounted in a mount namespace of its own, setpriv to the build user).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sandboxed, sandboxEnv } from '../../src/pipeline/sandbox.js';

const user = { name: 'patchbay-build', uid: 999, gid: 995 };

/** The value after each occurrence of `flag` in args. */
const after = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

describe('sandboxed', () => {
  it('joins the control groups, mounts the overlay, then drops to the build user inside bubblewrap', () => {
    // A data folder outside /tmp (which is private in the sandbox already), with the host's records beside the tree.
    const data = fs.mkdtempSync('/var/tmp/patchbay-sandbox-unit-');
    const obj = path.join(data, 'build/p/slot-0/x86_64-abc');
    const wt = path.join(data, 'work/p/0');
    for (const d of [obj, `${obj}.patchbay/students/k/upper`, `${obj}.patchbay/students/k/work`, wt]) fs.mkdirSync(d, { recursive: true });
    try {
      const sb = sandboxed('make', ['-j2'], {
        writable: [obj],
        readable: [wt],
        hide: ['/root', data, `${obj}.patchbay`],
        overlays: [{ lower: obj, upper: `${obj}.patchbay/students/k/upper`, work: `${obj}.patchbay/students/k/work` }],
        user,
        cgroupProcs: ['/sys/fs/cgroup/pids/patchbay/run-1/cgroup.procs', '/sys/fs/cgroup/memory/patchbay/run-1/cgroup.procs'],
        cwd: wt,
        env: sandboxEnv(),
      });
      const line = [sb.cmd, ...sb.args];
      assert.equal(sb.cmd, 'sh');
      const dash = line.indexOf('--');
      assert.deepEqual(line.slice(3, dash), ['sh', '/sys/fs/cgroup/pids/patchbay/run-1/cgroup.procs', '/sys/fs/cgroup/memory/patchbay/run-1/cgroup.procs']);
      assert.deepEqual(line.slice(dash + 1, dash + 5), ['unshare', '--mount', '--propagation', 'private']);
      assert.deepEqual(line.slice(line.indexOf('bwrap') - 4, line.indexOf('bwrap')), [obj, `${obj}.patchbay/students/k/upper`, `${obj}.patchbay/students/k/work`, '--'], 'the overlay is mounted over the tree itself');
      const setpriv = line.indexOf('setpriv');
      assert.ok(setpriv > line.indexOf('bwrap'));
      assert.deepEqual(line.slice(setpriv + 1, setpriv + 8), ['--reuid=999', '--regid=995', '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--']);
      assert.deepEqual(after(line, '--cap-add'), ['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP']);
      // A hidden folder inside another is covered with it (a tmpfs on a tmpfs could not be remounted read-only).
      assert.deepEqual(after(line, '--tmpfs').filter((d) => d !== '/tmp' && d !== '/home'), ['/root', data].sort());
      // The build user walks down to its folders through mount points made 0755.
      assert.ok(line.join(' ').includes(`--perms 0755 --dir ${path.join(data, 'build/p/slot-0')} `));
      assert.deepEqual(after(line, '--ro-bind').slice(-1), [wt]);
      assert.deepEqual(after(line, '--bind'), [obj]);
    } finally {
      fs.rmSync(data, { recursive: true, force: true });
    }
  });

  it('caps the processes with RLIMIT_NPROC when asked, and runs as we do without a user', () => {
    const sb = sandboxed('true', [], { writable: ['/tmp/w'], cwd: '/tmp/w', env: sandboxEnv(), nproc: true, limits: { processes: 77 } });
    assert.equal(sb.cmd, 'bwrap');
    assert.ok(sb.args.includes('--nproc=77'));
    assert.ok(!sb.args.includes('setpriv'));
    assert.deepEqual(after(sb.args, '--cap-add'), []);
  });

  it('mounts every overlay given, each over its own folder, in the order given', () => {
    const sb = sandboxed('true', [], {
      writable: ['/data/obj', '/data/ccache'],
      cwd: '/',
      env: sandboxEnv(),
      overlays: [
        { lower: '/data/obj', upper: '/data/l/upper', work: '/data/l/work' },
        { lower: '/data/ccache', upper: '/data/c/upper', work: '/data/c/work' },
      ],
    });
    const line = [sb.cmd, ...sb.args];
    const from = line.indexOf('sh', line.indexOf('-c') + 2) + 1;
    assert.deepEqual(line.slice(from, line.indexOf('bwrap')), ['/data/obj', '/data/l/upper', '/data/l/work', '/data/ccache', '/data/c/upper', '/data/c/work', '--']);
    assert.deepEqual(after(line, '--bind'), ['/data/obj', '/data/ccache']);
  });

  it('refuses an overlay whose folders overlayfs cannot take, or whose folder is not writable', () => {
    const base = { writable: ['/data/obj'], cwd: '/', env: sandboxEnv() };
    assert.throws(() => sandboxed('true', [], { ...base, overlays: [{ lower: '/data/obj', upper: '/data/a,b', work: '/data/w' }] }), /overlay/);
    assert.throws(() => sandboxed('true', [], { ...base, writable: [], overlays: [{ lower: '/data/obj', upper: '/data/u', work: '/data/w' }] }), /writable/);
    const second = { lower: '/data/ccache', upper: '/data/c/upper', work: '/data/c/work' };
    assert.throws(() => sandboxed('true', [], { ...base, overlays: [{ lower: '/data/obj', upper: '/data/u', work: '/data/w' }, second] }), /ccache must be writable/);
  });
});

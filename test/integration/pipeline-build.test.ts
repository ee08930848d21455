// The build step on the real kernel (x86_64 tinyconfig + the table's fragments + one project fragment), in one
// worktree and one warm O= folder shared by the cases, as the engine uses them: the series committed on the base,
// ctx.baseCommit the commit before it. Plus the sandbox on its own: no writes outside, no network.
// The first case pays a cold build (about 2.5 min on 2 cores; less with a hot ccache at /tmp/ccache-shared).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildPrograms } from '../../src/pipeline/guest/programs.js';
import { sandboxed, sandboxEnv } from '../../src/pipeline/sandbox.js';
import { readTreeState, studentLayer } from '../../src/pipeline/object-tree.js';
import { buildStep } from '../../src/pipeline/steps/build.step.js';
import { toolchainFor } from '../../src/pipeline/toolchains.js';
import type { BuildSpec, StepResult } from '../../src/pipeline/types.js';
import { tempDir } from '../helpers/dirs.js';
import { buildContext, buildJob, commitAll, COURSE_FRAGMENTS, courseSlot, git, KERNEL_REPO, kernelRepoAvailable, kernelWorktree, type KernelWorktree } from '../helpers/kernel-build.js';

/** A TCP listener on 127.0.0.1 that counts the connections it gets. */
async function listener(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = net.createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => n,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('sandbox', () => {
  it('keeps writes inside the writable folders and has no network', async () => {
    const work = tempDir('patchbay-sbx-');
    const outside = tempDir('patchbay-sbx-outside-');
    const tag = crypto.randomBytes(4).toString('hex');
    const l = await listener();
    try {
      const script = [
        `echo in > ${work}/inside; echo "inside=$?"`,
        `echo out > ${outside}/escape-${tag} 2>/dev/null; echo "outside=$?"`,
        `echo tmp > /tmp/escape-${tag}; echo "tmp=$?"`,
        `echo home > ${os.homedir()}/escape-${tag} 2>/dev/null; echo "home=$?"`,
        `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${l.port}' 2>/dev/null; echo "net=$?"`,
      ].join('\n');
      const sb = sandboxed('sh', ['-c', script], { writable: [work], cwd: work, env: sandboxEnv() });
      const r = spawnSync(sb.cmd, sb.args, { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      const seen = Object.fromEntries(r.stdout.trim().split('\n').map((line) => line.split('=') as [string, string]));
      assert.equal(seen.inside, '0');
      assert.notEqual(seen.outside, '0');
      assert.equal(seen.tmp, '0', 'the sandbox has its own /tmp');
      assert.notEqual(seen.home, '0');
      assert.notEqual(seen.net, '0');
      assert.equal(fs.readFileSync(path.join(work, 'inside'), 'utf8'), 'in\n');
      assert.equal(fs.existsSync(path.join(outside, `escape-${tag}`)), false);
      assert.equal(fs.existsSync(`/tmp/escape-${tag}`), false);
      assert.equal(fs.existsSync(path.join(os.homedir(), `escape-${tag}`)), false);
      assert.equal(l.connections(), 0);
    } finally {
      await l.close();
    }
  });

  it("exits with the command's status and cuts its output at the limit", () => {
    const work = tempDir('patchbay-sbx-');
    const ok = sandboxed('sh', ['-c', 'echo out; echo err >&2; exit 3'], { writable: [work], cwd: work, env: sandboxEnv() });
    const r = spawnSync(ok.cmd, ok.args, { encoding: 'utf8' });
    assert.equal(r.status, 3);
    assert.equal(r.stdout, 'out\nerr\n');
    const big = sandboxed('sh', ['-c', 'yes | head -c 100000; exit 0'], { writable: [work], cwd: work, env: sandboxEnv(), limits: { outputBytes: 1000 } });
    const r2 = spawnSync(big.cmd, big.args, { encoding: 'utf8' });
    assert.equal(r2.stdout.length, 1000);
  });
});

const ROOT = process.env.PATCHBAY_KBUILD_TEST_DIR ?? path.join(os.tmpdir(), 'patchbay-kbuild-test');

// Objects kbuild compiles at every link of vmlinux, whatever changed.
// Objects kbuild compiles at every link of vmlinux, whatever changed (x86: the boot stub embeds the version).
const LINK_TIME = new Set(['init/version-timestamp.o', '.vmlinux.export.o', 'arch/x86/boot/version.o', 'arch/x86/boot/compressed/misc.o']);

describe('build step on the real kernel (x86_64 tinyconfig)', { skip: !kernelRepoAvailable() && 'no kernel repo (scripts/kernel-tree.sh)' }, () => {
  let wt: KernelWorktree;
  let spec: BuildSpec;
  // Laid out and configured as the demo course's server builds x86_64 (kernel-build.ts courseSlot): the cold base
  // build below is then ccache's hits of the e2e course's, or of the last run's.
  const slot = courseSlot(ROOT);
  const objDir = slot.objDir('x86_64');
  let n = 0;

  const build = async (baseCommit: string, name: string): Promise<StepResult> => {
    const ctx = buildContext({
      worktree: wt.path,
      objDir,
      artifactsDir: path.join(ROOT, 'artifacts', `${++n}-${name}`),
      logPath: path.join(ROOT, 'logs', `${n}-${name}.log`),
      baseCommit,
      build: spec,
    });
    return buildStep(buildJob(n), ctx);
  };
  /** The series: `edit` applied on `base` and committed (the worktree is reset to `base` first, as the engine does). */
  const series = async (base: string, message: string, edit: () => void): Promise<string> => {
    await git(wt.path, ['checkout', '--detach', '-f', '-q', base]);
    edit();
    return commitAll(wt.path, message);
  };
  const append = (file: string, text: string) => () => fs.appendFileSync(path.join(wt.path, file), text);
  const onlyTouched = (r: StepResult, touched: string[]) => {
    const compiled = String(r.outputs!.compiledFiles).split(',').filter(Boolean);
    for (const t of touched) assert.ok(compiled.includes(t), `${t} recompiled (${compiled.join(' ')})`);
    const others = compiled.filter((c) => !touched.includes(c) && !LINK_TIME.has(c));
    assert.deepEqual(others, [], 'nothing else recompiled');
  };

  before(async () => {
    fs.mkdirSync(ROOT, { recursive: true });
    fs.rmSync(objDir, { recursive: true, force: true });
    fs.rmSync(path.join(ROOT, 'artifacts'), { recursive: true, force: true });
    fs.rmSync(path.join(ROOT, 'logs'), { recursive: true, force: true });
    wt = await kernelWorktree(slot.worktree);
    const frag = path.join(ROOT, 'project.config');
    fs.writeFileSync(frag, 'CONFIG_EXT2_FS=y\n');
    spec = { key: 'x86_64', arch: 'x86_64', base: 'tinyconfig', fragments: [...COURSE_FRAGMENTS, frag], lava: true };
  });

  after(async () => {
    if (process.env.PATCHBAY_KEEP_KBUILD) return;
    await wt?.remove();
    fs.rmSync(ROOT, { recursive: true, force: true });
  });

  it('builds the base first on a cold tree, then the one-file series recompiles only that file; outputs the images', async () => {
    const head = await series(wt.master, 'exit: a comment', append('kernel/exit.c', '\n/* patchbay: first series */\n'));
    const r = await build(wt.master, 'first');
    assert.equal(r.status, 'pass', `${r.summary}\n${JSON.stringify(r.findings)}`);
    const o = r.outputs!;
    assert.equal(o.incremental, false);
    assert.equal(o.head, head);
    assert.equal(readTreeState(objDir)?.base?.split(' ')[0], wt.master);
    onlyTouched(r, ['kernel/exit.o']);
    assert.match(String(o.makeCommand), /^make O=\S+ ARCH=x86_64 'CC=ccache gcc' 'HOSTCC=ccache gcc' -j\d+$/);
    assert.match(String(o.toolchain), /^gcc \(Debian [^)]+\) \d+\.\d+\.\d+$/);
    assert.ok(fs.statSync(String(o.image)).size > 500_000, 'bzImage copied');
    assert.equal(path.basename(String(o.image)), 'bzImage');
    assert.match(fs.readFileSync(String(o.config), 'utf8'), /^CONFIG_EXT2_FS=y$/m);
    const ext2 = spawnSync('debugfs', ['-R', 'ls -p /lib/modules', String(o.modulesImage)], { encoding: 'utf8' });
    assert.match(ext2.stdout, /6\.1\.\d+/, 'modules_install is in the ext2 image');
    const hdr = spawnSync('debugfs', ['-R', 'stat /usr/include/linux/types.h', String(o.modulesImage)], { encoding: 'utf8' });
    assert.match(hdr.stdout, /Type: regular/, 'headers_install is in the ext2 image');
  });

  it('builds a second series incrementally on the warm tree: only the touched objects', async () => {
    await series(wt.master, 'panic: a comment', append('kernel/panic.c', '\n/* patchbay: second series */\n'));
    const r = await build(wt.master, 'second');
    assert.equal(r.status, 'pass', r.summary);
    assert.equal(r.outputs!.incremental, true);
    // exit.c went back to the base when the tree was reset, so it is rebuilt too.
    onlyTouched(r, ['kernel/panic.o', 'kernel/exit.o']);
  });

  it('fails on a compile error, quoting file:line:column and the source line', async () => {
    await series(wt.master, 'exit: broken', append('kernel/exit.c', '\nint pb_broken(void);\nint pb_broken(void)\n{\n\treturn pb_nosuch;\n}\n'));
    const r = await build(wt.master, 'broken');
    assert.equal(r.status, 'fail');
    const e = r.findings[0]!;
    assert.equal(e.type, 'COMPILE_ERROR');
    assert.equal(e.level, 'error');
    assert.equal(e.file, 'kernel/exit.c');
    assert.match(e.message, /^kernel\/exit\.c:\d+:\d+: error: 'pb_nosuch' undeclared \(first use in this function\)$/);
    assert.ok(e.line! > 1000);
    assert.match(e.quote ?? '', /return pb_nosuch;/);
    assert.match(r.summary, /build failed/);
  });

  it('reports a new warning and not the warnings the base already had, even when the series moves them', async () => {
    const fn = (body: string) => `\nint pb_demo(int a);\nint pb_demo(int a)\n{\n${body}\treturn a;\n}\n`;
    const base = await series(wt.master, 'base with a warning', append('kernel/exit.c', fn('\tint pb_base_unused;\n')));
    const head = await series(base, 'series with another', () =>
      fs.writeFileSync(
        path.join(wt.path, 'kernel/exit.c'),
        fs.readFileSync(path.join(wt.path, 'kernel/exit.c'), 'utf8').replace('\tint pb_base_unused;\n', '\tint pb_new_unused;\n\n\tint pb_base_unused;\n'),
      ),
    );
    assert.ok(head);
    const r = await build(base, 'warning');
    assert.equal(r.status, 'warn', r.summary);
    const news = r.findings.filter((f) => f.type === 'NEW_WARNING');
    assert.equal(news.length, 1, JSON.stringify(r.findings));
    assert.equal(news[0]!.level, 'warning');
    assert.match(news[0]!.message, /^kernel\/exit\.c:\d+:\d+: warning: unused variable 'pb_new_unused' \[-Wunused-variable\]$/);
    assert.match(news[0]!.quote ?? '', /int pb_new_unused;/);
  });

  it("runs a Makefile's $(shell) in the sandbox: no write outside, no connection, nothing changed", async () => {
    const tag = crypto.randomBytes(4).toString('hex');
    const l = await listener();
    const outside = path.join(ROOT, `escape-${tag}`);
    try {
      const lines = [
        `PB_A := $(shell echo x > /tmp/escape-${tag}; echo $$? > $(objtree)/pb-tmp-rc)`,
        `PB_B := $(shell echo x > ${os.homedir()}/escape-${tag} 2>/dev/null; echo $$? > $(objtree)/pb-home-rc)`,
        // Beside the worktree: the sandbox's /tmp is its own, so this lands there (or nowhere) and vanishes with it.
        `PB_C := $(shell echo x > ${outside}; echo $$? > $(objtree)/pb-outside-rc)`,
        `PB_E := $(shell echo x > ${KERNEL_REPO}/escape-${tag} 2>/dev/null; echo $$? > $(objtree)/pb-mirror-rc)`,
        `PB_D := $(shell bash -c 'exec 3<>/dev/tcp/127.0.0.1/${l.port}' 2>/dev/null; echo $$? > $(objtree)/pb-net-rc)`,
      ];
      await series(wt.master, 'kernel: a hostile Makefile', append('kernel/Makefile', `\n${lines.join('\n')}\n`));
      const r = await build(wt.master, 'hostile');
      assert.ok(r.status === 'pass' || r.status === 'warn', r.summary);
      // The commands ran (they left their exit codes in the O= folder as the build saw it: the student's layer over
      // the warm tree) and failed where it matters.
      const seen = (name: string) => fs.readFileSync(path.join(studentLayer(objDir, 'student@example.org').upper, name), 'utf8').trim();
      assert.equal(fs.existsSync(path.join(objDir, 'pb-tmp-rc')), false, 'the warm tree is not written');
      assert.equal(seen('pb-tmp-rc'), '0', 'a private /tmp');
      assert.notEqual(seen('pb-home-rc'), '0');
      // Beside the worktree is a folder bubblewrap made in the private /tmp, not the build user's to write.
      assert.match(seen('pb-outside-rc'), /^\d+$/);
      assert.notEqual(seen('pb-mirror-rc'), '0', 'the mirror is read-only');
      assert.notEqual(seen('pb-net-rc'), '0');
      assert.equal(fs.existsSync(`/tmp/escape-${tag}`), false);
      assert.equal(fs.existsSync(path.join(os.homedir(), `escape-${tag}`)), false);
      assert.equal(fs.existsSync(outside), false);
      assert.equal(fs.existsSync(path.join(KERNEL_REPO, `escape-${tag}`)), false);
      assert.equal(l.connections(), 0);
    } finally {
      await l.close();
    }
  });

  it('is an infrastructure error when the cross compiler is missing', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    let r: StepResult;
    try {
      r = await build(wt.master, 'no-gcc');
    } finally {
      process.env.PATH = saved;
    }
    assert.equal(r.status, 'error');
    assert.match(r.summary, /toolchain for x86_64 missing: gcc is not installed/);
    const unknown = await buildStep(
      buildJob(),
      buildContext({
        worktree: wt.path,
        objDir,
        artifactsDir: path.join(ROOT, 'artifacts', 'sparc'),
        logPath: path.join(ROOT, 'logs', 'sparc.log'),
        baseCommit: wt.master,
        build: { ...spec, arch: 'sparc' },
      }),
    );
    assert.equal(unknown.status, 'error');
  });
});

describe('test programs for the guest', { skip: !kernelRepoAvailable() && 'no kernel repo (scripts/kernel-tree.sh)' }, () => {
  it('are cross-built once, then copied from the cache while the compiler, sources, nolibc and headers stay the same', async () => {
    const dir = tempDir('patchbay-programs-');
    // The kernel's nolibc, as the run's worktree has it.
    const tree = path.join(dir, 'tree');
    fs.mkdirSync(tree);
    const tar = spawnSync('git', ['-C', KERNEL_REPO, 'archive', '--format=tar', 'master', 'tools/include/nolibc'], { maxBuffer: 64 << 20 });
    assert.equal(tar.status, 0, String(tar.stderr));
    assert.equal(spawnSync('tar', ['-x', '-C', tree], { input: tar.stdout }).status, 0);
    const src = path.join(dir, 'programs');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'hello.c'), '#include <linux/lab.h>\nint main(void) { return LAB_ANSWER - 42; }\n');
    const headers = path.join(dir, 'headers');
    fs.mkdirSync(path.join(headers, 'linux'), { recursive: true });
    fs.writeFileSync(path.join(headers, 'linux', 'lab.h'), '#define LAB_ANSWER 42\n');
    const cacheDir = path.join(dir, 'cache');
    const opts = { tc: toolchainFor('x86_64')!, tree, headers, logPath: path.join(dir, 'programs.log'), runId: 0, timeoutMs: 120_000, cacheDir };
    const out = (n: number) => path.join(dir, `out-${n}`);

    const first = await buildPrograms(src, out(1), opts);
    assert.deepEqual([first.built, first.failed, first.cached], [['hello'], [], false]);
    const second = await buildPrograms(src, out(2), opts);
    assert.deepEqual([second.built, second.cached, second.childMs], [['hello'], true, 0]);
    assert.deepEqual(fs.readFileSync(path.join(out(2), 'hello')), fs.readFileSync(path.join(out(1), 'hello')));
    assert.ok(fs.statSync(path.join(out(2), 'hello')).mode & 0o100, 'executable');

    // The series changed an exported header: compiled again.
    fs.writeFileSync(path.join(headers, 'linux', 'lab.h'), '#define LAB_ANSWER (40 + 2)\n');
    const third = await buildPrograms(src, out(3), opts);
    assert.deepEqual([third.built, third.cached], [['hello'], false]);

    // A program that does not compile: reported, and nothing cached, so the next run compiles (and reports) again.
    fs.writeFileSync(path.join(src, 'broken.c'), 'int main(void) { return undefined_thing; }\n');
    const broken = await buildPrograms(src, out(4), opts);
    assert.deepEqual([broken.built, broken.failed.map((f) => f.name), broken.cached], [['hello'], ['broken'], false]);
    const again = await buildPrograms(src, out(5), opts);
    assert.deepEqual([again.failed.map((f) => f.name), again.cached], [['broken'], false]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

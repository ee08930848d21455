// The build sandbox against hostile series (issue 11 §4), each a real attack through the build step on a tree that
// builds like Linux in milliseconds (test/helpers/mini-kbuild.ts): a symlinked kernel image, symlinks at the names
// of the markers, a build that writes into the ccache and the warm object tree, a fork bomb, a memory bomb, and the
// files the host takes from the worktree (a test definition, the test programs' headers). Each shows that nothing
// outside is read or written (patchbay's database beside the trees stays as it was, the warm tree and the ccache
// are byte for byte what the trusted base build left), that the next build is unaffected (another student's image is
// the clean one), and, for the bombs, that the host answers throughout and the build is stopped at once.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { artifactFile, listArtifacts } from '../../src/pipeline/artifacts.js';
import { buildPrograms } from '../../src/pipeline/guest/programs.js';
import { readDefinition, takeStudentFile } from '../../src/pipeline/guest/tests-disk.js';
import { studentKey, studentLayer } from '../../src/pipeline/object-tree.js';
import { ccacheLayersRoot, claimCcacheLayer } from '../../src/pipeline/student-ccache.js';
import { sandboxHost } from '../../src/pipeline/sandbox-runner.js';
import { buildStep, type BuildStepOptions } from '../../src/pipeline/steps/build.step.js';
import { toolchainFor } from '../../src/pipeline/toolchains.js';
import type { StepResult } from '../../src/pipeline/types.js';
import { tempDir } from '../helpers/dirs.js';
import { applySeries, miniBuild, miniKbuild, SECRET_TEXT, treeDigest, type MiniTree, type SeriesFile } from '../helpers/mini-kbuild.js';

const host = sandboxHost();
const ready = host.root && !host.problems.length && host.user !== null;
const CLEAN: Record<string, SeriesFile> = { 'kernel/fork.c': 'int mini_fork(void) { return 3; }\n' };

/** A series whose build runs `recipe` (make syntax, one command a line) after the image is linked. */
const attack = (recipe: string[]): Record<string, SeriesFile> => ({
  ...CLEAN,
  'kernel/Makefile.series': `all: pb-attack\npb-attack: $(IMAGE)\n${recipe.map((l) => `\t${l}`).join('\n')}\n.PHONY: pb-attack\n`,
});

/** An HTTP server of this process and a client asking it every 50 ms, plus the timer's lag: the host's answer times. */
async function probe(): Promise<{ stop(): Promise<{ answers: number; worstMs: number; worstLagMs: number }> }> {
  const server = http.createServer((_, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  let answers = 0;
  let worstMs = 0;
  let worstLagMs = 0;
  let running = true;
  let last = performance.now();
  const timer = setInterval(() => {
    const t = performance.now();
    worstLagMs = Math.max(worstLagMs, t - last - 10);
    last = t;
  }, 10);
  const client = (async () => {
    while (running) {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      await res.text();
      worstMs = Math.max(worstMs, performance.now() - t);
      answers++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await client;
      clearInterval(timer);
      await new Promise<void>((r) => server.close(() => r()));
      return { answers, worstMs, worstLagMs };
    },
  };
}

/** Processes of the build user whose command line holds `tag` (what is left of a bomb: the sandbox must leave none). */
function leftOver(tag: string): string[] {
  const r = spawnSync('pgrep', ['-a', '-u', String(host.user!.uid), '-f', tag], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

describe('build sandbox against a hostile series', { skip: !ready && `needs root and the sandbox tools (${host.problems.join('; ') || 'not root'})` }, () => {
  let t: MiniTree;
  /** The image a clean series gives, and the state the trusted base build left. */
  let reference: Buffer;
  let warmTree: string;
  let ccache: string;
  let secretMtime: number;

  const build = async (files: Record<string, SeriesFile>, email: string, opts: BuildStepOptions = {}): Promise<{ r: StepResult; artifacts: string; runId: number; log: string; ms: number }> => {
    applySeries(t, files);
    const { job, ctx } = miniBuild(t, email);
    const started = performance.now();
    const r = await buildStep(job, ctx, opts);
    return { r, artifacts: ctx.artifactsDir, runId: job.runId, log: fs.readFileSync(ctx.logPath, 'utf8'), ms: performance.now() - started };
  };
  /** Nothing of ours was read into the artefacts, nothing written: the database, the warm tree, the ccache. */
  const untouched = (artifacts?: string) => {
    assert.equal(fs.readFileSync(t.secret, 'utf8'), SECRET_TEXT, 'the database beside the trees is unchanged');
    assert.equal(fs.statSync(t.secret).mtimeMs, secretMtime);
    assert.equal(treeDigest(t.objDir), warmTree, 'the warm tree is as the base build left it');
    assert.equal(treeDigest(t.ccache), ccache, 'the ccache is as the base build left it');
    if (artifacts) for (const f of fs.readdirSync(artifacts)) assert.ok(!fs.readFileSync(path.join(artifacts, f)).includes('patchbay secret'), `${f} holds nothing of ours`);
  };
  /** Another student's clean series: passes, and links exactly the clean image. */
  const nextBuildUnaffected = async () => {
    const next = await build(CLEAN, `next-${Date.now()}@students.example.org`);
    assert.equal(next.r.status, 'pass', next.r.summary);
    assert.deepEqual(fs.readFileSync(path.join(next.artifacts, 'bzImage')), reference);
  };

  before(async () => {
    t = miniKbuild();
    const first = await build(CLEAN, 'teacher@example.org');
    assert.equal(first.r.status, 'pass', `${first.r.summary}\n${first.log}`);
    reference = fs.readFileSync(path.join(first.artifacts, 'bzImage'));
    warmTree = treeDigest(t.objDir);
    ccache = treeDigest(t.ccache);
    secretMtime = fs.statSync(t.secret).mtimeMs;
    assert.ok(warmTree.includes('kernel/fork.o'), 'the base build filled the warm tree');
  });

  after(() => {
    if (t && !process.env.PATCHBAY_KEEP_SANDBOX_TEST) fs.rmSync(t.data, { recursive: true, force: true });
  });

  it('does not take a symlinked kernel image or one reached through a symlinked folder: nothing of ours is served', async () => {
    const tricks = [
      // The image made a symlink to our database (hidden in the sandbox, so the link dangles there).
      [`ln -sf ${t.secret} $(IMAGE)`],
      // …to a file the sandbox can read, still not the build's own file.
      ['ln -sf /etc/passwd $(IMAGE)'],
      // The image's folder made a symlink to a folder holding a regular bzImage.
      ['mkdir -p $(obj)/elsewhere', 'cp /etc/passwd $(obj)/elsewhere/bzImage', 'rm -rf $(obj)/arch/x86/boot', 'ln -s $(obj)/elsewhere $(obj)/arch/x86/boot'],
    ];
    for (const [i, recipe] of tricks.entries()) {
      const { r, artifacts, runId } = await build(attack(recipe), `mallory-${i}@students.example.org`);
      assert.equal(r.status, 'fail', r.summary);
      assert.equal(r.findings[0]?.type, 'OUTPUT_NOT_REGULAR', JSON.stringify(r.findings));
      assert.equal(fs.existsSync(path.join(artifacts, 'bzImage')), false);
      assert.equal(artifactFile(t.data, runId, 'x86_64/bzImage'), null, 'nothing served at /runs/R/artifacts/x86_64/bzImage');
      assert.deepEqual(listArtifacts(t.data, runId), []);
      untouched(artifacts);
    }
    await nextBuildUnaffected();
  });

  it("never reads or writes through symlinks a build plants at the markers' names", async () => {
    const names = ['.patchbay-base', '.patchbay-base-warnings.json', '.patchbay-config', '.patchbay-sources.json', '.patchbay-fragments', '.patchbay-staging'];
    const recipe = [
      ...names.map((n) => `ln -sfn ${t.secret} $(obj)/${n}`),
      // Beside the tree, where the host keeps its records: not the build user's to write, and hidden.
      `ln -sfn ${t.secret} $(obj).patchbay/state.json || true`,
      `echo planted > $(obj)/../x86_64-planted || true`,
    ];
    for (const round of [1, 2]) {
      const { r, artifacts } = await build(attack(recipe), 'marker@students.example.org');
      assert.equal(r.status, 'pass', `round ${round}: ${r.summary}`);
      untouched(artifacts);
    }
    assert.equal(fs.existsSync(path.join(path.dirname(t.objDir), 'x86_64-planted')), false);
    // The build saw its symlinks: they are in its own layer, which no other build uses.
    const layer = studentLayer(t.objDir, 'marker@students.example.org').upper;
    assert.equal(fs.readlinkSync(path.join(layer, '.patchbay-sources.json')), t.secret);
    await nextBuildUnaffected();
  });

  it("keeps the warm tree and the ccache as the base build left them when a series writes into both; the next student's image is clean", async () => {
    const recipe = [
      // The shared compiler cache, as the series' build sees it: the submitter's own layer over the shared folder.
      'echo poison > $(CCACHE_DIR)/poison 2>/dev/null; echo "ccache-write=$$?"',
      'mkdir -p $(CCACHE_DIR)/0/0 2>/dev/null; echo "ccache-mkdir=$$?"',
      'ccache -M 1 >/dev/null 2>&1; echo "ccache-config=$$?"',
      // The warm tree: an object every build links, replaced and dated in the future so make would keep it.
      'printf POISON > $(obj)/kernel/exit.o; touch -d 2030-01-01 $(obj)/kernel/exit.o; echo "tree-write=$$?"',
      // The series build's own ccache stats log made a folder with a link to our database inside.
      `rm -f $(obj)/.series-ccache-stats.log; mkdir $(obj)/.series-ccache-stats.log; ln -s ${t.secret} $(obj)/.series-ccache-stats.log/db`,
      'cat $(obj)/kernel/*.o > $(IMAGE)',
    ];
    const { r, log } = await build(attack(recipe), 'poisoner@students.example.org');
    assert.equal(r.status, 'pass', r.summary);
    assert.match(log, /ccache-write=0/, 'the build could write its view of the cache: its own layer');
    assert.match(log, /tree-write=0/, 'the build could write its view of the tree: its own layer');
    untouched();
    // The poison is the attacker's alone: in their object layer and their cache layer, nowhere else.
    assert.equal(fs.readFileSync(path.join(studentLayer(t.objDir, 'poisoner@students.example.org').upper, 'kernel/exit.o'), 'utf8'), 'POISON');
    const cacheLayer = path.join(ccacheLayersRoot(t.ccache), studentKey('poisoner@students.example.org'), 'upper');
    assert.equal(fs.readFileSync(path.join(cacheLayer, 'poison'), 'utf8'), 'poison\n');
    assert.ok(fs.existsSync(path.join(cacheLayer, '0/0')));
    await nextBuildUnaffected();
    // The poisoner's next build removes what they left at the stats log's name, and follows nothing in it.
    const next = await build(CLEAN, 'poisoner@students.example.org');
    assert.equal(next.r.status, 'pass', `${next.r.summary}\n${next.log}`);
    untouched();
  });

  it("finds a submitter's own compilations again in their cache layer, and only theirs; a second build of theirs at once reads the shared cache only", async () => {
    const own = `layered-${process.pid}@students.example.org`;
    const other = `other-${process.pid}@students.example.org`;
    // Content no build compiled before: a miss for whoever compiles it first.
    const series: Record<string, SeriesFile> = { 'kernel/fork.c': `int mini_fork(void) { return ${process.pid % 1000} + 4; }\n` };
    const first = await build(series, own);
    assert.equal(first.r.status, 'pass', first.r.summary);
    assert.equal(first.r.outputs?.ccacheMisses, 1, first.log);
    // Another submitter does not see it: compiled again.
    const second = await build(series, other);
    assert.equal(second.r.outputs?.ccacheMisses, 1, second.log);
    // The first submitter's object layer gone (another base, a pruned layer): their cache layer still has it.
    fs.rmSync(studentLayer(t.objDir, own).dir, { recursive: true, force: true });
    const again = await build(series, own);
    assert.equal(again.r.status, 'pass', again.r.summary);
    assert.equal(again.r.outputs?.ccacheMisses, 0, again.log);
    assert.ok(Number(again.r.outputs?.ccacheHits) >= 1, again.log);
    untouched();
    // Held by another build of theirs (here: this process, until a minute from now): the shared cache, read-only.
    const held = claimCcacheLayer(t.ccache, other, { uid: host.user!.uid, gid: host.user!.gid }, Date.now() + 60_000)!;
    try {
      const before = treeDigest(held.upper);
      fs.rmSync(studentLayer(t.objDir, other).dir, { recursive: true, force: true });
      const busy = await build({ 'kernel/fork.c': `int mini_fork(void) { return ${process.pid % 1000} + 5; }\n` }, other);
      assert.equal(busy.r.status, 'pass', busy.r.summary);
      assert.match(busy.log, /ccache layer is in use by another build/);
      assert.equal(treeDigest(held.upper), before, 'nothing written into the layer held');
    } finally {
      held.release();
    }
    untouched();
  });

  it('stops a fork bomb at the process cap at once; the host answers throughout; the next build is unaffected', async () => {
    const p = await probe();
    const tag = `pb-bomb-${process.pid}`;
    const { r, ms, log } = await build(attack([`sh -c 'b() { b | b & }; b' ${tag}; sleep 600`]), 'forker@students.example.org', { limits: { processes: 64 } });
    const seen = await p.stop();
    assert.equal(r.status, 'fail', r.summary);
    assert.equal(r.findings[0]?.type, 'PROCESS_LIMIT', JSON.stringify(r.findings));
    assert.ok(ms < 60_000, `stopped at once, not at the step's timeout (${Math.round(ms)} ms)`);
    assert.ok(seen.answers > 0 && seen.worstMs < 1000, `the host answered within 1 s throughout (${JSON.stringify(seen)})`);
    assert.deepEqual(leftOver(tag), [], 'nothing of the bomb is left');
    assert.doesNotMatch(log, /the control group still holds processes/);
    untouched();
    await nextBuildUnaffected();
  });

  it('stops a memory bomb at the memory cap at once; the host answers throughout; the next build is unaffected', async () => {
    const p = await probe();
    const tag = `pb-hog-${process.pid}`;
    const bomb = `perl -e 'my @a; push @a, "x" x (1 << 20) while 1' ${tag}; sleep 600`;
    const { r, ms, log } = await build(attack([bomb]), 'hog@students.example.org', { limits: { memoryBytes: 256 * 1024 ** 2 } });
    const seen = await p.stop();
    assert.equal(r.status, 'fail', r.summary);
    assert.equal(r.findings[0]?.type, 'MEMORY_LIMIT', JSON.stringify(r.findings));
    assert.ok(ms < 60_000, `stopped at once (${Math.round(ms)} ms)`);
    assert.ok(seen.answers > 0 && seen.worstMs < 1000, `the host answered within 1 s throughout (${JSON.stringify(seen)})`);
    assert.deepEqual(leftOver(tag), []);
    assert.doesNotMatch(log, /the control group still holds processes/);
    untouched();
    await nextBuildUnaffected();
  });

  it("takes a series' test definition only as a regular file, never through a symlink", () => {
    applySeries(t, { 'tools/testing/t.yaml': { symlink: t.secret }, 'tools/testing/ok.yaml': 'metadata: {}\n' });
    const dest = tempDir('patchbay-student-tests-');
    const bad = takeStudentFile(t.worktree, 'tools/testing/t.yaml', dest);
    assert.match(bad.problem ?? '', /symlink/);
    assert.equal(fs.existsSync(bad.path), false);
    const def = readDefinition({ name: 't', origin: 'student', ...bad }, 1);
    assert.match(def.problem ?? '', /symlink/, "the test step reports it as the student's");
    const good = takeStudentFile(t.worktree, 'tools/testing/ok.yaml', dest);
    assert.equal(good.problem, undefined);
    assert.equal(fs.readFileSync(good.path, 'utf8'), 'metadata: {}\n');
    untouched();
  });

  it("compiles the test programs in the sandbox: a nolibc header the series made a symlink to our database quotes nothing of it", async () => {
    applySeries(t, { 'tools/include/nolibc/nolibc.h': { symlink: t.secret } });
    const src = tempDir('patchbay-programs-src-');
    fs.writeFileSync(path.join(src, 'hello.c'), 'int main(void) { return 0; }\n');
    const out = path.join(tempDir('patchbay-programs-out-'), 'bin');
    const built = await buildPrograms(src, out, { tc: toolchainFor('x86_64')!, tree: t.worktree, headers: null, logPath: path.join(t.data, 'logs', 'programs.log'), runId: 0, timeoutMs: 60_000, privateDirs: [t.data] });
    assert.deepEqual(built.built, []);
    assert.equal(built.failed.length, 1);
    assert.ok(!built.failed[0]!.output.includes('patchbay secret'), built.failed[0]!.output);
    assert.ok(!fs.readFileSync(path.join(t.data, 'logs', 'programs.log'), 'utf8').includes('patchbay secret'));
    untouched();
  });
});

// A tree that builds like Linux for the build step, in milliseconds: `make O=DIR` with kbuild's `  CC` lines,
// tinyconfig/olddefconfig, scripts/kconfig/merge_config.sh -m, an x86 bzImage (the objects, concatenated), and
// modules_install/headers_install; objects compiled with $(CC) (`ccache gcc`, so the ccache is really used). A series
// adds kernel/Makefile.series (included by the Makefile) to run whatever it likes during the build, as a hostile
// Kbuild or Kconfig would. Laid out as patchbay lays out a data folder: a bare mirror, a worktree slot of it, the
// warm object tree of slot 0, a ccache of its own, and a database file beside them (the secret a build must not reach).
import fs from 'node:fs';
import path from 'node:path';
import { configHash } from '../../src/pipeline/kconfig.js';
import type { BuildContext, BuildSpec, Job } from '../../src/pipeline/types.js';
import { tempDir } from './dirs.js';
import { git } from './small-tree.js';

const MAKEFILE = `# A tree that builds like Linux for patchbay's tests: make O=DIR [ARCH= CC= HOSTCC= -jN] [target]
O ?= .
obj := $(abspath $(O))
IMAGE := $(obj)/arch/x86/boot/bzImage
SRCS := $(sort $(wildcard kernel/*.c))
OBJS := $(SRCS:%.c=$(obj)/%.o)

all: $(IMAGE)
$(obj)/%.o: %.c $(obj)/.config
\t@mkdir -p $(dir $@)
\t@echo '  CC      $*.o'
\t@$(CC) -c -o $@ $<
$(IMAGE): $(OBJS)
\t@mkdir -p $(dir $@)
\t@cat $(OBJS) > $@
tinyconfig defconfig:
\t@mkdir -p $(obj)
\t@printf 'CONFIG_MINI=y\\n' > $(obj)/.config
olddefconfig:
\t@test -f $(obj)/.config
modules_install:
\t@mkdir -p $(INSTALL_MOD_PATH)/lib/modules/6.1.0-mini
\t@echo module > $(INSTALL_MOD_PATH)/lib/modules/6.1.0-mini/mini.ko
headers_install:
\t@mkdir -p $(INSTALL_HDR_PATH)/include/linux $(INSTALL_HDR_PATH)/include/asm
\t@echo '#define MINI 1' > $(INSTALL_HDR_PATH)/include/linux/mini.h
.PHONY: all tinyconfig defconfig olddefconfig modules_install headers_install
-include kernel/Makefile.series
`;

const MERGE_CONFIG = `#!/bin/sh
# merge_config.sh -m -O DIR BASE FRAGMENT...: appends the fragments to BASE (the -m mode of Linux's script)
[ "$1" = -m ] && shift
[ "$1" = -O ] && shift 2
base=$1; shift
for f; do cat "$f" >> "$base"; done
`;

export interface MiniTree {
  /** The data folder: trees/, work/, build/, ccache/, artifacts/, and patchbay.sqlite. */
  data: string;
  /** The bare mirror. */
  mirror: string;
  /** Worktree slot 0 of the mirror, detached at `base`. */
  worktree: string;
  base: string;
  /** The warm object tree of slot 0. */
  objDir: string;
  ccache: string;
  /** A file of ours a build must never read or write (patchbay's database). */
  secret: string;
  spec: BuildSpec;
}

export const SECRET_TEXT = 'SQLite format 3\0patchbay secret: users, sessions, every mail\n';

/** `sources`: that many more files in kernel/ (each its own compilation), for figures over more than two objects. */
export function miniKbuild(opts: { sources?: number } = {}): MiniTree {
  const data = tempDir('patchbay-mini-kbuild-');
  const src = path.join(data, 'src');
  fs.mkdirSync(path.join(src, 'kernel'), { recursive: true });
  fs.mkdirSync(path.join(src, 'scripts/kconfig'), { recursive: true });
  fs.writeFileSync(path.join(src, 'Makefile'), MAKEFILE);
  fs.writeFileSync(path.join(src, 'scripts/kconfig/merge_config.sh'), MERGE_CONFIG, { mode: 0o755 });
  fs.writeFileSync(path.join(src, 'kernel/fork.c'), 'int mini_fork(void) { return 1; }\n');
  fs.writeFileSync(path.join(src, 'kernel/exit.c'), 'int mini_exit(void) { return 2; }\n');
  for (let i = 0; i < (opts.sources ?? 0); i++) fs.writeFileSync(path.join(src, `kernel/extra-${i}.c`), `int mini_extra_${i}(void) { return ${i}; }\n`);
  git(src, 'init', '-q', '-b', 'master');
  git(src, 'add', '-A');
  git(src, '-c', 'user.name=patchbay', '-c', 'user.email=patchbay@localhost', 'commit', '-q', '-m', 'A tree that builds like Linux');
  const mirror = path.join(data, 'trees', 'mini.git');
  fs.mkdirSync(path.dirname(mirror), { recursive: true });
  git(data, 'clone', '-q', '--mirror', src, mirror);
  fs.rmSync(src, { recursive: true, force: true });
  const worktree = path.join(data, 'work', 'mini', '0');
  fs.mkdirSync(path.dirname(worktree), { recursive: true });
  git(mirror, 'worktree', 'add', '-q', '--detach', worktree, 'master');
  const base = git(worktree, 'rev-parse', 'HEAD').trim();
  const secret = path.join(data, 'patchbay.sqlite');
  fs.writeFileSync(secret, SECRET_TEXT);
  const spec: BuildSpec = { key: 'x86_64', arch: 'x86_64', base: 'tinyconfig', fragments: [], lava: false };
  const objDir = path.join(data, 'build', 'mini', 'slot-0', `x86_64-${configHash(spec).slice(0, 12)}`);
  return { data, mirror, worktree, base, objDir, ccache: path.join(data, 'ccache'), secret, spec };
}

/** A file of a series: its content, or a symlink to `symlink`. */
export type SeriesFile = string | { symlink: string };

/** Commits `files` on the base in the worktree, as git am leaves a series: HEAD = the series, the tree clean. */
export function applySeries(t: MiniTree, files: Record<string, SeriesFile>, message = 'a series'): string {
  git(t.worktree, 'checkout', '--detach', '-f', '-q', t.base);
  git(t.worktree, 'clean', '-ffdxq');
  for (const [name, f] of Object.entries(files)) {
    const p = path.join(t.worktree, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.rmSync(p, { force: true });
    if (typeof f === 'string') fs.writeFileSync(p, f);
    else fs.symlinkSync(f.symlink, p);
  }
  git(t.worktree, 'add', '-A');
  git(t.worktree, 'commit', '-q', '-m', message);
  return git(t.worktree, 'rev-parse', 'HEAD').trim();
}

let runs = 0;

/** The job and context the engine would give the build step, for a series sent by `email`. */
export function miniBuild(t: MiniTree, email: string, o: { timeoutMs?: number } = {}): { job: Job; ctx: BuildContext } {
  const runId = ++runs;
  const artifactsDir = path.join(t.data, 'artifacts', `run-${runId}`, 'x86_64');
  const logPath = path.join(t.data, 'logs', `run-${runId}-build.log`);
  fs.mkdirSync(artifactsDir, { recursive: true });
  fs.mkdirSync(path.dirname(logPath), { recursive: true });
  const job: Job = {
    runId,
    project: { slug: 'mini', name: 'Mini', branch: 'master', checkpatch: { enabled: false, ignore: [], options: [], warnings: 'warn' }, testDescription: null },
    series: { id: runId, name: 'a series', version: 1, total: 1, baseCommit: null, submitter: { name: null, email }, patches: [] },
  };
  const ctx: BuildContext = {
    logPath,
    mirror: t.mirror,
    worktree: t.worktree,
    previous: {},
    timeoutMs: o.timeoutMs ?? 300_000,
    build: t.spec,
    objDir: t.objDir,
    ccacheDir: t.ccache,
    artifactsDir,
    jobs: 2,
    baseCommit: t.base,
    privateDirs: [t.data],
  };
  return { job, ctx };
}

/** Every file, link and folder below `dir` with its content (or target) and mode: equal before and after = untouched. */
export function treeDigest(dir: string): string {
  const lines: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = path.join(rel, e.name);
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      if (e.isSymbolicLink()) lines.push(`${r} -> ${fs.readlinkSync(p)}`);
      else if (e.isDirectory()) {
        lines.push(`${r}/ ${st.mode.toString(8)}`);
        walk(r);
      } else lines.push(`${r} ${st.mode.toString(8)} ${st.size} ${fs.readFileSync(p).toString('base64')}`);
    }
  };
  if (fs.existsSync(dir)) walk('');
  return lines.join('\n');
}

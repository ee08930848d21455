// The sandbox for code a student controls (issue 6 §3, issue 11 §4): a kernel Makefile or Kconfig (`$(shell …)`) runs
// whatever it likes on our machine, so builds, configs and test-program builds run inside bubblewrap: the whole
// filesystem read-only, a private /tmp (sized), home folders and the data folder hidden, only the named folders
// writable, no network (an empty network namespace: not even the host's loopback), own pid/ipc/uts namespaces, no
// capabilities, a clean environment, per-process limits (prlimit: CPU seconds, address space, file size, no core
// dumps) plus a cap on the bytes of output. Around bubblewrap, when we are root: the command first joins its control
// groups (./cgroup.ts: process and memory caps for the whole command), `overlays` are mounted over the warm object
// tree and the shared ccache in a mount namespace of its own (the build writes upper folders of ours; the tree and
// the cache stay as the trusted base build left them), and inside, setpriv drops to the unprivileged build user (no capabilities, no new
// privileges; RLIMIT_NPROC exempts only uid 0). `sandboxed()` only builds the command line; ./sandbox-runner.ts runs
// it with the caps and watches them; runTool's timeout kills bwrap and with it the whole pid namespace
// (--die-with-parent).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SandboxLimits {
  /** RLIMIT_CPU of each process, seconds. */
  cpuSeconds: number;
  /** RLIMIT_AS of each process, bytes. */
  addressSpaceBytes: number;
  /** RLIMIT_FSIZE: largest file a process may write, bytes. */
  fileSizeBytes: number;
  /** The combined stdout+stderr is cut after this many bytes (the command then dies of SIGPIPE). */
  outputBytes: number;
  /** Processes at once of the whole command (its cgroup's pids.max; without one, RLIMIT_NPROC of the build user). */
  processes: number;
  /** Memory of the whole command (its cgroup: page cache and the private /tmp included, no swap); /tmp's size. */
  memoryBytes: number;
  /** The command's CPU weight, as so many processes (its cpu cgroup): make -jN's N, however many it forks. */
  cpuProcesses: number;
}

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = {
  // A kernel compile unit takes seconds; a link of a small config well under a minute.
  cpuSeconds: 900,
  // cc1 of the biggest kernel files stays far below; ld of vmlinux too.
  addressSpaceBytes: 4 * 1024 ** 3,
  // vmlinux of a small config is 20–90 MB; with debug info a few hundred.
  fileSizeBytes: 2 * 1024 ** 3,
  // A full tinyconfig build log is about 60 KB; a warning storm of a big config a few MB.
  outputBytes: 16 * 1024 ** 2,
  // make -j16 with its shells, compilers and assemblers stays under 200; a fork bomb hits this in milliseconds.
  processes: 512,
  // A tinyconfig build at -j2 peaks below 1 GiB; cc1 of a big file at -O2 takes a few hundred MB per job.
  memoryBytes: 4 * 1024 ** 3,
  cpuProcesses: 1,
};

/** The unprivileged user builds run as (setpriv inside bubblewrap). */
export interface SandboxUser {
  name: string;
  uid: number;
  gid: number;
}

/** An overlay mounted over `lower` for the command: it sees `lower` writable, its writes land in `upper`. */
export interface SandboxOverlay {
  lower: string;
  upper: string;
  /** overlayfs's work folder: empty, on the same filesystem as `upper`. */
  work: string;
}

export interface SandboxOptions {
  /** Folders the command may write (bound read-write at the same path). Everything else is read-only or private. */
  writable: string[];
  /** Folders bound read-only at the same path: the worktree, the mirror, and folders inside hidden ones. */
  readable?: string[];
  /** Folders replaced by an empty read-only folder (default: HIDDEN_DIRS and the user's home). */
  hide?: string[];
  /** Each mounted over its `lower` before bubblewrap starts (root only); each `lower` must also be in `writable`. */
  overlays?: SandboxOverlay[] | undefined;
  /** Run as this user (setpriv; needs root). Without one, the command runs as we do. */
  user?: SandboxUser | null | undefined;
  /** cgroup.procs files the command's first process joins before anything else runs (./cgroup.ts). */
  cgroupProcs?: string[] | undefined;
  /** Also cap the processes with RLIMIT_NPROC (at limits.processes): for a non-root user without a pids cgroup. */
  nproc?: boolean | undefined;
  /** Working directory inside the sandbox (a path that exists there, typically one of `writable`). */
  cwd: string;
  /** Environment inside the sandbox: exactly these variables (nothing of ours leaks in). */
  env: Record<string, string>;
  limits?: Partial<SandboxLimits>;
}

/** Folders a build has no business reading: home folders (keys, tokens, the data of a default install). */
export const HIDDEN_DIRS = ['/root', '/home'];
/** Files hidden by an empty file. */
export const HIDDEN_FILES = ['/etc/shadow', '/etc/gshadow'];

/** Copies stdin to stdout as it comes, up to N bytes, then exits (the writer then dies of SIGPIPE). */
const OUTPUT_CAP = '$n=shift; while ($n > 0) { $r = sysread(STDIN, $b, 65536); last unless $r; $b = substr($b, 0, $n) if $r > $n; syswrite(STDOUT, $b); $n -= length $b }';

/** Joins each cgroup.procs given before `--` (the shell's own pid, kept by exec), then execs the rest. */
const ENTER_CGROUPS =
  'while [ "$1" != -- ]; do echo $$ > "$1" || { echo "patchbay-sandbox: cannot join the control group $1" >&2; exit 125; }; shift; done; shift; exec "$@"';
/** Mounts each overlay given before `--` (lower, upper, work) in this (private) mount namespace, then execs the rest. */
const MOUNT_OVERLAYS =
  'while [ "$1" != -- ]; do mount -t overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" patchbay "$1" || { echo "patchbay-sandbox: cannot mount the overlay on $1" >&2; exit 125; }; shift 3; done; shift; exec "$@"';

/** overlayfs takes its folders in one comma- and colon-separated option string: those it can be given. */
export function overlayable(p: string): boolean {
  return path.isAbsolute(p) && !/[,:\\\n]/.test(p);
}

/** Makes an overlay's folders ready: the upper one (kept) `owner`'s, who writes it through the overlay; work empty. */
export function readyOverlayFolders(o: Pick<SandboxOverlay, 'upper' | 'work'>, owner: { uid: number; gid: number } | null): void {
  fs.mkdirSync(o.upper, { recursive: true });
  fs.rmSync(o.work, { recursive: true, force: true });
  fs.mkdirSync(o.work, { recursive: true, mode: 0o700 });
  if (owner) fs.chownSync(o.upper, owner.uid, owner.gid);
}

function overlayPath(p: string): string {
  if (!overlayable(p)) throw new Error(`cannot mount an overlay with the folder ${JSON.stringify(p)} (absolute, without , : \\ or newline)`);
  return p;
}

/**
 * The folders to cover with an empty tmpfs: existing ones, outermost only (one inside another is covered with it), and
 * none in /tmp, which is private and empty already.
 */
function hiddenDirs(dirs: string[]): string[] {
  const all = [...new Set(dirs.map((d) => path.resolve(d)))].filter((d) => d !== '/' && d !== '/tmp' && !d.startsWith('/tmp/') && fs.existsSync(d));
  return all.filter((d) => !all.some((o) => o !== d && d.startsWith(o + path.sep))).sort();
}

/** The folders strictly between `root` and `dest`, outermost first. */
function between(root: string, dest: string): string[] {
  const out: string[] = [];
  for (let d = path.dirname(dest); d !== root && d.startsWith(root + path.sep); d = path.dirname(d)) out.unshift(d);
  return out;
}

/** The command line that runs `cmd args` in the sandbox: `{cmd, args}` (bwrap, or the wrappers around it). */
export function sandboxed(cmd: string, args: string[], opts: SandboxOptions): { cmd: string; args: string[] } {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const hide = hiddenDirs([...(opts.hide ?? HIDDEN_DIRS), os.homedir()]);
  const b: string[] = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--size', String(limits.memoryBytes), '--perms', '1777', '--tmpfs', '/tmp'];
  for (const d of hide) b.push('--tmpfs', d);
  for (const f of HIDDEN_FILES) b.push('--ro-bind-try', '/dev/null', f);
  // Mount points inside the private /tmp and the hiding tmpfs are made by bubblewrap, 0700 unless told: the build
  // user must be able to walk down to its folders.
  const roots = ['/tmp', ...hide].sort((x, y) => y.length - x.length);
  const made = new Set<string>();
  const mountPoint = (dest: string) => {
    const root = roots.find((r) => dest.startsWith(r + path.sep));
    if (!root) return;
    for (const d of between(root, dest)) {
      if (made.has(d)) continue;
      made.add(d);
      b.push('--perms', '0755', '--dir', d);
    }
  };
  for (const d of (opts.readable ?? []).map((x) => path.resolve(x))) {
    mountPoint(d);
    b.push('--ro-bind', d, d);
  }
  for (const d of opts.writable.map((x) => path.resolve(x))) {
    mountPoint(d);
    b.push('--bind', d, d);
  }
  // The hiding tmpfs become read-only once the binds inside them have their mount points.
  for (const d of hide) b.push('--remount-ro', d);
  b.push('--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--hostname', 'patchbay-sandbox', '--cap-drop', 'ALL');
  // setpriv needs these three to switch user and empty its bounding set; it then drops them for good.
  if (opts.user) b.push('--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_SETPCAP');
  b.push('--die-with-parent', '--new-session', '--clearenv');
  for (const [k, v] of Object.entries(opts.env)) b.push('--setenv', k, v);
  b.push('--chdir', opts.cwd, '--');
  if (opts.user) {
    const u = opts.user;
    b.push('setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--');
  }
  // prlimit sets the per-process limits; sh merges stdout and stderr, caps them with OUTPUT_CAP (head -c and dd
  // count_bytes buffer or stop early on a pipe, so a few lines of perl) and still exits with the command's status,
  // passed out of the pipeline on fd 4, which the command itself does not get.
  const script = `exec 3>&1; rc=$( { { "$@" 2>&1 3>&- 4>&-; echo $? >&4; } | perl -e '${OUTPUT_CAP}' ${limits.outputBytes} >&3; } 4>&1 ); exit \${rc:-1}`;
  b.push(
    'prlimit',
    `--cpu=${limits.cpuSeconds}`,
    `--as=${limits.addressSpaceBytes}`,
    `--fsize=${limits.fileSizeBytes}`,
    '--core=0',
    ...(opts.nproc ? [`--nproc=${limits.processes}`] : []),
    '--',
    'sh',
    '-c',
    script,
    'sh',
    cmd,
    ...args,
  );
  let line = ['bwrap', ...b];
  if (opts.overlays?.length) {
    const writable = opts.writable.map((x) => path.resolve(x));
    const folders = opts.overlays.flatMap((o) => {
      if (!writable.includes(path.resolve(o.lower))) throw new Error(`the overlay's folder ${o.lower} must be writable in the sandbox`);
      return [overlayPath(o.lower), overlayPath(o.upper), overlayPath(o.work)];
    });
    line = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', MOUNT_OVERLAYS, 'sh', ...folders, '--', ...line];
  }
  if (opts.cgroupProcs?.length) line = ['sh', '-c', ENTER_CGROUPS, 'sh', ...opts.cgroupProcs, '--', ...line];
  return { cmd: line[0]!, args: line.slice(1) };
}

/** A minimal environment for sandboxed commands: PATH, a C locale, HOME in the private /tmp, plus `extra`. */
export function sandboxEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin',
    LC_ALL: 'C',
    LANG: 'C',
    HOME: '/tmp',
    TMPDIR: '/tmp',
    ...extra,
  };
}

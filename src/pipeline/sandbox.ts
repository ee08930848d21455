// The sandbox for code a student controls (issue 6 §3): a kernel Makefile or Kconfig (`$(shell …)`) runs whatever it
// likes on our machine, so builds, configs and test-program builds run inside bubblewrap: the whole filesystem
// read-only, a private /tmp, home folders hidden, only the named folders writable, no network (an empty network
// namespace: not even the host's loopback), own pid/ipc/uts namespaces, no capabilities, a clean environment, and
// resource limits (prlimit: CPU seconds and address space per process, file size) plus a cap on the bytes of output.
// `sandboxed()` only builds the command line; callers run it with runTool, whose timeout kills bwrap and with it the
// whole pid namespace (--die-with-parent).
import os from 'node:os';

export interface SandboxLimits {
  /** RLIMIT_CPU of each process, seconds. */
  cpuSeconds: number;
  /** RLIMIT_AS of each process, bytes. */
  addressSpaceBytes: number;
  /** RLIMIT_FSIZE: largest file a process may write, bytes. */
  fileSizeBytes: number;
  /** The combined stdout+stderr is cut after this many bytes (the command then dies of SIGPIPE). */
  outputBytes: number;
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
};

export interface SandboxOptions {
  /** Folders the command may write (bound read-write at the same path). Everything else is read-only or private. */
  writable: string[];
  /** Folders hidden by `hide` that the command may still read (e.g. a worktree's git metadata in the mirror). */
  readable?: string[];
  /** Folders replaced by an empty read-only folder (default: HIDDEN_DIRS and the user's home). */
  hide?: string[];
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

/** The command line that runs `cmd args` in the sandbox: `{cmd: 'bwrap', args: [...]}`. */
export function sandboxed(cmd: string, args: string[], opts: SandboxOptions): { cmd: string; args: string[] } {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const hide = [...new Set([...(opts.hide ?? HIDDEN_DIRS), os.homedir()])].filter((d) => d !== '/' && d !== '/tmp');
  const b: string[] = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
  for (const d of hide) b.push('--tmpfs', d);
  for (const f of HIDDEN_FILES) b.push('--ro-bind-try', '/dev/null', f);
  for (const d of opts.readable ?? []) b.push('--ro-bind', d, d);
  for (const d of opts.writable) b.push('--bind', d, d);
  // The hiding tmpfs become read-only once the binds inside them have their mount points.
  for (const d of hide) b.push('--remount-ro', d);
  b.push(
    '--unshare-net',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--hostname',
    'patchbay-sandbox',
    '--cap-drop',
    'ALL',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
  );
  for (const [k, v] of Object.entries(opts.env)) b.push('--setenv', k, v);
  b.push('--chdir', opts.cwd, '--');
  // prlimit sets the per-process limits; sh merges stdout and stderr, caps them with OUTPUT_CAP (head -c and dd
  // count_bytes buffer or stop early on a pipe, so a few lines of perl) and still exits with the command's status,
  // passed out of the pipeline on fd 4, which the command itself does not get.
  const script = `exec 3>&1; rc=$( { { "$@" 2>&1 3>&- 4>&-; echo $? >&4; } | perl -e '${OUTPUT_CAP}' ${limits.outputBytes} >&3; } 4>&1 ); exit \${rc:-1}`;
  b.push(
    'prlimit',
    `--cpu=${limits.cpuSeconds}`,
    `--as=${limits.addressSpaceBytes}`,
    `--fsize=${limits.fileSizeBytes}`,
    '--',
    'sh',
    '-c',
    script,
    'sh',
    cmd,
    ...args,
  );
  return { cmd: 'bwrap', args: b };
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

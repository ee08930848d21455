// Runs commands in the sandbox (./sandbox.ts) with caps that hold: what this machine offers is detected once (are we
// root, the unprivileged build user, the control groups of ./cgroup.ts, the tools), each command gets its own control
// group, which is watched while it runs — a fork refused at the process cap or a process killed at the memory cap
// stops the command at once (a fork bomb otherwise spins at the cap until the step's timeout) — and emptied and
// removed after. What cannot be had is said, never skipped in silence: `caps` names each cap and how it holds, and
// `problems` why a sandbox cannot run at all (the build step then refuses: our error, not the student's).
import { execFileSync } from 'node:child_process';
import { logLine, runTool, type ToolRun } from './exec.js';
import { cgroupSupport, CommandCgroup, type CgroupHits, type CgroupSupport } from './cgroup.js';
import { DEFAULT_LIMITS, sandboxed, type SandboxLimits, type SandboxOptions, type SandboxUser } from './sandbox.js';
import { which } from './toolchains.js';

/** The user builds run as; `.ci/setup` makes it (useradd --system). */
export const BUILD_USER = 'patchbay-build';
/** When BUILD_USER does not exist: still unprivileged, said loudly. */
const FALLBACK_USER = 'nobody';

export interface SandboxCaps {
  /** How the process cap holds: `cgroup v1 pids.max`, `RLIMIT_NPROC of uid 999`…; null when it cannot. */
  processes: string | null;
  /** How the memory cap holds: `cgroup v1 memory`…, or per process only (RLIMIT_AS). */
  memory: string;
  /** The whole command weighs as one process on the CPU against the server (a cpu cgroup), or not. */
  cpu: string | null;
  /** Who the command runs as. */
  user: string;
  /** The warm object tree can be covered by an overlay (root, unshare, mount). */
  overlay: boolean;
}

export interface SandboxHost {
  root: boolean;
  user: SandboxUser | null;
  cgroups: CgroupSupport;
  caps: SandboxCaps;
  /** Loud fallbacks in force (a missing build user, a cap held only per process). */
  warnings: string[];
  /** Why no sandbox can run here (a missing tool); empty when one can. */
  problems: string[];
}

function lookupUser(name: string): SandboxUser | null {
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', timeout: 10_000 }).trim();
    const f = line.split(':');
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    return Number.isInteger(uid) && Number.isInteger(gid) && uid > 0 ? { name, uid, gid } : null;
  } catch {
    return null;
  }
}

let cached: SandboxHost | null = null;

/** What this machine offers the sandbox (detected once per thread; `refresh` detects again). */
export function sandboxHost(refresh = false): SandboxHost {
  if (cached && !refresh) return cached;
  const root = process.geteuid?.() === 0;
  const warnings: string[] = [];
  const problems: string[] = [];
  const tools = ['bwrap', 'prlimit', 'perl', ...(root ? ['setpriv', 'unshare', 'mount'] : [])];
  for (const t of tools) if (!which(t, `${process.env.PATH ?? ''}:/usr/sbin:/sbin`)) problems.push(`${t} is not installed`);
  let user: SandboxUser | null = null;
  if (root) {
    user = lookupUser(BUILD_USER);
    if (!user) {
      user = lookupUser(FALLBACK_USER) ?? { name: FALLBACK_USER, uid: 65534, gid: 65534 };
      warnings.push(`the build user ${BUILD_USER} does not exist: builds run as ${user.name} (${user.uid}); make it with useradd --system --user-group ${BUILD_USER}`);
    }
  }
  const cgroups = root ? cgroupSupport(refresh) : { homes: [], problems: ['not root: no control groups of our own'] };
  const home = (c: string) => cgroups.homes.find((h) => h.controller === c);
  const pids = home('pids');
  const mem = home('memory');
  const cpu = home('cpu');
  const who = user ? `${user.name} (uid ${user.uid})` : `uid ${process.geteuid?.() ?? '?'} (the server's own)`;
  const processes = pids ? `cgroup v${pids.version} pids.max` : user || !root ? `RLIMIT_NPROC of ${who}, shared by its builds` : null;
  if (!pids) warnings.push(`no pids cgroup (${cgroups.problems.find((p) => p.startsWith('pids')) ?? 'unavailable'}): processes capped by RLIMIT_NPROC only`);
  const memory = mem ? `cgroup v${mem.version} memory` : 'per process only (RLIMIT_AS)';
  if (!mem) warnings.push(`no memory cgroup (${cgroups.problems.find((p) => p.startsWith('memory')) ?? 'unavailable'}): memory capped per process only`);
  if (!processes) problems.push('no process cap can be had');
  cached = {
    root,
    user,
    cgroups,
    caps: { processes, memory, cpu: cpu ? `cgroup v${cpu.version} cpu` : null, user: who, overlay: root && !problems.length },
    warnings,
    problems,
  };
  return cached;
}

export interface SandboxRun extends ToolRun {
  /** The command was stopped because it hit a cap of its control group. */
  capHit: 'processes' | 'memory' | null;
  hits: CgroupHits | null;
}

export interface RunSandboxedOptions extends Omit<SandboxOptions, 'user' | 'cgroupProcs' | 'nproc' | 'limits'> {
  limits?: Partial<SandboxLimits>;
  logPath: string;
  timeoutMs: number;
  runId: number;
  maxBuffer?: number;
}

/** How often a command's caps are read while it runs. */
const WATCH_MS = 200;

/**
 * Runs `cmd args` in the sandbox as the build user, in a control group of its own that is watched and removed after.
 * Throws when this machine cannot run a sandbox (sandboxHost().problems).
 */
export async function runSandboxed(cmd: string, args: string[], o: RunSandboxedOptions): Promise<SandboxRun> {
  const host = sandboxHost();
  if (host.problems.length) throw new Error(`cannot run the sandbox: ${host.problems.join('; ')}`);
  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const cg = host.cgroups.homes.length ? CommandCgroup.create(host.cgroups, { processes: limits.processes, memoryBytes: limits.memoryBytes, cpuProcesses: limits.cpuProcesses }) : null;
  const sb = sandboxed(cmd, args, {
    ...o,
    limits,
    user: host.user,
    cgroupProcs: cg?.procsFiles,
    // Without a pids group, RLIMIT_NPROC holds for any uid but 0.
    nproc: !cg?.enforces.processes,
  });
  const stop = new AbortController();
  let capHit: SandboxRun['capHit'] = null;
  const check = () => {
    if (!cg || capHit) return;
    const h = cg.hits();
    capHit = h.processes > 0 ? 'processes' : h.oomKills > 0 ? 'memory' : null;
    if (capHit) {
      cg.kill();
      stop.abort();
    }
  };
  const watch = cg ? setInterval(check, WATCH_MS) : null;
  let r: ToolRun;
  try {
    r = await runTool(sb.cmd, sb.args, { cwd: o.cwd, logPath: o.logPath, timeoutMs: o.timeoutMs, runId: o.runId, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' }, signal: stop.signal, ...(o.maxBuffer ? { maxBuffer: o.maxBuffer } : {}) });
  } finally {
    if (watch) clearInterval(watch);
  }
  check();
  const hits = cg?.hits() ?? null;
  if (cg && !(await cg.remove())) logLine(o.logPath, `patchbay-sandbox: the control group still holds processes ${cg.members().join(' ')}`);
  if (capHit === 'processes') logLine(o.logPath, `patchbay-sandbox: stopped: a fork was refused at the cap of ${limits.processes} processes`);
  if (capHit === 'memory') logLine(o.logPath, `patchbay-sandbox: stopped: a process was killed at the memory cap of ${limits.memoryBytes} bytes`);
  return { ...r, capHit, hits };
}

/** One line for a step's log: who the command runs as and how each cap holds (loud about fallbacks). */
export function capsLine(host: SandboxHost, limits: SandboxLimits): string {
  const c = host.caps;
  const parts = [
    `user ${c.user}`,
    `processes ≤ ${limits.processes} (${c.processes ?? 'NOT CAPPED'})`,
    `memory ≤ ${Math.round(limits.memoryBytes / 1024 ** 2)} MiB (${c.memory})`,
    c.cpu ? `the CPU weight of ${limits.cpuProcesses} process${limits.cpuProcesses > 1 ? 'es' : ''} (cpu cgroup)` : 'no cpu cgroup',
  ];
  return `--- sandbox: ${parts.join(', ')}${host.warnings.length ? `; WARNING: ${host.warnings.join('; ')}` : ''}`;
}

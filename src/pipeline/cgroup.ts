// Caps that hold for a whole sandboxed command and everything it starts: a control group per command with a process
// cap (pids.max) and a memory cap (memory.limit_in_bytes / memory.max, swap included), joined before the command
// starts, read while it runs (did it hit a cap?) and emptied and removed after. Per-process rlimits cannot do this:
// RLIMIT_NPROC counts every process of a user, and RLIMIT_AS × processes is no cap at all. The groups are made below
// the cgroups this process is in (never moving anything out of the groups the machine put us in), for each
// controller where it lives: a cgroup v1 hierarchy (this machine: pids, memory, cpu mounted under /sys/fs/cgroup) or
// the v2 one when it offers the controller and lets us enable it for our children. The cpu group gives the command
// the weight of `make -jN`'s N processes against the server's threads and everything else, whatever it forks.
import fs from 'node:fs';
import path from 'node:path';
import { deadOwnersIn } from './dead-owners.js';

export type Controller = 'pids' | 'memory' | 'cpu';
export const CONTROLLERS: readonly Controller[] = ['pids', 'memory', 'cpu'];

/** Where the groups of one controller are made. */
export interface ControllerHome {
  controller: Controller;
  version: 1 | 2;
  /** The folder our per-command groups are made in (…/patchbay below our own cgroup). */
  parent: string;
}

export interface CgroupSupport {
  homes: ControllerHome[];
  /** Why a controller is not available, one line each. */
  problems: string[];
}

interface MountEntry {
  mountPoint: string;
  fstype: string;
  superOptions: string[];
}

/** /proc/self/mountinfo: `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    if (left.length < 5 || right.length < 3) continue;
    // Octal escapes (\040 for a space) in mount points.
    const mountPoint = left[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    out.push({ mountPoint, fstype: right[0]!, superOptions: right[2]!.split(',') });
  }
  return out;
}

/** /proc/self/cgroup: `4:memory:/a/b` (v1) and `0::/c` (v2). */
export function parseOwnCgroups(text: string): { v1: Map<string, string>; v2: string | null } {
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') v2 = m[3]!;
    else for (const c of m[2]!.split(',')) if (c) v1.set(c, m[3]!);
  }
  return { v1, v2 };
}

const PARENT_NAME = 'patchbay';

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function writeText(file: string, text: string): void {
  fs.writeFileSync(file, text);
}

function errText(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

/** A v1 hierarchy of the controller: its mount and our group in it. */
function v1Home(c: Controller, mounts: MountEntry[], own: Map<string, string>): ControllerHome | string {
  const m = mounts.find((x) => x.fstype === 'cgroup' && x.superOptions.includes(c));
  if (!m) return `no cgroup v1 hierarchy for ${c}`;
  const parent = path.join(m.mountPoint, own.get(c) ?? '/', PARENT_NAME);
  try {
    fs.mkdirSync(parent, { recursive: true });
    fs.accessSync(parent, fs.constants.W_OK);
  } catch (e) {
    return `cannot make ${parent} (${errText(e)})`;
  }
  return { controller: c, version: 1, parent };
}

/** The v2 hierarchy, when it lists the controller and lets us enable it for a folder of our own. */
function v2Home(c: Controller, mounts: MountEntry[], own: string | null): ControllerHome | string {
  const m = mounts.find((x) => x.fstype === 'cgroup2');
  if (!m || own === null) return `no cgroup v2 hierarchy for ${c}`;
  const base = path.join(m.mountPoint, own);
  const available = (readText(path.join(base, 'cgroup.controllers')) ?? '').trim().split(/\s+/);
  if (!available.includes(c)) return `cgroup v2 at ${base} does not offer ${c}`;
  const parent = path.join(base, PARENT_NAME);
  try {
    // Our own group must pass the controller down; a group that holds processes can do so only at the root (the
    // "no internal processes" rule), so this fails in a delegated group we share with our own process.
    const enabled = (readText(path.join(base, 'cgroup.subtree_control')) ?? '').split(/\s+/);
    if (!enabled.includes(c)) writeText(path.join(base, 'cgroup.subtree_control'), `+${c}`);
    fs.mkdirSync(parent, { recursive: true });
    const below = (readText(path.join(parent, 'cgroup.subtree_control')) ?? '').split(/\s+/);
    if (!below.includes(c)) writeText(path.join(parent, 'cgroup.subtree_control'), `+${c}`);
  } catch (e) {
    return `cannot enable ${c} below ${base} (${errText(e)})`;
  }
  return { controller: c, version: 2, parent };
}

let cached: CgroupSupport | null = null;

/** Where each controller's groups can be made on this machine (detected once per thread). */
export function cgroupSupport(refresh = false): CgroupSupport {
  if (cached && !refresh) return cached;
  const mounts = parseMountinfo(readText('/proc/self/mountinfo') ?? '');
  const own = parseOwnCgroups(readText('/proc/self/cgroup') ?? '');
  const homes: ControllerHome[] = [];
  const problems: string[] = [];
  for (const c of CONTROLLERS) {
    const one = v1Home(c, mounts, own.v1);
    if (typeof one !== 'string') {
      homes.push(one);
      continue;
    }
    const two = v2Home(c, mounts, own.v2);
    if (typeof two !== 'string') homes.push(two);
    else problems.push(`${c}: ${one}; ${two}`);
  }
  for (const h of homes) removeStale(h.parent);
  cached = { homes, problems };
  return cached;
}

/** Groups a process that is gone left behind (killed before it could remove them): removed when empty. */
function removeStale(parent: string): void {
  for (const name of deadOwnersIn(parent, (n) => Number(/^run-(\d+)-/.exec(n)?.[1] ?? NaN) || null)) {
    try {
      fs.rmdirSync(path.join(parent, name));
    } catch {
      // still holds processes: left for a later start
    }
  }
}

export interface CgroupLimits {
  /** Processes (and threads) at once in the group. */
  processes: number;
  /** Memory of the whole group, page cache and tmpfs included; no swap. */
  memoryBytes: number;
  /** CPU weight as so many processes (make -jN: N); default 1. */
  cpuProcesses?: number;
}

/** What a command did against its caps, read from the group's counters. */
export interface CgroupHits {
  /** Forks refused at the process cap. */
  processes: number;
  /** Processes the kernel killed at the memory cap. */
  oomKills: number;
  /** Highest memory use seen, bytes (null when the kernel does not say). */
  memoryPeak: number | null;
}

let serial = 0;

/** The groups of one sandboxed command: join them (procsFiles), read them, empty and remove them. */
export class CommandCgroup {
  private constructor(
    private readonly dirs: { home: ControllerHome; dir: string }[],
    /** Which caps the group enforces. */
    readonly enforces: { processes: boolean; memory: boolean; cpu: boolean },
  ) {}

  /** Makes the groups and sets the caps; controllers that fail are left out (see `enforces`). */
  static create(support: CgroupSupport, limits: CgroupLimits): CommandCgroup {
    const name = `run-${process.pid}-${++serial}-${Date.now().toString(36)}`;
    const dirs: { home: ControllerHome; dir: string }[] = [];
    const enforces = { processes: false, memory: false, cpu: false };
    for (const home of support.homes) {
      const dir = path.join(home.parent, name);
      // v2 controllers share one folder.
      if (!dirs.some((d) => d.dir === dir)) {
        try {
          fs.mkdirSync(dir);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') continue;
        }
        dirs.push({ home, dir });
      }
      try {
        if (home.controller === 'pids') {
          writeText(path.join(dir, 'pids.max'), String(limits.processes));
          enforces.processes = true;
        } else if (home.controller === 'memory') {
          setMemory(home.version, dir, limits.memoryBytes);
          enforces.memory = true;
        } else {
          setCpuWeight(home.version, dir, limits.cpuProcesses ?? 1);
          enforces.cpu = true;
        }
      } catch {
        // The cap is not set: `enforces` says so, and the caller falls back loudly.
      }
    }
    return new CommandCgroup(dirs, enforces);
  }

  /** The files the command's first process writes its pid to (before it execs anything). */
  get procsFiles(): string[] {
    return this.dirs.map((d) => path.join(d.dir, 'cgroup.procs'));
  }

  hits(): CgroupHits {
    const hits: CgroupHits = { processes: 0, oomKills: 0, memoryPeak: null };
    for (const { home, dir } of this.dirs) {
      const pids = readText(path.join(dir, 'pids.events'));
      const max = pids ? /^max (\d+)$/m.exec(pids) : null;
      if (max) hits.processes = Math.max(hits.processes, Number(max[1]));
      const oom = readText(path.join(dir, home.version === 1 ? 'memory.oom_control' : 'memory.events'));
      const kills = oom ? /^oom_kill (\d+)$/m.exec(oom) : null;
      if (kills) hits.oomKills = Math.max(hits.oomKills, Number(kills[1]));
      const peak = readText(path.join(dir, home.version === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak'));
      if (peak && /^\d+\s*$/.test(peak)) hits.memoryPeak = Math.max(hits.memoryPeak ?? 0, Number(peak));
    }
    return hits;
  }

  /** The pids still in the group. */
  members(): number[] {
    const pids = new Set<number>();
    for (const { dir } of this.dirs) {
      for (const p of (readText(path.join(dir, 'cgroup.procs')) ?? '').split('\n')) if (/^\d+$/.test(p)) pids.add(Number(p));
    }
    return [...pids];
  }

  /** SIGKILL to everything in the group (cgroup.kill where the kernel has it). */
  kill(): void {
    for (const { home, dir } of this.dirs) {
      if (home.version === 2 && fs.existsSync(path.join(dir, 'cgroup.kill'))) {
        try {
          writeText(path.join(dir, 'cgroup.kill'), '1');
        } catch {
          // fall through to the pids
        }
      }
    }
    for (const pid of this.members()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Kills what is left and removes the groups (retrying while the last processes exit); false if one remains. */
  async remove(timeoutMs = 5000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      this.kill();
      let left = 0;
      for (const { dir } of this.dirs) {
        try {
          fs.rmdirSync(dir);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') left++;
        }
      }
      if (!left) return true;
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** The weight of n processes of the default weight (v1 cpu.shares 1024, v2 cpu.weight 100). */
function setCpuWeight(version: 1 | 2, dir: string, n: number): void {
  const k = Math.max(1, Math.min(64, Math.round(n)));
  if (version === 1) writeText(path.join(dir, 'cpu.shares'), String(1024 * k));
  else writeText(path.join(dir, 'cpu.weight'), String(Math.min(10_000, 100 * k)));
}

function setMemory(version: 1 | 2, dir: string, bytes: number): void {
  if (version === 1) {
    writeText(path.join(dir, 'memory.limit_in_bytes'), String(bytes));
    // memory+swap at the same value: no swapping around the cap (absent without swap accounting).
    if (fs.existsSync(path.join(dir, 'memory.memsw.limit_in_bytes'))) writeText(path.join(dir, 'memory.memsw.limit_in_bytes'), String(bytes));
    else if (fs.existsSync(path.join(dir, 'memory.swappiness'))) writeText(path.join(dir, 'memory.swappiness'), '0');
  } else {
    writeText(path.join(dir, 'memory.max'), String(bytes));
    if (fs.existsSync(path.join(dir, 'memory.swap.max'))) writeText(path.join(dir, 'memory.swap.max'), '0');
  }
}

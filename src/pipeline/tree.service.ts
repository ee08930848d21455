// Tree management (issue 5 §2): one bare mirror per project's tree under <dataDir>/trees, fetched on a schedule and
// before a run when it is older than the configured age, and two pools of persistent worktree slots per project that
// runs lease and give back: the build pool at fixed paths <dataDir>/work/<slug>/<n> (the warm object trees of
// <dataDir>/build/<slug>/slot-<n> belong to them), and the gate pool at <dataDir>/work/<slug>/gate-<n> (checkpatch
// and apply of the gate lane, never a build: a gate run never disturbs a warm tree). A kernel checkout costs 13–26 s and 1.5 GB
// (kernel-lab §1), and warm object trees (issue 6) need the source at the same absolute path every time (objtool
// records absolute paths), so slots are created once and then only reset: a reset rewrites only the files that
// differ, which also keeps the mtimes of untouched sources for incremental builds. A slot is reset once per run: on
// release (after the reply went out), and the slot is then marked clean in memory; the next lease in this process
// takes a clean slot at its commit as it is (on the kernel a reset costs ~0.4 s), or only checks the other commit
// out. After a restart no slot is marked clean, so a slot a killed process left dirty is always reset.
import fs from 'node:fs';
import path from 'node:path';
import { AppError, notFound, unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import { git, gitOk, gitReason } from './git.js';
import { runTool } from './exec.js';

export interface TreeProject {
  slug: string;
  /** Projects without a tree have no mirror and no slots; asking for them is a not_found error. */
  tree?: { url: string; branch: string } | undefined;
}

export interface TreeServiceOptions {
  dataDir: string;
  projects: readonly TreeProject[];
  /** Fetch every mirror this often once start() is called; 0 = no schedule. */
  fetchEveryMs: number;
  /** ensureFresh() fetches when the last successful fetch is older than this. */
  maxAgeMs: number;
  /** Build slots per project: at most this many runs of one project hold a build tree at once. */
  slots: number;
  /** Gate slots per project (the gate lane's checkpatch and apply); default 0: no gate pool. */
  gateSlots?: number;
  /** Per git call. */
  timeoutMs: number;
  log: Logger;
}

export interface MirrorState {
  slug: string;
  /** The bare mirror: the object store every slot of the project shares. */
  path: string;
  branch: string;
  /** When the last successful fetch (or the clone) started; null when unknown. */
  fetchedAt: Date | null;
  /** This call fetched (or joined a fetch that succeeded). */
  fetched: boolean;
  /** Set when the fetch failed and the old mirror is used: what failed and how old the mirror is. */
  warning: string | null;
}

/** Which pool of worktree slots: `build` slots hold warm object trees beside them, `gate` slots never do. */
export type SlotPool = 'build' | 'gate';

export interface Lease {
  slug: string;
  pool: SlotPool;
  /** The slot number in its pool: slot n is always at the same path (issue 6 keys its object trees by it). */
  slot: number;
  /** The worktree, checked out (detached) at `commit`, with nothing else in it. */
  path: string;
  /** Full sha. */
  commit: string;
  mirror: string;
  /** The slot was (re)created by this lease: a full checkout happened. */
  created: boolean;
  /** Milliseconds spent in git preparing the tree. */
  childMs: number;
  /** How the slot was made ready: taken as the last release left it, only checked out, reset, or created. */
  prepared: 'kept' | 'checkout' | 'reset' | 'created';
  /**
   * Resets the tree to `commit` (so the next lease is cheap) and frees the slot; safe to call twice. With
   * `childrenMayLinger` (a cancelled run whose killed tools may still be exiting) the slot is not marked clean: the
   * next lease resets it again.
   */
  release(opts?: { childrenMayLinger?: boolean }): Promise<void>;
}

interface Waiter {
  resolve(slot: number): void;
}

interface Slot {
  busy: boolean;
  /** What the slot was last reset to in this process (a lease for the same commit prefers it). */
  commit: string | null;
  /**
   * The release's reset succeeded and nobody has used the slot since: it is a clean tree at `commit`. Only in
   * memory, so after a restart every slot is reset before use.
   */
  clean: boolean;
}

interface ProjectTrees {
  slug: string;
  url: string;
  branch: string;
  mirror: string;
  workDir: string;
  logPath: string;
  fetching: Promise<MirrorState> | null;
  /** undefined until read from the mirror's file. */
  fetchedAt: Date | null | undefined;
  urlChecked: boolean;
  pools: Record<SlotPool, { slots: Slot[]; waiters: Waiter[] }>;
  /** Serialises worktree creation and pruning on one mirror. */
  maintenance: Promise<unknown>;
}

const FETCHED_AT = 'patchbay-fetched-at';

/** Local paths (absolute or relative) are made absolute; URLs and scp-like `host:path` are left alone. */
function normaliseUrl(url: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
  if (/^[^/]+:/.test(url)) return url; // user@host:path
  return path.resolve(url);
}

/** A tree given as a local path that does not exist (the demo's tree before `scripts/kernel-tree.sh` made it). */
export function missingLocalTree(url: string): boolean {
  const u = normaliseUrl(url);
  return path.isAbsolute(u) && !fs.existsSync(u);
}

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** A slot's folder name below <work>/<slug>: build slots keep the bare numbers they always had. */
function slotName(pool: SlotPool, n: number): string {
  return pool === 'build' ? String(n) : `gate-${n}`;
}

async function removeTree(dir: string): Promise<void> {
  try {
    await fs.promises.rm(dir, { recursive: true, force: true });
  } catch {
    // A build may have left a folder without write permission: give it back, then remove.
    await runTool('chmod', ['-R', 'u+rwx', dir], { cwd: path.dirname(dir), logPath: '/dev/null', timeoutMs: 120_000, runId: 0 });
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

export class TreeService {
  private readonly opts: TreeServiceOptions;
  private readonly projects = new Map<string, ProjectTrees>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;

  constructor(opts: TreeServiceOptions) {
    if (!Number.isInteger(opts.slots) || opts.slots < 1) throw new AppError('invalid', 'tree_slots', 'slots must be a positive integer');
    const gateSlots = opts.gateSlots ?? 0;
    if (!Number.isInteger(gateSlots) || gateSlots < 0) throw new AppError('invalid', 'tree_slots', 'gate slots must be a whole number');
    this.opts = opts;
    this.log = opts.log;
    for (const p of opts.projects) this.addProject(p);
  }

  /**
   * Takes a project's tree on (a `patchbay worker` learns its projects from the jobs it takes): its mirror and slots
   * at the fixed paths of its slug. A project already known keeps its mirror and slots; a URL or branch that changed
   * is followed (the mirror's remote is checked again at the next fetch).
   */
  addProject(p: TreeProject): void {
    if (!p.tree) return;
    const known = this.projects.get(p.slug);
    const url = normaliseUrl(p.tree.url);
    if (known) {
      if (known.url !== url) known.urlChecked = false;
      known.url = url;
      known.branch = p.tree.branch;
      return;
    }
    const { dataDir, slots } = this.opts;
    const gateSlots = this.opts.gateSlots ?? 0;
    this.projects.set(p.slug, {
      slug: p.slug,
      url,
      branch: p.tree.branch,
      mirror: path.join(dataDir, 'trees', `${p.slug}.git`),
      workDir: path.join(dataDir, 'work', p.slug),
      logPath: path.join(dataDir, 'logs', 'trees', `${p.slug}.log`),
      fetching: null,
      fetchedAt: undefined,
      urlChecked: false,
      pools: {
        build: { slots: Array.from({ length: slots }, () => ({ busy: false, commit: null, clean: false })), waiters: [] },
        gate: { slots: Array.from({ length: gateSlots }, () => ({ busy: false, commit: null, clean: false })), waiters: [] },
      },
      maintenance: Promise.resolve(),
    });
  }

  /** Prunes leftovers, brings every mirror up to date (in the background) and starts the fetch schedule. */
  start(): void {
    this.startRound(async (p) => {
      await this.pruneProject(p);
      await this.ensureFresh(p.slug);
    });
    if (this.opts.fetchEveryMs > 0) {
      this.timer = setInterval(() => this.startRound((p) => this.fetch(p.slug).then(() => undefined)), this.opts.fetchEveryMs);
      this.timer.unref();
    }
  }

  /** Stops the schedule and waits for fetches under way. Leases in use stay valid. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.round;
    await Promise.allSettled([...this.projects.values()].map((p) => p.fetching));
  }

  mirrorPath(slug: string): string {
    return this.project(slug).mirror;
  }

  /** Build slot n at <work>/<slug>/<n> (the path warm object trees were built from), gate slot n at gate-<n>. */
  slotPath(slug: string, slot: number, pool: SlotPool = 'build'): string {
    return path.join(this.project(slug).workDir, slotName(pool, slot));
  }

  /** When the mirror was last fetched successfully (kept in the mirror, so it survives restarts); null if never. */
  fetchedAt(slug: string): Date | null {
    return this.readFetchedAt(this.project(slug));
  }

  /**
   * The mirror, fetched first when it is missing or its last successful fetch is older than maxAgeMs. A failed fetch
   * with a mirror present logs a warning and returns the old state (with `warning`); with no mirror it throws
   * AppError('unavailable', 'tree_unavailable').
   */
  async ensureFresh(slug: string, maxAgeMs = this.opts.maxAgeMs): Promise<MirrorState> {
    const p = this.project(slug);
    const at = this.readFetchedAt(p);
    if (this.hasMirror(p) && at && Date.now() - at.getTime() < maxAgeMs) return this.state(p, false, null);
    return this.fetch(slug);
  }

  /** Fetches now (or clones when there is no mirror); concurrent calls for one project share one fetch. */
  fetch(slug: string): Promise<MirrorState> {
    const p = this.project(slug);
    if (!p.fetching) {
      p.fetching = this.doFetch(p).finally(() => {
        p.fetching = null;
      });
    }
    return p.fetching;
  }

  /** The full sha of a branch, tag or commit in the mirror, or null when the mirror does not have it. */
  async resolve(slug: string, ref: string): Promise<string | null> {
    const p = this.project(slug);
    this.requireMirror(p);
    if (!ref || ref.startsWith('-') || /[\s\0]/.test(ref)) return null;
    const r = await git(['rev-parse', '--verify', '-q', `${ref}^{commit}`], this.maintenanceOpts(p, p.mirror));
    if (r.code !== 0) return null;
    const sha = r.stdout.trim();
    return /^[0-9a-f]{40,64}$/.test(sha) ? sha : null;
  }

  /**
   * Waits for a free slot of the project, makes it a clean tree at `commit` (detached) and returns it. Git calls
   * carry `runId`, so cancelling the run kills them (the slot is repaired by the next lease). An aborted `signal`
   * stops the wait with its reason.
   */
  async lease(slug: string, commit: string, runId: number, opts: { signal?: AbortSignal; pool?: SlotPool } = {}): Promise<Lease> {
    const p = this.project(slug);
    const pool = opts.pool ?? 'build';
    if (!p.pools[pool].slots.length) throw new AppError('invalid', 'tree_slots', `there are no ${pool} slots for ${slug}`);
    const sha = await this.resolve(slug, commit);
    if (!sha) throw notFound('tree_commit_unknown', `${commit} is not a commit in the mirror of ${slug}`);
    const n = await this.acquire(p, pool, sha, opts.signal);
    const dir = this.slotPath(slug, n, pool);
    let prepared: { how: Lease['prepared']; childMs: number };
    try {
      prepared = await this.prepare(p, pool, n, dir, sha, runId);
    } catch (e) {
      this.free(p, pool, n, null, false);
      throw e;
    }
    let released = false;
    return {
      slug,
      pool,
      slot: n,
      path: dir,
      commit: sha,
      mirror: p.mirror,
      created: prepared.how === 'created',
      childMs: prepared.childMs,
      prepared: prepared.how,
      release: async (ropts = {}) => {
        if (released) return;
        released = true;
        let clean: string | null = null;
        try {
          const gitdir = this.worktreeGitDir(p, dir);
          if (gitdir) {
            await this.scrub(p, dir, gitdir, sha, 0);
            clean = sha;
          }
        } catch (e) {
          this.log.warn({ slug, slot: n, err: e }, 'worktree slot could not be reset on release; the next lease repairs it');
        } finally {
          this.free(p, pool, n, clean, clean !== null && !ropts.childrenMayLinger);
        }
      },
    };
  }

  /** Drops worktree registrations whose folder is gone, slot folders beyond `slots`, and half-made clones. */
  async prune(): Promise<void> {
    await this.everyProject((p) => this.pruneProject(p));
  }

  // --- mirror ---

  private project(slug: string): ProjectTrees {
    const p = this.projects.get(slug);
    if (!p) throw notFound('tree_not_configured', `project ${slug} has no tree`);
    return p;
  }

  /** One background pass over the projects; skipped while the previous one still runs. */
  private startRound(fn: (p: ProjectTrees) => Promise<void>): void {
    if (this.round) return;
    const round = this.everyProject(fn).finally(() => {
      if (this.round === round) this.round = null;
    });
    this.round = round;
  }

  private async everyProject(fn: (p: ProjectTrees) => Promise<void>): Promise<void> {
    for (const p of this.projects.values()) {
      try {
        await fn(p);
      } catch (e) {
        // A missing local tree is told once, in plain words, when the server starts (main.ts): no stack every round.
        if (e instanceof AppError && e.code === 'tree_unavailable' && missingLocalTree(p.url)) this.log.debug({ slug: p.slug, url: p.url }, e.message);
        else this.log.error({ slug: p.slug, err: e }, 'tree maintenance failed');
      }
    }
  }

  private hasMirror(p: ProjectTrees): boolean {
    return fs.existsSync(path.join(p.mirror, 'HEAD'));
  }

  private requireMirror(p: ProjectTrees): void {
    if (!this.hasMirror(p)) throw unavailable('tree_unavailable', `there is no mirror of ${p.slug}'s tree (${p.url}) yet`);
  }

  private readFetchedAt(p: ProjectTrees): Date | null {
    if (p.fetchedAt === undefined) {
      try {
        const d = new Date(fs.readFileSync(path.join(p.mirror, FETCHED_AT), 'utf8').trim());
        p.fetchedAt = Number.isNaN(d.getTime()) ? null : d;
      } catch {
        p.fetchedAt = null;
      }
    }
    return p.fetchedAt;
  }

  private writeFetchedAt(p: ProjectTrees, at: Date): void {
    const file = path.join(p.mirror, FETCHED_AT);
    fs.writeFileSync(`${file}.tmp`, `${at.toISOString()}\n`);
    fs.renameSync(`${file}.tmp`, file);
    p.fetchedAt = at;
  }

  private state(p: ProjectTrees, fetched: boolean, warning: string | null): MirrorState {
    return { slug: p.slug, path: p.mirror, branch: p.branch, fetchedAt: this.readFetchedAt(p), fetched, warning };
  }

  private maintenanceOpts(p: ProjectTrees, cwd: string, runId = 0) {
    return { cwd, logPath: p.logPath, timeoutMs: this.opts.timeoutMs, runId };
  }

  private async doFetch(p: ProjectTrees): Promise<MirrorState> {
    fs.mkdirSync(path.dirname(p.mirror), { recursive: true });
    fs.mkdirSync(path.dirname(p.logPath), { recursive: true });
    // The time the fetch started: whatever the upstream got after it is not covered.
    const started = new Date();
    if (!this.hasMirror(p)) {
      if (missingLocalTree(p.url)) throw unavailable('tree_unavailable', `the tree of ${p.slug} (${p.url}) does not exist; there is no mirror yet`);
      // Cloned beside and renamed, so a crash mid-clone never leaves a half mirror at the real path.
      const tmp = `${p.mirror}.tmp`;
      await removeTree(tmp);
      // For a local path git hardlinks the objects: seconds even for the kernel.
      const r = await git(['clone', '--mirror', '--quiet', p.url, tmp], this.maintenanceOpts(p, path.dirname(p.mirror)));
      if (r.code !== 0 || r.timedOut) {
        await removeTree(tmp);
        this.log.error({ slug: p.slug, url: p.url, reason: gitReason(r) }, 'tree clone failed and there is no mirror');
        throw unavailable('tree_unavailable', `the tree of ${p.slug} (${p.url}) cannot be cloned: ${gitReason(r)}; there is no mirror yet`);
      }
      // No background gc stealing CPU from builds (kernel-lab §2); the slots' worktrees share this config.
      await gitOk(['config', 'gc.auto', '0'], this.maintenanceOpts(p, tmp));
      fs.renameSync(tmp, p.mirror);
      p.urlChecked = true;
      this.writeFetchedAt(p, started);
      this.log.info({ slug: p.slug, url: p.url, ms: Math.round(r.ms) }, 'tree mirror created');
      return this.state(p, true, null);
    }
    if (!p.urlChecked) {
      // The project file may have moved the tree since the mirror was made.
      await gitOk(['config', 'remote.origin.url', p.url], this.maintenanceOpts(p, p.mirror));
      p.urlChecked = true;
    }
    const r = await git(['fetch', '--prune', '--quiet', 'origin'], this.maintenanceOpts(p, p.mirror));
    if (r.code === 0 && !r.timedOut) {
      this.writeFetchedAt(p, started);
      this.log.debug({ slug: p.slug, ms: Math.round(r.ms) }, 'tree fetched');
      return this.state(p, true, null);
    }
    const at = this.readFetchedAt(p);
    const age = at ? `as fetched ${formatAge(Date.now() - at.getTime())} ago (${at.toISOString()})` : 'as last fetched (time unknown)';
    const warning = `fetch of ${p.url} failed (${gitReason(r)}); using the mirror ${age}`;
    this.log.warn({ slug: p.slug, url: p.url, fetchedAt: at?.toISOString() ?? null }, warning);
    return this.state(p, false, warning);
  }

  // --- slots ---

  private acquire(p: ProjectTrees, pool: SlotPool, commit: string, signal: AbortSignal | undefined): Promise<number> {
    signal?.throwIfAborted();
    const { slots } = p.pools[pool];
    // A free slot already at this commit costs nothing to reset; otherwise the lowest free one.
    let n = slots.findIndex((s) => !s.busy && s.commit === commit);
    if (n < 0) n = slots.findIndex((s) => !s.busy);
    if (n >= 0) {
      slots[n]!.busy = true;
      return Promise.resolve(n);
    }
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        p.pools[pool].waiters = p.pools[pool].waiters.filter((w) => w !== waiter);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        resolve: (slot) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(slot);
        },
      };
      p.pools[pool].waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Gives the slot to the next waiter, or marks it free; `clean`: the caller just reset it and nothing runs in it. */
  private free(p: ProjectTrees, pool: SlotPool, n: number, commit: string | null, clean: boolean): void {
    const slot = p.pools[pool].slots[n]!;
    slot.commit = commit;
    slot.clean = clean && commit !== null;
    const next = p.pools[pool].waiters.shift();
    if (next) next.resolve(n);
    else slot.busy = false;
  }

  /** The slot's admin folder in the mirror, or null when the slot is not a sound worktree of this mirror. */
  private worktreeGitDir(p: ProjectTrees, dir: string): string | null {
    try {
      // A `.git` that is a folder (or points elsewhere) is not ours: a build could have planted hooks or config.
      const dotGit = path.join(dir, '.git');
      if (!fs.lstatSync(dotGit).isFile()) return null;
      const m = /^gitdir: (.+)$/m.exec(fs.readFileSync(dotGit, 'utf8'));
      if (!m) return null;
      const gitdir = fs.realpathSync(path.resolve(dir, m[1]!.trim()));
      const admin = fs.realpathSync(path.join(p.mirror, 'worktrees'));
      if (path.dirname(gitdir) !== admin) return null;
      if (!fs.existsSync(path.join(gitdir, 'HEAD'))) return null;
      const back = fs.readFileSync(path.join(gitdir, 'gitdir'), 'utf8').trim();
      if (fs.realpathSync(path.dirname(back)) !== fs.realpathSync(dir)) return null;
      return gitdir;
    } catch {
      return null;
    }
  }

  private async prepare(p: ProjectTrees, pool: SlotPool, n: number, dir: string, commit: string, runId: number): Promise<{ how: Lease['prepared']; childMs: number }> {
    const slot = p.pools[pool].slots[n]!;
    // Whatever happens below, the holder may change the tree: it is clean again only after the next release.
    const wasClean = slot.clean;
    slot.clean = false;
    const gitdir = this.worktreeGitDir(p, dir);
    if (gitdir) {
      if (wasClean && slot.commit && this.untouched(gitdir, slot.commit)) {
        // The last release reset it and nothing ran in it since.
        if (slot.commit === commit) return { how: 'kept', childMs: 0 };
        // A clean tree (no change, no untracked or ignored file) needs only the other commit checked out.
        try {
          const r = await gitOk(['checkout', '--detach', '-f', '-q', commit], this.maintenanceOpts(p, dir, runId));
          return { how: 'checkout', childMs: r.ms };
        } catch (e) {
          this.log.warn({ slug: p.slug, slot: n, err: e }, 'checkout on a clean worktree slot failed; resetting it');
        }
      }
      try {
        return { how: 'reset', childMs: await this.scrub(p, dir, gitdir, commit, runId) };
      } catch (e) {
        this.log.warn({ slug: p.slug, slot: n, err: e }, 'worktree slot could not be reset; recreating it');
      }
    } else if (fs.existsSync(dir)) {
      this.log.warn({ slug: p.slug, slot: n, dir }, 'worktree slot is not a valid worktree; recreating it');
    }
    return { how: 'created', childMs: await this.recreate(p, dir, commit, runId) };
  }

  /** No git operation half-done in the slot (a lock, a stopped am or rebase) and HEAD detached at `commit`. */
  private untouched(gitdir: string, commit: string): boolean {
    for (const f of ['index.lock', 'rebase-apply', 'rebase-merge', 'MERGE_HEAD', 'CHERRY_PICK_HEAD']) if (fs.existsSync(path.join(gitdir, f))) return false;
    try {
      return fs.readFileSync(path.join(gitdir, 'HEAD'), 'utf8').trim() === commit;
    } catch {
      return false;
    }
  }

  /** Makes a sound slot a fresh tree at `commit`: no am in progress, no local change, no untracked or ignored file. */
  private async scrub(p: ProjectTrees, dir: string, gitdir: string, commit: string, runId: number): Promise<number> {
    const o = this.maintenanceOpts(p, dir, runId);
    let ms = 0;
    // A git killed by a cancel leaves its lock; leases are exclusive, so no live git of ours holds it.
    fs.rmSync(path.join(gitdir, 'index.lock'), { force: true });
    for (const state of ['rebase-apply', 'rebase-merge']) {
      if (!fs.existsSync(path.join(gitdir, state))) continue;
      const r = await git(state === 'rebase-apply' ? ['am', '--abort'] : ['rebase', '--abort'], o);
      ms += r.ms;
      fs.rmSync(path.join(gitdir, state), { recursive: true, force: true });
    }
    for (const args of [
      ['checkout', '--detach', '-f', '-q', commit],
      ['reset', '--hard', '-q'],
      ['clean', '-ffdxq'],
    ]) {
      ms += (await gitOk(args, o)).ms;
    }
    return ms;
  }

  /** Removes whatever is at the slot's path and checks it out anew (serialised per mirror). */
  private recreate(p: ProjectTrees, dir: string, commit: string, runId: number): Promise<number> {
    const job = p.maintenance.then(async () => {
      let ms = 0;
      await removeTree(dir);
      fs.mkdirSync(p.workDir, { recursive: true });
      ms += (await gitOk(['worktree', 'prune'], this.maintenanceOpts(p, p.mirror))).ms;
      const started = performance.now();
      ms += (await gitOk(['worktree', 'add', '--detach', '-f', '-q', dir, commit], this.maintenanceOpts(p, p.mirror, runId))).ms;
      this.log.info({ slug: p.slug, dir, ms: Math.round(performance.now() - started) }, 'worktree slot created');
      return ms;
    });
    p.maintenance = job.catch(() => undefined);
    return job;
  }

  private pruneProject(p: ProjectTrees): Promise<void> {
    const job = p.maintenance.then(async () => {
      await removeTree(`${p.mirror}.tmp`);
      if (!this.hasMirror(p)) return;
      fs.mkdirSync(path.dirname(p.logPath), { recursive: true });
      let extra: string[] = [];
      try {
        const keep = new Set(Object.entries(p.pools).flatMap(([pool, { slots }]) => slots.map((_, n) => slotName(pool as SlotPool, n))));
        extra = fs.readdirSync(p.workDir).filter((name) => !keep.has(name));
      } catch {
        // no slots yet
      }
      for (const name of extra) await removeTree(path.join(p.workDir, name));
      await gitOk(['worktree', 'prune'], this.maintenanceOpts(p, p.mirror));
    });
    p.maintenance = job.catch(() => undefined);
    return job;
  }
}

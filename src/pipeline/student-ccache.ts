// A submitter's own compiler cache, layered over the shared one. The series' build sees the shared ccache through an
// overlay whose upper folder is the submitter's: it reads every entry the trusted base builds stored, and what it
// compiles lands in the submitter's layer alone, never in the shared folder. So the submitter's next build of the
// same content hits even where their object layer is gone (another base, another slot or worker folder on this
// machine, a layer pruned), and an entry a build plants can only ever be read by that submitter's own builds.
// One build at a time uses a layer: a lock file naming its process and the end of its step's time (a cancelled build
// never runs its release; its lock lapses then). A second build of the same submitter at once reads the shared cache
// without writing, as every series' build did before. The least recently used layers beyond CCACHE_LAYERS_KEPT go.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { processAlive } from './dead-owners.js';
import { studentKey } from './object-tree.js';
import { overlayable, readyOverlayFolders } from './sandbox.js';

/** Submitters' cache layers kept beside one shared ccache; each holds what their series compiled (MBs to tens). */
export const CCACHE_LAYERS_KEPT = 64;

export interface CcacheLayer {
  key: string;
  upper: string;
  work: string;
  /** Frees the layer for the submitter's next build. */
  release(): void;
}

/** The folder of the submitters' layers of `ccacheDir`: beside it, never inside (overlayfs refuses nested layers). */
export function ccacheLayersRoot(ccacheDir: string): string {
  const dir = path.resolve(ccacheDir);
  return `${dir}-students`;
}

/**
 * The submitter's layer, ready (an empty work folder, the upper folder theirs: `owner` writes it through the overlay)
 * and locked for this build; null when another build holds it now.
 */
export function claimCcacheLayer(ccacheDir: string, email: string, owner: { uid: number; gid: number }, untilMs: number): CcacheLayer | null {
  const root = ccacheLayersRoot(ccacheDir);
  // A cache folder whose path overlayfs cannot take gets no layers.
  if (!overlayable(root)) return null;
  const key = studentKey(email);
  const dir = path.join(root, key);
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const lock = `${dir}.lock`;
  if (!takeLock(lock, untilMs)) return null;
  try {
    const upper = path.join(dir, 'upper');
    const work = path.join(dir, 'work');
    readyOverlayFolders({ upper, work }, owner);
    const now = new Date();
    fs.utimesSync(dir, now, now);
    pruneCcacheLayers(root, key, untilMs);
    return { key, upper, work, release: () => fs.rmSync(lock, { force: true }) };
  } catch (e) {
    fs.rmSync(lock, { force: true });
    throw e;
  }
}

/** Removes the least recently used layers beyond CCACHE_LAYERS_KEPT, never `keep`'s nor one a build holds. */
export function pruneCcacheLayers(root: string, keep: string, untilMs = Date.now() + 60_000): number {
  const layers = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== keep)
    .map((d) => ({ name: d.name, t: fs.statSync(path.join(root, d.name)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  let removed = 0;
  for (const { name } of layers.slice(CCACHE_LAYERS_KEPT - 1)) {
    const lock = path.join(root, `${name}.lock`);
    if (!takeLock(lock, untilMs)) continue;
    try {
      fs.rmSync(path.join(root, name), { recursive: true, force: true });
      removed++;
    } finally {
      fs.rmSync(lock, { force: true });
    }
  }
  return removed;
}

interface LockFile {
  pid: number;
  until: number;
}

/**
 * Creates the lock file naming this process until `untilMs`; one whose process is gone or whose time is up is taken
 * over. Written beside, then linked into place: a lock is never seen half written (and so never taken for a stale one).
 */
function takeLock(lock: string, untilMs: number): boolean {
  const tmp = `${lock}.${process.pid}.${crypto.randomBytes(6).toString('hex')}`;
  fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, until: untilMs } satisfies LockFile), { flag: 'wx', mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.linkSync(tmp, lock);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      if (held(lock)) return false;
      fs.rmSync(lock, { force: true });
    }
    return false;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function held(lock: string): boolean {
  let l: Partial<LockFile>;
  try {
    l = JSON.parse(fs.readFileSync(lock, 'utf8')) as Partial<LockFile>;
  } catch {
    return false;
  }
  return Number.isInteger(l.pid) && l.pid! > 0 && typeof l.until === 'number' && Date.now() < l.until && (l.pid === process.pid || processAlive(l.pid!));
}

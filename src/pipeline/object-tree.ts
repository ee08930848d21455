// Warm object trees (issue 6 §2) that no student can change for another (issue 11 §4). The tree at <objDir> (fixed
// path per worktree slot, arch and config: objtool records absolute paths) is written only by trusted base builds of
// the project's own commits. A student's build sees it through an overlay whose upper folder is that student's
// layer, <objDir>.patchbay/students/<key>/upper, kept between the student's runs so a v2 rebuilds only what changed
// since their v1, and dropped when the base moves. Everything the host decides from lives in <objDir>.patchbay (the
// base marker, the config hash, the base warnings, each layer's sources), a folder no sandbox ever sees: nothing a
// build plants can make us read or overwrite another file.
//
// The mtimes of the worktree are what make trusts, so each build gives back the mtimes that let it skip what is up to
// date (restoreSourceTimes): a reset of the worktree rewrites every file a series touched, with base content and a
// fresh mtime, which would otherwise recompile (538 objects on x86_64 for a system call) in every later build.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isRegularInTree, setTimesInTree } from './safe-fs.js';
import { readyOverlayFolders } from './sandbox.js';

/** The host-only folder beside an object tree. */
export function hostDirOf(objDir: string): string {
  return `${path.resolve(objDir)}.patchbay`;
}

/** What the trusted base build of an object tree left, in its host folder. */
export interface TreeState {
  /** `<base commit> <config hash>` of the last base build that passed; null while none has. */
  base: string | null;
  /** The config hash the tree's .config was made for. */
  config: string | null;
  /** The worktree the tree was built from (path and the identity of its `.git`): a recreated slot has new mtimes. */
  worktree: string | null;
  /** The base build's warnings (rules/gcc-output.ts warningKey → count). */
  warnings: Record<string, number> | null;
  /**
   * The most files a base build of this tree compiled (a build from an empty tree compiles them all): what a series'
   * build is measured against before it is called incremental. Null: not known (a tree built by older code).
   */
  compiled: number | null;
}

const STATE = 'state.json';
const EMPTY: TreeState = { base: null, config: null, worktree: null, warnings: null, compiled: null };

/** The state, or null when the host folder has none: a tree this code never built, which nothing vouches for. */
export function readTreeState(objDir: string): TreeState | null {
  const text = readOwn(path.join(hostDirOf(objDir), STATE));
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as Partial<TreeState>;
    return { ...EMPTY, ...v };
  } catch {
    return { ...EMPTY };
  }
}

export function writeTreeState(objDir: string, state: TreeState): void {
  writeOwn(path.join(hostDirOf(objDir), STATE), JSON.stringify(state, null, 1));
}

/** The host folder, made private to us (0700). */
export function ensureHostDir(objDir: string): string {
  const dir = hostDirOf(objDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** A file of our own host folders (never written by a sandbox), or null. */
function readOwn(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Written beside and renamed: a crash never leaves half a marker. */
function writeOwn(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/**
 * What a series' build over a tree was, from what it did: `after-base` when the tree did not hold the base and the
 * base was built first; `rebuilt` when the tree was warm but the series' build compiled nearly all (90 %) of what a
 * whole build of the tree compiles, as from scratch (its sources looked newer than the tree's objects: a worktree made
 * anew, files rewritten by a crash or a restart); `incremental` otherwise. Trees of fewer than REBUILT_MIN_FILES files
 * (test trees), and trees whose size is not known, are never said to be rebuilt.
 */
export type BuildKind = 'after-base' | 'incremental' | 'rebuilt';

const REBUILT_MIN_FILES = 20;

export function buildKind(o: { warm: boolean; compiled: number; treeCompiled: number | null }): BuildKind {
  if (!o.warm) return 'after-base';
  if (o.treeCompiled !== null && o.treeCompiled >= REBUILT_MIN_FILES && o.compiled >= o.treeCompiled * 0.9) return 'rebuilt';
  return 'incremental';
}

/** The worktree as the tree state records it: its path and its `.git` file's identity (made anew with the slot). */
export function worktreeId(worktree: string): string {
  const st = fs.lstatSync(path.join(worktree, '.git'), { throwIfNoEntry: false });
  const id = st ? `${st.ino}:${Math.round(st.birthtimeMs)}:${st.isFile() ? Math.round(st.mtimeMs) : 'dir'}` : 'none';
  return `${path.resolve(worktree)} ${id}`;
}

// --- students' layers ---------------------------------------------------------------------------------------------

/** A file's content (blob sha) and mtime as a layer's objects were built from it; sha null: unknown (a failed build). */
export type Sources = Record<string, { sha: string | null; mtimeMs: number }>;

export interface LayerRecord {
  /** The tree state's `base` the layer was built over. */
  base: string;
  sources: Sources;
}

export interface StudentLayer {
  key: string;
  dir: string;
  /** The overlay's upper folder: owned by the build user, seen by the build as the object tree. */
  upper: string;
  /** overlayfs's work folder. */
  work: string;
}

/** Layers kept per object tree (least recently used go first): a few tens of MB each. */
export const LAYERS_KEPT = 16;

/** The key of a submitter's layer: their address, hashed (it names a folder). */
export function studentKey(email: string): string {
  return crypto.createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 16);
}

export function studentLayer(objDir: string, email: string): StudentLayer {
  const key = studentKey(email);
  const dir = path.join(hostDirOf(objDir), 'students', key);
  return { key, dir, upper: path.join(dir, 'upper'), work: path.join(dir, 'work') };
}

export function readLayer(layer: StudentLayer): LayerRecord | null {
  const text = readOwn(path.join(layer.dir, 'layer.json'));
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as LayerRecord;
    return typeof v.base === 'string' && v.sources && typeof v.sources === 'object' ? v : null;
  } catch {
    return null;
  }
}

export function writeLayer(layer: StudentLayer, rec: LayerRecord): void {
  writeOwn(path.join(layer.dir, 'layer.json'), JSON.stringify(rec));
}

/**
 * Makes the layer ready over a tree holding `base`: kept when it was built over that base, else made empty. The
 * upper folder belongs to `owner` (the build user writes it through the overlay); the work folder must be empty.
 */
export function prepareLayer(layer: StudentLayer, base: string, owner: { uid: number; gid: number } | null): { kept: boolean; record: LayerRecord } {
  const rec = readLayer(layer);
  const kept = rec !== null && rec.base === base && fs.existsSync(layer.upper);
  if (!kept) fs.rmSync(layer.dir, { recursive: true, force: true });
  readyOverlayFolders(layer, owner);
  const record = kept ? rec : { base, sources: {} };
  // Marks the layer used now (least recently used go first).
  writeLayer(layer, record);
  return { kept, record };
}

/** Removes every layer of the tree but `keep`'s, or only the least recently used beyond LAYERS_KEPT. */
export function pruneLayers(objDir: string, opts: { all?: boolean; keep?: string } = {}): number {
  const root = path.join(hostDirOf(objDir), 'students');
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return 0;
  }
  const used = names
    .filter((n) => n !== opts.keep)
    .map((n) => ({ n, t: fs.statSync(path.join(root, n, 'layer.json'), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => b.t - a.t);
  const drop = opts.all ? used : used.slice(Math.max(0, LAYERS_KEPT - (opts.keep ? 1 : 0)));
  for (const { n } of drop) fs.rmSync(path.join(root, n), { recursive: true, force: true });
  return drop.length;
}

// --- files touched in a worktree slot -----------------------------------------------------------------------------

/** Files a slot's worktree had rewritten by some run (a series applied, then reset): kept at most this many. */
const TOUCHED_KEPT = 5000;

export function readTouched(file: string): string[] {
  const text = readOwn(file);
  if (text === null) return [];
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** Adds files to a slot's touched list (newest last; the oldest go beyond TOUCHED_KEPT). */
export function recordTouched(file: string, files: string[]): void {
  if (!files.length) return;
  const now = new Set(files);
  const list = [...readTouched(file).filter((f) => !now.has(f)), ...now].slice(-TOUCHED_KEPT);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeOwn(file, JSON.stringify(list));
}

// --- mtimes -------------------------------------------------------------------------------------------------------

/** The mtime of a file whose content is the base's: older than any object of the tree, which was built from it. */
export const BASE_MTIME = new Date('2000-01-01T00:00:00Z');

/** Blob shas of `files` at `commit` (paths literal). */
export type BlobLookup = (commit: string, files: string[]) => Promise<Map<string, string>>;

/** `git ls-tree -z` output → path → blob sha. */
export function parseLsTree(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const entry of out.split('\0')) {
    const tab = entry.indexOf('\t');
    if (tab < 0) continue;
    const [, type, sha] = entry.slice(0, tab).split(' ');
    if (type === 'blob' && sha) m.set(entry.slice(tab + 1), sha);
  }
  return m;
}

export interface SourceTimes {
  /** Files given an old mtime: what the object trees were built from. */
  older: string[];
  /** Files given the current time: some tree holds objects of other content. */
  newer: string[];
  /** The content each regular file had (blob at head), for the layers' records. */
  heads: Map<string, string>;
}

/**
 * Gives the worktree's files the mtimes that let make skip exactly what every given tree already holds. A file is a
 * candidate when the series changes it, a run touched it in this slot, or a layer recorded it. For each layer (one per
 * object tree built from this worktree now): a recorded file whose content is the same is given back its recorded
 * mtime; a file of base content the layer never recorded gets BASE_MTIME (the lower tree was built from it); anything
 * else must look new. Several trees at once get the oldest time all of them accept, or now when one needs new.
 */
export async function restoreSourceTimes(o: {
  worktree: string;
  base: string;
  head: string;
  changed: string[];
  touched: string[];
  layers: Sources[];
  blobs: BlobLookup;
  now?: Date;
}): Promise<SourceTimes> {
  const now = o.now ?? new Date();
  const candidates = [...new Set([...o.changed, ...o.touched, ...o.layers.flatMap((l) => Object.keys(l))])].filter((f) => isRegularInTree(o.worktree, f)).sort();
  const result: SourceTimes = { older: [], newer: [], heads: new Map() };
  if (!candidates.length) return result;
  const heads = await o.blobs(o.head, candidates);
  const bases = o.head === o.base ? heads : await o.blobs(o.base, candidates);
  result.heads = heads;
  for (const f of candidates) {
    const cur = heads.get(f);
    let newer = cur === undefined;
    let oldest = Infinity;
    for (const layer of o.layers) {
      const rec = layer[f];
      if (rec) {
        if (rec.sha !== null && rec.sha === cur) oldest = Math.min(oldest, rec.mtimeMs);
        else newer = true;
      } else if (cur !== undefined && cur === bases.get(f)) {
        oldest = Math.min(oldest, BASE_MTIME.getTime());
      } else {
        newer = true;
      }
    }
    if (newer || oldest === Infinity) {
      setTimesInTree(o.worktree, f, now, now);
      result.newer.push(f);
    } else {
      setTimesInTree(o.worktree, f, new Date(oldest), new Date(oldest));
      result.older.push(f);
    }
  }
  return result;
}

/**
 * What a layer records after a build: the changed files as built (it passed); after a failure, the files whose content
 * is what the layer's objects were already built from keep their record (whatever make redid for them, it redid from
 * that content), and every other file is unknown, so the next build makes it again.
 */
export function layerSources(o: { worktree: string; changed: string[]; heads: Map<string, string>; previous: Sources; ok: boolean }): Sources {
  const out: Sources = {};
  if (o.ok) {
    for (const f of o.changed) {
      const sha = o.heads.get(f);
      const st = isRegularInTree(o.worktree, f) ? fs.lstatSync(path.join(o.worktree, f)) : null;
      if (sha && st) out[f] = { sha, mtimeMs: st.mtimeMs };
    }
    return out;
  }
  for (const f of new Set([...o.changed, ...Object.keys(o.previous)])) {
    const prev = o.previous[f];
    out[f] = prev && prev.sha !== null && prev.sha === o.heads.get(f) ? prev : { sha: null, mtimeMs: 0 };
  }
  return out;
}

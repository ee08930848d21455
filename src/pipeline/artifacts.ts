// A run's artefacts (kernel images, modules and tests disks, consoles, results) under DATA/artifacts/run-N:
// listed for the web and the API, and deleted once older than the configured time. Only the host writes there (a
// sandbox's outputs are copied in with ./safe-fs.ts), and only regular files below the run's folder, reached through
// real folders, are ever listed or served.
import fs from 'node:fs';
import path from 'node:path';
import { lstatInTree, pathInTree } from './safe-fs.js';

export function artifactsDir(dataDir: string, runId: number): string {
  return path.join(dataDir, 'artifacts', `run-${runId}`);
}

/** Files of a run's artefacts, as paths relative to its folder (build/…), with their sizes. */
export function listArtifacts(dataDir: string, runId: number): { path: string; bytes: number }[] {
  const root = artifactsDir(dataDir, runId);
  const out: { path: string; bytes: number }[] = [];
  // A running step writes beside a file and renames it over, and a new run clears its folder: an entry listed a
  // moment ago may be gone (ENOENT), which only means it is not there now.
  const gone = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      if (gone(e)) return;
      throw e;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        try {
          out.push({ path: path.relative(root, p), bytes: fs.lstatSync(p).size });
        } catch (err) {
          if (!gone(err)) throw err;
        }
      }
    }
  };
  walk(root);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** The absolute path of one artefact, or null when the name leaves the run's folder or does not exist. */
export function artifactFile(dataDir: string, runId: number, rel: string): string | null {
  const root = artifactsDir(dataDir, runId);
  try {
    if (!lstatInTree(root, rel)?.isFile()) return null;
    return pathInTree(root, rel);
  } catch {
    return null;
  }
}

/** Deletes the artefact folders last changed before `now - keepMs`; returns how many. */
export function pruneArtifacts(dataDir: string, keepMs: number, now = Date.now()): number {
  const root = path.join(dataDir, 'artifacts');
  let n = 0;
  for (const e of fs.existsSync(root) ? fs.readdirSync(root, { withFileTypes: true }) : []) {
    if (!e.isDirectory() || !/^run-\d+$/.test(e.name)) continue;
    const p = path.join(root, e.name);
    if (fs.statSync(p).mtimeMs < now - keepMs) {
      fs.rmSync(p, { recursive: true, force: true });
      n++;
    }
  }
  return n;
}

// Folders named after the process that made them (`<prefix><pid>…`), left behind when it was killed before it could
// remove them: found by asking whether that process still exists. Each owner (cgroups, the ccache socket) removes
// what it finds its own way.
import fs from 'node:fs';

/** The process exists (EPERM: it does, as another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The names in `names` that `pidOf` reads a process id from, whose process is neither this one nor alive. `pidOf`
 * returns null for a name that is not of the kind.
 */
export function namesOfDeadOwners(names: readonly string[], pidOf: (name: string) => number | null): string[] {
  return names.filter((name) => {
    const pid = pidOf(name);
    return pid !== null && pid !== process.pid && !processAlive(pid);
  });
}

/** namesOfDeadOwners over the entries of the folder `parent`; none when it cannot be read (absent, not ours). */
export function deadOwnersIn(parent: string, pidOf: (name: string) => number | null): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  return namesOfDeadOwners(names, pidOf);
}

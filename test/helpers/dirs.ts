// Temporary folders for tests, and a projects folder written from plain objects.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dump } from 'js-yaml';

export function tempDir(prefix = 'patchbay-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestProject {
  name?: string;
  slug: string;
  list: string;
  policy?: 'open' | 'members' | 'roster';
  maintainers?: string[];
  [key: string]: unknown;
}

/** Writes each project as <slug>.yaml in a new folder and returns the folder. */
export function projectsDir(projects: TestProject[]): string {
  const dir = tempDir('patchbay-projects-');
  for (const p of projects) {
    fs.writeFileSync(path.join(dir, `${p.slug}.yaml`), dump({ name: p.name ?? p.slug, ...p }));
  }
  return dir;
}

export const DEMO: TestProject = { slug: 'proctree', name: 'Proctree Syscall', list: 'proctree@lists.example.org', maintainers: ['teacher@example.org'] };

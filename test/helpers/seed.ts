// Puts subscribers and students into a data folder before the server starts, through the repositories, and reads it back.
import crypto from 'node:crypto';
import path from 'node:path';
import { openDatabase, type Db } from '../../src/db/database.js';
import { upsertStudents, type RosterEntry } from '../../src/db/student.repository.js';
import { saveSubscriber } from '../../src/db/subscriber.repository.js';
import { openCore } from '../../src/main.js';

/** Migrates the database, loads the projects, and adds active subscribers (and roster students) to one project. */
export async function seedProject(
  data: string,
  projects: string,
  slug: string,
  seed: { subscribers?: string[]; students?: RosterEntry[] },
): Promise<void> {
  const core = await openCore({ data, projects, logLevel: 'warn' }, {});
  try {
    const project = core.projects.find((p) => p.slug === slug);
    if (!project) throw new Error(`no project ${slug}`);
    for (const email of seed.subscribers ?? []) {
      await saveSubscriber(core.db, { projectId: project.id, email, state: 'active', token: crypto.randomBytes(16).toString('hex') });
    }
    if (seed.students) await upsertStudents(core.db, project.id, seed.students);
  } finally {
    await core.close();
  }
}

/** Opens the server's database from the test process (WAL lets both read and write), runs fn, closes it. */
export async function withDb<T>(data: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const { db } = openDatabase(path.join(data, 'patchbay.sqlite'));
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

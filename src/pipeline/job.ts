// What a run works on, read once from the database: the series, its patches as mbox messages, the policies.
import type { DbOrTx } from '../db/database.js';
import { seriesForRun } from '../db/pipeline.repository.js';
import { nameTitle } from '../series/patch-name.js';
import { baseCommit, signedOffBy } from '../series/trailers.js';
import type { Project } from '../config/projects.js';
import type { Job } from './types.js';

export type PipelineProject = Project & { id: number };

/** The mbox of one patch as Patchwork serves it (what `git am` and checkpatch read). */
export interface JobSource {
  patchMbox(patchId: number): Promise<{ body: Buffer }>;
}

export async function buildJob(db: DbOrTx, source: JobSource, runId: number, project: PipelineProject, seriesId: number): Promise<Job> {
  const data = await seriesForRun(db, seriesId);
  if (!data) throw new Error(`series ${seriesId} does not exist`);
  const { series, patches, cover } = data;
  const base = (cover && baseCommit(cover.content)) ?? patches.map((p) => p.base_commit ?? baseCommit(p.content)).find((b) => b) ?? null;
  const jobPatches = [];
  for (const p of patches) {
    jobPatches.push({
      id: p.id,
      number: p.number,
      // Findings say "patch 2/3 'title'": the position is theirs, the name's prefixes would say it twice.
      name: nameTitle(p.name),
      msgid: p.msgid,
      author: { name: p.author_name, email: p.author_email },
      signoffOk: p.signoff_ok === 1,
      signoffs: signedOffBy(p.content).map((s) => `${s.name} <${s.email}>`),
      diff: p.diff ?? '',
      mbox: (await source.patchMbox(p.id)).body.toString('utf8').replace(/\r\n/g, '\n'),
    });
  }
  return {
    runId,
    project: {
      slug: project.slug,
      name: project.name,
      branch: project.tree?.branch ?? 'master',
      checkpatch: project.checkpatch,
      testDescription: project.tests?.student ? { path: project.tests.student.path, required: project.tests.student.required } : null,
    },
    series: {
      id: series.id,
      name: series.name ?? patches[0]?.name ?? `series ${series.id}`,
      version: series.version,
      total: series.total,
      baseCommit: base,
      submitter: { name: series.submitter_name, email: series.submitter_email },
      patches: jobPatches,
    },
  };
}

// bench/assignments: what assignments cost. Files BENCH_SERIES single-patch series (every tenth with an `[hw1]` tag,
// every tenth adding a test definition) through the real intake and series engine, with and without the project's
// assignments, and prints the filing time per mail of each, then the time to match every series again at a start
// whose rules changed, and to build the gradebook. Wall-clock figures: compare them on one machine.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../src/log.js';
import { compileAssignments } from '../src/series/assignment.js';
import { rematchProject } from '../src/series/assignment.service.js';
import { createProjectPagesService } from '../src/web/project-pages.service.js';
import { parseProjectFile } from '../src/config/projects.js';
import { readMboxFile, startIngestHarness } from '../test/helpers/ingest-harness.js';
import { startBench } from './lib/run-info.js';

startBench('assignments');

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.BENCH_SERIES ?? 1000);
const project = parseProjectFile(
  'bench.yaml',
  JSON.stringify({
    name: 'Bench',
    slug: 'proctree',
    list: 'proctree@lists.example.org',
    assignments: [
      { name: 'hw1', title: 'One', deadline: '2100-01-01T00:00:00Z', match: { tag: 'hw1' } },
      { name: 'hw2', title: 'Two', deadline: '2020-01-01T00:00:00Z', match: { path: 'tests/*.yaml' } },
    ],
  }),
);
const [single] = await readMboxFile(path.join(ROOT, 'test/fixtures/series/single.mbox'));
const roster = ['login,name,email', 'zetu,Zoé Étudiante,zoe@students.example.org'].join('\n');

function mail(i: number): Buffer {
  let text = single!.toString('latin1');
  const tag = i % 10 === 0 ? '[PATCH hw1]' : '[PATCH]';
  text = text.replace(/^Subject: .*$/m, `Subject: ${tag} change number ${i}`).replace(/^Message-Id: .*$/m, `Message-Id: <bench-${i}@students.example.org>`);
  if (i % 10 === 5) text = text.split('proctree.c').join('tests/mine.yaml');
  return Buffer.from(text, 'latin1');
}

async function fileAll(withAssignments: boolean) {
  const h = await startIngestHarness({ roster, assignments: withAssignments ? compileAssignments(project.assignments) : undefined });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await h.deliver(mail(i));
  return { h, ms: performance.now() - t0 };
}

const without = await fileAll(false);
console.log(`filing ${N} series without assignments: ${(without.ms / N).toFixed(2)} ms per mail`);
await without.h.close();
const { h, ms } = await fileAll(true);
console.log(`filing ${N} series with assignments:    ${(ms / N).toFixed(2)} ms per mail`);

const log = createLogger('silent');
let t = performance.now();
const matched = await rematchProject(h.db, h.projectId, [...project.assignments].reverse(), log);
console.log(`matching ${matched} series again at a start (rules changed): ${(performance.now() - t).toFixed(0)} ms`);
t = performance.now();
await rematchProject(h.db, h.projectId, [...project.assignments].reverse(), log);
console.log(`a start with the same rules: ${(performance.now() - t).toFixed(1)} ms`);

const pages = createProjectPagesService({ db: h.db, projects: [{ ...project, id: h.projectId }], pipelineOn: false });
t = performance.now();
const page = await pages.students('proctree');
const attempts = page.assignments.reduce((n, a) => n + a.students.reduce((m, s) => m + s.attempts.length, 0), 0);
console.log(`gradebook of ${attempts} attempts: ${(performance.now() - t).toFixed(0)} ms`);
await h.close();

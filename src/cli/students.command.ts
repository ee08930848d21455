// `patchbay students import --project SLUG roster.csv`: loads the course roster (who may post under the roster policy).
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { invalid, notFound } from '../errors.js';
import { openCore } from '../main.js';
import { importRoster } from '../smtp/roster.service.js';
import { coreOptions } from './core-options.js';

export function studentsCommand(program: Command): void {
  const cmd = program.command('students').description("manage a project's roster of students");

  coreOptions(cmd.command('import').description('import a roster CSV: login,name,email[,email...] (header row optional)'))
    .argument('<roster.csv>', 'the roster file')
    .requiredOption('--project <slug>', 'the project')
    .action(async (file: string, opts: { project: string; data?: string; projects?: string }) => {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw invalid('roster_unreadable', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      const core = await openCore({ data: opts.data, projects: opts.projects });
      try {
        const project = core.projects.find((p) => p.slug === opts.project);
        if (!project) throw notFound('project_unknown', `no such project: ${opts.project}`);
        const n = await importRoster(core.db, project.id, path.basename(file), text);
        process.stdout.write(`imported ${n} student${n === 1 ? '' : 's'} into ${project.slug}\n`);
      } finally {
        await core.close();
      }
    });
}

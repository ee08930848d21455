// `patchbay students import|list|remove --project SLUG`: the course roster (who may post under the roster policy).
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { RosterChanges } from '../config/roster.js';
import { invalid, notFound } from '../errors.js';
import { openCore, type Core } from '../core.js';
import { importRoster, removeStudent, rosterOfProject } from '../smtp/roster.service.js';
import { coreOptions } from './core-options.js';

interface Opts {
  project: string;
  json?: boolean;
  data?: string;
  projects?: string;
  baseUrl?: string;
}

/**
 * A private project's students log in to see their work: each one without an account gets one and a first-login
 * link by mail (queued; the server sends it). The link must be absolute, so it needs the web view's public URL.
 */
async function makeAccounts(core: Core, projectId: number, baseUrl: string | undefined): Promise<string> {
  const project = core.projects.find((p) => p.id === projectId)!;
  if (project.visibility !== 'private') return '';
  const base = baseUrl ?? core.config.baseUrl ?? '';
  if (!base) return 'no accounts made: set --base-url (PATCHBAY_BASE_URL) to mail first-login links, or students ask for one at /password/reset/\n';
  // Loaded here, not with every command (`patchbay import` among them).
  const { createStudentAccounts } = await import('../web/student-accounts.service.js');
  const accounts = createStudentAccounts({ db: core.db, projects: core.projects, baseUrl: () => base, hostname: core.config.hostname, kick: () => {} });
  const made = await accounts.createAccounts(projectId);
  return made.length ? `accounts made, first-login link queued: ${made.join(', ')}\n` : '';
}

async function withProject<T>(opts: Opts, fn: (core: Core, projectId: number) => Promise<T>): Promise<T> {
  const core = await openCore({ data: opts.data, projects: opts.projects });
  try {
    const project = core.projects.find((p) => p.slug === opts.project);
    if (!project) throw notFound('project_unknown', `no such project: ${opts.project}`);
    return await fn(core, project.id);
  } finally {
    await core.close();
  }
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** One line per change, then what was kept; "no changes" when the file matches the roster (an import repeated). */
export function describeChanges(slug: string, c: RosterChanges): string {
  const lines: string[] = [];
  for (const a of c.added) lines.push(`added    ${a.login} (${a.name}) ${a.emails.join(', ')}`);
  for (const u of c.updated) {
    const what: string[] = [];
    if (u.name) what.push(`name "${u.name.from}" -> "${u.name.to}"`);
    if (u.emailsAdded.length) what.push(`+${u.emailsAdded.join(', +')}`);
    if (u.emailsRemoved.length) what.push(`-${u.emailsRemoved.join(', -')}`);
    lines.push(`updated  ${u.login}: ${what.join('; ')}`);
  }
  for (const k of c.notInFile) lines.push(`kept     ${k.login} (${k.name}): not in the file; \`patchbay students remove --project ${slug} ${k.login}\` removes them`);
  const total = c.added.length + c.updated.length;
  lines.push(
    total === 0
      ? `no changes to ${slug} (${plural(c.unchanged, 'student')} as in the file)`
      : `${slug}: ${c.added.length} added, ${c.updated.length} updated, ${c.unchanged} unchanged, ${c.notInFile.length} not in the file kept`,
  );
  return lines.join('\n') + '\n';
}

export function studentsCommand(program: Command): void {
  const cmd = program.command('students').description("manage a project's roster of students");

  coreOptions(
    cmd
      .command('import')
      .description(
        'import a roster CSV: login,name,email[,email...] (header row optional); prints what changed; students not in the file are kept',
      ),
  )
    .argument('<roster.csv>', 'the roster file')
    .requiredOption('--project <slug>', 'the project')
    .option('--base-url <url>', "the web view's public URL, for the first-login links of a private project's new accounts")
    .action(async (file: string, opts: Opts) => {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw invalid('roster_unreadable', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      await withProject(opts, async (core, id) => {
        process.stdout.write(describeChanges(opts.project, await importRoster(core.db, id, path.basename(file), text)));
        process.stdout.write(await makeAccounts(core, id, opts.baseUrl));
      });
    });

  coreOptions(cmd.command('list').description('print the roster: login, name, series sent, email addresses'))
    .requiredOption('--project <slug>', 'the project')
    .option('--json', 'one JSON array instead of the table')
    .action(async (opts: Opts) => {
      const rows = await withProject(opts, (core, id) => rosterOfProject(core.db, id));
      if (opts.json) {
        process.stdout.write(JSON.stringify(rows.map((r) => ({ login: r.login, name: r.name, emails: r.emails, series: r.series }))) + '\n');
        return;
      }
      const lw = Math.max(5, ...rows.map((r) => r.login.length));
      const nw = Math.max(4, ...rows.map((r) => r.name.length));
      const lines = rows.map((r) => `${r.login.padEnd(lw)}  ${r.name.padEnd(nw)}  ${String(r.series).padStart(6)}  ${r.emails.join(', ')}`);
      process.stdout.write([`${'LOGIN'.padEnd(lw)}  ${'NAME'.padEnd(nw)}  SERIES  EMAILS`, ...lines].join('\n') + '\n');
    });

  coreOptions(
    cmd
      .command('remove')
      .description('remove a student from the roster; their series stay, still counted as theirs, but they may no longer post under the roster policy'),
  )
    .argument('<login>', "the student's login")
    .requiredOption('--project <slug>', 'the project')
    .action(async (login: string, opts: Opts) => {
      const s = await withProject(opts, (core, id) => removeStudent(core.db, id, login));
      process.stdout.write(`removed ${s.login} (${s.name}, ${s.emails.join(', ')}) from ${opts.project}; ${plural(s.series, 'series', 'series')} kept\n`);
    });
}

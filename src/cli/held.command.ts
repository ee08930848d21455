// `patchbay held list|approve ID|reject ID --project SLUG`: the moderation queue from the command line.
import type { Command } from 'commander';
import type { Flags } from '../config/config.js';
import { invalid } from '../errors.js';
import { openCore, type Core } from '../core.js';
import type { ModerationDeps } from '../smtp/moderation.service.js';

interface HeldFlags {
  project: string;
  data?: string;
  projects?: string;
  baseUrl?: string;
  reason?: string;
}

function common(cmd: Command): Command {
  return cmd
    .requiredOption('--project <slug>', 'the project whose list it is')
    .option('--data <dir>', 'data directory (PATCHBAY_DATA)')
    .option('--projects <dir>', 'directory of project files (PATCHBAY_PROJECTS)')
    .option('--base-url <url>', 'public URL of the web view, for the List-* headers of approved posts (PATCHBAY_BASE_URL)');
}

async function withModeration<T>(opts: HeldFlags, run: (deps: ModerationDeps, core: Core) => Promise<T>): Promise<T> {
  const flags: Flags = { data: opts.data, projects: opts.projects, baseUrl: opts.baseUrl };
  const core = await openCore(flags);
  try {
    // The mail reader's worker starts only when a post is approved (listing and rejecting read no mail).
    const deps: ModerationDeps = { db: core.db, projects: core.projects, urls: { base: core.config.baseUrl ?? '' }, hostname: core.config.hostname, file: core.file, read: (jobs) => core.reader().read(jobs) };
    return await run(deps, core);
  } finally {
    await core.close();
  }
}

/** Loaded when a held command runs, not with every command (`patchbay import` among them). */
const moderation = () => import('../smtp/moderation.service.js');

function mailId(text: string): number {
  if (!/^\d+$/.test(text)) throw invalid('invalid_id', `"${text}" is not a mail id (see \`patchbay held list\`)`);
  return Number(text);
}

/** Plain text columns: each as wide as its widest cell; the last one is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function heldCommand(program: Command): void {
  const held = program.command('held').description('posts held by the posting policy, waiting for a moderator');

  common(held.command('list').description('list the held posts of a project')).action((opts: HeldFlags) =>
    withModeration(opts, async (deps) => {
      const posts = await (await moderation()).listHeld(deps, opts.project);
      if (!posts.length) {
        process.stdout.write(`no held posts on the ${opts.project} list\n`);
        return;
      }
      const rows = posts.map((p) => [String(p.id), p.receivedAt.slice(0, 19).replace('T', ' '), p.from ?? '', p.reason ?? '', p.subject ?? '']);
      process.stdout.write(table(['ID', 'RECEIVED', 'FROM', 'HELD FOR', 'SUBJECT'], rows));
    }),
  );

  common(held.command('approve <id>').description('relay a held post to the list')).action((id: string, opts: HeldFlags) =>
    withModeration(opts, async (deps) => {
      const r = await (await moderation()).approveHeld(deps, opts.project, mailId(id));
      process.stdout.write(`approved post ${r.mailId}: ${r.copies} ${r.copies === 1 ? 'copy' : 'copies'} queued\n`);
    }),
  );

  common(held.command('reject <id>').description('drop a held post and tell its sender'))
    .option('--reason <text>', 'a sentence for the sender')
    .action((id: string, opts: HeldFlags) =>
      withModeration(opts, async (deps) => {
        const r = await (await moderation()).rejectHeld(deps, opts.project, mailId(id), opts.reason ?? '');
        process.stdout.write(`rejected post ${r.mailId}: notice queued to ${r.noticeTo}\n`);
      }),
    );
}

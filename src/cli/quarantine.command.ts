// `patchbay quarantine list|retry ID`: mails whose processing failed on every attempt, and a retry by hand.
import type { Command } from 'commander';
import type { MailState } from '../db/schema.js';
import { invalid } from '../errors.js';
import { openCore, processingOptions } from '../core.js';
import { ProcessingService } from '../smtp/processing.service.js';
import { QuarantineService } from '../smtp/quarantine.service.js';
import { coreOptions } from './core-options.js';
import { table } from './held.command.js';

interface Opts {
  data?: string;
  projects?: string;
  baseUrl?: string;
  limit?: string;
}

function mailId(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw invalid('invalid_id', `"${text}" is not a mail id (see \`patchbay quarantine list\`)`);
  return Number(text);
}

/** One line of a table cell: the error texts may hold newlines and tabs. */
const cell = (s: string | null, max = 120) => (s ?? '').replace(/\s+/g, ' ').slice(0, max);

export function quarantineCommand(program: Command): void {
  const cmd = program.command('quarantine').description('mails whose processing failed on every attempt, kept with the error');

  coreOptions(cmd.command('list').description('list quarantined mails, newest first'))
    .option('--limit <n>', 'how many', '100')
    .action(async (opts: Opts) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw invalid('invalid_limit', `--limit: expected an integer from 1 to 100000, got "${opts.limit}"`);
      const core = await openCore({ data: opts.data, projects: opts.projects });
      try {
        const q = new QuarantineService(core.db, core.projects, core.config.mail.attempts, () => {});
        const { total, mails } = await q.list({ limit, offset: 0 });
        if (!total) {
          process.stdout.write('no quarantined mail\n');
          return;
        }
        const rows = mails.map((m) => [String(m.id), m.project, m.route, m.receivedAt.slice(0, 19).replace('T', ' '), cell(m.fromAddr ?? m.envelopeFrom, 60), String(m.attempts), cell(m.subject, 60), cell(m.error)]);
        process.stdout.write(table(['ID', 'LIST', 'ROUTE', 'RECEIVED', 'FROM', 'ATTEMPTS', 'SUBJECT', 'ERROR'], rows));
        if (total > mails.length) process.stdout.write(`(${mails.length} of ${total}; --limit for more)\n`);
      } finally {
        await core.close();
      }
    });

  coreOptions(cmd.command('retry <id>').description('process a quarantined mail again, now (one more attempt)'))
    .option('--base-url <url>', 'public URL of the web view, for the List-* headers of a relayed post (PATCHBAY_BASE_URL)')
    .action(async (id: string, opts: Opts) => {
      const core = await openCore({ data: opts.data, projects: opts.projects, baseUrl: opts.baseUrl });
      try {
        // Processed here, through the handlers the server uses: mail it queues goes out with the server's next poll.
        const { routeHandlers } = await import('../main.js');
        const { handlers } = routeHandlers(core, { base: core.config.baseUrl ?? '' }, () => {});
        const processing = new ProcessingService(core.db, handlers, core.log.child({ subsystem: 'processing' }), () => {}, processingOptions(core));
        const q = new QuarantineService(core.db, core.projects, core.config.mail.attempts, (mail) => processing.processOne(mail));
        const state = (await q.retry(mailId(id))) as MailState | null;
        if (state === 'quarantined') {
          process.stdout.write(`mail ${id} failed again and is back in quarantine: ${cell(await q.error(Number(id)), 1000)}\n`);
          process.exitCode = 1;
        } else {
          process.stdout.write(`mail ${id} processed: ${state ?? 'no longer stored'}\n`);
        }
      } finally {
        await core.close();
      }
    });
}

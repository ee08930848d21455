// `patchbay import --project SLUG FILE.mbox`: backfills a list archive (mboxo/mboxrd, plain or gzip), with progress.
import fs from 'node:fs';
import cliProgress from 'cli-progress';
import { Option, type Command } from 'commander';
import { AppError, invalid, notFound } from '../errors.js';
import { openCore } from '../core.js';
import { importMessages, type ImportSummary } from '../smtp/import.service.js';
import { countMbox, openMbox, splitMbox, type MboxFormat } from '../smtp/mbox.js';
import { createBackfillHandler } from '../smtp/processing.service.js';
import { coreOptions } from './core-options.js';

interface Opts {
  project: string;
  format: MboxFormat;
  data?: string;
  projects?: string;
}

/** The line scripts read: every count, the time and the rate. */
export function summaryLine(s: ImportSummary): string {
  const rate = s.seconds > 0 ? s.done / s.seconds : s.done;
  const quarantined = s.quarantined ? `, quarantined ${s.quarantined}` : '';
  return `imported ${s.imported}, duplicates ${s.duplicates}, malformed ${s.malformed}${quarantined} in ${s.seconds.toFixed(1)} s (${rate.toFixed(0)} mails/s)`;
}

export function importCommand(program: Command): void {
  coreOptions(program.command('import').description('import a list archive (mbox, mbox.gz) through the same storage and processing as SMTP'))
    .argument('<file>', 'the mbox file (gzip is recognized by its content)')
    .requiredOption('--project <slug>', 'the project whose list archive receives the mail')
    .addOption(new Option('--format <format>', 'how ">From " lines are quoted').choices(['mboxrd', 'mboxo']).default('mboxrd'))
    .action(async (file: string, opts: Opts) => {
      try {
        fs.accessSync(file, fs.constants.R_OK);
      } catch (e) {
        throw invalid('mbox_unreadable', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      // No checkpointer thread: a bulk load checkpoints on its own connection, seldom (setBulkLoad), and a thread
      // checkpointing every 500 ms copies the same index pages into the database file again and again.
      const core = await openCore({ data: opts.data, projects: opts.projects }, undefined, { checkpointAside: false });
      try {
        const project = core.projects.find((p) => p.slug === opts.project);
        if (!project) throw notFound('project_unknown', `no such project: ${opts.project}`);

        // A terminal gets a live bar; its total comes from a quick first pass that only counts separators.
        const tty = Boolean(process.stderr.isTTY);
        let bar: cliProgress.SingleBar | null = null;
        const started = Date.now();
        if (tty) {
          process.stderr.write(`counting messages in ${file}…\n`);
          const total = await countMbox(openMbox(file).stream);
          bar = new cliProgress.SingleBar(
            { format: '{bar} {value}/{total} mails | {rate} mails/s | ETA {eta_formatted}', etaBuffer: 200, hideCursor: true },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, 0, { rate: '0' });
        }
        let summary: ImportSummary;
        try {
          summary = await importMessages(
            {
              db: core.db,
              hostname: core.config.hostname,
              backfill: createBackfillHandler(core.file),
              read: core.reader().read,
              slugs: core.slugs,
              maxAttempts: core.config.mail.attempts,
              log: core.log.child({ subsystem: 'import' }),
            },
            project,
            splitMbox(openMbox(file).stream, opts.format),
            {
              onProgress: bar
                ? (c) => bar.update(c.done, { rate: (c.done / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(0) })
                : undefined,
            },
          );
        } finally {
          bar?.stop();
        }
        process.stdout.write(summaryLine(summary) + '\n');
        if (summary.quarantined) {
          process.stderr.write(`${summary.quarantined} mails could not be processed and are quarantined: see \`patchbay quarantine list\`\n`);
        }
        if (summary.failed) {
          throw new AppError('internal', 'import_incomplete', `${summary.failed} mails were stored but could not be processed; the next start of the server processes them`);
        }
      } finally {
        await core.close();
      }
    });
}

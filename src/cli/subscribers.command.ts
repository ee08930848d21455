// `patchbay subscribers add|remove|list --project SLUG`: the operator's direct changes, with no confirmation round-trip.
import type { Command } from 'commander';
import { openCore } from '../core.js';
import type { SubscriptionService } from '../smtp/subscription.service.js';
import { coreOptions } from './core-options.js';

interface Opts {
  project: string;
  name?: string;
  data?: string;
  projects?: string;
}

async function withService(opts: Opts, fn: (s: SubscriptionService) => Promise<void>): Promise<void> {
  const core = await openCore({ data: opts.data, projects: opts.projects });
  try {
    // Loaded here, not with every command (`patchbay import` among them).
    const { createSubscriptionService } = await import('../smtp/subscription.service.js');
    const service = createSubscriptionService({
      db: core.db,
      projects: core.projects,
      urls: { base: core.config.baseUrl ?? '' },
      hostname: core.config.hostname,
      // Admin changes queue no mail; a running server's worker would pick up anything queued anyway.
      kick: () => {},
      log: core.log.child({ subsystem: 'subscribers' }),
    });
    await fn(service);
  } finally {
    await core.close();
  }
}

export function subscribersCommand(program: Command): void {
  const cmd = program.command('subscribers').description("manage a list's subscribers (no confirmation mail is sent)");

  coreOptions(cmd.command('add').description('subscribe an address at once'))
    .argument('<email>', 'address to subscribe')
    .requiredOption('--project <slug>', 'the project (list)')
    .option('--name <name>', 'display name')
    .action(async (email: string, opts: Opts) =>
      withService(opts, async (s) => {
        const r = await s.adminAdd(opts.project, email, opts.name ?? null);
        process.stdout.write(r === 'added' ? `subscribed ${email.toLowerCase()} to ${opts.project}\n` : `${email.toLowerCase()} is already subscribed to ${opts.project}\n`);
      }),
    );

  coreOptions(cmd.command('remove').description('unsubscribe an address at once'))
    .argument('<email>', 'address to unsubscribe')
    .requiredOption('--project <slug>', 'the project (list)')
    .action(async (email: string, opts: Opts) =>
      withService(opts, async (s) => {
        await s.adminRemove(opts.project, email);
        process.stdout.write(`unsubscribed ${email.toLowerCase()} from ${opts.project}\n`);
      }),
    );

  coreOptions(cmd.command('list').description('print every subscriber: email, state, bounce score, name'))
    .requiredOption('--project <slug>', 'the project (list)')
    .action(async (opts: Opts) =>
      withService(opts, async (s) => {
        const rows = await s.subscribers(opts.project);
        const width = Math.max(5, ...rows.map((r) => r.email.length));
        const lines = rows.map((r) => `${r.email.padEnd(width)}  ${r.state.padEnd(12)}  ${String(r.bounceScore).padStart(7)}  ${r.name ?? ''}`.trimEnd());
        process.stdout.write([`${'EMAIL'.padEnd(width)}  ${'STATE'.padEnd(12)}  BOUNCES  NAME`, ...lines].join('\n') + '\n');
      }),
    );
}

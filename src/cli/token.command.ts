// `patchbay token create --email E`: issues the user's REST API token (replacing any earlier one) and prints it once.
import type { Command } from 'commander';
import { openCore } from '../core.js';
import { createToken } from '../api/user.service.js';
import { coreOptions } from './core-options.js';

export function tokenCommand(program: Command): void {
  const cmd = program.command('token').description('REST API tokens (Authorization: Token …)');

  coreOptions(cmd.command('create').description("print a new API token for the user; only its sha256 is stored, so keep it"))
    .requiredOption('--email <address>', 'the user')
    .action(async (opts: { email: string; data?: string; projects?: string }) => {
      const core = await openCore({ data: opts.data, projects: opts.projects });
      try {
        process.stdout.write(`${await createToken(core.db, opts.email)}\n`);
      } finally {
        await core.close();
      }
    });
}

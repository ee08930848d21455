// `patchbay user add --email E --name N --role admin|maintainer|student [--username U] [--password-stdin] [--update]`,
// `patchbay user list`, `patchbay user password --email E`.
import type { Command } from 'commander';
import { AppError, invalid, isAppError } from '../errors.js';
import { openCore } from '../core.js';
import { addUser, listUsersForOperator, ROLES, setPassword } from '../api/user.service.js';
import { coreOptions } from './core-options.js';

/** The password from standard input (first line), so that it appears in no argument list or shell history. */
async function readPassword(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (!password) throw invalid('user_password', '--password-stdin: standard input held no password');
  return password;
}

interface UserFlags {
  email: string;
  name: string;
  role: string;
  username?: string;
  passwordStdin?: boolean;
  update?: boolean;
  data?: string;
  projects?: string;
}

export function userCommand(program: Command): void {
  const cmd = program.command('user').description('manage the users of the web view and the REST API');

  coreOptions(cmd.command('add').description('add a user (maintainers of a project are listed by email in its project file)'))
    .requiredOption('--email <address>', 'their email address (links them to the patches they send)')
    .requiredOption('--name <name>', 'their full name')
    .requiredOption('--role <role>', ROLES.join(' | '))
    .option('--username <name>', 'login name (default: the local part of the email)')
    .option('--password-stdin', 'read a password (web login, HTTP basic auth; stored as argon2id) from standard input')
    .option('--update', 'if the email has a user already, set their name, role (and password with --password-stdin) instead of failing')
    .action(async (opts: UserFlags) => {
      const password = opts.passwordStdin ? await readPassword() : undefined;
      const core = await openCore({ data: opts.data, projects: opts.projects });
      try {
        const u = await addUser(core.db, { email: opts.email, name: opts.name, role: opts.role, username: opts.username, password }, { update: opts.update });
        const said = { added: 'added user', updated: 'updated user', unchanged: 'no changes to user' }[u.action];
        process.stdout.write(`${said} ${u.username} (id ${u.id}, ${opts.role})\n`);
      } catch (e) {
        // Exit non-zero with what exists and the flag that would change it; nothing was written.
        if (isAppError(e) && e.code === 'user_exists') throw new AppError(e.kind, e.code, `${e.message}; add --update to change their name, role or password`);
        throw e;
      } finally {
        await core.close();
      }
    });

  coreOptions(cmd.command('list').description('print every user: email, username, name, roles, password set, API tokens (never a password or token)'))
    .option('--json', 'one JSON array instead of the table')
    .action(async (opts: { json?: boolean; data?: string; projects?: string }) => {
      const core = await openCore({ data: opts.data, projects: opts.projects });
      try {
        const users = await listUsersForOperator(core.db, core.projects);
        if (opts.json) {
          process.stdout.write(JSON.stringify(users) + '\n');
          return;
        }
        const rows = users.map((u) => [u.email, u.username, u.name, u.roles.join(', '), u.password ? 'yes' : 'no', String(u.tokens)]);
        const head = ['EMAIL', 'USERNAME', 'NAME', 'ROLES', 'PASSWORD', 'TOKENS'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
        process.stdout.write([line(head), ...rows.map(line)].join('\n') + '\n');
      } finally {
        await core.close();
      }
    });

  coreOptions(cmd.command('password').description("set a user's password (web login, HTTP basic auth), read from standard input"))
    .requiredOption('--email <address>', 'the user')
    .action(async (opts: { email: string; data?: string; projects?: string }) => {
      const password = await readPassword();
      const core = await openCore({ data: opts.data, projects: opts.projects });
      try {
        await setPassword(core.db, opts.email, password);
        process.stdout.write(`password set for ${opts.email}\n`);
      } finally {
        await core.close();
      }
    });
}

// `patchbay setup-student --project SLUG [--server HOST] [--port N]`: prints the `git config sendemail.*` lines with
// which a student's `git send-email` posts to the project's list on this server, as shell commands to run (or pipe
// to `sh`) in the student's repository.
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { loadProjects } from '../config/projects.js';
import { invalid, notFound } from '../errors.js';

export interface SendemailTarget {
  list: string;
  server: string;
  port: number;
  /** The server offers STARTTLS (it runs with --tls-cert/--tls-key). */
  starttls: boolean;
}

/**
 * The settings, in the order printed. Why each:
 * - smtpServer/smtpServerPort/to: where the series goes, so a bare `git send-email FILES` needs no flags;
 * - smtpEncryption: STARTTLS when the server offers it, else `none` over a setting left from another server;
 * - smtpAuth none: patchbay takes list posts without AUTH, and a global smtpUser would make git refuse to send;
 * - suppresscc self: no copy of your own mail (the bot's reply is what you get); the other Ccs git adds (a patch's
 *   author, Signed-off-by, Cc: trailers) are accepted by patchbay alongside the list and relayed to no one;
 * - confirm never: the recipients are fixed by the lines above, so the send does not stop to ask.
 */
export function sendemailSettings(t: SendemailTarget): [string, string][] {
  return [
    ['sendemail.smtpServer', t.server],
    ['sendemail.smtpServerPort', String(t.port)],
    ['sendemail.smtpEncryption', t.starttls ? 'tls' : 'none'],
    ['sendemail.smtpAuth', 'none'],
    ['sendemail.to', t.list],
    ['sendemail.suppresscc', 'self'],
    ['sendemail.confirm', 'never'],
  ];
}

/** A word for sh: as is when it holds only safe characters, else single-quoted. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function sendemailScript(slug: string, t: SendemailTarget): string {
  const lines = [`# git send-email to ${t.list} (project ${slug}) through ${t.server}:${t.port}; run in your repository`];
  for (const [key, value] of sendemailSettings(t)) lines.push(`git config ${key} ${shellWord(value)}`);
  return `${lines.join('\n')}\n`;
}

interface SetupStudentFlags {
  project: string;
  server?: string;
  port?: string;
  projects?: string;
}

export function setupStudentCommand(program: Command): void {
  program
    .command('setup-student')
    .description("print the git config sendemail.* lines a student runs (or pipes to sh) so that git send-email posts to the project's list")
    .requiredOption('--project <slug>', 'the project whose list the student sends to')
    .option('--server <host>', "this server's name or address as the students reach it (default: --smtp-host / PATCHBAY_SMTP_HOST, or --hostname when that listens on every address)")
    .option('--port <n>', "this server's SMTP port (default: --smtp-port / PATCHBAY_SMTP_PORT, 2525)")
    .option('--projects <dir>', 'directory of project files (PATCHBAY_PROJECTS; default: ./projects)')
    .action((opts: SetupStudentFlags) => {
      const config = loadConfig({ projects: opts.projects });
      const project = loadProjects(config.projectsDir).find((p) => p.slug === opts.project);
      if (!project) throw notFound('project_not_found', `no project ${opts.project} in ${config.projectsDir}`);
      let port = config.smtpPort;
      if (opts.port !== undefined) {
        port = Number(opts.port);
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('port_invalid', `--port: ${opts.port} is not a port number (1-65535)`);
      }
      if (port === 0) throw invalid('port_invalid', 'the server listens on any free port (--smtp-port 0): give the one it took with --port');
      const wildcard = ['0.0.0.0', '::', ''].includes(config.smtpHost);
      const server = opts.server ?? (wildcard ? config.hostname : config.smtpHost);
      process.stdout.write(sendemailScript(project.slug, { list: project.addresses.list, server, port, starttls: config.tls !== null }));
    });
}

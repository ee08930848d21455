// The `patchbay` command line: `serve` and the operator commands, each a thin call into services.
import fs from 'node:fs';
import { Command, Option } from 'commander';
import { isAppError } from './errors.js';
import type { Flags } from './config/config.js';
import { doctorCommand } from './cli/doctor.command.js';
import { heldCommand } from './cli/held.command.js';
import { importCommand } from './cli/import.command.js';
import { quarantineCommand } from './cli/quarantine.command.js';
import { subscribersCommand } from './cli/subscribers.command.js';
import { studentsCommand } from './cli/students.command.js';
import { tokenCommand } from './cli/token.command.js';
import { userCommand } from './cli/user.command.js';
import { workerCommand } from './cli/worker.command.js';
import { serveDefaults } from './cli/serve-help.js';
import { setupStudentCommand } from './cli/setup-student.command.js';

/** The version of package.json, the one `patchbay --version` prints. */
export function patchbayVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Appends "(default: …)" to each of the command's options that has a default and whose text does not give it. */
function showDefaults(cmd: Command, defaults: Record<string, string>): void {
  for (const o of cmd.options) {
    const d = defaults[o.attributeName()];
    if (d !== undefined && !/\bdefault\b/.test(o.description)) o.description = `${o.description} (default: ${d})`;
  }
}

function serverOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--data <dir>', 'data directory (SQLite, outbox, logs)').env('PATCHBAY_DATA'))
    .addOption(new Option('--projects <dir>', 'directory of project files').env('PATCHBAY_PROJECTS'));
}

export function buildCli(): Command {
  const program = new Command('patchbay').description('Patch review, mailing list and CI for projects that work by mail');
  program.exitOverride();
  program.version(patchbayVersion(), '-V, --version', 'print the version of patchbay');
  // Each command's options belong to it, in order: `worker token create NAME --data DIR` gives --data to the token
  // command, not to `worker` (commander otherwise splits the words before a subcommand from the options after it).
  program.enablePositionalOptions();

  const serveCmd = serverOptions(program.command('serve').description('run the SMTP and HTTP servers'))
    .option('--smtp-host <host>', 'SMTP listen address (PATCHBAY_SMTP_HOST)')
    .option('--smtp-port <n>', 'SMTP port, 0 = any free port (PATCHBAY_SMTP_PORT)')
    .option('--http-host <host>', 'HTTP listen address (PATCHBAY_HTTP_HOST)')
    .option('--http-port <n>', 'HTTP port, 0 = any free port (PATCHBAY_HTTP_PORT)')
    .option('--base-url <url>', 'public URL of the web view, used in mail headers, links and redirects (PATCHBAY_BASE_URL)')
    .option(
      '--trust-proxy <list>',
      'reverse proxies whose X-Forwarded-For/-Host/-Proto are believed: addresses, CIDRs, loopback; default none (PATCHBAY_TRUST_PROXY)',
    )
    .option('--hostname <name>', 'name in the SMTP greeting and generated Message-IDs (PATCHBAY_HOSTNAME)')
    .option('--outbound <mode>', 'outbox | smtp://HOST:PORT (PATCHBAY_OUTBOUND)')
    .option('--tls-cert <file>', 'PEM certificate for STARTTLS (PATCHBAY_TLS_CERT)')
    .option('--tls-key <file>', 'PEM key for STARTTLS (PATCHBAY_TLS_KEY)')
    .option('--smtp-max-size <bytes>', 'largest message accepted (PATCHBAY_SMTP_MAX_SIZE)')
    .option('--smtp-max-recipients <n>', 'recipients per message (PATCHBAY_SMTP_MAX_RECIPIENTS)')
    .option('--smtp-conn-per-min <n>', 'connections per client address per minute, 0 = no limit (PATCHBAY_SMTP_CONN_PER_MIN)')
    .option('--smtp-msg-per-min <n>', 'messages per client address per minute, 0 = no limit (PATCHBAY_SMTP_MSG_PER_MIN)')
    .option('--smtp-idle-timeout <s>', 'seconds before an idle SMTP client is dropped (PATCHBAY_SMTP_IDLE_TIMEOUT)')
    .option('--smtp-max-clients <n>', 'SMTP connections open at once, all clients (PATCHBAY_SMTP_MAX_CLIENTS)')
    .option('--smtp-max-per-address <n>', 'SMTP connections one client address (IPv6: its /64) holds at once, 0 = no limit; default a tenth of --smtp-max-clients (PATCHBAY_SMTP_MAX_PER_ADDRESS)')
    .option('--smtp-reserved-slots <n>', 'last SMTP slots, given only to addresses holding no connection; default a quarter of --smtp-max-clients (PATCHBAY_SMTP_RESERVED_SLOTS)')
    .option('--smtp-command-time <s>', 'seconds an SMTP session may go without delivering a message (PATCHBAY_SMTP_COMMAND_TIME)')
    .option('--smtp-data-time <s>', 'seconds one DATA phase may take (PATCHBAY_SMTP_DATA_TIME)')
    .option('--smtp-min-rate <bytes>', 'bytes/s DATA must keep up with: its deadline is the idle timeout + 1 s per N bytes, 0 = no minimum (PATCHBAY_SMTP_MIN_RATE)')
    .option('--mail-time-budget <s>', 'seconds one mail may take to read (parse, classify) before its attempt fails (PATCHBAY_MAIL_TIME_BUDGET)')
    .option('--mail-attempts <n>', 'attempts at processing a mail before it is quarantined (PATCHBAY_MAIL_ATTEMPTS)')
    .option('--pipeline-runs <n>', 'runs in the CI pipeline\'s heavy lane (builds, boots) at once, 0 = pipeline off; default 1 (PATCHBAY_PIPELINE_RUNS)')
    .option('--gate-runs <n>', 'runs in the gate lane (sign-off, test description, checkpatch, apply) at once, never behind builds; default 2, at least 1 (PATCHBAY_GATE_RUNS)')
    .option('--pipeline-threads <n>', 'worker threads for the heavy lane\'s steps; the gate lane has one per gate run (PATCHBAY_PIPELINE_THREADS)')
    .option('--pipeline-cpus <n>', 'CPUs for pipeline builds, which sets builds at once and their make -j; default all (PATCHBAY_PIPELINE_CPUS)')
    .option('--tree-fetch-every <s>', 'seconds between fetches of each project tree (PATCHBAY_TREE_FETCH_EVERY)')
    .option('--ccache-dir <dir>', 'compiler cache for kernel builds, default DATA/ccache (PATCHBAY_CCACHE_DIR)')
    .option(
      '--ccache-remote <url>',
      'Redis the base builds share their ccache through (ccache remote storage): redis://USER:PASSWORD@HOST:PORT, rediss:// for TLS, a user of its own limited to ccache:* keys (docs/scale.md); series builds never get it; not with --queue (give it to the workers); default none (PATCHBAY_CCACHE_REMOTE)',
    )
    .option('--ccache-remote-ca <file>', 'PEM of the CA that signed that Redis server\'s certificate, for rediss:// (PATCHBAY_CCACHE_REMOTE_CA)')
    .option('--api-cache <MiB>', 'memory for REST API answers kept until the next write, 0 = off (PATCHBAY_API_CACHE)')
    .option('--api-threads <n>', 'worker threads that compute REST API list pages, each with its own database connection; 0 = on the main thread (PATCHBAY_API_THREADS)')
    .option('--artifacts-keep-days <n>', 'days a run keeps its kernel images, disks and consoles (PATCHBAY_ARTIFACTS_KEEP_DAYS)')
    .option('--queue <url>', 'run the pipeline\'s steps through BullMQ on this Redis: redis://USER:PASSWORD@HOST:PORT, rediss:// for TLS; default in this process (PATCHBAY_QUEUE)')
    .option('--queue-ca <file>', 'PEM of the CA that signed the Redis server\'s certificate, for rediss:// (PATCHBAY_QUEUE_CA)')
    .option('--lava-url <url>', 'the LAVA server that boots the builds of projects with `runner: lava`: http(s)://HOST[:PORT] (PATCHBAY_LAVA_URL)')
    .option('--lava-token-file <file>', 'file holding that LAVA user\'s API token (PATCHBAY_LAVA_TOKEN_FILE)')
    .option('--lava-retries <n>', 'LAVA jobs submitted again after a failure of the lab, per boot (PATCHBAY_LAVA_RETRIES)')
    .option('--lava-start-wait <s>', 'seconds a LAVA job may wait for a device before it is cancelled as our error (PATCHBAY_LAVA_START_WAIT)')
    .option('--lava-poll <s>', 'seconds between two reads of a LAVA job\'s state (PATCHBAY_LAVA_POLL)')
    .action(async (opts: Flags) => {
      // Loaded here: the server's edges (HTTP, the API, the pipeline) are no other command's, nor their start-up time.
      const { serve } = await import('./main.js');
      const running = await serve(opts);
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          process.stderr.write(`${signal}: stopping\n`);
          running.stop().then(resolve, resolve);
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      });
    });
  showDefaults(serveCmd, serveDefaults());

  subscribersCommand(program);
  studentsCommand(program);
  heldCommand(program);
  quarantineCommand(program);
  importCommand(program);
  userCommand(program);
  tokenCommand(program);
  doctorCommand(program);
  workerCommand(program);
  setupStudentCommand(program);
  return program;
}

/** Runs the CLI; the only place that sets the process exit code. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return;
    if (code?.startsWith('commander.')) {
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`patchbay: ${isAppError(e) ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  }
}

// `patchbay worker --queue URL --server URL --token T [--lanes …] [--arches …] [--name N] [--data DIR]`: a worker
// machine's process; and on the server, `patchbay worker token create NAME | list | revoke NAME` (its upload token).
import os from 'node:os';
import { Option, type Command } from 'commander';
import { loadWorkerConfig, WORKER_SETTINGS, type WorkerFlags } from '../config/queue.js';
import { createLogger } from '../log.js';
import { openCore } from '../core.js';
import { LANES } from '../queue/names.js';
import type { WorkerTokenService } from '../queue/worker-token.service.js';
import { coreOptions } from './core-options.js';

const opt = (flags: string, description: string, name: keyof typeof WORKER_SETTINGS) => new Option(flags, `${description} (${WORKER_SETTINGS[name]})`);

export function workerCommand(program: Command): void {
  const cmd = program
    .command('worker')
    .description('run pipeline jobs from the queue on this machine (and, on the server, manage the workers\' tokens)')
    .addOption(opt('--queue <url>', 'Redis of the queue: redis://USER:PASSWORD@HOST:PORT, or rediss:// for TLS', 'queue'))
    .addOption(opt('--queue-ca <file>', 'PEM of the CA that signed the Redis server\'s certificate (rediss://)', 'queueCa'))
    .addOption(opt('--server <url>', 'the patchbay server this worker uploads logs and artefacts to', 'server'))
    .addOption(opt('--token <token>', 'this worker\'s token, from `patchbay worker token create NAME` on the server', 'token'))
    .addOption(opt('--name <name>', `this worker's name, default the host name (${os.hostname().split('.')[0]})`, 'name'))
    .addOption(opt('--lanes <list>', `lanes to take jobs from, some of ${LANES.join(',')}; default all`, 'lanes'))
    .addOption(opt('--arches <list>', 'arches to build and boot, default every arch whose toolchain is installed (patchbay doctor)', 'arches'))
    .addOption(opt('--data <dir>', 'this worker\'s own data folder: mirror, worktrees, warm trees, ccache', 'data'))
    .addOption(opt('--builds <n>', 'build and boot jobs at once (its build slots); default 1', 'builds'))
    .addOption(opt('--gates <n>', 'gate jobs at once (its gate slots); default 1', 'gates'))
    .addOption(opt('--cpus <n>', 'CPUs its builds may keep busy, shared by the builds at once; default all', 'cpus'))
    .addOption(opt('--ccache-dir <dir>', 'compiler cache of its builds, default DATA/ccache', 'ccacheDir'))
    .addOption(
      opt(
        '--ccache-remote <url>',
        'Redis the base builds share their ccache through (ccache remote storage): redis://USER:PASSWORD@HOST:PORT, rediss:// for TLS, a user of its own limited to ccache:* keys (docs/scale.md); series builds never get it; default none',
        'ccacheRemote',
      ),
    )
    .addOption(opt('--ccache-remote-ca <file>', 'PEM of the CA that signed that Redis server\'s certificate (rediss://)', 'ccacheRemoteCa'))
    .addOption(opt('--job-lock <s>', 'seconds a job stays this worker\'s without its renewal: a killed worker\'s job goes to another after this; default 30', 'jobLock'))
    .addOption(
      opt(
        '--prefer-warm-wait <s>',
        'seconds in all a build or boot job is handed back for a live worker that holds its warm tree and has a free build slot, before this worker runs it anyway; 0 never hands one back; default 60',
        'preferWarmWait',
      ),
    )
    // `worker token create NAME --data DIR`: the server's --data goes to the token command, not to the worker's own.
    .enablePositionalOptions()
    .action(async (opts: WorkerFlags) => {
      const config = loadWorkerConfig(opts);
      const log = createLogger(config.logLevel).child({ subsystem: 'worker', worker: config.name });
      // Loaded here, as each command's heavier modules are: `patchbay import` should not pay for BullMQ's start-up.
      const { startWorker } = await import('../queue/worker.service.js');
      const worker = await startWorker(config, log);
      process.stdout.write(`worker ${config.name} registered: lanes ${config.lanes.join(',')}, arches ${worker.arches.join(',') || 'none'}, queues ${worker.queues.join(' ')}\n`);
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          process.stderr.write(`${signal}: stopping\n`);
          worker.stop().then(resolve, resolve);
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      });
    });

  const token = cmd.command('token').description('worker tokens: each worker machine uploads its logs and artefacts with its own');
  const withTokens = async (opts: { data?: string; projects?: string }, fn: (tokens: WorkerTokenService) => Promise<void>) => {
    const core = await openCore({ data: opts.data, projects: opts.projects });
    try {
      const { WorkerTokenService } = await import('../queue/worker-token.service.js');
      await fn(new WorkerTokenService(core.db));
    } finally {
      await core.close();
    }
  };
  coreOptions(token.command('create').description('print a new token for the worker NAME (its --name); only its sha256 is kept, so keep it').argument('<name>')).action(
    async (name: string, opts: { data?: string; projects?: string }) =>
      withTokens(opts, async (t) => {
        process.stdout.write(`${await t.create(name)}\n`);
      }),
  );
  coreOptions(token.command('list').description('the workers\' tokens: name, state, created, revoked, last used')).action(async (opts: { data?: string; projects?: string }) =>
    withTokens(opts, async (t) => {
      for (const r of await t.list()) {
        process.stdout.write(`${[r.name, r.state, r.created_at, r.revoked_at ?? '-', r.last_used_at ?? '-'].join('\t')}\n`);
      }
    }),
  );
  coreOptions(token.command('revoke').description('revoke the worker NAME\'s token: its next upload is refused').argument('<name>')).action(
    async (name: string, opts: { data?: string; projects?: string }) =>
      withTokens(opts, async (t) => {
        await t.revoke(name);
        process.stdout.write(`revoked the token of worker ${name}\n`);
      }),
  );
}

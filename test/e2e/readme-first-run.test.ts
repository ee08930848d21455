// End to end: README.md's "First run", as a newcomer follows it. The commands are the README's own, read from its
// blocks marked `<!-- first-run: NAME -->` and run unchanged with bash in a fresh `git clone` of this repository's
// HEAD, through to the bot's passing reply to the demo series in data/outbox. Two things differ from a newcomer's
// machine, and only through the environment: the ports (PATCHBAY_SMTP_PORT, PATCHBAY_HTTP_PORT, which the README
// documents, set to free ones) and `npm install`, which a shell function turns into a symlink to this checkout's
// node_modules (a real install takes minutes and the network; it is what the symlink points to).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { tempDir } from '../helpers/dirs.js';
import { SEND_EMAIL_SKIP } from '../helpers/pipeline-e2e.js';
import { runCommand, type CommandResult } from '../helpers/run-command.js';
import { ROOT } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';
import { keepLogs } from '../helpers/worker-process.js';

// The tree projects/example.yaml names (~ is the home folder) and what scripts/kernel-tree.sh needs to (re)make it.
const TREE = path.join(os.homedir(), '.cache/patchbay/linux.git');
const HAVE_TARBALL = fs.existsSync('/usr/src') && fs.readdirSync('/usr/src').some((f) => /^linux-source-.*\.tar\.xz$/.test(f));
const GIT_PW_MISSING = spawnSync('git', ['pw', '--version'], { stdio: 'ignore' }).status !== 0;
const SKIP: string | false = !HAVE_TARBALL
  ? 'no /usr/src/linux-source-*.tar.xz: the README\'s scripts/kernel-tree.sh needs it (apt-get install linux-source-6.1; .ci/setup does)'
  : !fs.existsSync(path.join(TREE, 'patchbay-source-version'))
    ? `no kernel tree at ${TREE} yet: scripts/kernel-tree.sh makes it in 1.5 minutes (.ci/setup runs it), too long for this test`
    : SEND_EMAIL_SKIP || (GIT_PW_MISSING ? 'git-pw is not installed (the README\'s last block runs it; .ci/setup installs it)' : false);

const STUDENT = { name: 'Sam Student', email: 'sam@students.example.org' };
const DEMO_SUBJECT = 'Documentation: fix two spelling mistakes';

/** The README's blocks marked `<!-- first-run: NAME -->` (the marker, then a ```sh fence on the next line). */
function firstRunBlocks(readme: string): Map<string, string> {
  const blocks = new Map<string, string>();
  const re = /^<!-- first-run: ([a-z-]+) -->\n```sh\n([\s\S]*?)^```$/gm;
  for (const m of readme.matchAll(re)) blocks.set(m[1]!, m[2]!);
  return blocks;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Whether any process of the group `pgid` is still running. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** bash running one README block as written, stopping at its first failing command. */
function script(block: string): string {
  // `npm install` becomes a symlink to the installed node_modules (see the header); every other npm call is npm's.
  const npm = 'npm() { if [ "$#" = 1 ] && [ "$1" = install ]; then ln -s "$PATCHBAY_TEST_NODE_MODULES" node_modules; else command npm "$@"; fi; }';
  return `set -eo pipefail\n${npm}\n${block}`;
}

describe('the README\'s first run on a fresh clone', { skip: SKIP }, () => {
  let clone: string;
  let env: NodeJS.ProcessEnv;
  let blocks: Map<string, string>;
  let server: ChildProcess | null = null;
  let serverOut = '';
  let serverErr = '';
  let serverExited: Promise<number | null> = Promise.resolve(null);

  const run = (name: string, timeoutMs = 300_000): Promise<CommandResult> => {
    const block = blocks.get(name);
    assert.ok(block, `README.md has a block marked <!-- first-run: ${name} -->`);
    return runCommand('bash', ['-c', script(block)], { cwd: clone, env, timeoutMs });
  };

  before(async () => {
    const dir = tempDir('patchbay-first-run-');
    clone = path.join(dir, 'patchbay');
    const cloned = spawnSync('git', ['clone', '-q', ROOT, clone], { encoding: 'utf8' });
    assert.equal(cloned.status, 0, cloned.stderr);
    blocks = firstRunBlocks(fs.readFileSync(path.join(clone, 'README.md'), 'utf8'));
    // The student's git: their identity and nothing of this machine's settings (a global sendemail.* or pw.*).
    const gitconfig = path.join(dir, 'gitconfig');
    fs.writeFileSync(gitconfig, `[user]\n\tname = ${STUDENT.name}\n\temail = ${STUDENT.email}\n`);
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PATCHBAY_') && !k.startsWith('GIT_')));
    env = {
      ...inherited,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: gitconfig,
      PATCHBAY_SMTP_PORT: String(await freePort()),
      PATCHBAY_HTTP_PORT: String(await freePort()),
      PATCHBAY_TEST_NODE_MODULES: path.join(ROOT, 'node_modules'),
    };
  });

  after(async () => {
    if (server?.pid && server.exitCode === null) {
      process.kill(-server.pid, 'SIGTERM');
      await serverExited;
    }
    // bash goes first; the node that npm started may still be writing its last files into data/ while it stops.
    if (server?.pid) await waitFor('the server process group gone', () => !groupAlive(server!.pid!), 60_000).catch(() => {});
    keepLogs({ stderr: () => serverOut + serverErr }, new Map());
    // The clone holds the mirror and worktree slots of the kernel tree (gigabytes): gone with the test.
    fs.rmSync(path.dirname(clone), { recursive: true, force: true, maxRetries: 5 });
  });

  it('has the four blocks in the order a newcomer runs them', () => {
    assert.deepEqual([...blocks.keys()], ['setup', 'server', 'send', 'check']);
    assert.match(blocks.get('setup')!, /^npm install$/m);
    assert.match(blocks.get('setup')!, /^bash scripts\/kernel-tree\.sh\b/m);
    assert.match(blocks.get('send')!, /npx patchbay setup-student --project example/);
    assert.match(blocks.get('send')!, /^git send-email examples\/demo-series\/\*\.patch$/m);
  });

  it('installs and makes the kernel tree', async () => {
    const r = await run('setup');
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /kernel-tree: .* (holds|made) /);
  });

  it('starts the server, which finds the tree', async () => {
    const block = blocks.get('server')!;
    // Its own process group, so that the stop reaches npm and the node it started.
    server = spawn('bash', ['-c', script(block)], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d: Buffer) => (serverOut += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (serverErr += d.toString()));
    const child = server;
    serverExited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor('http listening', () => /http listening on /.test(serverOut) || child.exitCode !== null, 120_000);
    assert.equal(child.exitCode, null, `npm start exited\n${serverOut}\n${serverErr}`);
    assert.match(serverOut, new RegExp(`smtp listening on 127\\.0\\.0\\.1:${env.PATCHBAY_SMTP_PORT}\\b`));
    assert.doesNotMatch(serverErr, /no git tree at/);
  });

  it('adds the admin, configures git-pw and git send-email with setup-student, and sends the demo series', async () => {
    const r = await run('send');
    assert.equal(r.code, 0, `${r.output}\n--- server ---\n${serverErr}`);
    assert.match(r.output, /added user admin \(id \d+, admin\)/);
    const get = (key: string) => spawnSync('git', ['config', '--local', key], { cwd: clone, env, encoding: 'utf8' }).stdout.trim();
    assert.equal(get('sendemail.to'), 'example@lists.patchbay.test');
    assert.equal(get('sendemail.smtpServerPort'), env.PATCHBAY_SMTP_PORT);
    assert.match(get('pw.token'), /^[0-9a-f]{40}$/);
    // The send went with an outside Cc: git added the demo patches' author, which patchbay took and relayed to no one.
    assert.match(r.output, /Cc: Ada Student <ada@example\.org>/);
    const notRelayed = () =>
      serverErr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string; rcpt?: string })
        .find((l) => l.rcpt === 'ada@example.org' && /not relayed/.test(l.msg ?? ''));
    await waitFor('the outside Cc logged as not relayed', notRelayed, 10_000);
  });

  it('answers the demo series with a passing reply in data/outbox', async () => {
    const outbox = path.join(clone, 'data/outbox');
    const reply = await waitFor(
      'the bot\'s reply to the demo series',
      async () => {
        if (!fs.existsSync(outbox)) return undefined;
        for (const f of fs.readdirSync(outbox).filter((x) => x.endsWith('.eml'))) {
          const mail = await simpleParser(fs.readFileSync(path.join(outbox, f)));
          if (mail.subject === `Re: [PATCH 0/2] ${DEMO_SUBJECT}`) return mail;
        }
        return undefined;
      },
      600_000,
    );
    assert.equal(reply.headers.get('auto-submitted'), 'auto-generated');
    assert.match(reply.text ?? '', /^Checks passed: signoff, checkpatch, apply\.$/m, reply.text);
    assert.doesNotMatch(reply.text ?? '', /fail/i);
  });

  it('lists the series with git-pw and the reply in data/outbox, as the README\'s last block shows', async () => {
    const r = await run('check', 60_000);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /\.eml/);
    assert.match(r.stdout, new RegExp(DEMO_SUBJECT));
  });
});

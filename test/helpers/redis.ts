// A real redis-server for tests and benchmarks: a free port on 127.0.0.1, every file in its own temp folder, an ACL
// user with a password and the default user off (as patchbay requires), optionally TLS only; stop, kill, start again.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from './dirs.js';

export interface RedisOptions {
  /** Append-only file in the temp folder (default true), so jobs outlive a stop and start as in production. */
  persistence?: boolean;
  /** Listen with TLS only (a self-signed CA made with openssl in the folder); the URL is then rediss://. */
  tls?: boolean;
}

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** redis://user:password@127.0.0.1:port (rediss:// with tls). */
  readonly url: string;
  /** The folder holding its config, log, append-only file and (tls) certificates. */
  readonly dir: string;
  /** PEM of the CA that signed the server's certificate (tls only). */
  readonly ca: Buffer | null;
  /** The URL with other credentials (a wrong password, another user). */
  urlWith(user: string, password: string): string;
  /** Starts it again on the same port and folder (after stop or kill). */
  start(): Promise<void>;
  /** SIGTERM (Redis writes its append-only file and exits); resolves once it has exited. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
  /** Its log so far (for failure messages). */
  log(): string;
}

const USER = 'patchbay';
const READY = 'Ready to accept connections';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function makeCertificates(dir: string): void {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=patchbay test CA', '-keyout', 'ca.key', '-out', 'ca.crt']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr']);
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.crt']);
}

function configText(dir: string, port: number, password: string, opts: Required<RedisOptions>): string {
  const lines = [
    'bind 127.0.0.1',
    'protected-mode yes',
    'daemonize no',
    'supervised no',
    `dir ${dir}`,
    'logfile ""',
    // No RDB snapshots; the append-only file (when asked) lives in `dir` like everything else.
    'save ""',
    `appendonly ${opts.persistence ? 'yes' : 'no'}`,
    'appendfsync everysec',
    // BullMQ needs every key kept: never evict.
    'maxmemory-policy noeviction',
    // The default user (no password) is off: nobody can log in as it, only the ACL user gets in. It keeps its
    // permissions because Redis replays the append-only file as the default user, and Redis before the fix of its
    // issue 14541 (Debian 12's 7.0.15 among them) drops on replay an EXEC that user may not run: with a bare
    // `user default off`, the writes of every BullMQ script vanish at a restart. The password is given as its sha256.
    'user default off ~* &* +@all',
    `user ${USER} on #${crypto.createHash('sha256').update(password).digest('hex')} ~* &* +@all`,
  ];
  if (opts.tls) {
    lines.push('port 0', `tls-port ${port}`, 'tls-cert-file server.crt', 'tls-key-file server.key', 'tls-ca-cert-file ca.crt', 'tls-auth-clients no');
  } else {
    lines.push(`port ${port}`);
  }
  return `${lines.join('\n')}\n`;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const opts: Required<RedisOptions> = { persistence: options.persistence ?? true, tls: options.tls ?? false };
  const dir = tempDir('patchbay-redis-');
  if (opts.tls) makeCertificates(dir);
  const password = crypto.randomBytes(18).toString('base64url');
  const conf = path.join(dir, 'redis.conf');
  let port = 0;
  let child: ChildProcess | null = null;
  // What the current process printed; `history` keeps every earlier start's too.
  let output = '';
  let history = '';

  const launch = async (): Promise<'ready' | 'in-use'> => {
    history += output;
    output = '';
    fs.writeFileSync(conf, configText(dir, port, password, opts), { mode: 0o600 });
    const c = spawn('redis-server', [conf], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    live.add(c);
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.once('exit', () => live.delete(c));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start in 20 s:\n${output}`)), 20_000);
      const onData = (d: Buffer) => {
        output += d.toString();
        if (output.includes(READY)) {
          clearTimeout(timer);
          resolve('ready');
        }
      };
      c.stdout!.on('data', onData);
      c.stderr!.on('data', onData);
      void exited.then(() => {
        clearTimeout(timer);
        if (/Address already in use/.test(output)) resolve('in-use');
        else reject(new Error(`redis-server exited before it was ready:\n${output}`));
      });
    });
  };

  const stopWith = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    await exited;
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    if ((await launch()) === 'ready') break;
    if (attempt === 4) throw new Error(`redis-server found no free port in 5 tries:\n${output}`);
  }

  const scheme = opts.tls ? 'rediss' : 'redis';
  const urlWith = (user: string, pw: string) => `${scheme}://${encodeURIComponent(user)}:${encodeURIComponent(pw)}@127.0.0.1:${port}`;
  const server: RedisServer = {
    host: '127.0.0.1',
    port,
    user: USER,
    password,
    url: urlWith(USER, password),
    dir,
    ca: opts.tls ? fs.readFileSync(path.join(dir, 'ca.crt')) : null,
    urlWith,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      if ((await launch()) !== 'ready') throw new Error(`redis-server could not listen on ${port} again (taken meanwhile):\n${output}`);
    },
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
    async restart() {
      await server.stop();
      await server.start();
    },
    async close() {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    log: () => history + output,
  };
  return server;
}

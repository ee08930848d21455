// `--queue URL` (serve and worker), `--ccache-remote URL` (the shared ccache's Redis) and the worker's own options:
// parsed and checked once, refused at start with the flag, the variable and the reason. Redis is only ever reached as
// an ACL user with a password, optionally over TLS.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { invalid } from '../errors.js';
import { isLane, knownArches, LANES, type Lane } from '../queue/names.js';
import { trimEndChars } from '../text.js';

/** Where the queue's Redis is and who we are to it. */
export interface QueueSettings {
  /** rediss:// */
  tls: boolean;
  host: string;
  port: number;
  username: string;
  password: string;
  /** Redis logical database (the URL's path, default 0). */
  db: number;
  /** PEM file of the CA that signed the server's certificate (--queue-ca), else the system's CAs; rediss only. */
  caFile: string | null;
  /** The URL without its password, for logs and pages. */
  display: string;
}

/** Which option a Redis URL came from: its flags in messages, and the code of a URL without credentials. */
interface RedisRole {
  flag: string;
  caFlag: string;
  needsPassword: string;
}

const QUEUE_ROLE: RedisRole = { flag: '--queue / PATCHBAY_QUEUE', caFlag: '--queue-ca / PATCHBAY_QUEUE_CA', needsPassword: 'queue_needs_password' };
const CCACHE_ROLE: RedisRole = {
  flag: '--ccache-remote / PATCHBAY_CCACHE_REMOTE',
  caFlag: '--ccache-remote-ca / PATCHBAY_CCACHE_REMOTE_CA',
  needsPassword: 'ccache_remote_needs_password',
};

/**
 * `redis://USER:PASSWORD@HOST[:PORT][/DB]` or `rediss://…` (TLS). A user and a password are required: Redis without
 * one lets anybody who reaches its port enqueue jobs. User and password may be percent-encoded.
 */
export function parseQueueUrl(raw: string, caFile: string | null = null): QueueSettings {
  return parseRedisUrl(raw, caFile, QUEUE_ROLE);
}

/**
 * `--ccache-remote`: the Redis the trusted base builds share their ccache through (docs/scale.md), the same URL
 * shape as --queue. Its user must be one of its own, limited to ccache's keys: the queue's user may enqueue jobs.
 */
export function parseCcacheRemoteUrl(raw: string, caFile: string | null = null, queue: QueueSettings | null = null): QueueSettings {
  const r = parseRedisUrl(raw, caFile, CCACHE_ROLE);
  if (queue && r.username === queue.username && r.host === queue.host && r.port === queue.port) {
    throw invalid(
      'ccache_remote_queue_user',
      `${CCACHE_ROLE.flag}: ${r.display} logs in as "${r.username}", the queue's user; give ccache an ACL user of its own, limited to its keys (ACL SETUSER in docs/scale.md): whatever a base build's compiler runs could use the queue's user to enqueue jobs`,
    );
  }
  return r;
}

/**
 * The TLS options of a rediss:// connection: the certificate is checked against the host name (SNI), or an IP SAN for
 * an address (SNI takes no address); the CA file is read now, refused with its flag when it cannot be.
 */
export function redisTlsOptions(q: QueueSettings, caFlag: string = QUEUE_ROLE.caFlag): ConnectionOptions {
  let ca: Buffer | undefined;
  if (q.caFile) {
    try {
      ca = fs.readFileSync(q.caFile);
    } catch (e) {
      throw invalid('config_invalid', `${caFlag}: cannot read ${q.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return { ...(net.isIP(q.host) ? {} : { servername: q.host }), ...(ca ? { ca } : {}) };
}

/** The flag of --ccache-remote's CA file, for redisTlsOptions' messages. */
export const CCACHE_REMOTE_CA_FLAG = CCACHE_ROLE.caFlag;

function parseRedisUrl(raw: string, caFile: string | null, role: RedisRole): QueueSettings {
  const FLAG = role.flag;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw invalid('config_invalid', `${FLAG}: "${redact(raw)}" is not a URL; expected redis://USER:PASSWORD@HOST:PORT or rediss://… for TLS`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw invalid('config_invalid', `${FLAG}: the scheme must be redis:// or rediss:// (TLS), not ${u.protocol}//`);
  }
  const tls = u.protocol === 'rediss:';
  const display = `${u.protocol}//${u.username ? `${decode(u.username, FLAG)}@` : ''}${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  if (!u.username || !u.password) {
    throw invalid(
      role.needsPassword,
      `${FLAG}: ${display} names no ${u.username ? 'password' : 'user'}; Redis must be reached as an ACL user with a password (redis://USER:PASSWORD@HOST:PORT), see docs/scale.md`,
    );
  }
  if (!u.hostname) throw invalid('config_invalid', `${FLAG}: ${display} names no host`);
  if (u.search || u.hash) throw invalid('config_invalid', `${FLAG}: ${display}: query parameters and fragments are not supported`);
  const port = u.port === '' ? 6379 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('config_invalid', `${FLAG}: ${display}: port out of range`);
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,2}$/.test(dbText)) throw invalid('config_invalid', `${FLAG}: ${display}: the path must be a database number (/0 … /99)`);
  if (caFile && !tls) throw invalid('config_invalid', `${role.caFlag} is for rediss:// (TLS); ${display} is plain redis://`);
  return {
    tls,
    // [::1] comes back from URL with its brackets; the socket wants the bare address.
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    username: decode(u.username, FLAG),
    password: decode(u.password, FLAG),
    db: dbText === '' ? 0 : Number(dbText),
    caFile,
    display,
  };
}

function decode(s: string, flag: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw invalid('config_invalid', `${flag}: the user or password has a broken %-escape`);
  }
}

/** The URL with anything between `//` and `@` hidden, for an error message about a URL that did not parse. */
function redact(raw: string): string {
  const at = raw.lastIndexOf('@');
  const slashes = raw.indexOf('//');
  const shown = at > slashes && slashes >= 0 ? `${raw.slice(0, slashes + 2)}…${raw.slice(at)}` : raw;
  return shown.slice(0, 200);
}

/** Flags of `patchbay worker`, each with its environment variable (commander camelCases them). */
export const WORKER_SETTINGS = {
  queue: 'PATCHBAY_QUEUE',
  queueCa: 'PATCHBAY_QUEUE_CA',
  server: 'PATCHBAY_SERVER',
  token: 'PATCHBAY_WORKER_TOKEN',
  name: 'PATCHBAY_WORKER_NAME',
  lanes: 'PATCHBAY_WORKER_LANES',
  arches: 'PATCHBAY_WORKER_ARCHES',
  data: 'PATCHBAY_DATA',
  builds: 'PATCHBAY_WORKER_BUILDS',
  gates: 'PATCHBAY_WORKER_GATES',
  cpus: 'PATCHBAY_WORKER_CPUS',
  ccacheDir: 'PATCHBAY_CCACHE_DIR',
  ccacheRemote: 'PATCHBAY_CCACHE_REMOTE',
  ccacheRemoteCa: 'PATCHBAY_CCACHE_REMOTE_CA',
  jobLock: 'PATCHBAY_WORKER_JOB_LOCK',
  preferWarmWait: 'PATCHBAY_WORKER_PREFER_WARM_WAIT',
  logLevel: 'PATCHBAY_LOG_LEVEL',
} as const;
export type WorkerFlags = Partial<Record<keyof typeof WORKER_SETTINGS, string | undefined>>;

export interface WorkerConfig {
  /** How the server, the admin page and the steps (`worker` of a step) name this worker. */
  name: string;
  /** This machine's host name, shown beside the name. */
  host: string;
  queue: QueueSettings;
  /** The patchbay server's base URL: uploads of logs and artefacts go there. */
  server: string;
  /** This worker's token (`patchbay worker token create NAME` on the server). */
  token: string;
  lanes: Lane[];
  /** The arches asked for; null: every arch whose toolchain this machine has (decided at start, `patchbay doctor`). */
  arches: string[] | null;
  /** The worker's own data folder: mirror, worktree slots, warm object trees, ccache, artefacts before upload. */
  dataDir: string;
  /** Build and boot jobs at once (its build slots per project); default 1. */
  builds: number;
  /** Gate jobs at once (its gate slots per project); default 1. */
  gates: number;
  /** CPUs its builds may keep busy, shared by the build jobs at once (make -j); default the machine's. */
  cpus: number;
  /** Compiler cache of its builds (default DATA/ccache). */
  ccacheDir: string;
  /** The Redis its trusted base builds share their ccache through (ccache's remote storage); null: local only. */
  ccacheRemote: QueueSettings | null;
  /**
   * How long a job's lock lives without this worker renewing it: a worker killed mid-job loses it after this long and
   * another worker takes the job over (BullMQ's lockDuration and stalledInterval); default 30 s.
   */
  jobLockMs: number;
  /**
   * How long, in all, a build or boot job may be handed back for another worker that holds its warm tree and has a
   * free build slot (docs/scale.md, "Warm trees"); 0: never, this worker runs what it takes. Default 60 s.
   */
  preferWarmWaitMs: number;
  logLevel: string;
}

/** Worker tokens: `pbw-` and 40 hex digits (160 random bits), told apart from the REST API's tokens at a glance. */
export const WORKER_TOKEN_SHAPE = /^pbw-[0-9a-f]{40}$/;
/** Worker names: what the registry keys and the steps' `worker` column hold. */
export const WORKER_NAME_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function loadWorkerConfig(flags: WorkerFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Readonly<WorkerConfig> {
  const pick = (name: keyof typeof WORKER_SETTINGS): string | undefined => {
    const v = flags[name];
    if (v !== undefined && v !== '') return v;
    const e = env[WORKER_SETTINGS[name]];
    return e === undefined || e === '' ? undefined : e;
  };
  const need = (name: keyof typeof WORKER_SETTINGS, what: string): string => {
    const v = pick(name);
    if (v === undefined) throw invalid('config_invalid', `patchbay worker needs --${kebab(name)} / ${WORKER_SETTINGS[name]}: ${what}`);
    return v;
  };
  const caFile = pick('queueCa');
  const queue = parseQueueUrl(need('queue', 'the Redis URL, redis://USER:PASSWORD@HOST:PORT'), caFile ? path.resolve(cwd, caFile) : null);

  const server = trimEndChars(need('server', "the patchbay server's URL, where logs and artefacts are uploaded"), '/');
  let serverUrl: URL;
  try {
    serverUrl = new URL(server);
  } catch {
    throw invalid('config_invalid', `--server / PATCHBAY_SERVER: "${server.slice(0, 200)}" is not a URL`);
  }
  if (serverUrl.protocol !== 'http:' && serverUrl.protocol !== 'https:') throw invalid('config_invalid', `--server / PATCHBAY_SERVER: expected http:// or https://, got ${serverUrl.protocol}//`);
  if (serverUrl.username || serverUrl.password || serverUrl.search) throw invalid('config_invalid', '--server / PATCHBAY_SERVER: the URL takes no credentials or query (the token is --token)');

  const token = need('token', 'this worker\'s token, from `patchbay worker token create NAME` on the server').trim();
  if (!WORKER_TOKEN_SHAPE.test(token)) throw invalid('config_invalid', '--token / PATCHBAY_WORKER_TOKEN: not a worker token (pbw- and 40 hex digits, from `patchbay worker token create NAME`)');

  const name = pick('name') ?? os.hostname().split('.')[0]!;
  if (!WORKER_NAME_SHAPE.test(name)) throw invalid('config_invalid', `--name / PATCHBAY_WORKER_NAME: "${name.slice(0, 80)}" is not a worker name (letters, digits, . _ -, at most 63)`);

  const count = (flag: keyof typeof WORKER_SETTINGS, dflt: number, max: number): number => {
    const raw = pick(flag);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || n < 1 || n > max) throw invalid('config_invalid', `--${kebab(flag)} / ${WORKER_SETTINGS[flag]}: expected a whole number from 1 to ${max}, got "${raw.slice(0, 40)}"`);
    return n;
  };
  const seconds = (flag: keyof typeof WORKER_SETTINGS, dflt: number, max: number): number => {
    const raw = pick(flag);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || n > max) throw invalid('config_invalid', `--${kebab(flag)} / ${WORKER_SETTINGS[flag]}: expected whole seconds from 0 to ${max}, got "${raw.slice(0, 40)}"`);
    return n;
  };
  const dataDir = path.resolve(cwd, pick('data') ?? 'data');
  const remoteRaw = pick('ccacheRemote');
  const remoteCa = pick('ccacheRemoteCa');
  if (remoteRaw === undefined && remoteCa !== undefined) throw invalid('config_invalid', '--ccache-remote-ca / PATCHBAY_CCACHE_REMOTE_CA is given without --ccache-remote / PATCHBAY_CCACHE_REMOTE');
  const ccacheRemote = remoteRaw === undefined ? null : parseCcacheRemoteUrl(remoteRaw, remoteCa === undefined ? null : path.resolve(cwd, remoteCa), queue);
  return Object.freeze({
    name,
    host: os.hostname(),
    queue,
    server,
    token,
    lanes: parseLanes(pick('lanes')),
    arches: parseArches(pick('arches')),
    dataDir,
    builds: count('builds', 1, 64),
    gates: count('gates', 1, 64),
    cpus: count('cpus', os.availableParallelism(), 1024),
    ccacheDir: path.resolve(cwd, pick('ccacheDir') ?? path.join(dataDir, 'ccache')),
    ccacheRemote,
    jobLockMs: count('jobLock', 30, 3600) * 1000,
    preferWarmWaitMs: seconds('preferWarmWait', 60, 3600) * 1000,
    logLevel: pick('logLevel') ?? 'info',
  });
}

/** `gates,builds,tests` (any subset, comma-separated); default all three. */
export function parseLanes(raw: string | undefined): Lane[] {
  if (raw === undefined) return [...LANES];
  const out: Lane[] = [];
  for (const l of list(raw)) {
    if (!isLane(l)) throw invalid('config_invalid', `--lanes / PATCHBAY_WORKER_LANES: "${l.slice(0, 40)}" is not a lane; expected some of ${LANES.join(', ')}`);
    if (!out.includes(l)) out.push(l);
  }
  if (!out.length) throw invalid('config_invalid', `--lanes / PATCHBAY_WORKER_LANES: name at least one of ${LANES.join(', ')}`);
  return out;
}

/** Arches of the toolchain table, comma-separated; undefined: decided at start from the installed toolchains. */
export function parseArches(raw: string | undefined): string[] | null {
  if (raw === undefined) return null;
  const known = knownArches();
  const out: string[] = [];
  for (const a of list(raw)) {
    if (!known.includes(a)) throw invalid('config_invalid', `--arches / PATCHBAY_WORKER_ARCHES: "${a.slice(0, 40)}" is not an arch patchbay builds; expected some of ${known.join(', ')}`);
    if (!out.includes(a)) out.push(a);
  }
  if (!out.length) throw invalid('config_invalid', `--arches / PATCHBAY_WORKER_ARCHES: name at least one of ${known.join(', ')}`);
  return out;
}

function list(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

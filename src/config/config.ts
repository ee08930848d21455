// Server configuration: command-line flags over PATCHBAY_* environment variables over embedded defaults, validated once and frozen.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { invalid } from '../errors.js';
import { trimEndChars } from '../text.js';
import { parseCcacheRemoteUrl, parseQueueUrl, type QueueSettings } from './queue.js';

export type OutboundMode = { kind: 'outbox' } | { kind: 'smtp'; host: string; port: number; url: string };

/** Public URLs used in mail headers and replies; `base` is final once HTTP listens (port 0 picks it). */
export interface PublicUrls {
  base: string;
}

export interface SmtpLimits {
  maxMessageBytes: number;
  maxRecipients: number;
  connectionsPerMinute: number; // per client address; 0 = unlimited
  messagesPerMinute: number; // per client address; 0 = unlimited
  maxClients: number;
  idleTimeoutMs: number;
  // Abuse limits (issue 11; docs/architecture.md "SMTP under abuse").
  /** Connections one client address holds at once (an IPv6 client counts by its /64); 0 = no limit. */
  maxPerAddress: number;
  /** The last slots of maxClients, given only to addresses holding no connection yet. */
  reservedSlots: number;
  /** Longest a session may go without delivering a message: from connect, or the reply to its last DATA. */
  commandTimeMs: number;
  /** Longest one DATA phase may take, from the 354 to the final dot. */
  dataTimeMs: number;
  /** DATA's minimum rate: its deadline is the idle timeout plus 1 s per this many bytes received; 0 = no minimum. */
  minDataRate: number;
}

/** Outbound retries after a 4xx or a connection failure: base × 2^attempt, capped, until the mail is this old. */
export interface RetrySchedule {
  baseMs: number;
  maxMs: number;
  giveUpMs: number;
}

export interface Config {
  dataDir: string;
  projectsDir: string;
  smtpHost: string;
  smtpPort: number;
  httpHost: string;
  httpPort: number;
  baseUrl: string | null; // null: derived from the HTTP address once listening
  hostname: string;
  outbound: OutboundMode;
  outboundRetry: RetrySchedule;
  tls: { cert: string; key: string } | null;
  smtp: SmtpLimits;
  bounceThreshold: number;
  /** Worker threads that read stored mail (MIME parse, classification): at least one, see `mail`. */
  parseThreads: number;
  /** How processing contains a mail it cannot handle (docs/architecture.md, "Poison mail"). */
  mail: MailProcessing;
  pipeline: PipelineSettings;
  /** MiB of REST API answers kept in memory while nothing is written (docs/api.md, "Caching"); 0 turns it off. */
  apiCacheMiB: number;
  /** Worker threads that compute the REST API's list pages, each on a connection of its own; 0: on the main thread. */
  apiThreads: number;
  logLevel: string;
  // --- HTTP edge (issue 11, auth) ---
  /** Reverse proxies whose X-Forwarded-For/-Host/-Proto are believed (addresses, CIDRs, loopback …); empty: none. */
  trustProxy: readonly string[];
  // --- the queue (issue 12) ---
  /** `--queue`: the pipeline's steps go through BullMQ on this Redis; null: run in this process (as without it). */
  queue: QueueSettings | null;
  // --- LAVA runner (issue 15) ---
  /** The LAVA server that boots the builds of projects with `runner: lava`; null: none configured. */
  lava: LavaSettings | null;
}

export interface LavaSettings {
  /** The server's root URL, no trailing slash. */
  url: string;
  /** The API token (read from --lava-token-file at start). */
  token: string;
  /** Jobs submitted again after a failure of the lab (so at most retries + 1 per boot). */
  retries: number;
  /** How long a job may wait for a device before it is cancelled as the lab's failure. */
  startWaitMs: number;
  pollMs: number;
}

export interface MailProcessing {
  /** Time one mail's reading may take in a worker before the worker is stopped and the attempt fails. */
  budgetMs: number;
  /** Attempts (each counted before it starts) before a mail is quarantined. */
  attempts: number;
}

/** The CI pipeline's capacity (SPEC §4): runs at once in each lane, worker threads for steps, worktrees per project. */
export interface PipelineSettings {
  /** Runs in the heavy lane (builds and boots) at once, and build slots per project; 0 turns the pipeline off. */
  runs: number;
  /** Runs in the gate lane (signoff, testdesc, checkpatch, apply) at once, and gate slots per project; at least 1. */
  gateRuns: number;
  /** Worker threads executing steps. */
  threads: number;
  /**
   * CPUs the pipeline's tools may keep busy (builds, checkpatch), shared equally by the runs at once; a run derives
   * from its share how many builds go at once and their make -j (src/pipeline/steps.ts buildBudget).
   */
  cpus: number;
  /** Refresh every project's tree mirror this often. */
  fetchEveryMs: number;
  /** Compiler cache shared by every build (default DATA/ccache): several servers or data folders may share one. */
  ccacheDir: string;
  /**
   * `--ccache-remote`: the Redis this process's trusted base builds share their ccache through (ccache's remote
   * storage, reached through ../pipeline/ccache-remote.service.ts); null: the local ccache only.
   */
  ccacheRemote: QueueSettings | null;
  /** Runs' artefacts (kernel images, disks, consoles, results) are deleted after this long. */
  artifactsKeepMs: number;
}

/** Flag names as the CLI spells them (camelCased by commander), each with its environment variable. */
export const SETTINGS = {
  data: 'PATCHBAY_DATA',
  projects: 'PATCHBAY_PROJECTS',
  smtpHost: 'PATCHBAY_SMTP_HOST',
  smtpPort: 'PATCHBAY_SMTP_PORT',
  httpHost: 'PATCHBAY_HTTP_HOST',
  httpPort: 'PATCHBAY_HTTP_PORT',
  baseUrl: 'PATCHBAY_BASE_URL',
  hostname: 'PATCHBAY_HOSTNAME',
  outbound: 'PATCHBAY_OUTBOUND',
  outboundRetryBase: 'PATCHBAY_OUTBOUND_RETRY_BASE',
  outboundRetryMax: 'PATCHBAY_OUTBOUND_RETRY_MAX',
  outboundGiveUp: 'PATCHBAY_OUTBOUND_GIVE_UP',
  tlsCert: 'PATCHBAY_TLS_CERT',
  tlsKey: 'PATCHBAY_TLS_KEY',
  smtpMaxSize: 'PATCHBAY_SMTP_MAX_SIZE',
  smtpMaxRecipients: 'PATCHBAY_SMTP_MAX_RECIPIENTS',
  smtpConnPerMin: 'PATCHBAY_SMTP_CONN_PER_MIN',
  smtpMsgPerMin: 'PATCHBAY_SMTP_MSG_PER_MIN',
  smtpMaxClients: 'PATCHBAY_SMTP_MAX_CLIENTS',
  smtpIdleTimeout: 'PATCHBAY_SMTP_IDLE_TIMEOUT',
  smtpMaxPerAddress: 'PATCHBAY_SMTP_MAX_PER_ADDRESS',
  smtpReservedSlots: 'PATCHBAY_SMTP_RESERVED_SLOTS',
  smtpCommandTime: 'PATCHBAY_SMTP_COMMAND_TIME',
  smtpDataTime: 'PATCHBAY_SMTP_DATA_TIME',
  smtpMinRate: 'PATCHBAY_SMTP_MIN_RATE',
  bounceThreshold: 'PATCHBAY_BOUNCE_THRESHOLD',
  parseThreads: 'PATCHBAY_PARSE_THREADS',
  mailTimeBudget: 'PATCHBAY_MAIL_TIME_BUDGET',
  mailAttempts: 'PATCHBAY_MAIL_ATTEMPTS',
  pipelineRuns: 'PATCHBAY_PIPELINE_RUNS',
  gateRuns: 'PATCHBAY_GATE_RUNS',
  pipelineThreads: 'PATCHBAY_PIPELINE_THREADS',
  pipelineCpus: 'PATCHBAY_PIPELINE_CPUS',
  treeFetchEvery: 'PATCHBAY_TREE_FETCH_EVERY',
  ccacheDir: 'PATCHBAY_CCACHE_DIR',
  ccacheRemote: 'PATCHBAY_CCACHE_REMOTE',
  ccacheRemoteCa: 'PATCHBAY_CCACHE_REMOTE_CA',
  artifactsKeepDays: 'PATCHBAY_ARTIFACTS_KEEP_DAYS',
  apiCache: 'PATCHBAY_API_CACHE',
  apiThreads: 'PATCHBAY_API_THREADS',
  logLevel: 'PATCHBAY_LOG_LEVEL',
  // --- HTTP edge (issue 11, auth) ---
  trustProxy: 'PATCHBAY_TRUST_PROXY',
  // --- the queue (issue 12) ---
  queue: 'PATCHBAY_QUEUE',
  queueCa: 'PATCHBAY_QUEUE_CA',
  // --- LAVA runner (issue 15) ---
  lavaUrl: 'PATCHBAY_LAVA_URL',
  lavaTokenFile: 'PATCHBAY_LAVA_TOKEN_FILE',
  lavaRetries: 'PATCHBAY_LAVA_RETRIES',
  lavaStartWait: 'PATCHBAY_LAVA_START_WAIT',
  lavaPoll: 'PATCHBAY_LAVA_POLL',
} as const;

export type SettingName = keyof typeof SETTINGS;
export type Flags = Partial<Record<SettingName, string | number | undefined>>;

function pick(flags: Flags, env: NodeJS.ProcessEnv, name: SettingName): string | undefined {
  const v = flags[name];
  if (v !== undefined && v !== '') return String(v);
  const e = env[SETTINGS[name]];
  return e === undefined || e === '' ? undefined : e;
}

function int(flags: Flags, env: NodeJS.ProcessEnv, name: SettingName, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = pick(flags, env, name);
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw invalid('config_invalid', `--${kebab(name)} / ${SETTINGS[name]}: expected an integer between ${min} and ${max}, got "${raw}"`);
  }
  return n;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function parseOutbound(raw: string): OutboundMode {
  if (raw === 'outbox') return { kind: 'outbox' };
  const m = /^smtp:\/\/([^:/\s]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\/?$/.exec(raw);
  if (!m) throw invalid('config_invalid', `--outbound / PATCHBAY_OUTBOUND: expected "outbox" or "smtp://HOST:PORT", got "${raw}"`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw invalid('config_invalid', `--outbound: port ${port} out of range`);
  return { kind: 'smtp', host: m[1]!.replace(/^\[|\]$/g, ''), port, url: raw };
}

function smtpLimits(flags: Flags, env: NodeJS.ProcessEnv): SmtpLimits {
  const maxClients = int(flags, env, 'smtpMaxClients', 200, 1, 100_000);
  return {
    maxMessageBytes: int(flags, env, 'smtpMaxSize', 25 * 1024 * 1024, 1024),
    maxRecipients: int(flags, env, 'smtpMaxRecipients', 50, 1),
    connectionsPerMinute: int(flags, env, 'smtpConnPerMin', 300),
    messagesPerMinute: int(flags, env, 'smtpMsgPerMin', 1200),
    maxClients,
    idleTimeoutMs: int(flags, env, 'smtpIdleTimeout', 60, 1) * 1000,
    // Defaults: an address gets a tenth of the slots (a sending MTA opens a few: Postfix's default destination
    // concurrency is 20), and the last quarter of the slots goes one per address.
    maxPerAddress: int(flags, env, 'smtpMaxPerAddress', Math.max(1, Math.ceil(maxClients / 10)), 0, maxClients),
    reservedSlots: int(flags, env, 'smtpReservedSlots', Math.floor(maxClients / 4), 0, maxClients - 1),
    // Seconds. RFC 5321 §4.5.3.2.7 asks a server to wait 5 minutes for a command: a session gets that long per message.
    commandTimeMs: int(flags, env, 'smtpCommandTime', 300, 1, 86_400) * 1000,
    dataTimeMs: int(flags, env, 'smtpDataTime', 600, 1, 86_400) * 1000,
    // Bytes per second; Postfix's smtpd_min_data_rate default.
    minDataRate: int(flags, env, 'smtpMinRate', 500, 0, 1024 ** 3),
  };
}

export function loadConfig(flags: Flags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Readonly<Config> {
  const tlsCert = pick(flags, env, 'tlsCert');
  const tlsKey = pick(flags, env, 'tlsKey');
  if (Boolean(tlsCert) !== Boolean(tlsKey)) {
    throw invalid('config_invalid', 'STARTTLS needs both --tls-cert and --tls-key (PATCHBAY_TLS_CERT, PATCHBAY_TLS_KEY)');
  }
  const pipelineCpus = int(flags, env, 'pipelineCpus', os.availableParallelism(), 1, 4096);
  const pipelineRuns = int(flags, env, 'pipelineRuns', 1, 0, 64);
  const gateRuns = int(flags, env, 'gateRuns', 2, 0, 64);
  // The gate lane is how a run starts: without it no run would ever reach its builds.
  if (pipelineRuns > 0 && gateRuns === 0) throw invalid('config_invalid', '--gate-runs / PATCHBAY_GATE_RUNS: 0 is not allowed while the pipeline is on (--pipeline-runs 0 turns it off)');
  const smtp = smtpLimits(flags, env);
  const queue = queueSettings(flags, env, cwd);
  const config: Config = {
    dataDir: path.resolve(cwd, pick(flags, env, 'data') ?? 'data'),
    projectsDir: path.resolve(cwd, pick(flags, env, 'projects') ?? 'projects'),
    smtpHost: pick(flags, env, 'smtpHost') ?? '127.0.0.1',
    smtpPort: int(flags, env, 'smtpPort', 2525, 0, 65535),
    httpHost: pick(flags, env, 'httpHost') ?? '127.0.0.1',
    httpPort: int(flags, env, 'httpPort', 8080, 0, 65535),
    baseUrl: trimEndChars(pick(flags, env, 'baseUrl') ?? '', '/') || null,
    hostname: pick(flags, env, 'hostname') ?? os.hostname(),
    outbound: parseOutbound(pick(flags, env, 'outbound') ?? 'outbox'),
    // Seconds. Defaults: first retry after 1 minute, then 2, 4 … at most 4 hours apart, given up after 2 days.
    outboundRetry: {
      baseMs: int(flags, env, 'outboundRetryBase', 60, 1) * 1000,
      maxMs: int(flags, env, 'outboundRetryMax', 4 * 3600, 1) * 1000,
      giveUpMs: int(flags, env, 'outboundGiveUp', 2 * 86400, 1) * 1000,
    },
    tls: tlsCert && tlsKey ? { cert: path.resolve(cwd, tlsCert), key: path.resolve(cwd, tlsKey) } : null,
    smtp,
    bounceThreshold: int(flags, env, 'bounceThreshold', 5, 1),
    // Always at least one: reading mail in a worker is what lets a time budget stop a mail that runs long (a thread
    // costs ~55 MB). More from 4 cores, where the main thread's database work is not the only thing to run.
    parseThreads: int(flags, env, 'parseThreads', os.availableParallelism() >= 4 ? Math.min(4, os.availableParallelism() - 2) : 1, 1, 64),
    mail: {
      // Seconds. Reading a 25 MB mail takes about a second on a busy core; ten leaves room for a loaded machine.
      budgetMs: int(flags, env, 'mailTimeBudget', 10, 1, 3600) * 1000,
      attempts: int(flags, env, 'mailAttempts', 3, 1, 20),
    },
    pipeline: {
      runs: pipelineRuns,
      gateRuns,
      // A step holds its thread while its tools run: a thread per build at once (one per 4 CPUs, as buildBudget
      // derives it) and one per boot beside it; at least 2 (a build and a boot).
      threads: int(flags, env, 'pipelineThreads', Math.min(64, Math.max(2, 2 * Math.floor(pipelineCpus / 4))), 1, 64),
      cpus: pipelineCpus,
      // Seconds; a run also fetches first when the mirror is older than its project's tree.max_age.
      fetchEveryMs: int(flags, env, 'treeFetchEvery', 900, 10) * 1000,
      ccacheDir: path.resolve(cwd, pick(flags, env, 'ccacheDir') ?? path.join(pick(flags, env, 'data') ?? 'data', 'ccache')),
      ccacheRemote: ccacheRemoteSettings(flags, env, cwd, queue),
      artifactsKeepMs: int(flags, env, 'artifactsKeepDays', 14, 1, 3650) * 86_400_000,
    },
    apiCacheMiB: int(flags, env, 'apiCache', 32, 0, 4096),
    // One per core: a list page not in the cache costs a few ms of CPU, and on the one main thread concurrent clients
    // would queue behind each other while the other cores idle (WAL lets the threads' connections read at once).
    apiThreads: int(flags, env, 'apiThreads', Math.min(64, Math.max(1, os.availableParallelism())), 0, 64),
    logLevel: pick(flags, env, 'logLevel') ?? 'info',
    // --- HTTP edge (issue 11, auth) ---
    trustProxy: parseTrustProxy(pick(flags, env, 'trustProxy') ?? ''),
    // --- the queue (issue 12) ---
    queue,
    // --- LAVA runner (issue 15) ---
    lava: lavaSettings(flags, env, cwd),
  };
  return Object.freeze(config);
}

// --- the queue (issue 12) ---

function queueSettings(flags: Flags, env: NodeJS.ProcessEnv, cwd: string): QueueSettings | null {
  const url = pick(flags, env, 'queue');
  const ca = pick(flags, env, 'queueCa');
  if (url === undefined) {
    if (ca !== undefined) throw invalid('config_invalid', '--queue-ca / PATCHBAY_QUEUE_CA is given without --queue / PATCHBAY_QUEUE');
    return null;
  }
  return parseQueueUrl(url, ca === undefined ? null : path.resolve(cwd, ca));
}

/** `--ccache-remote`: only for the builds this process runs, so not with --queue (the workers build; give it to them). */
function ccacheRemoteSettings(flags: Flags, env: NodeJS.ProcessEnv, cwd: string, queue: QueueSettings | null): QueueSettings | null {
  const url = pick(flags, env, 'ccacheRemote');
  const ca = pick(flags, env, 'ccacheRemoteCa');
  if (url === undefined) {
    if (ca !== undefined) throw invalid('config_invalid', '--ccache-remote-ca / PATCHBAY_CCACHE_REMOTE_CA is given without --ccache-remote / PATCHBAY_CCACHE_REMOTE');
    return null;
  }
  if (queue) {
    throw invalid(
      'config_invalid',
      '--ccache-remote / PATCHBAY_CCACHE_REMOTE is for the builds `patchbay serve` runs itself; with --queue the workers build: give it to `patchbay worker`',
    );
  }
  return parseCcacheRemoteUrl(url, ca === undefined ? null : path.resolve(cwd, ca));
}

// --- LAVA runner (issue 15) ---

/** `--lava-url` with `--lava-token-file` (the token never on the command line, nor in a project file). */
function lavaSettings(flags: Flags, env: NodeJS.ProcessEnv, cwd: string): LavaSettings | null {
  const url = pick(flags, env, 'lavaUrl');
  const tokenFile = pick(flags, env, 'lavaTokenFile');
  const retries = int(flags, env, 'lavaRetries', 2, 0, 20);
  // Seconds.
  const startWaitMs = int(flags, env, 'lavaStartWait', 600, 1, 7 * 86_400) * 1000;
  const pollMs = int(flags, env, 'lavaPoll', 5, 1, 3600) * 1000;
  if (url === undefined) {
    if (tokenFile !== undefined) throw invalid('config_invalid', '--lava-token-file / PATCHBAY_LAVA_TOKEN_FILE is given without --lava-url / PATCHBAY_LAVA_URL');
    return null;
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalid('config_invalid', `--lava-url / PATCHBAY_LAVA_URL: "${url}" is not a URL (expected http(s)://HOST[:PORT], the LAVA server's root)`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.search || u.hash) {
    throw invalid('config_invalid', `--lava-url / PATCHBAY_LAVA_URL: "${url}" must be an http(s) URL without credentials, query or fragment (the token goes in --lava-token-file)`);
  }
  if (tokenFile === undefined) throw invalid('config_invalid', '--lava-url needs --lava-token-file / PATCHBAY_LAVA_TOKEN_FILE: a file holding the LAVA user\'s API token');
  const file = path.resolve(cwd, tokenFile);
  let token: string;
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw invalid('config_invalid', `--lava-token-file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!/^[\x21-\x7e]{1,512}$/.test(token)) throw invalid('config_invalid', `--lava-token-file: ${file} must hold one API token (printable, no spaces), not ${token ? 'this' : 'nothing'}`);
  return { url: trimEndChars(`${u.origin}${u.pathname}`, '/'), token, retries, startWaitMs, pollMs };
}

// --- HTTP edge (issue 11, auth) ---

/** Names of address ranges that fastify's proxy-addr knows (RFC 3927, RFC 1122 / RFC 4291, RFC 1918 / RFC 4193). */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * `--trust-proxy` / PATCHBAY_TRUST_PROXY: the peers whose X-Forwarded-* headers are believed, comma- or
 * space-separated: an IPv4 or IPv6 address, a CIDR (`10.0.0.0/8`, `fd00::/8`), or loopback, linklocal, uniquelocal.
 * Empty (the default): no peer is a proxy, every request's address is its TCP peer and its host its Host header.
 */
export function parseTrustProxy(raw: string): string[] {
  const out: string[] = [];
  for (const entry of raw.split(/[\s,]+/)) {
    if (!entry) continue;
    if (entry.length > 64 || !validProxyEntry(entry)) {
      throw invalid('config_invalid', `--trust-proxy / PATCHBAY_TRUST_PROXY: "${entry.slice(0, 64)}" is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal`);
    }
    out.push(entry.toLowerCase());
  }
  return out;
}

function validProxyEntry(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry.toLowerCase())) return true;
  const slash = entry.indexOf('/');
  const ip = slash === -1 ? entry : entry.slice(0, slash);
  const family = net.isIP(ip);
  // A zone (fe80::1%eth0) is not something proxy-addr matches on.
  if (family === 0 || ip.includes('%')) return false;
  if (slash === -1) return true;
  const bits = entry.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

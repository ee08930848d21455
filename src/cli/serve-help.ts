// What `patchbay serve --help` shows as each flag's default: read from the configuration loaded with no flags and no
// environment, so the help cannot drift from what the server does.
import { loadConfig } from '../config/config.js';

/** Default of each `serve` flag (commander's attribute name) as help text; flags without a default are absent. */
export function serveDefaults(): Record<string, string> {
  const c = loadConfig({}, {});
  const s = c.smtp;
  return {
    data: './data',
    projects: './projects',
    smtpHost: c.smtpHost,
    smtpPort: String(c.smtpPort),
    httpHost: c.httpHost,
    httpPort: String(c.httpPort),
    baseUrl: 'http://HTTP-HOST:HTTP-PORT',
    trustProxy: 'none',
    hostname: `this machine's name (${c.hostname})`,
    outbound: 'outbox',
    smtpMaxSize: String(s.maxMessageBytes),
    smtpMaxRecipients: String(s.maxRecipients),
    smtpConnPerMin: String(s.connectionsPerMinute),
    smtpMsgPerMin: String(s.messagesPerMinute),
    smtpIdleTimeout: String(s.idleTimeoutMs / 1000),
    smtpMaxClients: String(s.maxClients),
    smtpMaxPerAddress: String(s.maxPerAddress),
    smtpReservedSlots: String(s.reservedSlots),
    smtpCommandTime: String(s.commandTimeMs / 1000),
    smtpDataTime: String(s.dataTimeMs / 1000),
    smtpMinRate: String(s.minDataRate),
    mailTimeBudget: String(c.mail.budgetMs / 1000),
    mailAttempts: String(c.mail.attempts),
    pipelineRuns: String(c.pipeline.runs),
    gateRuns: String(c.pipeline.gateRuns),
    pipelineThreads: `${c.pipeline.threads} here`,
    pipelineCpus: `all (${c.pipeline.cpus} here)`,
    treeFetchEvery: String(c.pipeline.fetchEveryMs / 1000),
    ccacheDir: 'DATA/ccache',
    ccacheRemote: 'none',
    apiCache: String(c.apiCacheMiB),
    apiThreads: `one per core, ${c.apiThreads} here`,
    artifactsKeepDays: String(c.pipeline.artifactsKeepMs / 86_400_000),
    queue: 'none (steps run in the server)',
    lavaUrl: 'none',
    lavaRetries: '2',
    lavaStartWait: '600',
    lavaPoll: '5',
  };
}

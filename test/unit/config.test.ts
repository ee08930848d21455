// Configuration: flags over environment over defaults, and clear refusals.
import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { loadConfig, parseOutbound, parseTrustProxy } from '../../src/config/config.js';
import { isAppError } from '../../src/errors.js';

describe('configuration', () => {
  it('has the embedded defaults of SPEC §6', () => {
    const c = loadConfig({}, {}, '/srv/pb');
    assert.equal(c.dataDir, '/srv/pb/data');
    assert.equal(c.projectsDir, '/srv/pb/projects');
    assert.equal(c.smtpHost, '127.0.0.1');
    assert.equal(c.smtpPort, 2525);
    assert.equal(c.httpPort, 8080);
    assert.deepEqual(c.outbound, { kind: 'outbox' });
    assert.equal(c.smtp.maxMessageBytes, 25 * 1024 * 1024);
    assert.equal(c.smtp.maxRecipients, 50);
    assert.ok(Object.isFrozen(c));
  });

  it('takes a flag over its PATCHBAY_* variable', () => {
    const c = loadConfig({ smtpPort: '0' }, { PATCHBAY_SMTP_PORT: '2600', PATCHBAY_HTTP_PORT: '9000', PATCHBAY_OUTBOUND: 'smtp://mx.example.org:25' });
    assert.equal(c.smtpPort, 0);
    assert.equal(c.httpPort, 9000);
    assert.deepEqual(c.outbound, { kind: 'smtp', host: 'mx.example.org', port: 25, url: 'smtp://mx.example.org:25' });
  });

  it('refuses a bad value naming the flag and the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ smtpPort: 'http' }, /--smtp-port \/ PATCHBAY_SMTP_PORT/],
      [{ httpPort: '70000' }, /--http-port/],
      [{ outbound: 'postfix' }, /expected "outbox" or "smtp:\/\/HOST:PORT"/],
      [{ tlsCert: 'cert.pem' }, /both --tls-cert and --tls-key/],
    ];
    for (const [flags, message] of cases) {
      assert.throws(() => loadConfig(flags, {}), (e) => isAppError(e) && e.kind === 'invalid' && message.test(e.message));
    }
  });

  it('derives the SMTP abuse limits from --smtp-max-clients, and takes each from its flag or variable', () => {
    const d = loadConfig({}, {}).smtp;
    assert.deepEqual(
      [d.maxClients, d.maxPerAddress, d.reservedSlots, d.commandTimeMs, d.dataTimeMs, d.minDataRate],
      [200, 20, 50, 300_000, 600_000, 500],
    );
    const c = loadConfig({ smtpMaxClients: '40', smtpCommandTime: '30' }, { PATCHBAY_SMTP_MIN_RATE: '0', PATCHBAY_SMTP_DATA_TIME: '90' }).smtp;
    assert.deepEqual([c.maxPerAddress, c.reservedSlots, c.commandTimeMs, c.dataTimeMs, c.minDataRate], [4, 10, 30_000, 90_000, 0]);
  });

  it('runs two gate runs beside one heavy run by default, takes --gate-runs or PATCHBAY_GATE_RUNS, and refuses 0 while the pipeline is on', () => {
    const d = loadConfig({}, {}).pipeline;
    assert.deepEqual([d.gateRuns, d.runs], [2, 1]);
    assert.equal(loadConfig({ gateRuns: '4' }, { PATCHBAY_GATE_RUNS: '3' }).pipeline.gateRuns, 4);
    assert.equal(loadConfig({}, { PATCHBAY_GATE_RUNS: '3' }).pipeline.gateRuns, 3);
    assert.throws(
      () => loadConfig({ gateRuns: '0' }, {}),
      (e) => isAppError(e) && e.kind === 'invalid' && /--gate-runs \/ PATCHBAY_GATE_RUNS: 0 is not allowed while the pipeline is on/.test(e.message),
    );
    // With the pipeline off there is no lane to fill.
    assert.equal(loadConfig({ gateRuns: '0', pipelineRuns: '0' }, {}).pipeline.gateRuns, 0);
    assert.throws(() => loadConfig({ gateRuns: 'many' }, {}), (e) => isAppError(e) && /--gate-runs/.test(e.message));
  });

  it('computes API list pages on one thread per core by default, takes --api-threads or PATCHBAY_API_THREADS, 0 for the main thread', () => {
    assert.equal(loadConfig({}, {}).apiThreads, Math.min(64, os.availableParallelism()));
    assert.equal(loadConfig({ apiThreads: '3' }, { PATCHBAY_API_THREADS: '5' }).apiThreads, 3);
    assert.equal(loadConfig({}, { PATCHBAY_API_THREADS: '0' }).apiThreads, 0);
    for (const bad of ['-1', '65', 'all']) {
      assert.throws(() => loadConfig({ apiThreads: bad }, {}), (e) => isAppError(e) && /--api-threads \/ PATCHBAY_API_THREADS: expected an integer between 0 and 64/.test(e.message), bad);
    }
  });

  it('refuses SMTP slot limits that do not fit the pool', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ smtpMaxClients: '10', smtpMaxPerAddress: '11' }, /--smtp-max-per-address \/ PATCHBAY_SMTP_MAX_PER_ADDRESS: expected an integer between 0 and 10/],
      [{ smtpMaxClients: '10', smtpReservedSlots: '10' }, /--smtp-reserved-slots .* between 0 and 9/],
      [{ smtpCommandTime: '0' }, /--smtp-command-time/],
      [{ smtpMinRate: '-1' }, /--smtp-min-rate/],
    ];
    for (const [flags, message] of cases) {
      assert.throws(() => loadConfig(flags, {}), (e) => isAppError(e) && e.kind === 'invalid' && message.test(e.message));
    }
  });

  it('trusts no proxy by default, and reads --trust-proxy / PATCHBAY_TRUST_PROXY as addresses, CIDRs and range names', () => {
    assert.deepEqual(loadConfig({}, {}).trustProxy, []);
    assert.deepEqual(loadConfig({}, { PATCHBAY_TRUST_PROXY: '10.0.0.1, 192.168.0.0/16 fd00::/8,Loopback' }).trustProxy, ['10.0.0.1', '192.168.0.0/16', 'fd00::/8', 'loopback']);
    assert.deepEqual(loadConfig({ trustProxy: '::1' }, { PATCHBAY_TRUST_PROXY: '10.0.0.1' }).trustProxy, ['::1']);
    for (const bad of ['*', 'true', 'proxy.example.org', '10.0.0.0/33', '::/129', '10.0.0.1/', '10.0.0.0/255.0.0.0', 'fe80::1%eth0', '10.0.0.256']) {
      assert.throws(() => parseTrustProxy(bad), (e) => isAppError(e) && e.code === 'config_invalid' && /--trust-proxy \/ PATCHBAY_TRUST_PROXY/.test(e.message), bad);
    }
  });

  it('parses IPv6 smarthosts', () => {
    assert.deepEqual(parseOutbound('smtp://[::1]:2526'), { kind: 'smtp', host: '::1', port: 2526, url: 'smtp://[::1]:2526' });
  });
});

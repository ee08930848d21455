// --queue, --ccache-remote and `patchbay worker`'s options: a Redis URL with a user and a password (TLS with
// rediss://), refused at start with the flag and the reason otherwise.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { loadWorkerConfig, parseArches, parseCcacheRemoteUrl, parseLanes, parseQueueUrl } from '../../src/config/queue.js';
import { isAppError } from '../../src/errors.js';

const TOKEN = `pbw-${'ab'.repeat(20)}`;
const refused = (code: string, message: RegExp) => (e: unknown) => isAppError(e) && e.kind === 'invalid' && e.code === code && message.test(e.message);

describe('--queue', () => {
  it('reads user, password, host, port, database and TLS from the URL', () => {
    assert.deepEqual(parseQueueUrl('redis://pb:s3cret@redis.example.org:6380/2'), {
      tls: false,
      host: 'redis.example.org',
      port: 6380,
      username: 'pb',
      password: 's3cret',
      db: 2,
      caFile: null,
      display: 'redis://pb@redis.example.org:6380/2',
    });
    const t = parseQueueUrl('rediss://pb:p%40ss%2Fw@[::1]', '/etc/ca.pem');
    assert.deepEqual([t.tls, t.host, t.port, t.password, t.db, t.caFile], [true, '::1', 6379, 'p@ss/w', 0, '/etc/ca.pem']);
  });

  it('refuses a URL without a user or a password, and never prints the password', () => {
    assert.throws(() => parseQueueUrl('redis://redis.example.org:6379'), refused('queue_needs_password', /names no user; Redis must be reached as an ACL user with a password/));
    assert.throws(() => parseQueueUrl('redis://:hunter2@redis.example.org'), refused('queue_needs_password', /names no user/));
    assert.throws(() => parseQueueUrl('redis://pb@redis.example.org'), refused('queue_needs_password', /redis:\/\/pb@redis.example.org names no password/));
    for (const raw of ['redis://pb:hunter2@', 'http://pb:hunter2@redis.example.org', 'redis://pb:hunter2@h?family=6', 'redis://pb:hunter2@h/x']) {
      assert.throws(
        () => parseQueueUrl(raw),
        (e) => isAppError(e) && e.kind === 'invalid' && /--queue \/ PATCHBAY_QUEUE/.test(e.message) && !e.message.includes('hunter2'),
        raw,
      );
    }
  });

  it('takes --queue-ca only with rediss://', () => {
    assert.throws(() => parseQueueUrl('redis://pb:pw@h', '/etc/ca.pem'), refused('config_invalid', /--queue-ca .* is for rediss:\/\//));
    assert.throws(() => loadConfig({ queueCa: 'ca.pem' }, {}), refused('config_invalid', /without --queue/));
  });

  it('is off by default, and read from PATCHBAY_QUEUE by serve', () => {
    assert.equal(loadConfig({}, {}).queue, null);
    const c = loadConfig({}, { PATCHBAY_QUEUE: 'rediss://pb:pw@q.example.org:6390', PATCHBAY_QUEUE_CA: 'ca.pem' }, '/srv/pb');
    assert.deepEqual([c.queue?.tls, c.queue?.port, c.queue?.caFile], [true, 6390, '/srv/pb/ca.pem']);
    assert.throws(() => loadConfig({ queue: 'redis://q.example.org' }, {}), refused('queue_needs_password', /ACL user/));
  });
});

describe('patchbay worker options', () => {
  const base = { queue: 'redis://w:pw@q.example.org', server: 'https://pb.example.org/', token: TOKEN };

  it('has every lane and the installed arches by default, and a name from the host', () => {
    const w = loadWorkerConfig({ ...base, name: 'builder-1' }, {}, '/srv/w');
    assert.deepEqual([w.name, w.server, w.token, w.lanes, w.arches, w.dataDir], ['builder-1', 'https://pb.example.org', TOKEN, ['gates', 'builds', 'tests'], null, '/srv/w/data']);
    assert.ok(Object.isFrozen(w));
  });

  it('takes its settings from PATCHBAY_* variables', () => {
    const w = loadWorkerConfig(
      {},
      { PATCHBAY_QUEUE: base.queue, PATCHBAY_SERVER: 'http://10.0.0.1:8080', PATCHBAY_WORKER_TOKEN: TOKEN, PATCHBAY_WORKER_LANES: 'builds, tests', PATCHBAY_WORKER_ARCHES: 'arm64,x86_64', PATCHBAY_WORKER_NAME: 'w2' },
    );
    assert.deepEqual([w.lanes, w.arches, w.name, w.server], [['builds', 'tests'], ['arm64', 'x86_64'], 'w2', 'http://10.0.0.1:8080']);
  });

  it('refuses each missing or bad option with its flag and variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ queue: '' }, /needs --queue \/ PATCHBAY_QUEUE/],
      [{ server: '' }, /needs --server \/ PATCHBAY_SERVER/],
      [{ token: '' }, /needs --token \/ PATCHBAY_WORKER_TOKEN/],
      [{ token: 'ab'.repeat(20) }, /--token .*not a worker token/],
      [{ server: 'ftp://pb.example.org' }, /--server .*expected http/],
      [{ server: 'https://u:p@pb.example.org' }, /takes no credentials/],
      [{ name: 'a b' }, /--name .*not a worker name/],
      [{ lanes: 'gates,boots' }, /--lanes .*"boots" is not a lane/],
      [{ lanes: ',' }, /--lanes .*at least one/],
      [{ arches: 'x86_64,sparc' }, /--arches .*"sparc" is not an arch patchbay builds/],
      [{ preferWarmWait: '-1' }, /--prefer-warm-wait \/ PATCHBAY_WORKER_PREFER_WARM_WAIT: expected whole seconds from 0 to 3600/],
      [{ preferWarmWait: '1.5' }, /--prefer-warm-wait .*whole seconds/],
      [{ preferWarmWait: '3601' }, /--prefer-warm-wait .*from 0 to 3600/],
    ];
    for (const [flags, message] of cases) {
      assert.throws(() => loadWorkerConfig({ ...base, name: 'w', ...flags }, {}), (e) => isAppError(e) && e.kind === 'invalid' && message.test(e.message), JSON.stringify(flags));
    }
    assert.throws(() => loadWorkerConfig({ ...base, queue: 'redis://q.example.org' }, {}), refused('queue_needs_password', /ACL user/));
  });

  it('hands a job back for the holder of its warm tree for at most 60 s by default; --prefer-warm-wait 0 never does', () => {
    assert.equal(loadWorkerConfig({ ...base, name: 'w' }, {}).preferWarmWaitMs, 60_000);
    assert.equal(loadWorkerConfig({ ...base, name: 'w', preferWarmWait: '0' }, {}).preferWarmWaitMs, 0);
    assert.equal(loadWorkerConfig({ ...base, name: 'w' }, { PATCHBAY_WORKER_PREFER_WARM_WAIT: '15' }).preferWarmWaitMs, 15_000);
  });

  it('keeps each lane and arch once, in the order given', () => {
    assert.deepEqual(parseLanes('tests,builds,tests'), ['tests', 'builds']);
    assert.deepEqual(parseArches('riscv64, arm64 ,riscv64'), ['riscv64', 'arm64']);
  });
});

describe('--ccache-remote', () => {
  const base = { queue: 'redis://w:pw@q.example.org', server: 'https://pb.example.org/', token: TOKEN, name: 'w' };

  it('is off by default; a worker reads it (and its CA) from the flag or PATCHBAY_CCACHE_REMOTE', () => {
    assert.equal(loadWorkerConfig(base, {}).ccacheRemote, null);
    assert.equal(loadConfig({}, {}).pipeline.ccacheRemote, null);
    const w = loadWorkerConfig(base, { PATCHBAY_CCACHE_REMOTE: 'rediss://ccache:c%40che@cache.example.org:6380', PATCHBAY_CCACHE_REMOTE_CA: 'ca.pem' }, '/srv/w');
    assert.deepEqual(
      [w.ccacheRemote?.tls, w.ccacheRemote?.host, w.ccacheRemote?.port, w.ccacheRemote?.username, w.ccacheRemote?.password, w.ccacheRemote?.caFile],
      [true, 'cache.example.org', 6380, 'ccache', 'c@che', '/srv/w/ca.pem'],
    );
    const c = loadConfig({ ccacheRemote: 'redis://ccache:pw@127.0.0.1:6390/3' }, {});
    assert.deepEqual([c.pipeline.ccacheRemote?.port, c.pipeline.ccacheRemote?.db], [6390, 3]);
  });

  it('needs a user and a password of its own, never the queue\'s, and names its own flag', () => {
    assert.throws(() => parseCcacheRemoteUrl('redis://cache.example.org'), refused('ccache_remote_needs_password', /--ccache-remote \/ PATCHBAY_CCACHE_REMOTE: .*names no user/));
    assert.throws(
      () => loadWorkerConfig({ ...base, ccacheRemote: 'redis://w:other@q.example.org:6379' }, {}),
      refused('ccache_remote_queue_user', /logs in as "w", the queue's user; give ccache an ACL user of its own/),
    );
    // Another Redis may well have a user of that name.
    assert.equal(loadWorkerConfig({ ...base, ccacheRemote: 'redis://w:pw@cache.example.org' }, {}).ccacheRemote?.host, 'cache.example.org');
    assert.throws(() => parseCcacheRemoteUrl('redis://c:pw@h', '/etc/ca.pem'), refused('config_invalid', /--ccache-remote-ca .* is for rediss:\/\//));
    assert.throws(() => loadWorkerConfig({ ...base, ccacheRemoteCa: 'ca.pem' }, {}), refused('config_invalid', /without --ccache-remote/));
  });

  it('is refused by serve --queue, where the workers build', () => {
    assert.throws(
      () => loadConfig({ queue: 'redis://pb:pw@q.example.org', ccacheRemote: 'redis://ccache:pw@q.example.org' }, {}),
      refused('config_invalid', /with --queue the workers build: give it to `patchbay worker`/),
    );
  });
});

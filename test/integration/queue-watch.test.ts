// Watching the queue: /admin/queue/, /admin/queue.json and /metrics for admins only, in-process (counts from the
// runs and steps tables) and with BullMQ on a real redis-server (counts from the queues, workers from the registry,
// and an honest "unreachable" while Redis is down). Every value on the page is escaped.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { parseQueueUrl } from '../../src/config/queue.js';
import { createRun, finishStep, markStepRunning, startRun } from '../../src/db/pipeline.repository.js';
import { BullmqQueueView } from '../../src/queue/bullmq-view.service.js';
import { connect, redisOptions } from '../../src/queue/connection.js';
import { durationsFrom } from '../../src/queue/local-view.service.js';
import { PREFIX, queueName } from '../../src/queue/names.js';
import { WorkerHeartbeat } from '../../src/queue/registry.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startWebApp, type WebApp } from '../helpers/web-app.js';

const laneOf = (body: any, queue: string) => body.lanes.find((l: any) => l.queue === queue);

describe('the queue pages in-process (no --queue)', () => {
  let w: WebApp;
  before(async () => {
    w = await startWebApp({ fixtures: ['cover-letter'] });
    const steps = [{ step: 'signoff', job: '' }, { step: 'apply', job: '' }, { step: 'build', job: 'x86_64' }, { step: 'build', job: 'arm64-2' }, { step: 'test', job: 'x86_64' }];
    const a = await createRun(w.h.db, { projectId: w.project.id, seriesId: 1, eventId: null, state: 'queued', steps });
    await startRun(w.h.db, a);
    const log = path.join(w.dataDir, 'x.log');
    await markStepRunning(w.h.db, a, 'signoff', '', log);
    await finishStep(w.h.db, a, 'signoff', '', { status: 'pass', summary: 'ok', findings: [], outputs: {}, logPath: log, childMs: 0 } as never);
    await markStepRunning(w.h.db, a, 'apply', '', log);
    await finishStep(w.h.db, a, 'apply', '', { status: 'error', summary: 'mirror gone', findings: [], outputs: {}, logPath: log, childMs: 0 } as never);
    await markStepRunning(w.h.db, a, 'build', 'x86_64', log);
    // A second run waits behind it.
    await createRun(w.h.db, { projectId: w.project.id, seriesId: 1, eventId: null, state: 'queued', steps });
  });
  after(() => w?.close());

  it('counts the lanes from the steps and runs tables, and shows this server as the one worker', async () => {
    const admin = await w.login('admin');
    const r = await admin.get('/admin/queue.json', { accept: 'application/json' });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json();
    assert.equal(body.mode, 'in-process');
    const pick = (q: string) => {
      const l = laneOf(body, q);
      return [l.waiting, l.active, l.failed, l.completed];
    };
    // Run 1: signoff passed, apply errored, build x86_64 running, build arm64-2 and test x86_64 pending; run 2 all pending.
    assert.deepEqual(pick('gates'), [2, 0, 1, 1]);
    assert.deepEqual(pick('builds-x86_64'), [1, 1, 0, 0]);
    assert.deepEqual(pick('builds-arm64'), [2, 0, 0, 0]);
    assert.deepEqual(pick('tests-x86_64'), [2, 0, 0, 0]);
    assert.deepEqual(pick('runs'), [1, 1, 0, 0]);
    assert.equal(body.workers.length, 1);
    assert.match(body.workers[0].current.jobId, /^run \d+ build x86_64$/);
    assert.equal(body.workers[0].instance, undefined);
  });

  it('renders the page with the lanes and the worker', async () => {
    const page = await (await w.login('admin')).get('/admin/queue/');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<tr data-queue="builds-x86_64"><td>builds-x86_64<\/td><td>builds<\/td><td>x86_64<\/td><td>1<\/td><td>1<\/td>/);
    assert.match(page.body, /<tr data-worker="patchbay-test">/);
    assert.match(page.body, /In this process/);
    assert.match(page.body, /<a href="\/admin\/queue\/" class="current">Queue<\/a>/);
  });

  it('lets in admins only: by session, by API token or by Basic; 401 or the login form for nobody, 403 for others', async () => {
    assert.equal((await w.browser().get('/admin/queue/')).statusCode, 303);
    for (const url of ['/admin/queue.json', '/metrics']) {
      const anon = await w.app.inject({ url });
      assert.equal(anon.statusCode, 401, url);
      assert.match(String(anon.headers['www-authenticate']), /Basic realm="patchbay admin"/);
      assert.equal(JSON.parse(anon.body).code, 'admin_auth_required');
      assert.equal((await w.app.inject({ url, headers: { authorization: `Token ${w.tokens.teacher}` } })).statusCode, 403, url);
      assert.equal((await (await w.login('zoe')).get(url)).statusCode, 403, url);
      assert.equal((await w.app.inject({ url, headers: { authorization: `Token ${w.tokens.admin}` } })).statusCode, 200, url);
      const basic = Buffer.from(`root:${'root-secret-pw'}`).toString('base64');
      assert.equal((await w.app.inject({ url, headers: { authorization: `Basic ${basic}` } })).statusCode, 200, url);
    }
  });

  it('serves Prometheus metrics: lanes, workers and step durations per arch', async () => {
    const r = await w.app.inject({ url: '/metrics', headers: { authorization: `Token ${w.tokens.admin}` } });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^patchbay_queue_depth\{lane="builds",arch="arm64",queue="builds-arm64"\} 2$/m);
    assert.match(r.body, /^patchbay_queue_jobs\{lane="gates",arch="",queue="gates",state="failed"\} 1$/m);
    assert.match(r.body, /^patchbay_workers 1$/m);
    assert.match(r.body, /^patchbay_workers_busy 1$/m);
    assert.match(r.body, /^patchbay_queue_up\{mode="in-process"\} 1$/m);
    assert.match(r.body, /^# TYPE patchbay_step_duration_seconds histogram$/m);
    assert.match(r.body, /^patchbay_step_duration_seconds_count\{step="signoff",arch=""\} 1$/m);
    assert.deepEqual((await durationsFrom(w.h.db)).map((d) => [d.step, d.arch]).sort(), [['apply', null], ['signoff', null]]);
  });

  it('serves a run as a page to a browser and as JSON to scripts at /runs/R/, every value escaped', async () => {
    const id = await createRun(w.h.db, { projectId: w.project.id, seriesId: 1, eventId: null, state: 'queued', steps: [{ step: 'apply', job: '' }] });
    await startRun(w.h.db, id);
    const log = path.join(w.dataDir, 'apply.log');
    await markStepRunning(w.h.db, id, 'apply', '', log);
    await finishStep(w.h.db, id, 'apply', '', { status: 'fail', summary: 'conflict in <script>alert(1)</script>', findings: [], outputs: {}, logPath: log, childMs: 0 } as never);
    const page = await w.browser().get(`/runs/${id}/`);
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, new RegExp(`<h1 id="run-title">Run ${id}</h1>`));
    assert.match(page.body, new RegExp(`<a class="log-link" href="/runs/${id}/log/apply/">log</a>`));
    assert.ok(!page.body.includes('<script>alert'), 'a step summary rendered as markup');
    assert.match(page.body, /conflict in &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    // Nobody gets buttons here: this server has no pipeline to act with.
    assert.doesNotMatch((await (await w.login('admin')).get(`/runs/${id}/`)).body, /action="\/admin\/runs\//);
    for (const r of [await w.app.inject({ url: `/runs/${id}/` }), await w.browser().get(`/runs/${id}/?format=json`)]) {
      assert.equal(r.statusCode, 200);
      assert.equal(JSON.parse(r.body).steps[0].summary, 'conflict in <script>alert(1)</script>');
    }
    assert.equal((await w.browser().get('/runs/999999/')).statusCode, 404);
  });
});

describe('the queue pages with BullMQ (--queue)', () => {
  let redis: RedisServer;
  let w: WebApp;
  let view: BullmqQueueView;
  let client: ReturnType<typeof connect>;
  let hb: WorkerHeartbeat;
  before(async () => {
    redis = await startRedis({ persistence: false });
    const settings = parseQueueUrl(redis.url);
    view = new BullmqQueueView(settings);
    w = await startWebApp({ queue: { view, durations: { durations: async () => [] } } });
    const builds = new Queue(queueName('builds', 'riscv64'), { prefix: PREFIX, connection: redisOptions(settings, 'queue') });
    await builds.addBulk([1, 2, 3].map((i) => ({ name: 'build', data: { i }, opts: { jobId: `build-${i}-riscv64` } })));
    await builds.close();
    client = connect(settings, 'registry', () => {});
    hb = new WorkerHeartbeat(client, { name: 'lab-<b>1</b>', host: '<img src=x onerror=alert(1)>', lanes: ['builds'], arches: ['riscv64'], warmTrees: ['proctree/riscv64@"quoted"'] });
    await hb.start();
    await hb.update({ current: { queue: 'builds-riscv64', jobId: 'build-1-riscv64<script>', since: new Date().toISOString() } });
  });
  after(async () => {
    await hb?.stop();
    client?.disconnect();
    await w?.close();
    await redis?.close();
  });

  it('counts jobs from the BullMQ queues and lists the registered workers', async () => {
    const body = (await w.app.inject({ url: '/admin/queue.json', headers: { authorization: `Token ${w.tokens.admin}` } })).json();
    assert.equal(body.mode, 'bullmq');
    assert.equal(body.backend, `redis://patchbay@127.0.0.1:${redis.port}`);
    assert.equal(body.reachable, true);
    assert.equal(laneOf(body, 'builds-riscv64').waiting, 3);
    assert.equal(laneOf(body, 'gates').waiting, 0);
    assert.deepEqual(body.workers.map((x: any) => [x.name, x.current.jobId]), [['lab-<b>1</b>', 'build-1-riscv64<script>']]);
    assert.ok(!JSON.stringify(body).includes(redis.password));
  });

  it('escapes everything a worker reports on the page', async () => {
    const page = await (await w.login('admin')).get('/admin/queue/');
    assert.equal(page.statusCode, 200);
    assert.ok(!page.body.includes('<img src=x'), 'host name rendered as markup');
    assert.ok(!page.body.includes('<script>'), 'job id rendered as markup');
    assert.ok(!page.body.includes('<b>1</b>'));
    assert.match(page.body, /&lt;img src&#x3D;x onerror&#x3D;alert\(1\)&gt;/);
    assert.match(page.body, /lab-&lt;b&gt;1&lt;\/b&gt;/);
    assert.match(page.body, /proctree\/riscv64@&quot;quoted&quot;/);
  });

  it('says Redis is unreachable, within its deadline, while Redis is stopped', async () => {
    await redis.stop();
    const t0 = Date.now();
    const body = (await w.app.inject({ url: '/admin/queue.json', headers: { authorization: `Token ${w.tokens.admin}` } })).json();
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    assert.equal(body.reachable, false);
    assert.deepEqual([body.lanes, body.workers], [[], []]);
    assert.equal(typeof body.error, 'string');
    const metrics = await w.app.inject({ url: '/metrics', headers: { authorization: `Token ${w.tokens.admin}` } });
    assert.match(metrics.body, /^patchbay_queue_up\{mode="bullmq"\} 0$/m);
    const page = await (await w.login('admin')).get('/admin/queue/');
    assert.match(page.body, /id="queue-unreachable"/);
    await redis.start();
  });
});

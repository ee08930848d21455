// The LAVA worker downloads a run's kernel, initramfs and disks with the per-run secret in the URL
// (/runs/R/lava/SECRET/KEY/NAME), with no account, even in a private project; without the right secret, nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRun } from '../../src/db/pipeline.repository.js';
import { createLogger } from '../../src/log.js';
import { artifactsDir } from '../../src/pipeline/artifacts.js';
import { LavaJobs } from '../../src/pipeline/lava/lava-jobs.service.js';
import { routesAfterGate, unguardedRoutes } from '../../src/web/visibility-gate.js';
import { startWebApp, type WebApp } from '../helpers/web-app.js';

describe('LAVA artefact URLs', () => {
  let w: WebApp;
  let lava: LavaJobs;
  let run: number;
  let other: number;
  const image = Buffer.from('MZ not really a bzImage\n'.repeat(100));

  before(async () => {
    let jobs: LavaJobs | null = null;
    w = await startWebApp({ project: { visibility: 'private' }, fixtures: ['cover-letter'], lava: { verify: (r, s) => jobs!.verify(r, s), notified: (r) => jobs!.notified(r) } });
    // The server is never asked anything here: only the secrets are used.
    lava = jobs = new LavaJobs({ settings: { url: 'http://127.0.0.1:9', token: 't', retries: 0, startWaitMs: 1000, pollMs: 1000 }, dataDir: w.dataDir, baseUrl: () => 'http://ci.example.org', log: createLogger('silent') });
    const series = (await w.h.series())[0]!.id;
    run = await createRun(w.h.db, { projectId: w.project.id, seriesId: series, eventId: null, state: 'running', steps: [] });
    other = await createRun(w.h.db, { projectId: w.project.id, seriesId: series, eventId: null, state: 'running', steps: [] });
    fs.mkdirSync(path.join(artifactsDir(w.dataDir, run), 'x86_64'), { recursive: true });
    fs.writeFileSync(path.join(artifactsDir(w.dataDir, run), 'x86_64', 'bzImage'), image);
  });
  after(async () => {
    lava.close();
    await w.close();
  });

  it('gives the step a URL under the base URL with the run, the secret and the build', () => {
    const s = lava.stepSettings(run, 'x86_64', 'proctree', 3);
    assert.equal(s.artifactsUrl, `http://ci.example.org/runs/${run}/lava/${lava.secret(run)}/x86_64/`);
    assert.equal(s.maxJobs, 3);
    assert.match(lava.secret(run), /^[0-9a-f]{32}$/);
    assert.notEqual(lava.secret(run), lava.secret(other));
  });

  it('serves the file to anyone with the secret, with its length (LAVA reads it from a HEAD)', async () => {
    const url = `/runs/${run}/lava/${lava.secret(run)}/x86_64/bzImage`;
    const r = await w.app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.rawPayload, image);
    const head = await w.app.inject({ method: 'HEAD', url });
    assert.equal(head.statusCode, 200);
    assert.equal(Number(head.headers['content-length']), image.length);
  });

  it('is the private project run artefact that anonymous cannot get without the secret', async () => {
    assert.equal((await w.app.inject({ method: 'GET', url: `/runs/${run}/artifacts/x86_64/bzImage` })).statusCode, 404);
  });

  it('refuses a wrong secret, another run s secret, and a path out of the run', async () => {
    const wrong = 'f'.repeat(32);
    for (const url of [
      `/runs/${run}/lava/${wrong}/x86_64/bzImage`,
      `/runs/${run}/lava/${lava.secret(other)}/x86_64/bzImage`,
      `/runs/${other}/lava/${lava.secret(other)}/x86_64/bzImage`,
      `/runs/${run}/lava/${lava.secret(run)}/../run-${other}/x86_64/bzImage`,
      `/runs/${run}/lava/${lava.secret(run).slice(1)}/x86_64/bzImage`,
    ]) {
      const r = await w.app.inject({ method: 'GET', url });
      assert.ok(r.statusCode === 404 || r.statusCode === 400, `${url}: ${r.statusCode}`);
      assert.notDeepEqual(r.rawPayload, image);
    }
  });

  it("wakes the run's followers on LAVA's notify callback with the run's secret, and refuses it without", async () => {
    const { sleepOrWake } = await import('../../src/pipeline/lava/lava-state.js');
    const t0 = performance.now();
    const woken = sleepOrWake(run, 60_000);
    const r = await w.app.inject({ method: 'POST', url: `/runs/${run}/lava/${lava.secret(run)}/notify`, payload: { id: 1, status: 'Finished', health: 'Complete' } });
    assert.equal(r.statusCode, 200);
    await woken;
    assert.ok(performance.now() - t0 < 30_000);
    const bad = await w.app.inject({ method: 'POST', url: `/runs/${run}/lava/${lava.secret(other)}/notify`, payload: { id: 1 } });
    assert.equal(bad.statusCode, 404);
  });

  it('keeps the route out of the visibility table as a named exception (its secret is its check)', () => {
    assert.ok(routesAfterGate(w.app).includes('/runs/:id/lava/:secret/*'));
    assert.deepEqual(unguardedRoutes(w.app), []);
  });

  it('keeps the secrets across a restart (the key is in the data folder)', () => {
    const again = new LavaJobs({ settings: { url: 'http://127.0.0.1:9', token: 't', retries: 0, startWaitMs: 1000, pollMs: 1000 }, dataDir: w.dataDir, baseUrl: () => '', log: createLogger('silent') });
    assert.equal(again.secret(run), lava.secret(run));
    again.close();
  });
});

// A run resumed after a restart: the time the server was down is recorded (from the run's last activity, or the
// server's last sign of life when later, to the restart) and left out of the duration the series and run pages show,
// which say so. On the real migrated database and the web app; the times are set on the rows as a crash leaves them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRun, finishStep, getRun, markResumed, markStepRunning, resetRunningSteps, startRun } from '../../src/db/pipeline.repository.js';
import { startWebApp, type WebApp } from '../helpers/web-app.js';

const at = (s: string) => `2026-12-07T10:${s}.000Z`;

describe('a run resumed after a restart', () => {
  let w: WebApp;
  before(async () => {
    w = await startWebApp({ fixtures: ['cover-letter'] });
  });
  after(() => w.close());

  it('leaves the downtime out of its duration and says so on the series page and the run page', async () => {
    const db = w.h.db;
    const runId = await createRun(db, { projectId: w.project.id, seriesId: 1, eventId: null, state: 'queued', steps: [{ step: 'apply', job: '' }, { step: 'build', job: 'x86_64' }] });
    await startRun(db, runId);
    // Started at 10:00:00, apply 10:00:00–10:00:10, the build from 10:00:10 until the crash; the server's last sign of
    // life at 10:01:00; restarted at 10:31:00: 30 minutes down.
    await db.updateTable('runs').set({ started_at: at('00:00') }).where('id', '=', runId).execute();
    await markStepRunning(db, runId, 'apply', '', '/nonexistent/apply.log');
    await finishStep(db, runId, 'apply', '', { status: 'pass', summary: 'applied 1/1', findings: [], outputs: null, childMs: 0 });
    await db.updateTable('run_steps').set({ started_at: at('00:00'), finished_at: at('00:10') }).where('run_id', '=', runId).where('step', '=', 'apply').execute();
    await markStepRunning(db, runId, 'build', 'x86_64', '/nonexistent/build.log');
    await db.updateTable('run_steps').set({ started_at: at('00:10') }).where('run_id', '=', runId).where('step', '=', 'build').execute();

    assert.equal(await markResumed(db, runId, at('31:00'), at('01:00')), 30 * 60_000);
    await resetRunningSteps(db, runId);
    // The build runs again after the restart and ends at 10:32:00; the run with it.
    await markStepRunning(db, runId, 'build', 'x86_64', '/nonexistent/build.log');
    await finishStep(db, runId, 'build', 'x86_64', { status: 'pass', summary: 'built', findings: [], outputs: null, childMs: 0 });
    await db.updateTable('run_steps').set({ started_at: at('31:00'), finished_at: at('32:00') }).where('run_id', '=', runId).where('step', '=', 'build').execute();
    await db.updateTable('runs').set({ state: 'done', outcome: 'pass', finished_at: at('32:00') }).where('id', '=', runId).execute();
    const run = await getRun(db, runId);
    assert.deepEqual([run?.paused_ms, run?.resumed_at], [30 * 60_000, at('31:00')]);

    // 32 minutes from start to end, 30 of them down: the run took 2 minutes; the build's own row, its second try.
    const series = (await w.browser().get('/series/1/')).body;
    assert.match(series, new RegExp(`run ${runId}</a>, 2 min 0 s <span class="muted small" id="run-paused">\\(resumed after a restart; the 30 min 0 s the server was down not counted\\)</span>`));
    assert.match(series, /<tr data-step="build" data-job="x86_64">[\s\S]*?<td class="small">1 min 0 s<\/td>/);
    const page = (await w.browser().get(`/runs/${runId}/`)).body;
    assert.match(page, /\(2 min 0 s, resumed after a restart: the 30 min 0 s the server was down not counted\)/);
    const json = (await w.browser().get(`/runs/${runId}/?format=json`)).body;
    assert.equal(JSON.parse(json).paused_ms, 30 * 60_000);
  });

  it('counts from the run’s own last activity when the server was seen alive before it', async () => {
    const db = w.h.db;
    const runId = await createRun(db, { projectId: w.project.id, seriesId: 1, eventId: null, state: 'queued', steps: [{ step: 'apply', job: '' }] });
    await startRun(db, runId);
    await db.updateTable('runs').set({ started_at: at('00:00') }).where('id', '=', runId).execute();
    await markStepRunning(db, runId, 'apply', '', '/nonexistent/apply.log');
    await db.updateTable('run_steps').set({ started_at: at('05:00') }).where('run_id', '=', runId).execute();
    assert.equal(await markResumed(db, runId, at('06:00'), at('04:55')), 60_000);
    // A second restart adds to it.
    assert.equal(await markResumed(db, runId, at('09:00'), at('08:00')), 60_000);
    assert.equal((await getRun(db, runId))?.paused_ms, 120_000);
  });
});

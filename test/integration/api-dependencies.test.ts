// Series dependencies (API 1.4, Patchwork 3.2): a cover letter's or patch's `Depends-on:` names another series of the
// project, by a Message-ID or a URL; shown as `dependencies`/`dependents` when the project's show_dependencies is set.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileDependencies } from '../../src/series/dependencies.service.js';
import { tempDir } from '../helpers/dirs.js';
import { startApiApp, type ApiApp } from '../helpers/api-app.js';

const DIR = path.resolve('test/fixtures/depends-on');

/** Delivers a template of test/fixtures/depends-on with `{token}` replaced; returns the newest series' id. */
async function deliver(a: ApiApp, template: string, token: string): Promise<number> {
  const file = path.join(tempDir('patchbay-depends-'), template.replace('.template', ''));
  fs.writeFileSync(file, fs.readFileSync(path.join(DIR, template), 'utf8').replace('{token}', token));
  await a.h.deliverMbox(file);
  return (await a.get('/api/series/?order=-id&per_page=1'))[0].id;
}

describe('series dependencies from Depends-on:', () => {
  let a: ApiApp;
  let baseId: number;
  let basePatch: { msgid: string; id: number };

  before(async () => {
    // base.mbox: [PATCH 0/2] proctree: walk the process tree, 1/2, 2/2 (threaded to the cover).
    a = await startApiApp([], { showDependencies: true });
    await a.h.deliverMbox(path.join(DIR, 'base.mbox'));
    const series = await a.get('/api/series/');
    assert.equal(series.length, 1);
    baseId = series[0].id;
    basePatch = series[0].patches[0];
  });
  after(() => a.close());

  it("links a series whose cover letter names a patch of another by Message-ID, both ways, from 1.4 (/api/ is 1.4)", async () => {
    // on-cover: [PATCH 0/1] a depth for the walk (Depends-on: <1/2 of base>), then its 1/1.
    const id = await deliver(a, 'on-cover.mbox.template', basePatch.msgid);
    const dependent = await a.get(`/api/series/${id}/`);
    assert.deepEqual(dependent.dependencies, [`http://localhost:80/api/series/${baseId}/`]);
    assert.deepEqual(dependent.dependents, []);
    const base = await a.get(`/api/1.4/series/${baseId}/`);
    assert.deepEqual(base.dependents, [`http://localhost:80/api/1.4/series/${id}/`]);
    assert.deepEqual(base.dependencies, []);
    const old = await a.get(`/api/1.3/series/${id}/`);
    assert.ok(!('dependencies' in old) && !('dependents' in old), '1.3 has neither field');
    assert.equal((await a.get('/api/projects/proctree/')).show_dependencies, true);
    assert.ok(!('show_dependencies' in (await a.get('/api/1.3/projects/proctree/'))));
  });

  it("links a patch that names a series by Patchwork's series URL", async () => {
    // on-patch: one [PATCH] proctree: print process names, whose commit message ends with Depends-on: <URL>.
    const id = await deliver(a, 'on-patch.mbox.template', `https://pw.example.org/project/proctree/list/?series=${baseId}`);
    assert.deepEqual((await a.get(`/api/series/${id}/`)).dependencies, [`http://localhost:80/api/series/${baseId}/`]);
    const dependents = (await a.get(`/api/series/${baseId}/`)).dependents;
    assert.equal(dependents.length, 2);
    assert.ok(dependents.includes(`http://localhost:80/api/series/${id}/`));
  });

  it('never makes a series depend on itself, on a series of another project, or on a Message-ID it does not know', async () => {
    const b = await startApiApp([], { showDependencies: true });
    try {
      // on-cover naming its own cover letter: the cover is filed before its Depends-on is read.
      const cover = fs.readFileSync(path.join(DIR, 'on-cover.mbox.template'), 'utf8').match(/^Message-Id: (<cover[^>]+>)/m)![1]!;
      const own = await deliver(b, 'on-cover.mbox.template', cover);
      assert.deepEqual((await b.get(`/api/series/${own}/`)).dependencies, []);
      const unknown = await deliver(b, 'on-patch.mbox.template', '<nobody-sent-this@example.org>');
      assert.deepEqual((await b.get(`/api/series/${unknown}/`)).dependencies, []);
      // The same reference filed in another project names nothing there (Series.add_dependencies keeps to one project).
      assert.deepEqual(await fileDependencies(b.h.db, b.h.projectId + 1, unknown, [{ kind: 'series', id: own }]), []);
      assert.deepEqual(await fileDependencies(b.h.db, b.h.projectId, unknown, [{ kind: 'series', id: own }]), [own]);
      assert.deepEqual((await b.get(`/api/series/${unknown}/`)).dependencies, [`http://localhost:80/api/series/${own}/`]);
    } finally {
      await b.close();
    }
  });

  it('shows neither field while the project does not show dependencies, until a maintainer switches it on', async () => {
    const c = await startApiApp([]);
    try {
      await c.h.deliverMbox(path.join(DIR, 'base.mbox'));
      const base = (await c.get('/api/series/'))[0];
      const id = await deliver(c, 'on-cover.mbox.template', base.patches[1].msgid);
      const hidden = await c.get(`/api/series/${id}/`);
      assert.ok(!('dependencies' in hidden) && !('dependents' in hidden), 'Patchwork drops both fields');
      assert.equal((await c.get('/api/projects/proctree/')).show_dependencies, false);
      assert.equal((await c.req({ method: 'PATCH', url: '/api/projects/proctree/', as: 'zoe', payload: { show_dependencies: true } })).statusCode, 403);
      const on = await c.req({ method: 'PATCH', url: '/api/projects/proctree/', as: 'teacher', payload: { show_dependencies: true } });
      assert.equal(on.statusCode, 200, on.body);
      assert.equal(on.json().show_dependencies, true);
      assert.deepEqual((await c.get(`/api/series/${id}/`)).dependencies, [`http://localhost:80/api/series/${base.id}/`], 'filed all along');
      assert.deepEqual((await c.get('/api/series/?order=id')).map((s: { dependents: string[] }) => s.dependents.length), [1, 0]);
    } finally {
      await c.close();
    }
  });
});

// PATCH/PUT of projects (by their maintainers) and of users (by themselves), as Patchwork's
// patchwork/tests/unit/api/test_project.py and test_user.py expect: what each may change, in which version, and who.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApiApp, type ApiApp } from '../helpers/api-app.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('project and user writes', () => {
  let a: ApiApp;

  before(async () => {
    // single: one patch, so that list_archive_url of a patch shows the project's archive format.
    a = await startApiApp(['single']);
  });
  after(() => a.close());

  it("lets a maintainer update the project's URLs (test_update_maintainer); anyone else gets 403", async () => {
    for (const who of [undefined, 'zoe', 'olga', 'outsider'] as const) {
      const r = await a.req({ method: 'PATCH', url: '/api/projects/proctree/', as: who, payload: { web_url: 'https://example.com/test' } });
      assert.equal(r.statusCode, 403, `${who}`);
    }
    const r = await a.req({ method: 'PATCH', url: '/api/projects/proctree/', as: 'teacher', payload: { web_url: 'https://example.com/test' } });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().web_url, 'https://example.com/test');
    const byId = (await a.get('/api/projects/')).find((p: { link_name: string }) => p.link_name === 'proctree');
    assert.equal(byId.web_url, 'https://example.com/test', 'the list shows it');
    assert.equal((await a.get('/api/patches/'))[0].project.web_url, 'https://example.com/test', 'and every embedded project');
    const put = await a.req({ method: 'PUT', url: `/api/projects/${byId.id}/`, as: 'admin', headers: FORM, payload: 'webscm_url=https%3A%2F%2Fgit.example.org%2Fcgit%2Fproctree' });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal(put.json().webscm_url, 'https://git.example.org/cgit/proctree');
    assert.equal(put.json().web_url, 'https://example.com/test', 'PUT leaves the fields it does not name');
  });

  it('ignores read-only fields (test_update_readonly_field) and fields the version does not have; refuses null and overlong values', async () => {
    const r = await a.req({ method: 'PATCH', url: '/api/projects/proctree/', as: 'teacher', payload: { link_name: 'test', name: 'Renamed', maintainers: [] } });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().link_name, 'proctree');
    assert.equal(r.json().name, 'Proctree Syscall');
    const old = await a.req({ method: 'PATCH', url: '/api/1.1/projects/proctree/', as: 'teacher', payload: { commit_url_format: 'https://x/{}' } });
    assert.equal(old.statusCode, 200);
    assert.equal((await a.get('/api/projects/proctree/')).commit_url_format, '', 'commit_url_format is a 1.2 field');
    const nul = await a.req({ method: 'PATCH', url: '/api/projects/proctree/', as: 'teacher', payload: { scm_url: null } });
    assert.equal(nul.statusCode, 400);
    assert.deepEqual(nul.json().scm_url, ['This field may not be null.']);
    const long = await a.req({ method: 'PATCH', url: '/api/projects/proctree/', as: 'teacher', payload: { web_url: `https://h/${'x'.repeat(2000)}` } });
    assert.equal(long.statusCode, 400);
    assert.equal((await a.req({ method: 'POST', url: '/api/projects/', as: 'admin', payload: {} })).statusCode, 405, 'projects are not created (test_create)');
    assert.equal((await a.req({ method: 'DELETE', url: '/api/projects/proctree/', as: 'admin' })).statusCode, 405, 'nor deleted (test_delete)');
  });

  it("makes patches' list_archive_url from the archive format a maintainer sets; an empty format means none", async () => {
    const before = (await a.get('/api/patches/'))[0];
    assert.match(before.list_archive_url, /^http:\/\/localhost:80\/proctree\//, "patchbay's own archive by default");
    const set = await a.req({ method: 'PATCH', url: '/api/projects/proctree/', as: 'teacher', payload: { list_archive_url: 'https://lore.example.org/proctree/', list_archive_url_format: 'https://lore.example.org/r/{}' } });
    assert.equal(set.statusCode, 200, set.body);
    const p = (await a.get('/api/patches/'))[0];
    assert.equal(p.list_archive_url, `https://lore.example.org/r/${p.msgid.slice(1, -1)}`);
    assert.equal(p.project.list_archive_url, 'https://lore.example.org/proctree/');
    await a.req({ method: 'PATCH', url: '/api/projects/proctree/', as: 'teacher', payload: { list_archive_url_format: '' } });
    assert.equal((await a.get('/api/patches/'))[0].list_archive_url, null, 'Patchwork: no format, no archive URL');
  });

  it('keeps what maintainers set across a restart of the API (it is in the database)', async () => {
    const { createApi } = await import('../../src/api/create-api.js');
    const again = createApi(a.h.db, [...a.api.api.projects.values()].map((p) => ({ id: p.id, slug: p.slug, name: p.name, addresses: { list: p.list }, maintainers: p.maintainers, tree: null }) as never), null);
    assert.equal(again.api.projects.get(a.h.projectId)!.overrides, undefined, 'not before it reads them');
    await again.api.loadProjectSettings();
    assert.equal(again.api.projects.get(a.h.projectId)!.overrides?.web_url, 'https://example.com/test');
  });

  it('lets a user change their own names and (1.2+) settings (test_update_self), never anyone else (test_update_other_user)', async () => {
    const me = `/api/users/${a.userIds.olga}/`;
    assert.equal((await a.req({ method: 'PATCH', url: me, payload: { first_name: 'Tan' } })).statusCode, 403, 'anonymous');
    assert.equal((await a.req({ method: 'PATCH', url: me, as: 'teacher', payload: { first_name: 'Tan' } })).statusCode, 403, 'another user');
    assert.equal((await a.req({ method: 'PATCH', url: me, as: 'admin', payload: { first_name: 'Tan' } })).statusCode, 403, 'even an admin');
    assert.equal((await a.req({ method: 'PATCH', url: '/api/users/99999/', as: 'olga', payload: {} })).statusCode, 404);

    const r = await a.req({ method: 'PATCH', url: me, as: 'olga', payload: { first_name: 'Tan', username: 'taken', email: 'x@example.org', settings: { send_email: true, items_per_page: 50 } } });
    assert.equal(r.statusCode, 200, r.body);
    const u = r.json();
    assert.equal(u.first_name, 'Tan');
    assert.equal(u.username, 'olga', 'username is read-only');
    assert.equal(u.email, 'olga@students.example.org', 'email is read-only');
    assert.deepEqual(u.settings, { send_email: true, items_per_page: 50, show_ids: false });
    assert.ok(!('settings' in (await a.get(me, 'teacher'))), 'settings show to the user only');
    assert.deepEqual((await a.get(me, 'olga')).settings, { send_email: true, items_per_page: 50, show_ids: false });

    // test_update_self_version_1_1: the names change, the settings do not (and are not shown).
    const old = await a.req({ method: 'PATCH', url: me.replace('/api/', '/api/1.1/'), as: 'olga', payload: { last_name: 'Other-Name', settings: { send_email: false } } });
    assert.equal(old.statusCode, 200);
    assert.ok(!('settings' in old.json()));
    assert.equal(old.json().last_name, 'Other-Name');
    assert.equal((await a.get(me, 'olga')).settings.send_email, true);

    const form = await a.req({ method: 'PUT', url: me, as: 'olga', headers: FORM, payload: 'settings.show_ids=true' });
    assert.equal(form.statusCode, 200, form.body);
    assert.equal(form.json().settings.show_ids, true);
    const long = await a.req({ method: 'PATCH', url: me, as: 'olga', payload: { first_name: 'x'.repeat(151) } });
    assert.equal(long.statusCode, 400);
    assert.deepEqual(long.json().first_name, ['Ensure this field has no more than 150 characters.']);
    assert.equal((await a.req({ method: 'PATCH', url: me, as: 'olga', payload: { first_name: 'x'.repeat(150) } })).statusCode, 200, "Django's 150, not the schema's 30");
    assert.equal((await a.req({ method: 'PATCH', url: me, as: 'olga', payload: { settings: { items_per_page: -1 } } })).statusCode, 400);
    assert.equal((await a.req({ method: 'POST', url: '/api/users/', as: 'admin', payload: {} })).statusCode, 405, 'users are not created (test_create_delete)');
    assert.equal((await a.req({ method: 'DELETE', url: me, as: 'olga' })).statusCode, 405);
  });
});

describe("a project's scm_url", () => {
  it('is the API setting, else tree.public_url, else blank: the local path of the tree is never shown', async () => {
    const local = await startApiApp([], { tree: { url: '/srv/patchbay/trees/proctree.git', branch: 'master' } });
    try {
      assert.equal((await local.get('/api/projects/proctree/')).scm_url, '', 'Patchwork shows a blank scm_url when none is set');
      assert.doesNotMatch(JSON.stringify(await local.get('/api/projects/')), /\/srv\/patchbay/);
    } finally {
      await local.close();
    }
    const a = await startApiApp([], { tree: { url: '/srv/patchbay/trees/proctree.git', branch: 'master', public_url: 'https://git.example.org/proctree.git' } });
    try {
      assert.equal((await a.get('/api/projects/proctree/')).scm_url, 'https://git.example.org/proctree.git');
      const r = await a.req({ method: 'PATCH', url: '/api/projects/proctree/', as: 'teacher', payload: { scm_url: 'https://mirror.example.org/proctree.git' } });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal((await a.get('/api/projects/proctree/')).scm_url, 'https://mirror.example.org/proctree.git', "the maintainers' setting wins");
      assert.equal((await a.get('/api/projects/')).find((p: { link_name: string }) => p.link_name === 'proctree').scm_url, 'https://mirror.example.org/proctree.git');
    } finally {
      await a.close();
    }
  });
});

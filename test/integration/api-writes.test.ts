// The REST API's writes and who may make them: patch updates, checks, bundles, comments' `addressed`, patchbay's
// series corrections; token and basic auth; Patchwork's 400/403/404/405 answers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PEOPLE, startApiApp, type ApiApp } from '../helpers/api-app.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('REST API writes and permissions', () => {
  let a: ApiApp;
  let patches: any[];

  before(async () => {
    // cover-letter: [PATCH 0/3] + 1/3..3/3 by Zoé; comments: [PATCH 0/2] + 2 with Tom's replies; unrelated-no-thread:
    // two unthreaded 3-patch series (A 16:00, B 16:02), unlinked.
    a = await startApiApp(['cover-letter', 'comments', 'unrelated-no-thread']);
    patches = await a.get('/api/patches/?order=id&per_page=100');
  });
  after(() => a.close());

  it('reads anonymously, refuses a wrong token even on a read (403 "Invalid token."), and takes HTTP basic', async () => {
    assert.equal((await a.req({ url: '/api/patches/' })).statusCode, 200);
    const wrong = await a.req({ url: '/api/patches/', headers: { authorization: `Token ${'f'.repeat(40)}` } });
    assert.equal(wrong.statusCode, 403);
    assert.equal(wrong.json().detail, 'Invalid token.');
    const basic = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });
    const me = await a.req({ url: `/api/users/${a.userIds.admin}/`, headers: basic(PEOPLE.admin.username, PEOPLE.admin.password) });
    assert.equal(me.statusCode, 200);
    assert.ok('settings' in me.json(), 'your own user shows its settings');
    assert.equal((await a.req({ url: `/api/users/${a.userIds.admin}/`, headers: basic(PEOPLE.admin.email, PEOPLE.admin.password) })).statusCode, 200, 'by email too');
    const bad = await a.req({ url: '/api/users/', headers: basic(PEOPLE.admin.username, 'wrong-password') });
    assert.equal(bad.statusCode, 403);
    assert.equal(bad.json().detail, 'Invalid username/password.');
    assert.equal((await a.req({ url: '/api/users/', headers: basic(PEOPLE.zoe.username, 'anything') })).statusCode, 403, 'no password set: basic refused');
  });

  it('lets maintainers, admins, the delegate and the submitter update a patch; anyone else gets 403', async () => {
    const id = patches[0].id;
    const set = (as: keyof typeof PEOPLE | undefined, state: string) => a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as, headers: FORM, payload: `state=${state}` });
    for (const who of [undefined, 'olga', 'outsider'] as const) {
      const r = await set(who, 'rejected');
      assert.equal(r.statusCode, 403, String(who));
      assert.match(r.json().detail, /permission|credentials/);
    }
    assert.equal((await a.get(`/api/patches/${id}/`)).state, 'new');
    for (const [who, state] of [['teacher', 'under-review'], ['admin', 'changes-requested'], ['zoe', 'rfc']] as const) {
      const r = await set(who, state);
      assert.equal(r.statusCode, 200, `${who}: ${r.body}`);
      assert.equal(r.json().state, state);
      assert.ok('diff' in r.json(), 'the answer is the full detail');
    }
    // Delegated to the admin, who then may change it (here by being admin anyway); Olga may not delegate at all.
    const d = await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'teacher', payload: { delegate: a.userIds.admin, archived: 'True', commit_ref: 'abc123' } });
    assert.equal(d.statusCode, 200, d.body);
    assert.deepEqual([d.json().delegate.username, d.json().archived, d.json().commit_ref], ['root', true, 'abc123']);
    const cleared = await a.req({ method: 'PUT', url: `/api/patches/${id}/`, as: 'teacher', headers: FORM, payload: 'delegate=&archived=False' });
    assert.deepEqual([cleared.json().delegate, cleared.json().archived], [null, false]);

    const events = await a.get(`/api/events/?patch=${id}&category=patch-state-changed`);
    assert.deepEqual(events.map((e: any) => [e.actor.username, e.payload.previous_state, e.payload.current_state]), [
      ['zoe', 'changes-requested', 'rfc'],
      ['root', 'under-review', 'changes-requested'],
      ['teacher', 'new', 'under-review'],
    ]);
    const delegated = await a.get(`/api/events/?patch=${id}&category=patch-delegated`);
    assert.deepEqual(delegated.map((e: any) => [e.payload.previous_delegate?.username ?? null, e.payload.current_delegate?.username ?? null]), [['root', null], [null, 'root']]);
  });

  it('stores pull_url (and clears it with an empty value), refusing one longer than Patchwork keeps', async () => {
    const id = patches[1].id;
    const url = 'https://git.example.org/zoe/proctree.git for-tom';
    const r = await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'teacher', payload: { pull_url: url } });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().pull_url, url);
    assert.equal((await a.get(`/api/patches/${id}/`)).pull_url, url);
    assert.equal((await a.get(`/api/patches/?order=id`)).find((p: { id: number }) => p.id === id).pull_url, url, 'the list too');
    const long = await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'teacher', payload: { pull_url: `https://h/${'x'.repeat(250)}` } });
    assert.equal(long.statusCode, 400);
    assert.deepEqual(long.json().pull_url, ['Ensure this field has no more than 255 characters.']);
    assert.equal((await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'olga', payload: { pull_url: 'https://evil.example/' } })).statusCode, 403);
    assert.equal((await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'zoe', headers: FORM, payload: 'pull_url=' })).json().pull_url, null, 'the submitter may');
  });

  it('refuses a bad state, a delegate who maintains nothing here, and a bad boolean with 400 and the field named', async () => {
    const id = patches[1].id;
    const state = await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'teacher', payload: { state: 'done' } });
    assert.equal(state.statusCode, 400);
    assert.match(state.json().state[0], /^Invalid state done\. Expected one of: new, under-review, accepted/);
    assert.equal((await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'teacher', payload: { state: 'Under Review' } })).json().state, 'under-review');
    for (const who of ['olga', 'outsider'] as const) {
      const r = await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'teacher', payload: { delegate: a.userIds[who] } });
      assert.equal(r.statusCode, 400);
      assert.equal(r.json().delegate[0], `User '${PEOPLE[who].username}' is not a maintainer for project 'Proctree Syscall'`);
    }
    assert.equal((await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'teacher', payload: { delegate: 9999 } })).statusCode, 400);
    assert.equal((await a.req({ method: 'PATCH', url: `/api/patches/${id}/`, as: 'teacher', payload: { archived: 'maybe' } })).json().archived[0], 'Must be a valid boolean.');
    assert.equal((await a.req({ method: 'PATCH', url: '/api/patches/99999/', as: 'teacher', payload: { state: 'new' } })).statusCode, 404);
  });

  it('adds checks (emitting check-created) and combines them: newest per context, fail over warning over pending', async () => {
    const id = patches[2].id;
    const post = (as: keyof typeof PEOPLE | undefined, payload: string) => a.req({ method: 'POST', url: `/api/patches/${id}/checks/`, as, headers: FORM, payload });
    assert.equal((await a.get(`/api/patches/${id}/`)).check, 'pending', 'no checks yet');
    const first = await post('teacher', 'state=fail&context=build-x86&target_url=https://ci.example.org/1&description=error');
    assert.equal(first.statusCode, 201, first.body);
    assert.deepEqual([first.json().state, first.json().context, first.json().user.username, first.json().target_url], ['fail', 'build-x86', 'teacher', 'https://ci.example.org/1']);
    assert.equal((await a.get(`/api/patches/${id}/`)).check, 'fail');
    await post('teacher', 'state=success&context=build-x86');
    assert.equal((await a.get(`/api/patches/${id}/`)).check, 'success', 'the newest check of a context counts');
    await post('zoe', 'state=warning');
    assert.equal((await a.get(`/api/patches/${id}/`)).check, 'warning', 'the submitter may add checks to her patch');
    assert.equal((await a.get(`/api/patches/?order=id&per_page=100`)).find((p: { id: number }) => p.id === id).check, 'warning', 'lists carry the combined state');
    const checks = await a.get(`/api/patches/${id}/checks/`);
    assert.deepEqual(checks.map((c: any) => [c.state, c.context]), [['fail', 'build-x86'], ['success', 'build-x86'], ['warning', 'default']]);
    assert.deepEqual((await a.get(`/api/patches/${id}/checks/?state=fail`)).length, 1);
    assert.deepEqual((await a.get(`/api/patches/${id}/checks/?user=zoe`)).map((c: any) => c.state), ['warning']);

    const ev = await a.get(`/api/events/?patch=${id}&category=check-created`);
    assert.equal(ev.length, 3);
    assert.deepEqual([ev[2].actor.username, ev[2].payload.check.id, ev[2].payload.check.state], ['teacher', checks[0].id, 'fail']);

    assert.equal((await post('olga', 'state=success')).statusCode, 403);
    assert.equal((await post(undefined, 'state=success')).statusCode, 403);
    assert.equal((await post('teacher', 'context=x')).json().state[0], 'A check must have a state.');
    assert.equal((await post('teacher', 'state=passed')).statusCode, 400);
    assert.equal((await post('teacher', 'state=success&target_url=javascript:alert(1)')).json().target_url[0], 'Enter a valid URL.');
    assert.equal((await post('teacher', 'state=success&context=has spaces')).statusCode, 400);
    assert.equal((await a.req({ method: 'POST', url: '/api/patches/99999/checks/', as: 'teacher', payload: { state: 'success' } })).statusCode, 404);
  });

  it('keeps bundles: the owner creates (1.2+), replaces the patch list in order, publishes and deletes; others may only read public ones', async () => {
    const [p1, p2, p3] = patches.map((p) => p.id);
    const created = await a.req({ method: 'POST', url: '/api/1.2/bundles/', as: 'teacher', headers: FORM, payload: `name=next&patches=${p2}&patches=${p1}&public=False` });
    assert.equal(created.statusCode, 201, created.body);
    const b = created.json();
    assert.deepEqual([b.name, b.public, b.owner.username, b.patches.map((p: { id: number }) => p.id)], ['next', false, 'teacher', [p2, p1]]);
    assert.equal(b.mbox, `http://localhost:80/bundle/teacher/next/mbox/`);

    assert.equal((await a.req({ url: `/api/bundles/${b.id}/`, as: 'olga' })).statusCode, 404, 'private: as if absent');
    // What the bundle's mbox URL serves: its patches in order, to its owner only while private.
    assert.deepEqual(await a.api.api.bundleForMbox('teacher', 'next', { ...PEOPLE.teacher, id: a.userIds.teacher, first_name: 'Tom', last_name: 'Teacher' }), { id: b.id, name: 'next', patchIds: [p2, p1] });
    assert.equal(await a.api.api.bundleForMbox('teacher', 'next', null), undefined);
    assert.deepEqual(await a.get('/api/bundles/', 'olga'), []);
    assert.equal((await a.get('/api/bundles/?q=nex', 'teacher')).length, 1);
    assert.equal((await a.get('/api/bundles/?owner=teacher', 'teacher')).length, 1);

    const upd = await a.req({ method: 'PATCH', url: `/api/bundles/${b.id}/`, as: 'teacher', headers: FORM, payload: `patches=${p3}&patches=${p1}&public=True` });
    assert.equal(upd.statusCode, 200, upd.body);
    assert.deepEqual([upd.json().public, upd.json().patches.map((p: { id: number }) => p.id)], [true, [p3, p1]]);
    assert.equal((await a.req({ url: `/api/bundles/${b.id}/` })).statusCode, 200, 'public: anyone reads it');
    assert.equal((await a.req({ method: 'PATCH', url: `/api/bundles/${b.id}/`, as: 'olga', payload: { name: 'mine' } })).statusCode, 403, 'but only its owner changes it');
    assert.equal((await a.req({ method: 'DELETE', url: `/api/bundles/${b.id}/`, as: 'olga' })).statusCode, 403);

    const errors = [
      [{ name: 'empty', patches: [] }, 'patches', 'Bundles cannot be empty'],
      [{ name: 'ghost', patches: [99999] }, 'patches', 'Invalid pk "99999" - object does not exist.'],
      [{ name: 'next', patches: [p1] }, 'name', 'The fields owner, name must make a unique set.'],
      [{ patches: [p1] }, 'name', 'This field is required.'],
    ] as const;
    for (const [payload, field, message] of errors) {
      const r = await a.req({ method: 'POST', url: '/api/bundles/', as: 'teacher', payload });
      assert.equal(r.statusCode, 400, JSON.stringify(payload));
      assert.equal(r.json()[field][0], message);
    }
    assert.equal((await a.req({ method: 'POST', url: '/api/bundles/', payload: { name: 'anon', patches: [p1] } })).statusCode, 403);
    assert.equal((await a.req({ method: 'POST', url: '/api/1.1/bundles/', as: 'teacher', payload: { name: 'old', patches: [p1] } })).statusCode, 405, 'writes need 1.2');

    const del = await a.req({ method: 'DELETE', url: `/api/bundles/${b.id}/`, as: 'teacher' });
    assert.equal(del.statusCode, 204);
    assert.equal((await a.req({ url: `/api/bundles/${b.id}/`, as: 'teacher' })).statusCode, 404);
  });

  it('marks a comment addressed (1.3): its author, the patch’s submitter or a maintainer, not a bystander; null until set, and settable back to null', async () => {
    const withComments = await Promise.all(patches.map(async (p) => ({ p, c: await a.get(`/api/patches/${p.id}/comments/`) })));
    const { p, c } = withComments.find((x) => x.c.length > 0)!;
    const url = `/api/patches/${p.id}/comments/${c[0].id}/`;
    // Patchwork's BooleanField(null=True): a new comment is null, not false.
    assert.equal(c[0].addressed, null);
    assert.equal((await a.req({ method: 'PATCH', url, as: 'olga', payload: { addressed: true } })).statusCode, 403);
    const r = await a.req({ method: 'PATCH', url, as: 'zoe', payload: { addressed: true } });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().addressed, true);
    assert.equal((await a.get(url)).addressed, true);
    assert.equal((await a.req({ method: 'PATCH', url, as: 'teacher', headers: FORM, payload: 'addressed=False' })).json().addressed, false);
    const cleared = await a.req({ method: 'PATCH', url, as: 'teacher', payload: { addressed: null } });
    assert.equal(cleared.statusCode, 200, cleared.body);
    assert.equal(cleared.json().addressed, null);
    assert.equal((await a.get(url)).addressed, null);
    assert.equal((await a.req({ method: 'PATCH', url, as: 'teacher', payload: { addressed: 'maybe' } })).statusCode, 400);
    assert.equal((await a.req({ method: 'PATCH', url: url.replace('/api/', '/api/1.2/'), as: 'teacher', payload: { addressed: true } })).statusCode, 404);
    assert.equal((await a.req({ url: `/api/patches/${p.id}/comments/99999/` })).statusCode, 404);
  });

  it('lets maintainers link and unlink revisions, split and merge series under /api/patchbay/; others get 403', async () => {
    const series = (await a.get('/api/series/?order=id')).filter((s: { cover_letter: unknown }) => s.cover_letter === null);
    const [older, newer] = series;
    assert.ok(older && newer, 'the two unthreaded series');
    const url = `/api/patchbay/series/${newer.id}/revision/`;
    assert.equal((await a.req({ url })).statusCode, 404, 'not linked');
    assert.equal((await a.req({ method: 'POST', url, as: 'zoe', payload: { previous: older.id } })).statusCode, 403, 'a submitter may not');
    const link = await a.req({ method: 'POST', url, as: 'teacher', headers: FORM, payload: `previous=${older.id}` });
    assert.equal(link.statusCode, 200, link.body);
    assert.deepEqual(link.json(), { series: newer.id, previous: older.id, reason: 'linked by a maintainer', source: 'maintainer' });
    assert.deepEqual(await a.get(url), link.json());
    const revisionEvent = (await a.get('/api/events/?category=series-new-revision'))[0];
    assert.deepEqual([revisionEvent.payload.series.id, revisionEvent.payload.previous_series.id, revisionEvent.actor.username], [newer.id, older.id, 'teacher']);
    assert.equal((await a.req({ method: 'POST', url: `/api/patchbay/series/${older.id}/revision/`, as: 'teacher', payload: { previous: newer.id } })).statusCode, 409, 'no loops');
    assert.equal((await a.req({ method: 'DELETE', url, as: 'teacher' })).statusCode, 204);
    assert.equal((await a.req({ url })).statusCode, 404);

    const [, , third] = newer.patches;
    const split = await a.req({ method: 'POST', url: `/api/patchbay/series/${newer.id}/split/`, as: 'admin', payload: { patches: [third.id] } });
    assert.equal(split.statusCode, 201, split.body);
    const moved = split.json().series;
    assert.deepEqual((await a.get(`/api/series/${moved}/`)).patches.map((p: { id: number }) => p.id), [third.id]);
    assert.equal((await a.get(`/api/series/${newer.id}/`)).total, 2);
    assert.equal((await a.req({ method: 'POST', url: `/api/patchbay/series/${newer.id}/merge/`, as: 'olga', payload: { series: moved } })).statusCode, 403);
    const merge = await a.req({ method: 'POST', url: `/api/patchbay/series/${newer.id}/merge/`, as: 'teacher', payload: { series: moved } });
    assert.equal(merge.statusCode, 200, merge.body);
    assert.deepEqual((await a.get(`/api/series/${newer.id}/`)).patches.map((p: { id: number }) => p.id), newer.patches.map((p: { id: number }) => p.id));
    assert.equal((await a.req({ method: 'POST', url: `/api/patchbay/series/${newer.id}/split/`, as: 'teacher', payload: { patches: ['x'] } })).statusCode, 400);
  });

  it('describes every API route with its schemas in the OpenAPI document at /api/docs', async () => {
    const doc = await a.get('/api/docs');
    assert.equal(doc.openapi, '3.0.3');
    const expected: Record<string, string[]> = {
      '/api/': ['get'],
      '/api/patches/': ['get'],
      '/api/patches/{id}/': ['get', 'patch', 'put'],
      '/api/patches/{id}/checks/': ['get', 'post'],
      '/api/patches/{id}/checks/{child}/': ['get'],
      '/api/patches/{id}/comments/': ['get'],
      '/api/patches/{id}/comments/{child}/': ['get', 'patch', 'put'],
      '/api/covers/': ['get'],
      '/api/covers/{id}/': ['get'],
      '/api/series/': ['get'],
      '/api/series/{id}/': ['get'],
      '/api/events/': ['get'],
      '/api/bundles/': ['get', 'post'],
      '/api/bundles/{id}/': ['get', 'patch', 'put', 'delete'],
      '/api/projects/': ['get'],
      '/api/projects/{id}/': ['get', 'patch', 'put'],
      '/api/users/': ['get'],
      '/api/users/{id}/': ['get', 'patch', 'put'],
      '/api/people/': ['get'],
      '/api/patchbay/series/{id}/revision/': ['get', 'post', 'delete'],
      '/api/patchbay/series/{id}/assignment/': ['get'],
      '/api/patchbay/series/{id}/split/': ['post'],
      '/api/patchbay/series/{id}/merge/': ['post'],
    };
    for (const [p, methods] of Object.entries(expected)) {
      assert.ok(doc.paths[p], `${p} documented; have ${Object.keys(doc.paths).filter((x) => x.startsWith('/api')).join(' ')}`);
      assert.deepEqual(Object.keys(doc.paths[p]).sort(), [...methods].sort(), p);
      for (const m of methods) assert.ok(doc.paths[p][m].responses, `${m} ${p} has responses`);
    }
    const list = doc.paths['/api/patches/'].get;
    assert.ok(list.parameters.some((x: { name: string; in: string }) => x.name === 'state' && x.in === 'query'));
    const fields = list.responses['200'].content['application/json'].schema.items.properties;
    assert.ok(fields.delegate && fields.series && fields.check, 'the patch list item schema');
    assert.ok(!Object.keys(doc.paths).some((x) => x.startsWith('/api/1.')), 'versioned copies are not repeated');
  });
});

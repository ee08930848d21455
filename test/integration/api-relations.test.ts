// Patch relations through PATCH /api/patches/N/ {"related": [...]} (1.2+), with the rules and answers of Patchwork's
// patchwork/tests/unit/api/test_relation.py: maintainers only, additive, break before make (409), and
// patch-relation-changed events.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApiApp, type ApiApp, type Who } from '../helpers/api-app.js';

describe('patch relations', () => {
  let a: ApiApp;
  let ids: number[];
  /** Patches not yet used by a test: each test takes its own. */
  let free: number[];
  const take = (n: number) => {
    assert.ok(free.length >= n, 'enough patches for every test');
    return free.splice(0, n);
  };

  const relate = (as: Who | undefined, id: number, related: unknown, version = '') =>
    a.req({ method: 'PATCH', url: `/api${version}/patches/${id}/`, as, payload: { related } });
  const relatedOf = async (id: number) => ((await a.get(`/api/patches/${id}/`)).related as { id: number }[]).map((p) => p.id).sort((x, y) => x - y);

  before(async () => {
    // cover-letter: 3 patches; comments: 2; unrelated-no-thread: 2 series of 3; no-cover, version-after-marker and
    // single: more patches of the same project (the tests take 17 between them).
    a = await startApiApp(['cover-letter', 'comments', 'unrelated-no-thread', 'no-cover', 'version-after-marker', 'single']);
    ids = (await a.get('/api/patches/?order=id&per_page=100')).map((p: { id: number }) => p.id);
    assert.ok(ids.length >= 17, `${ids.length} patches`);
    free = [...ids];
  });
  after(() => a.close());

  it('shows no related patches until a maintainer relates some', async () => {
    assert.deepEqual((await a.get(`/api/patches/${ids[ids.length - 1]}/`)).related, []);
    assert.ok(!('related' in (await a.get(`/api/1.1/patches/${ids[ids.length - 1]}/`))), 'related is a 1.2 field');
  });

  it('refuses a relation to anyone who does not maintain the project: anonymous, a bystander, the submitter, a maintainer of nothing here', async () => {
    const [p, q] = take(2) as [number, number];
    for (const who of [undefined, 'olga', 'zoe', 'outsider'] as const) {
      const r = await relate(who, p, [q]);
      assert.equal(r.statusCode, 403, `${who}: ${r.body}`);
    }
    // The submitter may edit the patch (Patch.is_editable) but not its relations (check_user_maintains_all).
    assert.equal((await relate('zoe', p, [q])).json().detail, 'At least one patch is part of a project you are not maintaining.');
    assert.deepEqual(await relatedOf(p), []);
  });

  it('relates two patches both ways, with a patch-relation-changed event for each, and dissolves it when one leaves', async () => {
    const [p, q] = take(2) as [number, number];
    const r = await relate('teacher', p, [q]);
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json().related.map((x: { id: number }) => x.id), [q], 'the answer lists the others, not the patch itself');
    assert.deepEqual(await relatedOf(q), [p]);
    const listed = (await a.get('/api/patches/?order=id&per_page=100')).find((x: { id: number }) => x.id === q);
    assert.deepEqual(listed.related.map((x: { id: number }) => x.id), [p], 'the list shows it too');

    const events = await a.get('/api/events/?category=patch-relation-changed');
    const mine = events.filter((e: { payload: { patch: { id: number } } }) => [p, q].includes(e.payload.patch.id));
    assert.equal(mine.length, 2);
    for (const e of mine) {
      assert.deepEqual(Object.keys(e.payload), ['patch', 'previous_relation', 'current_relation']);
      assert.equal(e.payload.previous_relation, null);
      assert.equal(e.actor.username, 'teacher');
    }

    assert.equal((await relate('teacher', q, [])).statusCode, 200);
    assert.deepEqual(await relatedOf(p), [], 'a relation of one is no relation');
    assert.deepEqual(await relatedOf(q), []);
    assert.equal((await a.get('/api/events/?category=patch-relation-changed')).length, events.length + 2);
  });

  it('takes one patch out of three and leaves the other two related', async () => {
    const [p, q, s] = take(3) as [number, number, number];
    assert.equal((await relate('teacher', p, [q, s])).statusCode, 200);
    assert.deepEqual(await relatedOf(s), [p, q]);
    assert.equal((await relate('admin', p, [])).statusCode, 200, 'an admin maintains every project');
    assert.deepEqual(await relatedOf(p), []);
    assert.deepEqual(await relatedOf(q), [s]);
  });

  it('extends a relation through a new patch or an old one, and naming a member again changes nothing (additive)', async () => {
    const [p, q, n1, n2] = take(4) as [number, number, number, number];
    assert.equal((await relate('teacher', p, [q])).statusCode, 200);
    assert.equal((await relate('teacher', n1, [p])).statusCode, 200, 'through the new patch');
    assert.deepEqual(await relatedOf(q), [p, n1]);
    assert.equal((await relate('teacher', q, [n2])).statusCode, 200, 'through an old one');
    assert.deepEqual(await relatedOf(p), [q, n1, n2]);
    assert.equal((await relate('teacher', q, [n1])).statusCode, 200);
    assert.deepEqual(await relatedOf(p), [q, n1, n2], 'still four: Patchwork has no read-modify-write removal');
  });

  it('refuses to move a patch from one relation into another (409, break before make) and names an unknown patch (400)', async () => {
    const [p, q, s, t] = take(4) as [number, number, number, number];
    assert.equal((await relate('teacher', p, [q])).statusCode, 200);
    assert.equal((await relate('teacher', s, [t])).statusCode, 200);
    for (const [x, y] of [[p, s], [s, p]] as const) {
      const r = await relate('teacher', x, [y]);
      assert.equal(r.statusCode, 409, r.body);
      assert.match(r.json().detail, /already part of another relation/);
    }
    const unknown = await relate('teacher', p, [99999]);
    assert.equal(unknown.statusCode, 400);
    assert.deepEqual(unknown.json().related, ['Invalid pk "99999" - object does not exist.']);
    assert.deepEqual(await relatedOf(p), [q], 'nothing changed');
  });

  it('takes the ids as git-pw sends forms (related=1&related=2), and ignores `related` before 1.2', async () => {
    const [p, q] = take(2) as [number, number];
    const old = await relate('teacher', p, [q], '/1.1');
    assert.equal(old.statusCode, 200);
    assert.deepEqual(await relatedOf(p), [], '1.1 has no relations');
    const form = await a.req({ method: 'PATCH', url: `/api/patches/${p}/`, as: 'teacher', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `related=${q}` });
    assert.equal(form.statusCode, 200, form.body);
    assert.deepEqual(await relatedOf(p), [q]);
  });
});

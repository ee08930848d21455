// Maintainers' corrections through SeriesAdminService: revision links, split, merge, and patch state changes with events.
import assert from 'node:assert/strict';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { isAppError } from '../../src/errors.js';
import { SeriesAdminService } from '../../src/series/series-admin.service.js';
import { readMboxFile, startIngestHarness, type Delivered, type Harness } from '../helpers/ingest-harness.js';

const FIXTURES = path.resolve('test/fixtures/series');
const fails = (code: string) => (e: unknown) => isAppError(e) && e.code === code;

describe('SeriesAdminService', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('links two unrelated series as revisions, refuses loops and a second successor, and unlinks', async () => {
    // Two 3-patch series from one author, unthreaded, 2 minutes apart: the parser keeps them apart and unlinked.
    h = await startIngestHarness();
    await h.deliverMbox(path.join(FIXTURES, 'unrelated-no-thread.mbox'));
    const [a, b] = (await h.series()).sort((x, y) => x.id - y.id);
    assert.ok(a && b);
    assert.equal((await h.revisions()).length, 0);
    const admin = new SeriesAdminService(h.db);

    await admin.linkRevision(b.id, a.id, null);
    assert.deepEqual(
      (await h.revisions()).map((r) => [r.series, r.previous, r.reason, r.source]),
      [[b.id, a.id, 'linked by a maintainer', 'maintainer']],
    );
    assert.equal((await h.eventCounts())['series-new-revision'], 1);
    await assert.rejects(admin.linkRevision(a.id, b.id, null), fails('revision_cycle'));
    await assert.rejects(admin.linkRevision(a.id, a.id, null), fails('revision_self'));

    await admin.unlinkRevision(b.id);
    assert.equal((await h.revisions()).length, 0);
    await assert.rejects(admin.unlinkRevision(b.id), fails('revision_not_found'));
  });

  // [PATCH 0/2] ringbuf: bounds (v1) · [PATCH v2 0/2] (standalone) · [PATCH v3 0/2] sent --in-reply-to the v1 cover.
  // The parser links v3 to v2; the maintainer moves it to v1, then removes it; v3's cover, arriving last, changes neither.
  it("keeps a maintainer's relink and unlink of a revision when more of the series arrives", async () => {
    h = await startIngestHarness();
    const raw = await readMboxFile(path.resolve('test/fixtures/patchwork/pb-v3-in-reply-to-v1.mbox'));
    const mails: Delivered[] = [];
    for (const [i, m] of raw.entries()) if (i !== 6) mails[i] = await h.deliver(m);
    const seriesOf = async (i: number) => (await h.series()).find((s) => s.patches.some((p) => p.msgid === mails[i]!.msgid))!.id;
    const [v1, v2, v3] = [await seriesOf(1), await seriesOf(4), await seriesOf(7)];
    const linkOf = async (id: number) => (await h.revisions()).find((r) => r.series === id);
    assert.equal((await linkOf(v3))?.previous, v2, 'the parser links v3 to the newest earlier revision');
    const admin = new SeriesAdminService(h.db);

    await assert.rejects(admin.linkRevision(v3, v1, null), fails('revision_taken'), 'v1 already has its successor, v2');
    await admin.unlinkRevision(v2);
    await admin.linkRevision(v3, v1, null);
    assert.deepEqual([(await linkOf(v3))?.previous, (await linkOf(v3))?.source, await linkOf(v2)], [v1, 'maintainer', undefined]);

    await admin.unlinkRevision(v3);
    const cover = await h.deliver(raw[6]!); // v3's cover: its title and its thread would link it again
    assert.equal((await h.series()).find((s) => s.id === v3)!.cover, cover.msgid);
    assert.equal(await linkOf(v3), undefined, 'the unlink holds');
    assert.equal(await linkOf(v2), undefined, 'and so does the first one');
  });

  it('splits patches off into a new series and merges them back', async () => {
    // cover 0/3 ─ 1/3, 2/3, 3/3: split 3/3 off, then merge it back.
    h = await startIngestHarness();
    await h.deliverMbox(path.join(FIXTURES, 'cover-letter.mbox'));
    const [s] = await h.series();
    assert.ok(s);
    const third = s.patches.find((p) => p.number === 3)!;
    const admin = new SeriesAdminService(h.db);

    const split = await admin.split(s.id, [third.id]);
    let all = await h.series();
    assert.deepEqual(all.find((x) => x.id === s.id)!.patches.map((p) => p.number), [1, 2]);
    assert.equal(all.find((x) => x.id === s.id)!.total, 2);
    assert.deepEqual(all.find((x) => x.id === split)!.patches.map((p) => p.id), [third.id]);
    await assert.rejects(admin.split(s.id, [s.patches[0]!.id, s.patches[1]!.id]), fails('split_nothing'));
    await assert.rejects(admin.split(s.id, [third.id]), fails('split_foreign_patch'));

    await admin.merge(s.id, split);
    all = await h.series();
    assert.deepEqual(all.find((x) => x.id === s.id)!.patches.map((p) => p.number), [1, 2, 3]);
    assert.equal(all.find((x) => x.id === s.id)!.total, 3);
    assert.equal(all.find((x) => x.id === split)!.patches.length, 0);
  });

  it('changes state, delegate and archived flag with Patchwork events, and refuses an unknown state', async () => {
    h = await startIngestHarness();
    await h.deliverMbox(path.join(FIXTURES, 'single.mbox'));
    const [s] = await h.series();
    const patch = s!.patches[0]!;
    const admin = new SeriesAdminService(h.db);
    await admin.updatePatch(patch.id, { state: 'accepted', archived: true }, null);
    const after = (await h.series())[0]!.patches[0]!;
    assert.equal(after.state, 'accepted');
    const events = (await h.events()).filter((e) => e.category === 'patch-state-changed');
    assert.equal(events.length, 1);
    assert.deepEqual(JSON.parse(events[0]!.payload!), { previous_state: 'new', current_state: 'accepted' });
    await admin.updatePatch(patch.id, { state: 'accepted' }, null);
    assert.equal((await h.events()).filter((e) => e.category === 'patch-state-changed').length, 1, 'no event when nothing changes');
    await assert.rejects(admin.updatePatch(patch.id, { state: 'merged' }, null), fails('state_unknown'));
    await assert.rejects(admin.updatePatch(999_999, { state: 'new' }, null), fails('patch_not_found'));
  });
});

// Patchwork's own series scenarios (patchwork/tests/unit/test_series.py, data/series/*.mbox) and subject scenarios
// (test_parser.py), rebuilt as our fixtures (test/fixtures/patchwork/, make.ts) and filed by the real services. Each
// test asserts Patchwork's expected grouping, or patchbay's stricter result where Patchwork's is wrong, saying why.
import assert from 'node:assert/strict';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixtureHarnesses, readMboxFile, type Delivered, type Harness, type SeriesView } from '../helpers/ingest-harness.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/patchwork');

const fixtures = fixtureHarnesses(FIXTURES);
afterEach(fixtures.closeAll);
const deliver = fixtures.deliver;

interface Shape {
  /** Position in the file of the series' cover, or null. */
  cover: number | null;
  /** Positions in the file of its patches, by number. */
  patches: number[];
}

/** The series oldest first (as Patchwork's assertSerialized orders them), each as positions of its mails in the file. */
async function shapes(h: Harness, mails: Delivered[]): Promise<Shape[]> {
  const at = (msgid: string) => mails.findIndex((m) => m.msgid === msgid);
  return (await h.series())
    .sort((a, b) => a.date.localeCompare(b.date) || a.id - b.id)
    .map((s) => ({ cover: s.cover === null ? null : at(s.cover), patches: s.patches.map((p) => at(p.msgid)) }));
}

/** Patchwork's count triple: covers, patches, and everything else (comments, mail it did not file). */
function counts(mails: Delivered[]): [number, number, number] {
  const n = (k: string) => mails.filter((m) => m.reason === k).length;
  return [n('cover'), n('patch'), mails.length - n('cover') - n('patch')];
}

/** Revision links as [newer, older] positions of each series' first mail in the file, with the reason. */
async function links(h: Harness, mails: Delivered[]): Promise<[number, number, string][]> {
  const series = await h.series();
  const first = (id: number) => {
    const s = series.find((x) => x.id === id)!;
    return Math.min(...[s.cover, ...s.patches.map((p) => p.msgid)].filter((x): x is string => x !== null).map((m) => mails.findIndex((d) => d.msgid === m)));
  };
  return (await h.revisions()).map((r): [number, number, string] => [first(r.series), first(r.previous), r.reason]).sort((a, b) => a[0] - b[0]);
}

const seriesOf = (series: SeriesView[], msgid: string) => series.find((s) => s.cover === msgid || s.patches.some((p) => p.msgid === msgid))!;

describe("Patchwork's series scenarios (BaseSeriesTest)", () => {
  // [PATCH] ringbuf: add a capacity check
  it('files a single patch as a series of one (test_single_patch)', async () => {
    const { h, mails } = await deliver('base-single-patch');
    assert.deepEqual(counts(mails), [0, 1, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: null, patches: [0] }]);
  });

  // [PATCH 0/2] ringbuf: A sample series
  // ├─ [PATCH 1/2] ringbuf: add a capacity check
  // └─ [PATCH 2/2] ringbuf: document the wrap-around
  it('files a cover letter and its two patches as one complete series named after the cover (test_cover_letter, test_complete)', async () => {
    const { h, mails } = await deliver('base-cover-letter');
    assert.deepEqual(counts(mails), [1, 2, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2] }]);
    const [s] = await h.series();
    assert.deepEqual([s!.name, s!.completed, s!.total], ['ringbuf: A sample series', true, 2]);
  });

  // [PATCH 1/2] ringbuf: add a capacity check
  // └─ [PATCH 2/2] ringbuf: document the wrap-around
  it('files two patches without a cover as one series named after patch 1 (test_no_cover_letter)', async () => {
    const { h, mails } = await deliver('base-no-cover-letter');
    assert.deepEqual(counts(mails), [0, 2, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: null, patches: [0, 1] }]);
    const [s] = await h.series();
    assert.equal(s!.name, s!.patches[0]!.name);
  });

  // [PATCH 0/2] ─ [PATCH 1/2] ─ [PATCH 2/2]   (2/2: In-Reply-To the cover, References "1/2 cover", newest first)
  it('files a deep-threaded series as one (test_deep_threaded)', async () => {
    const { h, mails } = await deliver('base-deep-threaded');
    assert.deepEqual(counts(mails), [1, 2, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2] }]);
  });

  //     [PATCH 2/2]   received first
  //     [PATCH 1/2]
  // [PATCH 0/2]       received last
  it('files a series received backwards as one, named after patch 1 and then after the cover (test_out_of_order, SeriesNameTestCase)', async () => {
    const h = await fixtures.started();
    const raw = await readMboxFile(path.join(FIXTURES, 'base-out-of-order.mbox'));
    const mails: Delivered[] = [await h.deliver(raw[0]!)];
    assert.equal((await h.series())[0]!.name, null, 'patch 2 alone names nothing');
    mails.push(await h.deliver(raw[1]!));
    const [named] = await h.series();
    assert.equal(named!.name, named!.patches.find((p) => p.number === 1)!.name, 'then patch 1 names it');
    mails.push(await h.deliver(raw[2]!));
    assert.deepEqual(counts(mails), [1, 2, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: 2, patches: [1, 0] }]);
    assert.equal((await h.series())[0]!.name, 'ringbuf: A sample series', 'and the cover, once it comes');
  });

  // [PATCH 0/2] ─ [PATCH 1/2]   (2/2 never came)
  it('keeps a series with a patch missing incomplete (test_incomplete)', async () => {
    const { h, mails } = await deliver('base-incomplete');
    assert.deepEqual(counts(mails), [1, 1, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1] }]);
    assert.equal((await h.series())[0]!.completed, false);
  });

  // [PATCH 0/2] ─ 1/2, 2/2, and [PATCH 3/2] sent later into the thread
  it('adds a patch numbered past the count to the series, which stays complete (test_extra_patches)', async () => {
    const { h, mails } = await deliver('base-extra-patches');
    assert.deepEqual(counts(mails), [1, 3, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2, 3] }]);
    assert.equal((await h.series())[0]!.completed, true);
  });

  // [PATCH net-next v3 0/4] fifo: Reader ground work (v3)
  // ├─ [PATCH 1/4] …  ├─ [PATCH 2/4] …  ├─ [PATCH 3/4] …  └─ [PATCH 4/4] …   (no version on the patches)
  it('files a v3 cover and patches that state no version as one v3 series, in either order (test_different_versions)', async () => {
    for (const order of [undefined, [4, 3, 2, 1, 0], [1, 0, 2, 3, 4]]) {
      const { h, mails } = await deliver('base-different-versions', { order });
      assert.deepEqual(counts(mails), [1, 4, 0]);
      assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2, 3, 4] }], `order ${order ?? 'sent'}`);
      const [s] = await h.series();
      assert.deepEqual([s!.version, s!.total, s!.completed], [3, 4, true]);
    }
  });

  // [PATCH V2 0/4] <cover.TS.git.user>
  // ├─ [PATCH V2 1/4] <SHA.TS.git.user>, Message-ID folded onto its own line
  // ├─ [PATCH V2 2/4] In-Reply-To and References twice: to 1/4, then to the cover   (3/4, 4/4 alike)
  it('files a series whose patches carry In-Reply-To and References twice as one v2 series (test_multiple_references)', async () => {
    const { h, mails } = await deliver('bugs-multiple-references');
    assert.deepEqual(counts(mails), [1, 4, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2, 3, 4] }]);
    assert.equal((await h.series())[0]!.version, 2);
  });

  // [net,v2,1/2] parser: reject a bare CR in a header           13:21 +0800, no threading
  // [net,v2,2/2] parser: count header lines before the body     13:29, another run of git send-email
  it('groups two unthreaded patches sent 8 minutes apart by sender, version and count (test_no_references)', async () => {
    const { h, mails } = await deliver('base-no-references');
    assert.deepEqual(counts(mails), [0, 2, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: null, patches: [0, 1] }]);
    assert.equal((await h.series())[0]!.version, 2);
  });

  // Thunderbird, nothing threaded, Message-IDs are UUIDs:
  // [PATCH 0/2] cpuinfo: Correct the display of hot-added CPUs and memory
  // [PATCH 1/2] cpuinfo: Refresh the topology when a CPU is hot-added         18 s later
  // [Patch 2/2]: meminfo: Attach hot-added memory to its own node             15 s later
  it('groups an unthreaded series with a cover and non-git Message-IDs as one, whatever the order (test_no_references_no_cover)', async () => {
    for (const order of [undefined, [1, 2, 0], [2, 0, 1]]) {
      const { h, mails } = await deliver('base-no-references-no-cover', { order });
      assert.deepEqual(counts(mails), [1, 2, 0]);
      assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2] }], `order ${order ?? 'sent'}`);
      assert.equal((await h.series())[0]!.completed, true);
    }
  });

  // [PATCH -next] fifo: Use PTR_ERR_OR_ZERO in fifo_open()       Content-Type: text/plain; charset=US-ASCII
  // └─ Re: [PATCH -next] …                                       Content-Type: …; format=flowed
  it('files a patch and a reply with another Content-Type as a patch and its comment (test_multiple_content_types)', async () => {
    const { h, mails } = await deliver('bugs-multiple-content-types');
    assert.deepEqual(counts(mails), [0, 1, 1]);
    assert.deepEqual(
      (await h.comments()).map((c) => [c.parent.msgid, c.submitter]),
      [[mails[0]!.msgid, 'bjorn.tal@example.com']],
    );
  });
});

describe("Patchwork's revision scenarios (RevisedSeriesTest)", () => {
  // [PATCH 0/2] + 2            23:22
  // [PATCH v2 0/2] + 2         23:26, a new thread, same cover title
  it('files v1 and a standalone v2 as two series, and links v2 to v1 by title (test_basic)', async () => {
    const { h, mails } = await deliver('revision-basic');
    assert.deepEqual(counts(mails), [2, 4, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: 0, patches: [1, 2] },
      { cover: 3, patches: [4, 5] },
    ]);
    assert.deepEqual(await links(h, mails), [[3, 0, 'same title and submitter']]);
  });

  // [PATCH] ringbuf: add a capacity check
  // └─ [PATCH v2] ringbuf: add a capacity check
  it('files a v2 sent in reply to a single patch as its own series, linked (test_threaded_to_single_patch)', async () => {
    const { h, mails } = await deliver('revision-threaded-to-single-patch');
    assert.deepEqual(counts(mails), [0, 2, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: null, patches: [0] },
      { cover: null, patches: [1] },
    ]);
    assert.deepEqual(await links(h, mails), [[1, 0, 'in reply to v1 patch 1/1']]);
  });

  // [PATCH 0/2] ─ 1/2, 2/2
  // └─ [PATCH v2 0/2] ─ v2 1/2, v2 2/2      (References: v1 cover, v2 cover)
  it('files a v2 sent in reply to the v1 cover as its own series (test_threaded_to_cover)', async () => {
    const { h, mails } = await deliver('revision-threaded-to-cover');
    assert.deepEqual(counts(mails), [2, 4, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: 0, patches: [1, 2] },
      { cover: 3, patches: [4, 5] },
    ]);
    assert.deepEqual(await links(h, mails), [[3, 0, 'in reply to v1 cover']]);
  });

  // [PATCH 0/2] ─ 1/2, 2/2
  //                    └─ [PATCH v2 0/2] ─ v2 2/2 (received first), v2 1/2
  it('files a v2 sent in reply to a v1 patch as its own series (test_threaded_to_patch)', async () => {
    const { h, mails } = await deliver('revision-threaded-to-patch');
    assert.deepEqual(counts(mails), [2, 4, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: 0, patches: [1, 2] },
      { cover: 3, patches: [5, 4] },
    ]);
    assert.deepEqual(await links(h, mails), [[3, 0, 'in reply to v1 patch 2/2']]);
  });

  // The same v2, received 2/2, 1/2, then its cover.
  it('files a v2 received before its cover as its own series (test_out_of_order)', async () => {
    const { h, mails } = await deliver('revision-out-of-order');
    assert.deepEqual(counts(mails), [2, 4, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: 0, patches: [1, 2] },
      { cover: 5, patches: [4, 3] },
    ]);
    assert.equal((await links(h, mails)).length, 1);
    assert.deepEqual((await links(h, mails))[0]!.slice(0, 2), [3, 0]);
  });

  // [PATCH 0/2] ─ 1/2, 2/2
  // [PATCH v2 1/2] ─ [PATCH v2 2/2]       eleven minutes later, no cover
  // Patchwork links no revisions; the cover's title cannot find v2 either ("A sample series" vs patch 1's title):
  // v2 lost its cover, and is linked by the patches it repeats.
  it('files a v2 that lost its cover as its own series, linked to v1 by its patches (test_no_cover_letter)', async () => {
    const { h, mails } = await deliver('revision-no-cover-letter');
    assert.deepEqual(counts(mails), [1, 4, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: 0, patches: [1, 2] },
      { cover: null, patches: [3, 4] },
    ]);
    assert.deepEqual(await links(h, mails), [[3, 0, 'same patches and submitter (2 of 2)']]);
    const series = await h.series();
    assert.deepEqual(
      seriesOf(series, mails[0]!.msgid).patches.map((p) => p.state),
      ['superseded', 'superseded'],
    );
  });

  // [PATCH 0/2] ─ 1/2, 2/2
  // [PATCH 0/2] ─ 2/2, 1/2                eleven minutes later, no version label, a new thread
  it('files an unlabeled second sending as its own series (test_unlabeled)', async () => {
    const { h, mails } = await deliver('revision-unlabeled');
    assert.deepEqual(counts(mails), [2, 4, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: 0, patches: [1, 2] },
      { cover: 3, patches: [5, 4] },
    ]);
    assert.deepEqual(await links(h, mails), [[3, 0, 'same title, submitter and version, sent again']]);
  });

  // [net,v2,1/2], [net,v2,2/2]     13:21, 13:29, unthreaded
  // [net,v2,1/2], [net,v2,2/2]     14:21, 14:29, unthreaded: only the time tells the sendings apart
  it('keeps two unthreaded sendings an hour apart as two series (test_unlabeled_noreferences)', async () => {
    const { h, mails } = await deliver('revision-unlabeled-noreferences');
    assert.deepEqual(counts(mails), [0, 4, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: null, patches: [0, 1] },
      { cover: null, patches: [2, 3] },
    ]);
  });

  // [PATCH 0/2] ─ [PATCH 1/2]
  //             └─ "A stray fix for the header guard"   (a diff, no marker)
  // Patchwork files the stray patch in a series of its own; so does patchbay, and it does not take it for a revision
  // of the series whose thread it was sent in: its completion would supersede both patches of that series.
  it('files an unnumbered patch in a series thread as a series of its own, not a revision (test_unnumbered)', async () => {
    const { h, mails } = await deliver('bugs-unnumbered');
    assert.deepEqual(counts(mails), [1, 2, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: 0, patches: [1] },
      { cover: null, patches: [2] },
    ]);
    assert.deepEqual(await h.revisions(), []);
    assert.equal(seriesOf(await h.series(), mails[1]!.msgid).patches[0]!.state, 'new');
  });

  // [PATCH 1/2] ─ [PATCH 2/2]
  //  └─ [PATCH 1/2] ─ [PATCH 2/2]       8 minutes later, no version label, in reply to the first 1/2
  it('files an unlabeled resend in reply to the first sending as its own series (test_reply_nocover_noversion)', async () => {
    const { h, mails } = await deliver('bugs-nocover-noversion');
    assert.deepEqual(counts(mails), [0, 4, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: null, patches: [0, 1] },
      { cover: null, patches: [2, 3] },
    ]);
    assert.deepEqual(await links(h, mails), [[2, 0, 'in reply to v1 patch 1/2']]);
  });

  // [PATCH 1/2] ─ [PATCH 2/2]
  //  └─ [PATCH v2 1/2] ─ [PATCH v2 2/2]
  it('files a v2 without cover in reply to v1 as its own series (test_reply_nocover)', async () => {
    const { h, mails } = await deliver('bugs-nocover');
    assert.deepEqual(counts(mails), [0, 4, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: null, patches: [0, 1] },
      { cover: null, patches: [2, 3] },
    ]);
    assert.deepEqual(await links(h, mails), [[2, 0, 'in reply to v1 patch 1/2']]);
  });

  // [PATCH v2 1/4] fifo: Rework the reader     19:01:53   three runs of git send-email within four minutes,
  // [PATCH v2 1/4] fifo: Rework the reader     19:03:32   received in this order
  // [PATCH v2 1/4] fifo: Rework the reader     18:59:24
  it('files a patch sent three times in four minutes as three series (test_spamming)', async () => {
    const { h, mails } = await deliver('bugs-spamming');
    assert.deepEqual(counts(mails), [0, 3, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: null, patches: [2] },
      { cover: null, patches: [0] },
      { cover: null, patches: [1] },
    ]);
  });

  // [PATCH 1/2]                                    (2/2 lost)
  // [PATCH v2 2/2]  a week later, in reply to a v2 1/2 that never reached the list
  it('keeps a v2 patch apart from the incomplete v1 series (test_mixed_versions)', async () => {
    const { h, mails } = await deliver('bugs-mixed-versions');
    assert.deepEqual(counts(mails), [0, 2, 0]);
    assert.deepEqual(await shapes(h, mails), [
      { cover: null, patches: [0] },
      { cover: null, patches: [1] },
    ]);
  });
});

describe("Patchwork's Mercurial scenarios (MercurialSeriesTest)", () => {
  // [PATCH 0 of 2] <patchbomb.TS@host> ─ [PATCH 1 of 2], [PATCH 2 of 2]
  it('files hg email patches with a cover as one series (test_cover_letter)', async () => {
    const { h, mails } = await deliver('mercurial-cover-letter');
    assert.deepEqual(counts(mails), [1, 2, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2] }]);
  });

  it('files hg email patches without a cover as one series (test_no_cover_letter)', async () => {
    const { h, mails } = await deliver('mercurial-no-cover-letter');
    assert.deepEqual(counts(mails), [0, 2, 0]);
    assert.deepEqual(await shapes(h, mails), [{ cover: null, patches: [0, 1] }]);
  });
});

describe("Patchwork's subject scenarios (test_parser.py)", () => {
  it('files a patch whose Subject is empty (test_no_subject)', async () => {
    const { h, mails } = await deliver('mail-no-subject');
    assert.deepEqual(counts(mails), [0, 1, 0]);
    assert.equal((await h.series())[0]!.patches[0]!.diff?.startsWith('diff --git a/count.c b/count.c'), true);
  });

  it('files a patch whose Subject and From are raw UTF-8 (test_utf8_unencoded_headers)', async () => {
    const { h, mails } = await deliver('mail-unencoded-utf8-headers');
    assert.deepEqual(counts(mails), [0, 1, 0]);
    assert.equal((await h.series())[0]!.patches[0]!.name, 'MAINTAINERS: add Zoë Łukasiewicz as a reviewer of ringbuf');
  });

  it('files a patch whose Cc holds an encoded word that is no UTF-8 (test_invalid_utf8_headers)', async () => {
    const { mails } = await deliver('mail-invalid-utf8-headers');
    assert.deepEqual(counts(mails), [0, 1, 0]);
  });

  // [PATCH 1/2] =?utf-8?q?fifo=3A_r=C3=A9sum=C3=A9…?=          (partly encoded)
  // └─ =?utf-8?q?=5BPATCH_2/2=5D_fifo=3A_na=C3=AFve…?=          (wholly encoded, marker included)
  it('reads the marker and title of RFC 2047 encoded subjects (SubjectEncodingTest)', async () => {
    const { h, mails } = await deliver('mail-encoded-subjects');
    assert.deepEqual(await shapes(h, mails), [{ cover: null, patches: [0, 1] }]);
    const [s] = await h.series();
    assert.ok(s!.completed);
    assert.match(s!.patches[0]!.name, /fifo: résumé the reader after a signal$/);
    assert.match(s!.patches[1]!.name, /fifo: naïve readers wait for a full line$/);
  });
});

describe('patchbay grouping and revision links beyond Patchwork', () => {
  // [PATCH 0/3] ringbuf: add a capacity check and 2 more        Mon
  // [PATCH v2 0/4] ringbuf: add a capacity check and 3 more     Wed, standalone, one patch added
  it('links a standalone v2 whose cover title changed with its patch count to v1 (by the patches it repeats)', async () => {
    const { h, mails } = await deliver('pb-title-count');
    assert.deepEqual(await shapes(h, mails), [
      { cover: 0, patches: [1, 2, 3] },
      { cover: 4, patches: [5, 6, 7, 8] },
    ]);
    assert.deepEqual(await links(h, mails), [[4, 0, 'same patches and submitter (3 of 4)']]);
    assert.deepEqual(
      seriesOf(await h.series(), mails[0]!.msgid).patches.map((p) => p.state),
      ['superseded', 'superseded', 'superseded'],
    );
    assert.equal((await h.eventCounts())['series-new-revision'], 1);
  });

  // [PATCH 1/2] ─ [PATCH 2/2]                                   Mon, no cover
  // [PATCH v2 0/2] ringbuf: bounds checking ─ v2 1/2, v2 2/2   Tue, standalone, with a cover
  it('links a standalone v2 that gained a cover letter to v1', async () => {
    const { h, mails } = await deliver('pb-gained-cover');
    assert.deepEqual(await shapes(h, mails), [
      { cover: null, patches: [0, 1] },
      { cover: 2, patches: [3, 4] },
    ]);
    assert.deepEqual(await links(h, mails), [[2, 0, 'same patches and submitter (2 of 2)']]);
    // Delivered v2 first: v1 finds it when its patches are all in.
    const back = await deliver('pb-gained-cover', { order: [2, 3, 4, 0, 1] });
    assert.deepEqual(await links(back.h, back.mails), [[2, 0, 'same patches and submitter (v2 arrived first)']]);
  });

  // [PATCH 0/2] ringbuf: bounds                  Mon
  // [PATCH v2 0/2] ringbuf: bounds               Tue, standalone
  // └(v1 cover)─ [PATCH v3 0/2] ringbuf: bounds  Wed, sent --in-reply-to the v1 cover
  it('links v3 to v2, the newest earlier revision, although v3 replies to the v1 cover', async () => {
    const { h, mails } = await deliver('pb-v3-in-reply-to-v1');
    assert.equal((await h.series()).length, 3);
    assert.deepEqual(await links(h, mails), [
      [3, 0, 'same title and submitter'],
      [6, 3, 'in reply to v1 cover; v2 is its newest revision'],
    ]);
    const series = await h.series();
    assert.deepEqual(
      [0, 3, 6].map((i) => seriesOf(series, mails[i]!.msgid).patches.map((p) => p.state).join()),
      ['superseded,superseded', 'superseded,superseded', 'new,new'],
    );
  });

  // The same three delivered v1, v3, v2: v3 is first linked to v1 (its thread), then v2 goes between.
  it('puts v2 between v1 and v3 when it is delivered after v3', async () => {
    const { h, mails } = await deliver('pb-v3-in-reply-to-v1', { order: [0, 1, 2, 6, 7, 8, 3, 4, 5] });
    assert.deepEqual(await links(h, mails), [
      [3, 0, 'same title and submitter, delivered after v3'],
      [6, 3, 'in reply to v1 cover; v2 goes between'],
    ]);
    const series = await h.series();
    assert.deepEqual(
      [0, 3, 6].map((i) => seriesOf(series, mails[i]!.msgid).patches.map((p) => p.state).join()),
      ['superseded,superseded', 'superseded,superseded', 'new,new'],
    );
    const revised = (await h.events()).filter((e) => e.category === 'series-new-revision').map((e) => JSON.parse(e.payload!).previous_series);
    const [v1, v2] = [seriesOf(series, mails[0]!.msgid).id, seriesOf(series, mails[3]!.msgid).id];
    assert.deepEqual(revised, [v1, v2, v1], 'v3 revises v1; v3 revises v2 once v2 is known; v2, once complete, revises v1');
  });

  // [PATCH 0/2] ringbuf: bounds                       Mon
  // [PATCH v2 0/2] ringbuf: bounds, take two          Tue (retitled)
  // [PATCH v3 0/2] ringbuf: bounds                    Wed (the v1 title again)
  it('links v3 to v2 when v3 took back the title of v1', async () => {
    const { h, mails } = await deliver('pb-v3-title-back');
    assert.deepEqual(await links(h, mails), [
      [3, 0, 'same patches and submitter (2 of 2)'],
      [6, 3, 'same patches and submitter (2 of 2)'],
    ]);
    const late = await deliver('pb-v3-title-back', { order: [0, 1, 2, 6, 7, 8, 3, 4, 5] });
    assert.deepEqual(await links(late.h, late.mails), [
      [3, 0, 'same patches and submitter (2 of 2), delivered after v3'],
      [6, 3, 'same title and submitter; v2 goes between'],
    ]);
  });

  // [PATCH 0/2] ringbuf: bounds          (no version)
  // ├─ [PATCH v2 1/2] …, [PATCH v2 2/2] …
  it('files a cover that states no version and its v2 patches as one v2 series, in either order', async () => {
    for (const order of [undefined, [2, 1, 0]]) {
      const { h, mails } = await deliver('pb-cover-without-version', { order });
      assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2] }], `order ${order ?? 'sent'}`);
      const [s] = await h.series();
      assert.deepEqual([s!.version, s!.completed], [2, true]);
      assert.deepEqual(await h.revisions(), []);
    }
  });

  // [PATCH 0/2] <list.5be1d2c3@lists…>              the list gave the cover a Message-ID of its own
  // [PATCH 1/2], [PATCH 2/2]  In-Reply-To <3f2a…@lab.example.com>, the cover's original one, never received
  // Patchwork falls back to sender, version, count and time when no reference is known; so does patchbay.
  it('groups patches replying to a cover Message-ID never received with the cover sent with them', async () => {
    for (const order of [undefined, [1, 2, 0], [1, 0, 2]]) {
      const { h, mails } = await deliver('pb-rewritten-cover-id', { order });
      assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2] }], `order ${order ?? 'sent'}`);
      assert.equal((await h.series())[0]!.completed, true);
    }
  });

  // [PATCH 0/3] deps: run the tests on older libfoo
  // ├─ 1/3, 2/3
  // └─ [PATCH 3/3] requirements: Test older versions of libfoo (v2)
  it('keeps a numbered patch whose title ends in "(v2)" in its v1 series', async () => {
    const { h, mails } = await deliver('pb-text-version');
    assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2, 3] }]);
    const [s] = await h.series();
    assert.deepEqual([s!.version, s!.completed], [1, true]);
  });

  // git format-patch --stdout --cover-letter: no Message-ID, no threading; imported, or delivered by SMTP.
  it('groups git format-patch --stdout --cover-letter output without Message-IDs as one series', async () => {
    for (const source of ['import', 'smtp'] as const) {
      const { h, mails } = await deliver('pb-format-patch-stdout', { source });
      assert.deepEqual(counts(mails), [1, 3, 0]);
      assert.deepEqual(await shapes(h, mails), [{ cover: 0, patches: [1, 2, 3] }], source);
      const [s] = await h.series();
      assert.deepEqual([s!.name, s!.completed], ['ringbuf: a smaller API', true]);
    }
  });
});

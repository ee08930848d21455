// Threading decisions on hand-drawn contexts; the whole flow with real mail is in test/integration/series-*.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify, type MailInput } from '../../src/series/classify.js';
import { batchOf, decide, findPredecessor, findPredecessorByPatches, findSuccessor, findSuccessorByPatches, gapCandidates, type Context, type KnownMail, type SeriesSummary } from '../../src/series/thread.js';

const DIFF = 'diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n';
const ZOE = 'zoe@students.example.org';

function mail(over: Partial<MailInput> & { subject: string }): MailInput {
  return {
    msgid: 'x@host',
    inReplyTo: null,
    references: [],
    date: '2026-11-20T10:00:00.000Z',
    from: { name: 'Zoé', email: ZOE },
    text: over.subject.includes(' 0/') ? 'cover text\n' : `msg\n\nSigned-off-by: Zoé <${ZOE}>\n---\n${DIFF}`,
    patchAttachments: [],
    ...over,
  };
}

function msg(over: Partial<MailInput> & { subject: string }) {
  const m = mail(over);
  return { msgid: m.msgid, inReplyTo: m.inReplyTo, references: m.references, date: m.date, submitter: ZOE, classified: classify(m) };
}

function series(over: Partial<SeriesSummary> & { id: number }): SeriesSummary {
  return { submitter: ZOE, version: 1, total: 3, date: '2026-11-20T10:00:00.000Z', indices: [], hasCover: false, batch: null, title: null, changeId: null, superseded: false, revises: false, ...over };
}

function ctx(over: Partial<Context> = {}): Context {
  return { known: new Map(), seriesRefs: new Map(), series: new Map(), nearby: [], ...over };
}

describe('decide', () => {
  it('starts a new series for the first mail of a thread', () => {
    // cover ─ (nothing else yet)
    const d = decide(msg({ msgid: 'cover@h', subject: '[PATCH 0/3] topic' }), ctx());
    assert.deepEqual(d, { kind: 'cover-new-series', version: 1, total: 3, repliedTo: null, how: 'new series' });
  });

  it('adds a patch to the series that claimed its thread, even before the cover arrives', () => {
    // cover (not received)
    // ├─ 2/3 (received, series 7 claimed cover@h)
    // └─ 3/3 ← this one
    const s7 = series({ id: 7, indices: [2] });
    const d = decide(msg({ msgid: 'p3@h', inReplyTo: 'cover@h', references: ['cover@h'], subject: '[PATCH 3/3] c' }), ctx({ seriesRefs: new Map([['cover@h', 7]]), series: new Map([[7, s7]]) }));
    assert.deepEqual(d, { kind: 'patch', seriesId: 7, index: 3, how: 'same thread' });
  });

  it('gives a late cover letter to the series whose patches referenced it', () => {
    const s7 = series({ id: 7, indices: [1, 2, 3] });
    const d = decide(msg({ msgid: 'cover@h', subject: '[PATCH 0/3] topic' }), ctx({ seriesRefs: new Map([['cover@h', 7]]), series: new Map([[7, s7]]) }));
    assert.equal(d.kind, 'cover');
  });

  it('makes v2 sent in reply to the v1 cover a new series with the reason', () => {
    // v1 cover (series 1)
    // └─ v2 cover ← this one
    const known = new Map<string, KnownMail>([['v1cover@h', { msgid: 'v1cover@h', kind: 'cover', id: 11, seriesId: 1, index: 0 }]]);
    const d = decide(
      msg({ msgid: 'v2cover@h', inReplyTo: 'v1cover@h', references: ['v1cover@h'], subject: '[PATCH v2 0/3] topic' }),
      ctx({ known, seriesRefs: new Map([['v1cover@h', 1]]), series: new Map([[1, series({ id: 1, hasCover: true, indices: [1, 2, 3] })]]) }),
    );
    assert.deepEqual(d, { kind: 'cover-new-series', version: 2, total: 3, repliedTo: { seriesId: 1, reason: 'in reply to v1 cover' }, how: 'new series' });
  });

  it('replaces one patch for [PATCH v5.1 10/12] in reply to patch 10 of v5', () => {
    const known = new Map<string, KnownMail>([['p10@h', { msgid: 'p10@h', kind: 'patch', id: 510, seriesId: 5, index: 10 }]]);
    const d = decide(
      msg({ msgid: 'p10b@h', inReplyTo: 'p10@h', references: ['c5@h', 'p10@h'], subject: '[PATCH v5.1 10/12] fix' }),
      ctx({ known, series: new Map([[5, series({ id: 5, version: 5, total: 12, indices: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] })]]) }),
    );
    assert.deepEqual(d, { kind: 'patch-replacement', seriesId: 5, index: 10, replaces: 510, how: 'v5.1 replaces patch 10/12' });
  });

  it('keeps two unthreaded series sent minutes apart apart by their send batch', () => {
    // 10:00 series A (git send-email batch 20261120100000.111), 1/3 received
    // 10:02 series B 1/3 ← this one, another batch
    const a = series({ id: 1, indices: [1], batch: batchOf('20261120100000.111-1-zoe@h') });
    const d = decide(msg({ msgid: '20261120100200.222-1-zoe@h', date: '2026-11-20T10:02:00.000Z', subject: '[PATCH 1/3] other' }), ctx({ nearby: [a], series: new Map([[1, a]]) }));
    assert.equal(d.kind, 'patch-new-series');
    const same = decide(msg({ msgid: '20261120100000.111-2-zoe@h', date: '2026-11-20T10:00:01.000Z', subject: '[PATCH 2/3] a2' }), ctx({ nearby: [a], series: new Map([[1, a]]) }));
    assert.deepEqual(same, { kind: 'patch', seriesId: 1, index: 2, how: 'same send batch' });
  });

  it('files a reply as a comment on the nearest patch, through other comments', () => {
    // patch 42
    // └─ comment 9 (on patch 42)
    //    └─ this reply
    const known = new Map<string, KnownMail>([
      ['p@h', { msgid: 'p@h', kind: 'patch', id: 42, seriesId: 1, index: 1 }],
      ['c@h', { msgid: 'c@h', kind: 'comment', id: 9, seriesId: null, parent: { kind: 'patch', id: 42 }, index: null }],
    ]);
    const d = decide(msg({ msgid: 'r@h', inReplyTo: 'c@h', references: ['p@h', 'c@h'], subject: 'Re: [PATCH] x', text: 'Reviewed-by: A <a@x>\n' }), ctx({ known }));
    assert.deepEqual(d, { kind: 'comment', parent: { kind: 'patch', id: 42 } });
  });

  it('files a Re: carrying a diff as a comment, not a patch', () => {
    const known = new Map<string, KnownMail>([['p@h', { msgid: 'p@h', kind: 'patch', id: 42, seriesId: 1, index: 1 }]]);
    const d = decide(msg({ msgid: 'r@h', inReplyTo: 'p@h', references: ['p@h'], subject: 'Re: [PATCH] x', text: `try this:\n${DIFF}` }), ctx({ known }));
    assert.deepEqual(d, { kind: 'comment', parent: { kind: 'patch', id: 42 } });
  });

  it('keeps the suggested diff of a Re: in the comment text', () => {
    const c = classify(mail({ msgid: 'r@h', inReplyTo: 'p@h', references: ['p@h'], subject: 'Re: [PATCH] x', text: `try this:\n\n${DIFF}\nTom\n` }));
    assert.equal(c.kind, 'comment');
    assert.equal(c.content, `try this:\n\n${DIFF}\nTom`);
  });

  it('does not take v1 replying into a thread that v2 claimed first as a revision of v2', () => {
    // v1 cover (not received; v2, which arrived first, claimed it as a reference)
    // ├─ v1 2/3 ← this one
    // └─ v2 cover (series 2)
    const v2 = series({ id: 2, version: 2, indices: [1, 2, 3], hasCover: true });
    const d = decide(msg({ msgid: 'v1p2@h', inReplyTo: 'v1cover@h', references: ['v1cover@h'], subject: '[PATCH 2/3] b' }), ctx({ seriesRefs: new Map([['v1cover@h', 2]]), series: new Map([[2, v2]]) }));
    assert.deepEqual(d, { kind: 'patch-new-series', index: 2, version: 1, total: 3, repliedTo: null, how: 'new series' });
  });

  it('files v1 into the series of its own send batch when v2 claimed the v1 thread first', () => {
    // v1 cover (claimed by v2's series 2, which arrived first and references it)
    // ├─ v1 2/2 (received: series 3, batch 20261120130000.111)
    // ├─ v1 1/2 ← this one, same batch
    // └─ and the v1 cover itself, same batch
    const v2 = series({ id: 2, version: 2, total: 2, indices: [1, 2], hasCover: true });
    const v1 = series({ id: 3, total: 2, indices: [2], batch: batchOf('20261120130000.111-3-zoe@h') });
    const c = ctx({ seriesRefs: new Map([['20261120130000.111-1-zoe@h', 2]]), series: new Map([[2, v2], [3, v1]]), nearby: [v1] });
    const p1 = decide(msg({ msgid: '20261120130000.111-2-zoe@h', inReplyTo: '20261120130000.111-1-zoe@h', references: ['20261120130000.111-1-zoe@h'], subject: '[PATCH 1/2] a' }), c);
    assert.deepEqual(p1, { kind: 'patch', seriesId: 3, index: 1, how: 'same send batch' });
    const cover = decide(msg({ msgid: '20261120130000.111-1-zoe@h', subject: '[PATCH 0/2] topic' }), c);
    assert.deepEqual(cover, { kind: 'cover', seriesId: 3, how: 'same send batch' });
    // Another batch is another series, however close in time.
    const stranger = decide(msg({ msgid: '20261120130000.999-2-zoe@h', inReplyTo: '20261120130000.111-1-zoe@h', references: ['20261120130000.111-1-zoe@h'], subject: '[PATCH 1/2] a' }), c);
    assert.equal(stranger.kind, 'patch-new-series');
  });

  it("files a patch into its nearest reference's series when its References also name an older series (Patchwork's test_nested_series)", () => {
    // v1 cover (series 1) ─ v1 1/3, 2/3, 3/3
    //                       └─ v2 cover (series 2)
    //                          └─ this patch: References v1 cover, v1 1..3, v2 cover
    const v1 = series({ id: 1, hasCover: true, indices: [1, 2, 3] });
    const v2 = series({ id: 2, hasCover: true, indices: [] });
    const refs = ['c1@h', 'p1@h', 'p2@h', 'p3@h', 'c2@h'];
    const seriesRefs = new Map<string, number>([...refs.slice(0, 4).map((r): [string, number] => [r, 1]), ['c2@h', 2]]);
    const d = decide(msg({ msgid: 'n@h', inReplyTo: 'c2@h', references: refs, subject: '[PATCH 1/3] a' }), ctx({ seriesRefs, series: new Map([[1, v1], [2, v2]]) }));
    assert.deepEqual(d, { kind: 'patch', seriesId: 2, index: 1, how: 'same thread' });
  });

  it('files a patch without a version into the v3 series of the cover it replies to, sent with it', () => {
    // [PATCH net-next v3 0/4] (series 4, 10:00:00)
    // └─ [PATCH 1/4] ← this one, 10:00:01
    const v3 = series({ id: 4, version: 3, total: 4, hasCover: true });
    const c = ctx({ seriesRefs: new Map([['c@h', 4]]), series: new Map([[4, v3]]) });
    const d = decide(msg({ msgid: 'p1@h', inReplyTo: 'c@h', references: ['c@h'], date: '2026-11-20T10:00:01.000Z', subject: '[PATCH 1/4] a' }), c);
    assert.deepEqual(d, { kind: 'patch', seriesId: 4, index: 1, how: 'same thread (v3 by its cover)' });
    // A patch that states another version stays out; so does one sent a day later.
    assert.equal(decide(msg({ msgid: 'p2@h', inReplyTo: 'c@h', references: ['c@h'], date: '2026-11-20T10:00:01.000Z', subject: '[PATCH v2 1/4] a' }), c).kind, 'patch-new-series');
    assert.equal(decide(msg({ msgid: 'p3@h', inReplyTo: 'c@h', references: ['c@h'], date: '2026-11-21T10:00:01.000Z', subject: '[PATCH 1/4] a' }), c).kind, 'patch-new-series');
  });

  it('gives a v3 cover to the series its unversioned patches made first, with its version', () => {
    // [PATCH 1/4] … [PATCH 4/4] (series 5, version 1, claimed c@h) ← then the cover [PATCH net-next v3 0/4] c@h
    const s5 = series({ id: 5, version: 1, total: 4, indices: [1, 2, 3, 4], date: '2026-11-20T10:00:01.000Z' });
    const d = decide(msg({ msgid: 'c@h', subject: '[PATCH net-next v3 0/4] topic' }), ctx({ seriesRefs: new Map([['c@h', 5]]), series: new Map([[5, s5]]) }));
    assert.deepEqual(d, { kind: 'cover', seriesId: 5, how: 'patches arrived first and reference this cover', version: 3 });
  });

  it('files a v2 patch into the cover that stated no version it replies to, and the series becomes v2', () => {
    // [PATCH 0/3] topic (series 4, v1, no patch yet) └─ [PATCH v2 1/3] ← this one, a second later
    const known = new Map<string, KnownMail>([['c@h', { msgid: 'c@h', kind: 'cover', id: 40, seriesId: 4, index: 0 }]]);
    const s4 = series({ id: 4, hasCover: true });
    const d = decide(msg({ msgid: 'p1@h', inReplyTo: 'c@h', references: ['c@h'], date: '2026-11-20T10:00:01.000Z', subject: '[PATCH v2 1/3] a' }), ctx({ known, seriesRefs: new Map([['c@h', 4]]), series: new Map([[4, s4]]) }));
    assert.deepEqual(d, { kind: 'patch', seriesId: 4, index: 1, how: 'same thread', version: 2 });
  });

  it('never gives a v2 cover sent in reply to a v1 patch to the v1 series', () => {
    // [PATCH 1/3] (series 1, v1, no cover, 10:00) └─ [PATCH v2 0/3] ← this one, 10:05, --in-reply-to v1's 1/3
    const known = new Map<string, KnownMail>([['p1@h', { msgid: 'p1@h', kind: 'patch', id: 11, seriesId: 1, index: 1 }]]);
    const s1 = series({ id: 1, indices: [1, 2, 3] });
    const d = decide(msg({ msgid: 'c2@h', inReplyTo: 'p1@h', references: ['p1@h'], date: '2026-11-20T10:05:00.000Z', subject: '[PATCH v2 0/3] topic' }), ctx({ known, seriesRefs: new Map([['p1@h', 1]]), series: new Map([[1, s1]]) }));
    assert.deepEqual(d, { kind: 'cover-new-series', version: 2, total: 3, repliedTo: { seriesId: 1, reason: 'in reply to v1 patch 1/3' }, how: 'new series' });
  });

  it('groups an unthreaded cover and patches without a send batch by sender, version, length and time', () => {
    // 10:00:00 [PATCH 0/2] (series 6, Thunderbird Message-ID)   10:00:18 [PATCH 1/2] ← this one
    const s6 = series({ id: 6, total: 2, hasCover: true });
    const p1 = decide(msg({ msgid: 'b2c3@lab.example', date: '2026-11-20T10:00:18.000Z', subject: '[PATCH 1/2] a' }), ctx({ nearby: [s6], series: new Map([[6, s6]]) }));
    assert.deepEqual(p1, { kind: 'patch', seriesId: 6, index: 1, how: 'same sender, version and length within 20 minutes' });
    // The cover arriving after its patches joins them; a coverless series sent before the cover is another one.
    const after = series({ id: 7, total: 2, indices: [1, 2], date: '2026-11-20T10:00:18.000Z' });
    const before = series({ id: 8, total: 2, indices: [1, 2], date: '2026-11-20T09:50:00.000Z' });
    const cover = (nearby: SeriesSummary[]) => decide(msg({ msgid: 'a1b2@lab.example', subject: '[PATCH 0/2] topic' }), ctx({ nearby, series: new Map(nearby.map((x) => [x.id, x])) }));
    assert.deepEqual(cover([after]), { kind: 'cover', seriesId: 7, how: 'same sender, version and length within 20 minutes' });
    assert.equal(cover([before]).kind, 'cover-new-series');
  });

  it('does not take one patch sent into a longer series thread for a revision of that series', () => {
    // cover (series 1, 2 patches) └─ "[PATCH v2] fix one of them" ← this one, unnumbered
    const known = new Map<string, KnownMail>([['c@h', { msgid: 'c@h', kind: 'cover', id: 11, seriesId: 1, index: 0 }]]);
    const c = ctx({ known, seriesRefs: new Map([['c@h', 1]]), series: new Map([[1, series({ id: 1, total: 2, hasCover: true, indices: [1, 2] })]]) });
    const one = decide(msg({ msgid: 'x@h', inReplyTo: 'c@h', references: ['c@h'], subject: '[PATCH v2] fix one of them' }), c);
    assert.deepEqual(one, { kind: 'patch-new-series', index: 1, version: 2, total: 1, repliedTo: null, how: 'new series' });
    const whole = decide(msg({ msgid: 'y@h', inReplyTo: 'c@h', references: ['c@h'], subject: '[PATCH v2 1/2] a' }), c);
    assert.deepEqual(whole.kind === 'patch-new-series' && whole.repliedTo, { seriesId: 1, reason: 'in reply to v1 cover' });
  });

  it('reads the send batch of git send-email, b4 and git format-patch --thread Message-IDs, and no other', () => {
    assert.equal(batchOf('20261120100000.12345-2-zoe@host'), 'git:20261120100000.12345');
    assert.equal(batchOf('20261120-topic-v2-2-abcdef@host'), 'b4:20261120-topic-v2');
    assert.equal(batchOf('cover.1684814458.git.vik@example.org'), 'format-patch:1684814458.vik@example.org');
    assert.equal(batchOf('4f0c2a9d8e7b6a5c4d3e2f1a0b9c8d7e6f5a4b3c.1684814458.git.vik@example.org'), 'format-patch:1684814458.vik@example.org');
    // Older git send-email: also one patch per run, so no batch (Patchwork's base-no-references).
    assert.equal(batchOf('1473632524-8585-1-git-send-email-user@example.com'), null);
    assert.equal(batchOf('7b0e2c41-9a3d-4f1e-8c55-2d6f0a9b7e13@lab.example.com'), null);
  });

  it('keeps a [PATCH] mail without a diff as plain list mail', () => {
    assert.deepEqual(decide(msg({ msgid: 'n@h', subject: '[PATCH] forgot the diff', text: 'oops\n' }), ctx()), { kind: 'plain', reason: 'patch-subject-without-diff' });
  });
});

describe('findPredecessor', () => {
  const q = { seriesId: 9, submitter: ZOE, version: 2, date: '2026-11-22T10:00:00.000Z', title: 'Syscall: add dummy', resend: false, changeId: null, supersedes: null };
  it('links by Supersedes first, then change-id, then title and submitter', () => {
    const v1 = series({ id: 1, title: 'syscall: add dummy', changeId: 'c-1' });
    assert.deepEqual(findPredecessor({ ...q, supersedes: 'a@b' }, { bySupersedes: v1, byChangeId: [], byTitle: [] }), { seriesId: 1, reason: 'Supersedes: <a@b>' });
    assert.deepEqual(findPredecessor({ ...q, changeId: 'c-1' }, { bySupersedes: null, byChangeId: [v1], byTitle: [] }), { seriesId: 1, reason: 'same change-id' });
    assert.deepEqual(findPredecessor(q, { bySupersedes: null, byChangeId: [], byTitle: [v1] }), { seriesId: 1, reason: 'same title and submitter' });
  });

  it('does not link another title, another submitter, or a series that already has a successor', () => {
    const other = series({ id: 2, title: 'syscall: add another' });
    const stranger = series({ id: 3, title: 'syscall: add dummy', submitter: 'x@y' });
    const old = series({ id: 4, title: 'syscall: add dummy', superseded: true });
    assert.equal(findPredecessor(q, { bySupersedes: null, byChangeId: [], byTitle: [other, stranger, old] }), null);
  });

  it('links v3 to v2 rather than v1 when both carry its title, whatever their dates', () => {
    const v1 = series({ id: 1, version: 1, title: 'syscall: add dummy', date: '2026-11-19T10:00:00.000Z' });
    const v2 = series({ id: 2, version: 2, title: 'syscall: add dummy', date: '2026-11-18T10:00:00.000Z' });
    assert.deepEqual(findPredecessor({ ...q, version: 3 }, { bySupersedes: null, byChangeId: [], byTitle: [v1, v2] }), { seriesId: 2, reason: 'same title and submitter' });
  });

  it('offers a version delivered late the earlier versions a newer one already revises, highest first', () => {
    // v1 (revised by v3), this v2 arriving now: v1 is where it goes; v1's revision by v3 is the service's to move.
    const v1 = series({ id: 1, version: 1, superseded: true, date: '2026-11-19T10:00:00.000Z' });
    const v0 = series({ id: 3, version: 1, superseded: true, date: '2026-11-18T10:00:00.000Z' });
    const open = series({ id: 4, version: 1, date: '2026-11-19T10:00:00.000Z' });
    const later = series({ id: 5, version: 1, superseded: true, date: '2026-11-23T10:00:00.000Z' });
    assert.deepEqual(
      gapCandidates({ seriesId: 9, version: 2, date: '2026-11-22T10:00:00.000Z' }, [v0, open, v1, later, v1]).map((x) => x.id),
      [1, 3],
    );
  });

  it('links a RESEND of the same version, saying so', () => {
    const v2 = series({ id: 5, version: 2, title: 'syscall: add dummy' });
    assert.deepEqual(findPredecessor({ ...q, resend: true }, { bySupersedes: null, byChangeId: [], byTitle: [v2] }), { seriesId: 5, reason: 'resend with the same title and submitter' });
  });
});

describe('findSuccessor', () => {
  // v2 (Sun) was delivered first; v1 (Fri) arrives now and finds it.
  const q = { seriesId: 1, submitter: ZOE, version: 1, date: '2026-11-20T10:00:00.000Z', title: 'syscall: add dummy', resend: false, changeId: null, supersedes: null };
  it('finds the lowest newer version not yet linked, and says it arrived first', () => {
    const v2 = series({ id: 2, version: 2, date: '2026-11-22T10:00:00.000Z', title: 'syscall: add dummy' });
    const v3 = series({ id: 3, version: 3, date: '2026-11-24T10:00:00.000Z', title: 'syscall: add dummy' });
    assert.deepEqual(findSuccessor(q, { bySupersedes: null, byChangeId: [], byTitle: [v3, v2] }), { seriesId: 2, reason: 'same title and submitter (v2 arrived first)' });
  });
  it('leaves a newer version that already revises something, an older date, or another submitter', () => {
    const linked = series({ id: 2, version: 2, date: '2026-11-22T10:00:00.000Z', title: 'syscall: add dummy', revises: true });
    const earlier = series({ id: 3, version: 2, date: '2026-11-19T10:00:00.000Z', title: 'syscall: add dummy' });
    const stranger = series({ id: 4, version: 2, date: '2026-11-22T10:00:00.000Z', title: 'syscall: add dummy', submitter: 'x@y' });
    assert.equal(findSuccessor(q, { bySupersedes: null, byChangeId: [], byTitle: [linked, earlier, stranger] }), null);
  });
});

describe('findPredecessorByPatches / findSuccessorByPatches', () => {
  // This series: v2, 4 distinct patch titles. Candidates share titles with it.
  const q = { seriesId: 9, submitter: ZOE, version: 2, date: '2026-11-22T10:00:00.000Z', titles: 4 };
  const at = (over: Partial<SeriesSummary> & { id: number }) => series({ total: 3, date: '2026-11-20T10:00:00.000Z', ...over });
  it('links the newest earlier version repeating more than half of the shorter series', () => {
    const v1 = { series: at({ id: 1 }), shared: 3, patches: 3 };
    assert.deepEqual(findPredecessorByPatches(q, [v1]), { seriesId: 1, reason: 'same patches and submitter (3 of 4)' });
    const v1b = { series: at({ id: 2, version: 1, date: '2026-11-21T10:00:00.000Z' }), shared: 2, patches: 3 };
    assert.equal(findPredecessorByPatches(q, [v1, v1b])!.seriesId, 2, 'the newest');
  });
  it('leaves half or less, another submitter, the same version, a later date and a series already revised', () => {
    const half = { series: at({ id: 1 }), shared: 2, patches: 4 };
    const stranger = { series: at({ id: 2, submitter: 'x@y' }), shared: 3, patches: 3 };
    const same = { series: at({ id: 3, version: 2 }), shared: 3, patches: 3 };
    const later = { series: at({ id: 4, date: '2026-11-23T10:00:00.000Z' }), shared: 3, patches: 3 };
    const taken = { series: at({ id: 5, superseded: true }), shared: 3, patches: 3 };
    assert.equal(findPredecessorByPatches(q, [half, stranger, same, later, taken]), null);
  });
  it('finds the lowest newer version delivered first, not yet linked', () => {
    const v3 = { series: at({ id: 3, version: 3, date: '2026-11-24T10:00:00.000Z' }), shared: 4, patches: 4 };
    const v4 = { series: at({ id: 4, version: 4, date: '2026-11-25T10:00:00.000Z' }), shared: 4, patches: 4 };
    const linked = { series: at({ id: 5, version: 3, date: '2026-11-24T10:00:00.000Z', revises: true }), shared: 4, patches: 4 };
    assert.deepEqual(findSuccessorByPatches(q, [v4, linked, v3]), { seriesId: 3, reason: 'same patches and submitter (v3 arrived first)' });
  });
});

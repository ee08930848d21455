// Series scenarios on real mail (test/fixtures/series/*.mbox, made with git send-email by make.ts), filed by the real services.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { rosterOf } from '../../src/db/series.repository.js';
import { tempDir } from '../helpers/dirs.js';
import { fixtureHarnesses, readMboxFile, type Harness, type SeriesView } from '../helpers/ingest-harness.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/series');
const fixture = (name: string) => path.join(FIXTURES, `${name}.mbox`);
const ZOE = 'zoe@students.example.org';
const TEACHER = 'teacher@example.org';
/** Patchwork's hash of a diff with no ---/+++/@@/text lines (binary or rename only): SHA-1 of nothing. */
const EMPTY_HASH = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';

const fixtures = fixtureHarnesses(FIXTURES);
afterEach(fixtures.closeAll);
const deliver = fixtures.deliver;


/** The series of the mail with this Message-ID (as cover or patch). */
function seriesOf(series: SeriesView[], msgid: string): SeriesView {
  const s = series.find((x) => x.cover === msgid || x.patches.some((p) => p.msgid === msgid));
  assert.ok(s, `a series holds ${msgid}`);
  return s;
}

/** Everything a reviewer or the pipeline sees, with ids replaced by Message-IDs, so that two runs compare equal. */
async function snapshot(h: Harness) {
  const series = await h.series();
  const key = new Map(series.map((s) => [s.id, s.cover ?? s.patches[0]?.msgid ?? `#${s.id}`]));
  return {
    series: series
      .map((s) => ({
        key: key.get(s.id),
        version: s.version,
        total: s.total,
        name: s.name,
        completed: s.completed,
        date: s.date,
        cover: s.cover,
        patches: s.patches.map((p) => ({ number: p.number, msgid: p.msgid, state: p.state, tags: p.tags, signoffOk: p.signoffOk, replacedBy: p.replacedBy, hash: p.hash })),
      }))
      .sort((a, b) => String(a.key).localeCompare(String(b.key))),
    revisions: (await h.revisions()).map((r) => [key.get(r.series), key.get(r.previous), r.reason, r.announced]).sort(),
    comments: (await h.comments()).map((c) => [c.msgid, c.parent.kind, c.parent.msgid]).sort(),
    events: Object.entries(await h.eventCounts()).sort(),
  };
}

/** The one patch of a one-patch scenario, checking that it made exactly one complete series of one. */
async function onlyPatch(h: Harness, name: string) {
  const series = await h.series();
  assert.equal(series.length, 1, 'one series');
  const s = series[0]!;
  assert.deepEqual([s.version, s.total, s.completed, s.name, s.patches.length, s.patches[0]!.number], [1, 1, true, name, 1, 1]);
  return s.patches[0]!;
}

/** Each patch is announced complete exactly once (the pipeline starts work on it then). */
async function assertCompletedOncePerPatch(h: Harness): Promise<void> {
  const patches = (await h.series()).flatMap((s) => s.patches);
  const completed = (await h.events()).filter((e) => e.category === 'patch-completed').map((e) => e.patch_id);
  assert.deepEqual([...completed].sort(), patches.map((p) => p.id).sort(), 'one patch-completed per patch');
}

/** `git apply --check` and `--numstat` of a diff in a fresh repository holding the given files. */
function gitApply(diff: string, files: Record<string, string> = {}): string {
  const dir = tempDir('patchbay-apply-');
  try {
    execFileSync('git', ['init', '-q', dir]);
    for (const [f, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), content);
    }
    fs.writeFileSync(path.join(dir, 'the.diff'), diff);
    execFileSync('git', ['apply', '--check', 'the.diff'], { cwd: dir, stdio: 'pipe' });
    return execFileSync('git', ['apply', '--numstat', 'the.diff'], { cwd: dir, encoding: 'utf8' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('series scenarios on real mail', () => {
  // [PATCH 0/3] proctree: count the children of a process      Fri 20 Nov
  // ├─ [PATCH 1/3] proctree: read the children file
  // ├─ [PATCH 2/3] proctree: count the children
  // └─ [PATCH 3/3] proctree: print the count                    Sun 22 Nov (sent two days later, --in-reply-to the cover)
  it('files a cover letter and three patches, the last two days late, as one complete series', async () => {
    const { h, mails } = await deliver('cover-letter');
    assert.equal(mails.length, 4);
    assert.ok(Date.parse(mails[3]!.date!) - Date.parse(mails[0]!.date!) >= 2 * 86_400_000 - 5_000, 'the fixture has its two-day gap');
    assert.deepEqual(
      mails.map((m) => m.reason),
      ['cover', 'patch', 'patch', 'patch'],
    );
    const series = await h.series();
    assert.equal(series.length, 1);
    const s = series[0]!;
    assert.deepEqual(
      { version: s.version, total: s.total, name: s.name, completed: s.completed, cover: s.cover, date: s.date, submitter: s.submitter },
      { version: 1, total: 3, name: 'proctree: count the children of a process', completed: true, cover: mails[0]!.msgid, date: mails[0]!.date, submitter: ZOE },
    );
    assert.deepEqual(
      s.patches.map((p) => [p.number, p.msgid, p.name, p.state, p.signoffOk]),
      [
        [1, mails[1]!.msgid, '[1/3] proctree: read the children file', 'new', true],
        [2, mails[2]!.msgid, '[2/3] proctree: count the children', 'new', true],
        [3, mails[3]!.msgid, '[3/3] proctree: print the count', 'new', true],
      ],
    );
    assert.deepEqual(await h.eventCounts(), { 'series-created': 1, 'cover-created': 1, 'patch-created': 3, 'patch-completed': 3, 'series-completed': 1 });
    const events = await h.events();
    assert.equal(events.at(-1)!.category, 'series-completed', 'the series completes with its last patch');
    await assertCompletedOncePerPatch(h);
  });

  // Same thread as above, delivered 3/3, 2/3, 1/3, 0/3 and in two shuffled orders.
  it('gives the same series whatever order the cover and patches arrive in', async () => {
    const { h } = await deliver('cover-letter');
    const expected = await snapshot(h);
    for (const order of [
      [3, 2, 1, 0],
      [2, 0, 3, 1],
      [1, 3, 0, 2],
    ]) {
      const other = await deliver('cover-letter', { order });
      assert.deepEqual(await snapshot(other.h), expected, `order ${order.join(',')}`);
      await assertCompletedOncePerPatch(other.h);
    }
  });

  // [PATCH 1/3] proctree: parse the pid argument
  // ├─ [PATCH 2/3] proctree: reject a negative pid
  // └─ [PATCH 3/3] proctree: explain the usage
  it('files three patches without a cover letter as one series named after patch 1', async () => {
    const { h, mails } = await deliver('no-cover');
    const series = await h.series();
    assert.equal(series.length, 1);
    const s = series[0]!;
    assert.deepEqual([s.version, s.total, s.name, s.completed, s.cover], [1, 3, '[1/3] proctree: parse the pid argument', true, null]);
    assert.deepEqual(
      s.patches.map((p) => [p.number, p.msgid]),
      mails.map((m, i) => [i + 1, m.msgid]),
    );
    assert.deepEqual(await h.eventCounts(), { 'series-created': 1, 'patch-created': 3, 'patch-completed': 3, 'series-completed': 1 });
    const reversed = await deliver('no-cover', { order: [2, 1, 0] });
    assert.deepEqual(await snapshot(reversed.h), await snapshot(h));
  });

  // [PATCH] proctree: return 1 when the pid is not found       (format-patch --base=master)
  it('files a single patch as a complete series of one, with its base commit', async () => {
    const { h, mails } = await deliver('single');
    const [s] = await h.series();
    assert.deepEqual([s!.version, s!.total, s!.name, s!.completed], [1, 1, 'proctree: return 1 when the pid is not found', true]);
    const p = s!.patches[0]!;
    assert.equal(p.msgid, mails[0]!.msgid);
    assert.equal(p.number, 1);
    assert.match(p.baseCommit ?? '', /^[0-9a-f]{40}$/);
    assert.match(p.hash ?? '', /^[0-9a-f]{40}$/);
    assert.match(p.diff ?? '', /^diff --git a\/proctree\.c b\/proctree\.c\n/);
    assert.match(p.content, /^A caller can tell from the exit status/);
    assert.deepEqual(await h.eventCounts(), { 'series-created': 1, 'patch-created': 1, 'patch-completed': 1, 'series-completed': 1 });
  });

  // [PATCH 0/2] proctree: print the whole tree                  Fri 20 Nov
  // ├─ [PATCH 1/2] proctree: walk the tree
  // ├─ [PATCH 2/2] proctree: indent each level
  // └─ [PATCH v2 0/2] proctree: print the whole tree            Sat 21 Nov (--in-reply-to the v1 cover)
  //    ├─ [PATCH v2 1/2] proctree: walk the tree
  //    └─ [PATCH v2 2/2] proctree: indent each level
  it('links v2 as a revision when it replies to the v1 cover letter, and supersedes v1', async () => {
    const { h, mails } = await deliver('v2-in-reply-to-cover');
    const series = await h.series();
    assert.equal(series.length, 2);
    const v1 = seriesOf(series, mails[0]!.msgid);
    const v2 = seriesOf(series, mails[3]!.msgid);
    assert.deepEqual([v1.version, v1.total, v1.completed, v1.cover], [1, 2, true, mails[0]!.msgid]);
    assert.deepEqual([v2.version, v2.total, v2.completed, v2.cover], [2, 2, true, mails[3]!.msgid]);
    assert.equal(v2.name, v1.name);
    assert.deepEqual(
      v2.patches.map((p) => [p.number, p.msgid]),
      [
        [1, mails[4]!.msgid],
        [2, mails[5]!.msgid],
      ],
    );
    assert.deepEqual(await h.revisions(), [{ series: v2.id, previous: v1.id, reason: 'in reply to v1 cover', source: 'parser', announced: true }]);
    assert.deepEqual(
      v1.patches.map((p) => p.state),
      ['superseded', 'superseded'],
    );
    assert.deepEqual(
      v2.patches.map((p) => p.state),
      ['new', 'new'],
    );
    const counts = await h.eventCounts();
    assert.deepEqual(counts, { 'series-created': 2, 'cover-created': 2, 'patch-created': 4, 'patch-completed': 4, 'series-completed': 2, 'patch-state-changed': 2, 'series-new-revision': 1 });
    const events = await h.events();
    const revision = events.find((e) => e.category === 'series-new-revision')!;
    assert.equal(revision.series_id, v2.id);
    assert.deepEqual(JSON.parse(revision.payload!), { previous_series: v1.id, reason: 'in reply to v1 cover' });
    for (const e of events.filter((x) => x.category === 'patch-state-changed')) {
      assert.ok(v1.patches.some((p) => p.id === e.patch_id));
      assert.deepEqual(JSON.parse(e.payload!), { previous_state: 'new', current_state: 'superseded', superseded_by_series: v2.id });
    }
  });

  // Same thread, v2's cover arriving after its patches: the link is made all the same, once v2 is complete.
  it('links v2 the same way when its cover arrives after its patches', async () => {
    const { h } = await deliver('v2-in-reply-to-cover');
    const late = await deliver('v2-in-reply-to-cover', { order: [0, 1, 2, 4, 5, 3] });
    assert.deepEqual(await snapshot(late.h), await snapshot(h));
  });

  // Same thread, delivered backwards: v2 2/2, v2 1/2, v2 0/2, then v1 2/2, 1/2, 0/2. The v2 patches claim the v1
  // cover (they reference it) before v1 arrives; v1's mails find their series by their git send-email batch.
  // (No revision link is made: v2 was filed before the v1 it answers existed.)
  // Patchwork: "it is necessary to ensure the first series is placed before the revision. If not, they will not be
  // parsed correctly" (test_series.py, RevisedSeriesTest); patchbay's win is the send batch.
  it('keeps v1 whole and apart from v2 when v2 arrives before it (Patchwork cannot)', async () => {
    const { h, mails } = await deliver('v2-in-reply-to-cover', { order: [5, 4, 3, 2, 1, 0] });
    const series = await h.series();
    assert.equal(series.length, 2);
    const v1 = seriesOf(series, mails[0]!.msgid);
    const v2 = seriesOf(series, mails[3]!.msgid);
    assert.deepEqual(
      [v1.version, v1.cover, v1.completed, v1.patches.map((p) => p.msgid)],
      [1, mails[0]!.msgid, true, [mails[1]!.msgid, mails[2]!.msgid]],
    );
    assert.deepEqual(
      [v2.version, v2.cover, v2.completed, v2.patches.map((p) => p.msgid)],
      [2, mails[3]!.msgid, true, [mails[4]!.msgid, mails[5]!.msgid]],
    );
    assert.ok(
      (await h.revisions()).every((r) => r.series !== v1.id),
      'v1 is never a revision of v2',
    );
    // Once v1 is known, v2 is linked to it, and v1's patches are superseded as v2 is complete. v1's patches are all
    // in before its cover (this order): they find v2 by the titles they share with its patches.
    assert.deepEqual(await h.revisions(), [{ series: v2.id, previous: v1.id, reason: 'same patches and submitter (v2 arrived first)', source: 'parser', announced: true }]);
    assert.deepEqual(v1.patches.map((p) => p.state), ['superseded', 'superseded']);
    assert.equal((await h.eventCounts())['series-new-revision'], 1);
  });

  // [PATCH 0/2] proctree: show threads                          Fri 20 Nov
  // ├─ 1/2, 2/2
  // [PATCH v2 0/2] proctree: show threads                       Sun 22 Nov, a new thread
  // ├─ v2 1/2, v2 2/2
  it('links a standalone v2 with the same title and submitter as a revision of v1', async () => {
    const { h, mails } = await deliver('v2-standalone');
    const series = await h.series();
    assert.equal(series.length, 2);
    const v1 = seriesOf(series, mails[0]!.msgid);
    const v2 = seriesOf(series, mails[3]!.msgid);
    assert.deepEqual([v1.version, v2.version, v1.name, v2.name], [1, 2, 'proctree: show threads', 'proctree: show threads']);
    assert.deepEqual(await h.revisions(), [{ series: v2.id, previous: v1.id, reason: 'same title and submitter', source: 'parser', announced: true }]);
    assert.deepEqual(
      v1.patches.map((p) => p.state),
      ['superseded', 'superseded'],
    );
    assert.equal((await h.eventCounts())['series-new-revision'], 1);
  });

  // Same mails, project setting `supersede: false`.
  it('links v2 but leaves v1 open when the project does not supersede', async () => {
    const { h, mails } = await deliver('v2-standalone', { supersede: false });
    const series = await h.series();
    const v1 = seriesOf(series, mails[0]!.msgid);
    assert.equal((await h.revisions()).length, 1);
    assert.deepEqual(
      v1.patches.map((p) => p.state),
      ['new', 'new'],
    );
    const counts = await h.eventCounts();
    assert.equal(counts['series-new-revision'], 1);
    assert.equal(counts['patch-state-changed'], undefined);
  });

  // [PATCH v2 0/2] proctree: show command names                 Fri 20 Nov
  // ├─ v2 1/2, v2 2/2
  // [PATCH v3 0/2] proctree: show command lines instead of names   Mon 23 Nov, new thread,
  // ├─ v3 1/2, v3 2/2                                              cover says "Supersedes: <v2 cover>"
  it('links v3 to the series its cover names with Supersedes:, although the title changed', async () => {
    const { h, mails } = await deliver('v3-supersedes');
    const series = await h.series();
    assert.equal(series.length, 2);
    const v2 = seriesOf(series, mails[0]!.msgid);
    const v3 = seriesOf(series, mails[3]!.msgid);
    assert.deepEqual([v2.version, v2.name], [2, 'proctree: show command names']);
    assert.deepEqual([v3.version, v3.name, v3.completed], [3, 'proctree: show command lines instead of names', true]);
    assert.deepEqual(await h.revisions(), [{ series: v3.id, previous: v2.id, reason: `Supersedes: <${mails[0]!.msgid}>`, source: 'parser', announced: true }]);
    assert.deepEqual(
      v2.patches.map((p) => p.state),
      ['superseded', 'superseded'],
    );
    assert.equal((await h.eventCounts())['series-new-revision'], 1);
  });

  // 16:00 [PATCH 1/3] read the memory size   [PATCH 2/3] print the memory size   [PATCH 3/3] sort by memory   (--no-thread)
  // 16:02 [PATCH 1/3] read the cpu time      [PATCH 2/3] print the cpu time      [PATCH 3/3] sort by cpu time (--no-thread)
  // No References at all; same author, version and length, two minutes apart: only the send batch tells them apart.
  // Patchwork has only its 20-minute window: interleaved, a patch goes to the newest series missing its number.
  it('keeps two unrelated unthreaded series sent two minutes apart apart, even interleaved (by send batch; Patchwork mixes them)', async () => {
    for (const order of [undefined, [0, 3, 1, 4, 2, 5], [3, 0, 4, 1, 5, 2]]) {
      const { h, mails } = await deliver('unrelated-no-thread', { order });
      const series = await h.series();
      assert.equal(series.length, 2, `two series (order ${order ?? 'sent'})`);
      const mem = seriesOf(series, mails[0]!.msgid);
      const cpu = seriesOf(series, mails[3]!.msgid);
      assert.deepEqual(
        mem.patches.map((p) => [p.number, p.msgid]),
        [0, 1, 2].map((i) => [i + 1, mails[i]!.msgid]),
      );
      assert.deepEqual(
        cpu.patches.map((p) => [p.number, p.msgid]),
        [3, 4, 5].map((i) => [i - 2, mails[i]!.msgid]),
      );
      assert.deepEqual([mem.name, cpu.name], ['[1/3] proctree: read the memory size', '[1/3] proctree: read the cpu time']);
      assert.ok(mem.completed && cpu.completed);
      assert.deepEqual(await h.revisions(), []);
      assert.deepEqual(await h.eventCounts(), { 'series-created': 2, 'patch-created': 6, 'patch-completed': 6, 'series-completed': 2 });
    }
  });

  // [PATCH] doc: describe the output format                    Fri 20 Nov
  // [PATCH RESEND] doc: describe the output format             Fri 27 Nov, a new thread
  // Patchwork files the resend as an unrelated series and both stay open.
  it('links a [PATCH RESEND] to the original it repeats and supersedes the original (Patchwork links nothing)', async () => {
    const { h, mails } = await deliver('resend');
    const series = await h.series();
    assert.equal(series.length, 2);
    const first = seriesOf(series, mails[0]!.msgid);
    const again = seriesOf(series, mails[1]!.msgid);
    assert.deepEqual([first.name, again.name], ['doc: describe the output format', '[RESEND] doc: describe the output format']);
    assert.deepEqual([first.version, again.version], [1, 1]);
    assert.equal(again.patches[0]!.hash, first.patches[0]!.hash, 'the same diff');
    assert.deepEqual(await h.revisions(), [{ series: again.id, previous: first.id, reason: 'resend with the same title and submitter', source: 'parser', announced: true }]);
    assert.deepEqual([first.patches[0]!.state, again.patches[0]!.state], ['superseded', 'new']);
  });

  // [RFC PATCH 0/2] proctree: live view of forks               (format-patch --rfc)
  // ├─ [RFC PATCH 1/2] proctree: trace forks with eBPF
  // └─ [RFC PATCH 2/2] proctree: show forks live
  it('files an RFC series like any other, RFC kept as a prefix of the patch names', async () => {
    const { h, mails } = await deliver('rfc');
    const series = await h.series();
    assert.equal(series.length, 1);
    const s = series[0]!;
    assert.deepEqual([s.version, s.total, s.completed, s.cover, s.name], [1, 2, true, mails[0]!.msgid, 'proctree: live view of forks']);
    assert.deepEqual(
      s.patches.map((p) => [p.number, p.name, p.state]),
      [
        [1, '[RFC,1/2] proctree: trace forks with eBPF', 'new'],
        [2, '[RFC,2/2] proctree: show forks live', 'new'],
      ],
    );
  });

  // [PATCH 1/3] proctree: handle SIGPIPE                        Fri 20 Nov
  // ├─ [PATCH 2/3] …, [PATCH 3/3] …
  // [PATCH 1/3 v2] proctree: handle SIGPIPE                     Sat 21 Nov (subjects edited: version after the marker)
  // ├─ [PATCH 2/3 v2] …, [PATCH 3/3 v2] …
  it('reads [PATCH 1/3 v2] as version 2, patch 1 of 3, and links it to v1', async () => {
    const { h, mails } = await deliver('version-after-marker');
    assert.deepEqual(
      mails.slice(3).map((m) => m.subject.slice(0, 15)),
      ['[PATCH 1/3 v2] ', '[PATCH 2/3 v2] ', '[PATCH 3/3 v2] '],
    );
    const series = await h.series();
    assert.equal(series.length, 2);
    const v1 = seriesOf(series, mails[0]!.msgid);
    const v2 = seriesOf(series, mails[3]!.msgid);
    assert.deepEqual([v2.version, v2.total, v2.completed, v2.name], [2, 3, true, '[1/3,v2] proctree: handle SIGPIPE']);
    assert.deepEqual(
      v2.patches.map((p) => [p.number, p.msgid, p.name]),
      [
        [1, mails[3]!.msgid, '[1/3,v2] proctree: handle SIGPIPE'],
        [2, mails[4]!.msgid, '[2/3,v2] proctree: handle SIGINT'],
        [3, mails[5]!.msgid, '[3/3,v2] proctree: restore the terminal'],
      ],
    );
    assert.deepEqual(await h.revisions(), [{ series: v2.id, previous: v1.id, reason: 'same title and submitter', source: 'parser', announced: true }]);
    assert.deepEqual(
      v1.patches.map((p) => p.state),
      ['superseded', 'superseded', 'superseded'],
    );
  });

  // [PATCH v5 0/3] proctree: json output                        Fri 20 Nov
  // ├─ [PATCH v5 1/3] proctree: add a --json flag
  // ├─ [PATCH v5 2/3] proctree: print json
  // │  └─ [PATCH v5.1 2/3] proctree: print json                 Sat 21 Nov (--in-reply-to v5 2/3)
  // └─ [PATCH v5 3/3] proctree: document --json
  // Patchwork reads no version from "v5.1" and finds patch 2 taken in v5: a new v1 series of 3 holding patch 2 alone,
  // never complete (its issue #633).
  it('replaces only patch 2 of v5 with [PATCH v5.1 2/3] sent in reply to it (Patchwork makes a stray series)', async () => {
    const { h, mails } = await deliver('v5-1-replacement');
    const series = await h.series();
    assert.equal(series.length, 1, 'no new series for v5.1');
    const s = series[0]!;
    assert.deepEqual([s.version, s.total, s.completed], [5, 3, true]);
    assert.deepEqual(
      s.patches.map((p) => [p.number, p.msgid, p.state, p.replacedBy]),
      [
        [1, mails[1]!.msgid, 'new', null],
        [2, mails[2]!.msgid, 'superseded', mails[4]!.msgid],
        [2, mails[4]!.msgid, 'new', null],
        [3, mails[3]!.msgid, 'new', null],
      ],
    );
    assert.deepEqual(await h.revisions(), []);
    assert.deepEqual(await h.eventCounts(), { 'series-created': 1, 'cover-created': 1, 'patch-created': 4, 'patch-completed': 4, 'series-completed': 2, 'patch-state-changed': 1 });
    await assertCompletedOncePerPatch(h);
    const events = await h.events();
    const change = events.find((e) => e.category === 'patch-state-changed')!;
    assert.deepEqual(JSON.parse(change.payload!), { previous_state: 'new', current_state: 'superseded', replaced_by: s.patches[2]!.id, reason: 'v5.1 replaces patch 2/3' });
    // The series is complete again with the replacement: the pipeline re-runs it.
    const completions = events.filter((e) => e.category === 'series-completed').map((e) => (e.payload ? JSON.parse(e.payload) : null));
    assert.deepEqual(completions, [null, { replacement: true }]);
  });

  // [PATCH] doc: explain the children file                     (format-patch --attach: text/x-patch attachment)
  it('reads a patch sent as a text/x-patch attachment', async () => {
    const { h } = await deliver('attachment');
    const p = await onlyPatch(h, 'doc: explain the children file');
    assert.match(p.diff ?? '', /^diff --git a\/doc\/children\.txt b\/doc\/children\.txt\n/);
    assert.equal(gitApply(p.diff!), '1\t0\tdoc/children.txt\n');
    assert.match(p.content, /^It only lists children of that one thread\./);
    assert.equal(p.signoffOk, true);
  });

  // [PATCH] doc: credit Zoé for the tree view                  (--transfer-encoding=base64)
  it('decodes a base64 patch, accents included', async () => {
    const { h } = await deliver('base64');
    const raw = (await readMboxFile(fixture('base64')))[0]!.toString('latin1');
    assert.match(raw, /^Content-Transfer-Encoding: base64$/m, 'the fixture is base64');
    const p = await onlyPatch(h, 'doc: credit Zoé for the tree view');
    assert.match(p.content, /with accents: é, è, ç\./);
    assert.match(p.diff ?? '', /^\+Zoé Étudiante <zoe@students\.example\.org>$/m);
    assert.equal(gitApply(p.diff!), '1\t0\tAUTHORS\n');
    assert.equal(p.signoffOk, true);
  });

  // [PATCH] doc: credit the teacher                            (--transfer-encoding=quoted-printable)
  it('decodes a quoted-printable patch, accents included', async () => {
    const { h } = await deliver('quoted-printable');
    const raw = (await readMboxFile(fixture('quoted-printable')))[0]!.toString('latin1');
    assert.match(raw, /^Content-Transfer-Encoding: quoted-printable$/m, 'the fixture is quoted-printable');
    const p = await onlyPatch(h, 'doc: credit the teacher');
    assert.match(p.content, /with accents: é, è, ç\./);
    assert.match(p.diff ?? '', /^\+Thanks to Tom Teacher and to the café downstairs\.$/m);
    assert.equal(gitApply(p.diff!), '1\t0\tTHANKS\n');
  });

  // [PATCH] Makefile: add an install target                    (body turned to CRLF; git send-email chose QP, =0D)
  it('normalizes a CRLF body to LF in the commit message and the diff', async () => {
    const { h } = await deliver('crlf');
    const raw = (await readMboxFile(fixture('crlf')))[0]!.toString('latin1');
    assert.match(raw, /=0D$/m, 'the fixture carries encoded carriage returns');
    const p = await onlyPatch(h, 'Makefile: add an install target');
    assert.ok(!p.diff!.includes('\r') && !p.content.includes('\r'));
    assert.match(p.diff!, /^@@ -1,6 \+1,10 @@\n/m);
    assert.ok(p.diff!.endsWith(' clean:\n \trm -f proctree\n'), 'the whole hunk');
    assert.equal(p.signoffOk, true);
    assert.match(p.hash ?? '', /^[0-9a-f]{40}$/);
  });

  // [PATCH] doc: add a screenshot                              (GIT binary patch, a new PNG)
  it('keeps a GIT binary patch whole, so that git apply takes it', async () => {
    const { h } = await deliver('binary');
    const p = await onlyPatch(h, 'doc: add a screenshot');
    assert.match(p.diff ?? '', /^GIT binary patch\nliteral \d+\n/m);
    assert.equal(gitApply(p.diff!), '-\t-\tdoc/screenshot.png\n');
    assert.equal(p.hash, EMPTY_HASH, "Patchwork's hash ignores binary data");
  });

  // [PATCH] doc: rename notes.txt to proc-notes.txt            (rename only: no hunk)
  it('files a rename-only patch, a git diff without any hunk', async () => {
    const { h } = await deliver('rename');
    const p = await onlyPatch(h, 'doc: rename notes.txt to proc-notes.txt');
    assert.equal(p.diff, 'diff --git a/doc/notes.txt b/doc/proc-notes.txt\nsimilarity index 100%\nrename from doc/notes.txt\nrename to doc/proc-notes.txt\n');
    assert.equal(gitApply(p.diff!, { 'doc/notes.txt': 'anything\n' }), '0\t0\tdoc/proc-notes.txt\n');
    assert.equal(p.hash, EMPTY_HASH, "Patchwork's hash ignores rename lines");
  });

  // [GIT PULL] proctree: man page for the course               (git request-pull output)
  it('files a git request-pull mail as a patch with its pull URL and branch, and no diff', async () => {
    const { h, mails } = await deliver('pull-request');
    assert.equal(mails[0]!.reason, 'patch');
    const [s] = await h.series();
    assert.deepEqual([s!.total, s!.completed, s!.patches.length], [1, true, 1]);
    const p = s!.patches[0]!;
    assert.equal(p.pullUrl, 'https://git.example.org/zoe/proctree.git for-tom');
    assert.equal(p.diff, null);
    assert.equal(p.hash, null);
    assert.equal(p.name, '[GIT,PULL] proctree: man page for the course');
  });

  // [PATCH 0/2] proctree: grandchildren                         Zoé
  // ├─ [PATCH 1/2] proctree: list grandchildren                 Zoé
  // │  └─ Re: [PATCH 1/2] …                                     Tom   (comment on the patch)
  // │     └─ Re: [PATCH 1/2] …                                  Zoé   (comment on Tom's comment: belongs to the patch)
  // ├─ [PATCH 2/2] proctree: limit the depth                    Zoé
  // └─ Re: [PATCH 0/2] …                                        Tom   (comment on the cover)
  it('files replies as comments on the patch, on the cover, and through a comment on the patch', async () => {
    const { h, mails } = await deliver('comments');
    assert.deepEqual(
      mails.map((m) => m.reason),
      ['cover', 'patch', 'patch', 'comment', 'comment', 'comment'],
    );
    const series = await h.series();
    assert.equal(series.length, 1);
    assert.equal(series[0]!.patches.length, 2);
    const comments = await h.comments();
    assert.deepEqual(
      comments.map((c) => [c.msgid, c.submitter, c.parent]),
      [
        [mails[3]!.msgid, TEACHER, { kind: 'patch', msgid: mails[1]!.msgid }],
        [mails[4]!.msgid, TEACHER, { kind: 'cover', msgid: mails[0]!.msgid }],
        [mails[5]!.msgid, ZOE, { kind: 'patch', msgid: mails[1]!.msgid }],
      ],
    );
    assert.match(comments[0]!.content, /Why a new file per step\?/);
    const counts = await h.eventCounts();
    assert.deepEqual([counts['patch-comment-created'], counts['cover-comment-created'], counts['patch-created']], [2, 1, 2]);
    const onCover = (await h.events()).find((e) => e.category === 'cover-comment-created')!;
    assert.ok(onCover.cover_id !== null && onCover.comment_id !== null);
  });

  // [PATCH] proctree: close the children file                  Zoé
  // └─ Re: [PATCH] …                                           Tom: "Reviewed-by: Tom Teacher <…>" (and quotes Zoé's Signed-off-by)
  it('counts a Reviewed-by: in a reply as a tag on the patch', async () => {
    const { h } = await deliver('reviewed-by');
    const p = await onlyPatch(h, 'proctree: close the children file');
    assert.deepEqual(p.tags, { acked: 0, reviewed: 1, tested: 0 });
    assert.equal((await h.comments()).length, 1);
    assert.equal((await h.eventCounts())['patch-comment-created'], 1);
  });

  // [PATCH] proctree: print a header line                      (committed without -s)
  it('flags a patch without Signed-off-by', async () => {
    const { h } = await deliver('no-signoff');
    const p = await onlyPatch(h, 'proctree: print a header line');
    assert.doesNotMatch(p.content, /Signed-off-by/);
    assert.equal(p.signoffOk, false);
    const signed = await deliver('single');
    assert.equal((await signed.h.series())[0]!.patches[0]!.signoffOk, true, 'a signed patch is not flagged');
  });

  // [PATCH] doc: add the author to the README                  From and Signed-off-by: Zoé Étudiante <zoe@students.example.org>
  // roster.csv: zetudiante,Zoe Etudiante,zoe.etudiante@univ.example.org  (another address, no accents)
  it('matches the roster student "Zoe Etudiante" from the accented name "Zoé Étudiante"', async () => {
    const roster = fs.readFileSync(path.join(FIXTURES, 'roster.csv'), 'utf8');
    const { h } = await deliver('accented-signoff', { roster });
    const students = await rosterOf(h.db, h.projectId);
    const zoe = students.find((s) => s.emails.includes('zoe.etudiante@univ.example.org'))?.id ?? null;
    const other = students.find((s) => s.emails.includes('zoe.etudiant@univ.example.org'))?.id ?? null;
    assert.ok(zoe !== null && other !== null && zoe !== other);
    const p = await onlyPatch(h, 'doc: add the author to the README');
    assert.equal(p.studentId, zoe);
    assert.equal(p.signoffOk, true);
    // Without her line in the roster, the near name "Zoe Etudiant" is not taken for her.
    const { h: without } = await deliver('accented-signoff', { roster: roster.split('\n').filter((l) => !l.startsWith('zetudiante,')).join('\n') });
    assert.equal((await without.series())[0]!.patches[0]!.studentId, null);
  });

  // [PATCH] proctree: ping the teacher                         (format-patch --always of an empty commit)
  it('keeps a [PATCH] mail without a diff as plain list mail', async () => {
    const { h, mails } = await deliver('no-diff');
    assert.deepEqual([mails[0]!.state, mails[0]!.reason], ['processed', 'plain']);
    assert.deepEqual(mails[0]!.result, { kind: 'plain', reason: 'patch-subject-without-diff' });
    assert.deepEqual(await h.series(), []);
    assert.deepEqual(await h.eventCounts(), {});
  });

  // [PATCH] proctree: check the argument count                 Zoé
  // └─ Re: [PATCH] proctree: check the argument count          Tom, with a diff of his own
  it('files a Re: carrying a diff as a comment on the patch, keeping the diff in its text', async () => {
    const { h, mails } = await deliver('diff-in-reply');
    assert.deepEqual(
      mails.map((m) => m.reason),
      ['patch', 'comment'],
    );
    const series = await h.series();
    assert.equal(series.length, 1);
    assert.equal(series[0]!.patches.length, 1);
    const [c] = await h.comments();
    assert.deepEqual(c!.parent, { kind: 'patch', msgid: mails[0]!.msgid });
    assert.match(c!.content, /^\+\t\tfprintf\(stderr, "usage: proctree \[PID\]\\n"\);$/m);
    assert.match(c!.content, /something like:/);
    assert.deepEqual(await h.eventCounts(), { 'series-created': 1, 'patch-created': 1, 'patch-completed': 1, 'series-completed': 1, 'patch-comment-created': 1 });
  });

  // cover-letter and comments, once as SMTP deliveries, once as an mbox import.
  it('files the same mails alike whether they came by SMTP or by import', async () => {
    for (const name of ['cover-letter', 'comments', 'v5-1-replacement']) {
      const imported = await deliver(name, { source: 'import' });
      const smtp = await deliver(name, { source: 'smtp' });
      assert.deepEqual(await snapshot(smtp.h), await snapshot(imported.h), name);
    }
  });
});

// Names and prefixes as Patchwork shows them, over real filed mail: every API version's patches, covers, series and
// events, the web pages that show a name, and the downloads named after one (their Subject left as it came).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VERSIONS } from '../../src/api/versions.js';
import { buildJob } from '../../src/pipeline/job.js';
import { createArchiveService } from '../../src/web/archive.service.js';
import { startWebApp, type WebApp } from '../helpers/web-app.js';

const NAMES = path.resolve('test/fixtures/names/names.mbox');

/** Subject as sent → name Patchwork stores, and the API's prefixes of a patch (null: a cover, which has none). */
const EXPECTED: [subject: string, name: string, prefixes: string[] | null][] = [
  ['[RFC PATCH 0/2] proctree: live view of forks', '[RFC,0/2] proctree: live view of forks', null],
  ['[RFC PATCH 1/2] proctree: trace forks with eBPF', '[RFC,1/2] proctree: trace forks with eBPF', ['RFC', '1/2']],
  ['[RFC PATCH 2/2] proctree: show forks live', '[RFC,2/2] proctree: show forks live', ['RFC', '2/2']],
  ['[PATCH 1/3] proctree: parse the pid argument', '[1/3] proctree: parse the pid argument', ['1/3']],
  ['[PATCH 1/3 v2] proctree: handle SIGPIPE', '[1/3,v2] proctree: handle SIGPIPE', ['1/3', 'v2']],
  ['[PATCH RESEND] doc: describe the output format', '[RESEND] doc: describe the output format', ['RESEND']],
  ['[PATCH] doc: describe the output format', 'doc: describe the output format', []],
  ['[PATCH v2 0/2] proctree: print the whole tree', '[v2,0/2] proctree: print the whole tree', null],
  ['[PATCH v2 2/2] proctree: indent each level', '[v2,2/2] proctree: indent each level', ['v2', '2/2']],
  // The list's own tag goes, in its own group or among the others.
  ['[proctree] [PATCH 0 of 2] proctree: count the threads of each process', '[0 of 2] proctree: count the threads of each process', null],
  // Patchwork keeps Mercurial's "1 of 2" whole in the name but reads it back as three prefixes: so do we.
  ['[proctree] [PATCH 1 of 2] proctree: read the thread count from /proc', '[1 of 2] proctree: read the thread count from /proc', ['1', 'of', '2']],
  // RFC 2047 encoded words, folded over two lines: decoded and unfolded first.
  ['[PATCH proctree v2] doc: décrire la sortie de l’arbre', '[v2] doc: décrire la sortie de l’arbre', ['v2']],
];

/** Series name → how Patchwork names it: after the cover (its title, no prefixes), else after patch 1/N, prefixes kept. */
const SERIES_NAMES = [
  'proctree: live view of forks',
  '[1/3] proctree: parse the pid argument',
  '[1/3,v2] proctree: handle SIGPIPE',
  'proctree: print the whole tree',
  'proctree: count the threads of each process',
  '[v2] doc: décrire la sortie de l’arbre',
];

describe('names and prefixes as Patchwork shows them', () => {
  let w: WebApp;
  let subjects: Map<string, string>;

  before(async () => {
    w = await startWebApp({ fixtures: ['rfc', 'no-cover', 'version-after-marker', 'resend', 'v2-in-reply-to-cover'] });
    await w.h.deliverMbox(NAMES);
    const rows = await w.h.db.selectFrom('mails').select(['msgid', 'subject']).execute();
    subjects = new Map(rows.map((r) => [r.msgid, r.subject ?? '']));
  });
  after(() => w.close());

  /** The expected name of a submission, by its mail's subject; fails on a subject the table does not know. */
  const expectedFor = (msgid: string) => EXPECTED.filter(([s]) => s === subjects.get(`${msgid.replace(/^<|>$/g, '')}`));

  for (const v of [...VERSIONS, null]) {
    const api = v ? `/api/${v}` : '/api';
    it(`serves each patch's name with its position and version, and its prefixes, in ${api}/patches/`, async () => {
      const list: { id: number; msgid: string; name: string }[] = await w.apiGet(`${api}/patches/?per_page=250`);
      let checked = 0;
      for (const p of list) {
        const want = expectedFor(p.msgid)[0];
        if (!want) continue;
        checked++;
        assert.equal(p.name, want[1], `list name of ${want[0]}`);
        assert.ok(!('prefixes' in p), 'prefixes are in the detail only');
        const d = await w.apiGet(`${api}/patches/${p.id}/`);
        assert.equal(d.name, want[1]);
        assert.deepEqual(d.prefixes, want[2], `prefixes of ${want[0]}`);
      }
      assert.equal(checked, EXPECTED.filter(([, , prefixes]) => prefixes !== null).length);
    });

    it(`serves each cover's name with its prefixes and no prefixes field in ${api}/covers/, and series named as Patchwork names them`, async () => {
      const covers: { id: number; msgid: string; name: string }[] = await w.apiGet(`${api}/covers/`);
      for (const c of covers) {
        const want = expectedFor(c.msgid)[0];
        if (!want) continue;
        assert.equal(c.name, want[1]);
        const d = await w.apiGet(`${api}/covers/${c.id}/`);
        assert.equal(d.name, want[1]);
        assert.ok(!('prefixes' in d));
      }
      assert.equal(covers.filter((c) => expectedFor(c.msgid).length).length, 3);
      const series: { name: string; cover_letter: { name: string } | null; patches: { name: string }[] }[] = await w.apiGet(`${api}/series/?per_page=250`);
      for (const name of SERIES_NAMES) assert.ok(series.some((s) => s.name === name), `a series named ${JSON.stringify(name)} in ${JSON.stringify(series.map((s) => s.name))}`);
      // Embedded patches and covers carry the same names.
      const rfc = series.find((s) => s.name === 'proctree: live view of forks')!;
      assert.equal(rfc.cover_letter!.name, '[RFC,0/2] proctree: live view of forks');
      assert.deepEqual(rfc.patches.map((p) => p.name), ['[RFC,1/2] proctree: trace forks with eBPF', '[RFC,2/2] proctree: show forks live']);
    });
  }

  it('embeds the same names in events', async () => {
    type Embedded = { id: number; msgid: string; name: string };
    const events: { category: string; payload: { patch?: Embedded; cover?: Embedded } }[] = await w.apiGet('/api/events/?per_page=250');
    const created = events.filter((e) => e.category === 'patch-created' || e.category === 'cover-created').map((e) => (e.payload.patch ?? e.payload.cover)!);
    let checked = 0;
    for (const x of created) {
      const want = expectedFor(x.msgid)[0];
      if (!want) continue;
      checked++;
      assert.equal(x.name, want[1]);
    }
    assert.equal(checked, EXPECTED.length);
  });

  it('shows the names on the series list, the series page, and the patch and cover pages', async () => {
    const b = w.browser();
    const list = await b.get('/project/proctree/list/');
    assert.equal(list.statusCode, 200);
    assert.match(list.body, />\[1\/3\] proctree: parse the pid argument</);
    assert.match(list.body, />proctree: live view of forks</);
    const api: { id: number; name: string; cover_letter: { id: number } | null; patches: { id: number }[] }[] = await w.apiGet('/api/series/?per_page=250');
    const rfc = api.find((s) => s.name === 'proctree: live view of forks')!;
    const page = await b.get(`/series/${rfc.id}/`);
    assert.match(page.body, /<h1 id="series-title">proctree: live view of forks<\/h1>/);
    assert.match(page.body, />\[RFC,1\/2\] proctree: trace forks with eBPF</);
    // /patch/N/ and /cover/N/ send the browser to the page under the project (as Patchwork's do).
    const follow = async (url: string) => {
      const r = await b.get(url);
      return r.statusCode >= 300 && r.statusCode < 400 ? b.get(String(r.headers.location)) : r;
    };
    const patch = await follow(`/patch/${rfc.patches[0]!.id}/`);
    assert.match(patch.body, /<h1 id="patch-title">\[RFC,1\/2\] proctree: trace forks with eBPF<\/h1>/);
    const cover = await follow(`/cover/${rfc.cover_letter!.id}/`);
    assert.match(cover.body, /<h1 id="cover-title">\[RFC,0\/2\] proctree: live view of forks<\/h1>/);
  });

  it('names a download after the name, and leaves the Subject of the mail in it as it came', async () => {
    const b = w.browser();
    const [p] = (await w.apiGet('/api/patches/?per_page=250')).filter((x: { name: string }) => x.name === '[v2] doc: décrire la sortie de l’arbre');
    const mbox = await b.get(`/patch/${p.id}/mbox/`);
    assert.equal(mbox.headers['content-disposition'], 'attachment; filename=v2-doc-d-crire-la-sortie-de-l-arbre.patch');
    assert.match(mbox.body, /^Subject: \[PATCH proctree v2\] doc: =\?UTF-8\?q\?d=C3=A9crire_la_sortie\?=\n =\?UTF-8\?q\?_de_l=E2=80=99arbre\?=$/m);
    const rfc = (await w.apiGet('/api/series/?per_page=250')).find((s: { name: string }) => s.name === 'proctree: live view of forks');
    const series = await b.get(`/series/${rfc.id}/mbox/`);
    assert.equal(series.headers['content-disposition'], 'attachment; filename=proctree-live-view-of-forks.patch');
    assert.match(series.body, /^Subject: \[RFC PATCH 1\/2\] proctree: trace forks with eBPF$/m);
  });

  it('gives the pipeline each patch under its commit title, the mbox it applies keeping the Subject', async () => {
    const rfc = (await w.apiGet('/api/series/?per_page=250')).find((s: { name: string }) => s.name === 'proctree: live view of forks');
    const archive = createArchiveService({ db: w.h.db, lists: [{ id: w.project.id, slug: 'proctree', name: 'Proctree' }] });
    const job = await buildJob(w.h.db, archive, 1, w.project, rfc.id);
    assert.deepEqual(job.series.patches.map((p) => p.name), ['proctree: trace forks with eBPF', 'proctree: show forks live']);
    assert.match(job.series.patches[0]!.mbox, /^Subject: \[RFC PATCH 1\/2\] proctree: trace forks with eBPF$/m);
  });
});

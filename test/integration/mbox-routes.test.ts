// Patchwork's mbox downloads through app.inject(), on real mail filed by the real services: /patch/N/mbox/ (with
// ?series=), /patch/N/raw/, /series/N/mbox/, /cover/N/mbox/, their headers, the comments' tags, 404s and 400s.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { setPatchFields } from '../../src/db/series.repository.js';
import { insertBundle, setBundlePatches } from '../../src/db/bundle.repository.js';
import { insertUser, setToken } from '../../src/db/user.repository.js';
import { AuthService } from '../../src/api/auth.service.js';
import { tokenHash } from '../../src/api/credentials.js';
import { createLogger } from '../../src/log.js';
import { extractMsgid, headerValue, headerValues } from '../../src/mail/raw.js';
import { MboxSplitter } from '../../src/smtp/mbox.js';
import { buildApp } from '../../src/web/app.js';
import { createArchiveService } from '../../src/web/archive.service.js';
import { readMboxFile, startIngestHarness, type Harness, type SeriesView } from '../helpers/ingest-harness.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/series');
const fixture = (name: string) => path.join(FIXTURES, `${name}.mbox`);

/** git mailsplit's view of a Patchwork mbox (mboxo: separators are "From patchwork <date>" lines). */
function messages(body: string): { header: string; body: string }[] {
  const splitter = new MboxSplitter('mboxo');
  return [...splitter.push(Buffer.from(body, 'utf8')), ...splitter.end()].map((m) => {
    const text = m.raw.toString('utf8');
    const cut = text.indexOf('\n\n');
    return { header: text.slice(0, cut + 1), body: text.slice(cut + 2) };
  });
}

describe('mbox downloads (Patchwork)', () => {
  let h: Harness;
  let app: FastifyInstance;
  let series: SeriesView[];

  const byName = (name: string) => series.find((s) => s.name === name)!;

  before(async () => {
    h = await startIngestHarness();
    for (const f of ['cover-letter', 'reviewed-by', 'v5-1-replacement', 'quoted-printable', 'comments']) await h.deliverMbox(fixture(f));
    // A header block longer than the 64 KiB read with the row: the mail is read whole.
    const [single] = await readMboxFile(fixture('single'));
    const filler = Array.from({ length: 1200 }, (_, i) => `X-Filler-${i}: ${'x'.repeat(60)}\n`).join('');
    await h.deliver(Buffer.concat([Buffer.from(filler), single!]));
    series = await h.series();
    app = await buildApp({
      log: createLogger('silent'),
      health: { snapshot: async () => ({ mails: 0, pending: 0, outboundQueued: 0 }) },
      lists: {} as never,
      archive: {
        service: createArchiveService({ db: h.db, lists: [{ id: h.projectId, slug: 'proctree', name: 'Proctree' }] }),
        publicBase: null,
        authenticate: (authorization, address) => new AuthService(h.db).authenticate(authorization, address),
      },
    });
  });
  after(async () => {
    await app.close();
    await h.close();
  });

  it('gives a series as its patches in order, without the cover letter, each with Patchwork\'s headers', async () => {
    const s = byName('proctree: count the children of a process');
    const r = await app.inject({ url: `/series/${s.id}/mbox/` });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers['content-disposition'], 'attachment; filename=proctree-count-the-children-of-a-process.patch');
    const got = messages(r.body);
    assert.deepEqual(
      got.map((m) => headerValue(m.header, 'subject')),
      s.patches.map((p) => p.subject),
    );
    assert.equal(got.length, 3);
    for (const [i, m] of got.entries()) {
      const p = s.patches[i]!;
      assert.equal(headerValue(m.header, 'x-patchwork-id'), String(p.id));
      assert.equal(headerValue(m.header, 'x-patchwork-submitter'), '=?utf-8?b?Wm/DqSDDiXR1ZGlhbnRl?= <zoe@students.example.org>');
      assert.equal(extractMsgid(headerValue(m.header, 'message-id')), p.msgid);
      assert.equal(headerValues(m.header, 'content-type').length, 1);
      assert.ok(m.body.endsWith(p.diff!), 'the diff closes the message');
    }
    assert.ok(r.body.startsWith('From patchwork Fri Nov 20 '));
  });

  it('appends the Reviewed-by of a reply to the commit message, before the ---', async () => {
    const p = byName('proctree: close the children file').patches[0]!;
    const r = await app.inject({ url: `/patch/${p.id}/mbox/` });
    const [m] = messages(r.body);
    assert.match(m!.body, /Signed-off-by: Zoé Étudiante <zoe@students.example.org>\nReviewed-by: Tom Teacher <teacher@example.org>\n---\n/);
    assert.equal(r.headers['content-disposition'], 'attachment; filename=proctree-close-the-children-file.patch');
  });

  it('leaves quoted tags and plain replies out (comments.mbox)', async () => {
    const s = byName('proctree: grandchildren');
    const r = await app.inject({ url: `/patch/${s.patches[0]!.id}/mbox/` });
    const [m] = messages(r.body);
    assert.equal((m!.body.match(/-by: /g) ?? []).length, 1, m!.body);
  });

  it('with ?series=* or its number gives the patches before it, then the patch; another series is 404', async () => {
    const s = byName('proctree: count the children of a process');
    const third = s.patches[2]!;
    for (const q of ['*', '%2A', String(s.id)]) {
      const r = await app.inject({ url: `/patch/${third.id}/mbox/?series=${q}` });
      assert.equal(r.statusCode, 200, q);
      assert.deepEqual(
        messages(r.body).map((m) => headerValue(m.header, 'x-patchwork-id')),
        s.patches.map((p) => String(p.id)),
      );
    }
    const second = await app.inject({ url: `/patch/${s.patches[1]!.id}/mbox/?series=*` });
    assert.equal(messages(second.body).length, 2);
    assert.equal(messages((await app.inject({ url: `/patch/${third.id}/mbox/?series=` })).body).length, 1);
    for (const q of [String(s.id + 100), 'abc', '1.5']) {
      const r = await app.inject({ url: `/patch/${third.id}/mbox/?series=${q}` });
      assert.equal(r.statusCode, 404, q);
      assert.equal(r.json().code, 'no_such_series');
    }
  });

  it('leaves a replaced patch out of its series ([PATCH v5.1 2/3] replaces 2/3)', async () => {
    const s = byName('proctree: json output');
    const r = await app.inject({ url: `/series/${s.id}/mbox/` });
    assert.deepEqual(
      messages(r.body).map((m) => headerValue(m.header, 'subject')),
      ['[PATCH v5 1/3] proctree: add a --json flag', '[PATCH v5.1 2/3] proctree: print json', '[PATCH v5 3/3] proctree: document --json'],
    );
  });

  it('decodes quoted-printable mail into an 8bit UTF-8 part that git am reads as is', async () => {
    const p = series.flatMap((s) => s.patches).find((x) => x.subject.startsWith('[PATCH] doc: credit'))!;
    const r = await app.inject({ url: `/patch/${p.id}/mbox/` });
    const [m] = messages(r.body);
    assert.equal(headerValue(m!.header, 'content-transfer-encoding'), '8bit');
    assert.equal(headerValue(m!.header, 'content-type'), 'text/plain; charset="utf-8"');
    assert.ok(!/=C3=A9/.test(m!.body) && m!.body.includes('é'), m!.body);
  });

  it('names the delegate in X-Patchwork-Delegate', async () => {
    const p = byName('proctree: close the children file').patches[0]!;
    const tom = await insertUser(h.db, { username: 'tom', email: 'Teacher@Example.org', firstName: 'Tom', lastName: 'Teacher', role: 'maintainer', passwordHash: null });
    await setPatchFields(h.db, p.id, { delegate_id: tom });
    const [m] = messages((await app.inject({ url: `/patch/${p.id}/mbox/` })).body);
    assert.equal(headerValue(m!.header, 'x-patchwork-delegate'), 'teacher@example.org');
    await setPatchFields(h.db, p.id, { delegate_id: null });
  });

  it('reads a header block longer than 64 KiB from the whole mail', async () => {
    const s = series.find((x) => x.patches[0]?.subject.startsWith('[PATCH] proctree: ') && x.patches[0].baseCommit)!;
    const [m] = messages((await app.inject({ url: `/patch/${s.patches[0]!.id}/mbox/` })).body);
    assert.equal(headerValues(m!.header, 'x-filler-1199').length, 1);
    assert.equal(extractMsgid(headerValue(m!.header, 'message-id')), s.patches[0]!.msgid);
  });

  // Issue 11's poison shapes in one mail: "From:" and 2,500 spaces first in the body (4 s in authorOf), a
  // Signed-off-by line of 6,000 spaces (94 s, cubic), and 100,000 spaces inside the text (11 s per mbox request).
  it('files a mail of long space runs and serves its mbox, each in linear time', { timeout: 10_000 }, async () => {
    const [single] = await readMboxFile(fixture('single'));
    const raw = single!
      .toString('utf8')
      .replace(/^Message-Id: .*$/m, 'Message-Id: <poison-spaces@students.example.org>')
      .replace(/^Subject: .*$/m, 'Subject: [PATCH] proctree: long runs of spaces')
      .replace('\n\nA caller can tell', `\n\nFrom:${' '.repeat(2500)}\nSigned-off-by:${' '.repeat(6000)}x\na${' '.repeat(100_000)}x\nA caller can tell`);
    const delivered = await h.deliver(Buffer.from(raw, 'utf8'));
    assert.equal(delivered.state, 'processed');
    const p = (await h.series()).find((s) => s.name === 'proctree: long runs of spaces')!.patches[0]!;
    const r = await app.inject({ url: `/patch/${p.id}/mbox/` });
    assert.equal(r.statusCode, 200);
    const [m] = messages(r.body);
    assert.ok(m!.body.includes(`\na${' '.repeat(100_000)}x\n`), 'the line of spaces is served as it was written');
    assert.match(headerValue(m!.header, 'x-patchwork-submitter')!, /<zoe@students\.example\.org>$/, 'the sender stays the submitter');
  });

  it('gives a cover letter with its id, as <name>.mbox', async () => {
    const s = byName('proctree: count the children of a process');
    const coverId = (await h.rows()).covers.find((c) => c.msgid === s.cover)!.id;
    const r = await app.inject({ url: `/cover/${coverId}/mbox/` });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-disposition'], 'attachment; filename=0-3-proctree-count-the-children-of-a-process.mbox');
    const [m] = messages(r.body);
    assert.equal(headerValue(m!.header, 'x-patchwork-id'), String(coverId));
    assert.equal(headerValue(m!.header, 'subject'), '[PATCH 0/3] proctree: count the children of a process');
  });

  it('gives the diff alone on /patch/N/raw/ (git-pw patch download --diff)', async () => {
    const p = byName('proctree: close the children file').patches[0]!;
    const r = await app.inject({ url: `/patch/${p.id}/raw/` });
    assert.equal(r.statusCode, 200);
    assert.equal(r.body, p.diff);
    assert.equal(r.headers['content-disposition'], 'attachment; filename=proctree-close-the-children-file.diff');
  });

  it('answers 404 for what does not exist and 400 for an id that is not a number', async () => {
    for (const [url, code] of [
      ['/patch/99999/mbox/', 'no_such_patch'],
      ['/patch/99999/raw/', 'no_such_patch'],
      ['/series/99999/mbox/', 'no_such_series'],
      ['/cover/99999/mbox/', 'no_such_cover'],
    ] as const) {
      const r = await app.inject({ url });
      assert.equal(r.statusCode, 404, url);
      assert.equal(r.json().code, code);
    }
    for (const url of ['/patch/abc/mbox/', '/series/0/mbox/', '/cover/-1/mbox/']) {
      const r = await app.inject({ url });
      assert.equal(r.statusCode, 400, url);
      assert.equal(r.json().code, 'validation');
    }
  });

  it('gives a bundle\'s patches in its order; a private one only to its owner (others get 404)', async () => {
    const s = byName('proctree: count the children of a process');
    const ids = [s.patches[2]!.id, s.patches[0]!.id, s.patches[1]!.id];
    const ann = await insertUser(h.db, { username: 'ann', email: 'ann@example.org', firstName: 'Ann', lastName: 'A', role: 'maintainer', passwordHash: null });
    const bob = await insertUser(h.db, { username: 'bob', email: 'bob@example.org', firstName: 'Bob', lastName: 'B', role: 'student', passwordHash: null });
    await setToken(h.db, ann, tokenHash('ann-token-0123456789'));
    await setToken(h.db, bob, tokenHash('bob-token-0123456789'));
    const pub = await insertBundle(h.db, { ownerId: ann, projectId: h.projectId, name: 'to review', public: true });
    await setBundlePatches(h.db, pub, ids);
    const priv = await insertBundle(h.db, { ownerId: ann, projectId: h.projectId, name: 'mine', public: false });
    await setBundlePatches(h.db, priv, ids.slice(0, 1));

    const r = await app.inject({ url: '/bundle/ann/to%20review/mbox/' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-disposition'], `attachment; filename=bundle-${pub}-to-review.mbox`);
    assert.deepEqual(
      messages(r.body).map((m) => headerValue(m.header, 'x-patchwork-id')),
      ids.map(String),
    );
    assert.equal((await app.inject({ url: '/bundle/ann/mine/mbox/' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/bundle/ann/mine/mbox/', headers: { authorization: 'Token bob-token-0123456789' } })).statusCode, 404);
    const own = await app.inject({ url: '/bundle/ann/mine/mbox/', headers: { authorization: 'Token ann-token-0123456789' } });
    assert.equal(own.statusCode, 200);
    assert.equal(messages(own.body).length, 1);
    assert.equal((await app.inject({ url: '/bundle/nobody/mine/mbox/' })).json().code, 'no_such_bundle');
  });

  it('accepts the Authorization header git-pw always sends', async () => {
    const s = byName('proctree: count the children of a process');
    const tom = await insertUser(h.db, { username: 'tom2', email: 'tom2@example.org', firstName: 'Tom', lastName: 'T', role: 'maintainer', passwordHash: null });
    await setToken(h.db, tom, tokenHash('tom-token-0123456789'));
    const r = await app.inject({ url: `/series/${s.id}/mbox/`, headers: { authorization: 'Token tom-token-0123456789' } });
    assert.equal(r.statusCode, 200);
  });
});

// The page cache of anonymous readers: a repeat is the same bytes with an ETag (304 on If-None-Match), a write through
// the web view is seen by the next anonymous read, and a signed-in reader never gets the anonymous copy (nor its own
// page kept for others).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startWebApp, type WebApp } from '../helpers/web-app.js';

describe('page cache for anonymous readers', () => {
  let w: WebApp;
  let patchUrl = '';
  let patchId = 0;
  before(async () => {
    w = await startWebApp({ fixtures: ['cover-letter'] });
    const list = await w.apiGet('/api/patches/');
    patchId = list[0].id;
    const moved = await w.browser().get(`/patch/${patchId}/`);
    patchUrl = String(moved.headers.location);
  });
  after(() => w?.close());

  it('serves a repeat with the same ETag, and 304 to a client that has it', async () => {
    const b = w.browser();
    const first = await b.get(patchUrl);
    assert.equal(first.statusCode, 200);
    const etag = String(first.headers.etag);
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/, "a strong ETag");
    const again = await b.get(patchUrl);
    assert.equal(again.body, first.body);
    assert.equal(again.headers.etag, etag);
    const notModified = await b.get(patchUrl, { 'if-none-match': etag });
    assert.equal(notModified.statusCode, 304);
    assert.equal(notModified.body, '');
  });

  it('shows a state changed by a maintainer to the next anonymous reader, and never hands a signed-in reader the anonymous copy', async () => {
    const anon = w.browser();
    const before = await anon.get(patchUrl);
    assert.match(before.body, /<span id="patch-state" class="badge new">/);
    assert.doesNotMatch(before.body, /id="patch-actions"/);

    const teacher = await w.login('teacher');
    const mine = await teacher.get(patchUrl);
    assert.match(mine.body, /id="patch-actions"/, 'the maintainer sees the form: not the anonymous copy');
    assert.equal(mine.headers.etag, undefined, 'signed-in pages are not kept');
    const r = await teacher.post(`/actions/patch/${patchId}/`, { state: 'accepted' }, { headers: { referer: patchUrl } });
    assert.equal(r.statusCode, 303);

    const afterWrite = await anon.get(patchUrl);
    assert.match(afterWrite.body, /<span id="patch-state" class="badge accepted">/);
    assert.doesNotMatch(afterWrite.body, /id="patch-actions"/, 'the maintainer\'s page was not kept for others');
    assert.notEqual(afterWrite.headers.etag, before.headers.etag);
  });
});

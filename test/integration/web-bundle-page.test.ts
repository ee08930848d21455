// The bundle page: the API's bundle `web_url` (/bundle/OWNER/NAME/) is a page, with the bundle's patches in order and
// its mbox; a private bundle shows only to its owner; the name, chosen by a user, is escaped.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startWebApp, type WebApp } from '../helpers/web-app.js';

describe('bundle page', () => {
  let w: WebApp;
  let patches: { id: number; name: string }[];

  before(async () => {
    // cover-letter: [PATCH 0/3] and three patches by Zoé.
    w = await startWebApp({ fixtures: ['cover-letter'] });
    patches = await w.apiGet('/api/patches/?order=id');
  });
  after(() => w.close());

  const create = async (body: object) => {
    const r = await w.app.inject({ method: 'POST', url: '/api/bundles/', headers: { authorization: `Token ${w.tokens.teacher}` }, payload: body });
    assert.equal(r.statusCode, 201, r.body);
    return JSON.parse(r.body) as { web_url: string; mbox: string };
  };

  it("serves the page its web_url names: the patches in the bundle's order, each linked, and the mbox", async () => {
    const b = await create({ name: 'for-review', patches: [patches[2]!.id, patches[0]!.id], public: true });
    const page = await w.browser().get(new URL(b.web_url).pathname);
    assert.equal(page.statusCode, 200, page.body.slice(0, 300));
    assert.match(String(page.headers['content-type']), /text\/html/);
    const items = [...page.body.matchAll(/<li><a href="([^"]+)">([^<]+)<\/a>/g)];
    assert.deepEqual(items.map((m) => m[2]), [patches[2]!.name, patches[0]!.name]);
    for (const [, href] of items) assert.equal((await w.browser().get(href!)).statusCode, 200, href);
    assert.ok(page.body.includes(`href="${new URL(b.mbox).pathname}"`));
    assert.equal((await w.browser().get(new URL(b.mbox).pathname)).statusCode, 200, 'and the mbox exists');
  });

  it('shows a private bundle only to its owner, escapes its name, and is a 404 for an unknown one', async () => {
    const b = await create({ name: '<img src=x onerror=alert(1)>', patches: [patches[1]!.id], public: false });
    const path = new URL(b.web_url).pathname;
    assert.equal((await w.browser().get(path)).statusCode, 404, 'anonymous');
    assert.equal((await (await w.login('olga')).get(path)).statusCode, 404, 'another user');
    const mine = await (await w.login('teacher')).get(path);
    assert.equal(mine.statusCode, 200);
    assert.ok(!mine.body.includes('<img src=x'), 'no markup from the name');
    assert.ok(mine.body.includes('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;') || mine.body.includes('&lt;img src=x onerror=alert(1)&gt;'));
    assert.equal((await w.browser().get('/bundle/teacher/no-such-bundle/')).statusCode, 404);
    assert.equal((await w.browser().get('/bundle/nobody/for-review/')).statusCode, 404);
  });
});

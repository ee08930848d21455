// The site's icon over HTTP: /favicon.ico (a real ICO, what browsers ask for unprompted), /favicon.svg, and the links
// every page of the layout carries, allowed by the CSP (img-src 'self').
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startWebApp, type WebApp } from '../helpers/web-app.js';

/** The ICONDIR entries of an ICO file: size and where each image lies. */
function icoEntries(b: Buffer): { size: number; bpp: number; length: number; offset: number }[] {
  assert.equal(b.readUInt16LE(0), 0);
  assert.equal(b.readUInt16LE(2), 1, 'type 1: an icon');
  return Array.from({ length: b.readUInt16LE(4) }, (_, i) => {
    const e = 6 + 16 * i;
    return { size: b.readUInt8(e) || 256, bpp: b.readUInt16LE(e + 6), length: b.readUInt32LE(e + 8), offset: b.readUInt32LE(e + 12) };
  });
}

describe('favicon', () => {
  let w: WebApp;
  before(async () => {
    w = await startWebApp();
  });
  after(async () => {
    await w.close();
  });

  it('serves /favicon.ico as an icon of 16, 32 and 48 px whose images lie inside the file', async () => {
    const res = await w.app.inject({ method: 'GET', url: '/favicon.ico' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'image/x-icon');
    assert.match(String(res.headers['cache-control']), /max-age=\d+/);
    const ico = res.rawPayload;
    const entries = icoEntries(ico);
    assert.deepEqual(entries.map((e) => [e.size, e.bpp]), [[16, 32], [32, 32], [48, 32]]);
    for (const e of entries) {
      assert.ok(e.offset + e.length <= ico.length);
      // BITMAPINFOHEADER: 40 bytes, the size, and twice the height (colour rows + AND mask).
      assert.equal(ico.readUInt32LE(e.offset), 40);
      assert.equal(ico.readInt32LE(e.offset + 4), e.size);
      assert.equal(ico.readInt32LE(e.offset + 8), e.size * 2);
      assert.equal(e.length, 40 + e.size * e.size * 4 + Math.ceil(e.size / 32) * 4 * e.size);
    }
    // The 32 px image: transparent corner (rounded square), the cable's orange at the centre.
    const e32 = entries[1]!;
    const px = (x: number, y: number) => {
      const o = e32.offset + 40 + ((31 - y) * 32 + x) * 4;
      return [ico[o + 2], ico[o + 1], ico[o], ico[o + 3]];
    };
    assert.equal(px(0, 0)[3], 0);
    assert.deepEqual(px(16, 16), [0xf0, 0x88, 0x3e, 255]);
    assert.deepEqual(px(3, 16), [0x24, 0x29, 0x2f, 255]);
  });

  it('serves /favicon.svg as SVG and links both from every page of the layout', async () => {
    const svg = await w.app.inject({ method: 'GET', url: '/favicon.svg' });
    assert.equal(svg.statusCode, 200);
    assert.equal(svg.headers['content-type'], 'image/svg+xml');
    assert.match(svg.body, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 32 32"/);
    assert.doesNotMatch(svg.body, /<script|href=/i, 'an icon with nothing active in it');
    const page = await w.app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<link rel="icon" href="\/favicon\.ico" sizes="16x16 32x32 48x48">/);
    assert.match(page.body, /<link rel="icon" href="\/favicon\.svg" type="image\/svg\+xml">/);
    assert.match(String(page.headers['content-security-policy']), /img-src 'self'/);
  });
});

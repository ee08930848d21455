import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createViews } from '../../src/web/views.js';
import { ANONYMOUS } from '../../src/web/viewer.js';

const WEB = path.resolve('templates/web');

function templates(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? templates(p) : p.endsWith('.hbs') ? [p] : [];
  });
}

describe('web views', () => {
  it('no template under templates/web pastes a value unescaped ({{{ }}} or {{& }})', () => {
    const files = templates(WEB);
    assert.ok(files.length > 3);
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      assert.doesNotMatch(text, /\{\{\{|\{\{&/, `${path.relative(WEB, f)} uses a raw block`);
    }
  });

  it('renders a page inside the layout with every value escaped', () => {
    const root = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'views-'));
    fs.cpSync(WEB, root, { recursive: true });
    fs.mkdirSync(path.join(root, 'pages'), { recursive: true });
    fs.writeFileSync(path.join(root, 'pages', 'probe.hbs'), '{{#> layout}}<p id="x">{{text}}</p>{{/layout}}');
    const html = createViews({ root }).render('probe', { title: '<b>t</b>', viewer: ANONYMOUS }, { text: '<script>alert(1)</script>' });
    assert.match(html, /<title>&lt;b&gt;t&lt;\/b&gt; · patchbay<\/title>/);
    assert.match(html, /<p id="x">&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/p>/);
    assert.doesNotMatch(html, /<script>alert/);
    assert.match(html, /<link rel="stylesheet" href="\/static\/style.css">/);
    fs.rmSync(root, { recursive: true, force: true });
  });
});

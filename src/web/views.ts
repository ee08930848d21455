// The reviewer web view's HTML: handlebars pages from templates/web/pages inside templates/web/layout.hbs, with the
// partials of templates/web/partials. Every {{value}} is HTML-escaped; the templates never use {{{raw}}} (a unit test
// checks), so mail content cannot become markup.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import type { Viewer } from './viewer.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../templates/web');

/** What every page gets besides its own data: the page title, the signed-in user and the CSRF token for forms. */
export interface PageFrame {
  title: string;
  viewer: Viewer;
  /** The project the page belongs to, for the navigation bar. */
  project?: { slug: string; name: string; /** archive root: archiveRoot(slug) */ archive: string } | null;
  /** Extra scripts under /static/ this page loads (CSP allows 'self' only; never inline). */
  scripts?: string[];
}

const WHEN = new Map<string, string>();
const TIME = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

function helpers(hb: typeof Handlebars): void {
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('ne', (a: unknown, b: unknown) => a !== b);
  hb.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
  hb.registerHelper('and', (...args: unknown[]) => args.slice(0, -1).every(Boolean));
  hb.registerHelper('not', (a: unknown) => !a);
  hb.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map(String).join(''));
  /** An ISO time as "27 Nov 2026, 06:10" (UTC); the <time> element keeps the exact value. */
  hb.registerHelper('when', (iso: unknown) => {
    if (typeof iso !== 'string' || !iso) return '';
    let text = WHEN.get(iso);
    if (text === undefined) {
      const d = new Date(iso);
      text = Number.isNaN(d.getTime()) ? iso : `${TIME.format(d)} UTC`;
      // Intl formatting is a third of a list page's render: keep the last few thousand answers.
      if (WHEN.size >= 4096) WHEN.clear();
      WHEN.set(iso, text);
    }
    return text;
  });
  hb.registerHelper('plural', (n: unknown, one: unknown, many: unknown) => (n === 1 ? String(one) : String(many)));
  /** A query-string link that keeps the current filters and changes one: {{withQuery query "page" 2}}. */
  hb.registerHelper('withQuery', (query: unknown, key: unknown, value: unknown) => {
    const q = new URLSearchParams(query && typeof query === 'object' ? (query as Record<string, string>) : {});
    if (value === null || value === undefined || value === '') q.delete(String(key));
    else q.set(String(key), String(value));
    const s = q.toString();
    return s ? `?${s}` : '?';
  });
}

export interface Views {
  /** The page `name` (templates/web/pages/NAME.hbs, which starts with {{#> layout}}) with its data and `frame`. */
  render(name: string, frame: PageFrame, data: object): string;
}

/** Templates are read once; `reload` re-reads them on every render (for template work, never in production). */
export function createViews(options: { root?: string; reload?: boolean } = {}): Views {
  const root = options.root ?? ROOT;
  let hb: typeof Handlebars | null = null;
  const pages = new Map<string, Handlebars.TemplateDelegate>();
  const engine = () => {
    if (hb && !options.reload) return hb;
    hb = Handlebars.create();
    helpers(hb);
    const dir = path.join(root, 'partials');
    for (const file of fs.readdirSync(dir)) {
      if (file.endsWith('.hbs')) hb.registerPartial(file.slice(0, -4), fs.readFileSync(path.join(dir, file), 'utf8'));
    }
    // Each page wraps itself in {{#> layout}} … {{/layout}}: no page is ever pasted in as a raw string.
    hb.registerPartial('layout', fs.readFileSync(path.join(root, 'layout.hbs'), 'utf8'));
    pages.clear();
    return hb;
  };
  return {
    render(name, frame, data) {
      const e = engine();
      if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`bad page name ${name}`);
      let page = pages.get(name);
      if (!page) {
        page = e.compile(fs.readFileSync(path.join(root, 'pages', `${name}.hbs`), 'utf8'));
        pages.set(name, page);
      }
      return page({ ...data, frame });
    },
  };
}

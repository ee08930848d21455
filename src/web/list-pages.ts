// The list pages (subscribe, confirm, unsubscribe) as HTML from templates/web/lists; every value is HTML-escaped.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../templates/web/lists');

export type ListPage = 'subscribe' | 'subscribe-sent' | 'confirm' | 'done' | 'unsubscribe';

let engine: typeof Handlebars | null = null;
const compiled = new Map<ListPage, Handlebars.TemplateDelegate>();

function templates(): typeof Handlebars {
  if (engine) return engine;
  const hb = Handlebars.create();
  hb.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map(String).join(''));
  for (const file of fs.readdirSync(DIR)) {
    if (file.startsWith('_') && file.endsWith('.hbs')) hb.registerPartial(file.slice(1, -4), fs.readFileSync(path.join(DIR, file), 'utf8'));
  }
  return (engine = hb);
}

/** Handlebars escapes each {{value}} (&, <, >, ", ', `, =); strict makes a missing value an error, not a blank. */
export function renderListPage(page: ListPage, data: object): string {
  let t = compiled.get(page);
  if (!t) {
    t = templates().compile(fs.readFileSync(path.join(DIR, `${page}.hbs`), 'utf8'), { strict: true });
    compiled.set(page, t);
  }
  return t(data);
}

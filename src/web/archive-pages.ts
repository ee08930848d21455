// The archive's HTML pages from templates/web/archive; Handlebars escapes every value (mail content is hostile).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { ALL_LISTS, msgidSegment } from '../mail/archive-layout.js';
import type { IndexPage, MessagePage } from './archive.service.js';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../templates/web/archive');

let engine: typeof Handlebars | null = null;
const compiled = new Map<string, Handlebars.TemplateDelegate>();

function render(page: 'message' | 'index', data: object): string {
  if (!engine) {
    engine = Handlebars.create();
    engine.registerPartial('layout', fs.readFileSync(path.join(DIR, '_layout.hbs'), 'utf8'));
  }
  let t = compiled.get(page);
  if (!t) {
    t = engine.compile(fs.readFileSync(path.join(DIR, `${page}.hbs`), 'utf8'), { strict: true });
    compiled.set(page, t);
  }
  return t(data);
}

const subjectOf = (s: string) => s || '(no subject)';

export function renderMessagePage(p: MessagePage): string {
  return render('message', {
    title: p.title,
    listTitle: p.title,
    subject: subjectOf(p.mail.subject),
    sender: p.mail.sender,
    date: p.mail.date,
    msgid: p.mail.msgid,
    text: p.text,
    thread: p.thread.map((m) => ({ subject: subjectOf(m.subject), sender: m.sender, date: m.date, segment: msgidSegment(m.msgid), current: m.msgid === p.mail.msgid })),
  });
}

export function renderIndexPage(p: IndexPage): string {
  return render('index', {
    title: p.query ? `${p.title}: ${p.query}` : p.title,
    query: p.query ?? '',
    mails: p.mails.map((m) => ({ subject: subjectOf(m.subject), sender: m.sender, date: m.date, segment: msgidSegment(m.msgid), list: m.list, showList: p.list === ALL_LISTS })),
  });
}

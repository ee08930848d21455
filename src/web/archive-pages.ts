// The archive's HTML pages (templates/web/pages/archive-*.hbs in the web view's layout); Handlebars escapes every
// value (mail content is hostile).
import { ALL_LISTS, msgidSegment } from '../mail/archive-layout.js';
import type { ArchivedMail } from '../db/archive.repository.js';
import type { ThreadEntry } from './archive-threads.js';
import type { IndexPage, MessagePage } from './archive.service.js';
import { createViews, type PageFrame } from './views.js';
import { ANONYMOUS, type Viewer } from './viewer.js';

const views = createViews();

/** Replies are indented one step per level, up to this many (a class per level in style.css). */
const MAX_INDENT = 12;

const subjectOf = (s: string) => s || '(no subject)';

function frameOf(list: string, title: string, pageTitle: string, viewer: Viewer): PageFrame {
  return { title: pageTitle, viewer, project: list === ALL_LISTS ? null : { slug: list, name: title, archive: list }, scripts: ['keys.js'] };
}

function entryOf(e: ThreadEntry<ArchivedMail & { list: string }>, showList: boolean, current?: string) {
  const m = e.post;
  return { subject: subjectOf(m.subject), sender: m.sender, date: m.date, segment: msgidSegment(m.msgid), list: m.list, showList, indent: Math.min(e.depth, MAX_INDENT), current: m.msgid === current };
}

export function renderMessagePage(p: MessagePage, viewer: Viewer = ANONYMOUS): string {
  const subject = subjectOf(p.mail.subject);
  return views.render('archive-message', frameOf(p.list, p.title, subject, viewer), {
    listTitle: p.title,
    subject,
    sender: p.mail.sender,
    date: p.mail.date,
    msgid: p.mail.msgid,
    text: p.text,
    thread: p.thread.map((e) => entryOf(e, false, p.mail.msgid)),
  });
}

export function renderIndexPage(p: IndexPage, viewer: Viewer = ANONYMOUS): string {
  const showList = p.list === ALL_LISTS;
  return views.render('archive-index', frameOf(p.list, p.title, p.query ? `${p.title}: ${p.query}` : p.title, viewer), {
    title: p.title,
    query: p.query ?? '',
    mails: p.mails.map((m) => ({ subject: subjectOf(m.subject), sender: m.sender, date: m.date, segment: msgidSegment(m.msgid), list: m.list, showList })),
    threads: p.threads.map((t) => ({ latest: t.latest, entries: t.entries.map((e) => entryOf(e, showList)) })),
    newer: p.newer,
    older: p.older,
  });
}

// Pure list rules: the header lines a relayed post carries (RFC 2369, 2919, 8058) and the checks that keep loops and auto-replies off the list.
import { archiveRoot } from './archive-layout.js';
import { listUrls } from './compose.js';
import { headerValues } from './raw.js';

/** What the headers say about one list. */
export interface ListIdentity {
  name: string;
  slug: string;
  /** The posting address, lowercase. */
  list: string;
  /** The -request address, lowercase. */
  request: string;
  /** Public web base URL without a trailing slash; '' when unknown, and then only mailto: URIs are given. */
  baseUrl: string;
}

/**
 * Header fields of an incoming post that the relayed copy leaves out, because ours replace them: another list's
 * List-* fields (RFC 2369, 2919, 8058) and Precedence. Other lists' X-Loop fields stay: they stop their own loops.
 */
export const REPLACED_HEADERS = [
  'list-id',
  'list-post',
  'list-help',
  'list-subscribe',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'list-archive',
  'list-owner',
  'precedence',
];

/** RFC 2919 §2: the list-id is "list-label.namespace"; the posting address's local part and domain make a unique one. */
export function listIdOf(list: string): string {
  const at = list.lastIndexOf('@');
  return `${list.slice(0, at)}.${list.slice(at + 1)}`.toLowerCase();
}

// RFC 5322 §3.2.3 atext, plus the spaces between the atoms of a phrase.
const ATOMS = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;

/** The list name as an RFC 5322 phrase: atoms as they are, other ASCII quoted, anything else RFC 2047 encoded. */
export function phrase(name: string): string {
  const text = name.replace(/[\r\n\t]+/g, ' ').trim();
  if (ATOMS.test(text)) return text;
  if (/^[\x20-\x7e]*$/.test(text)) return `"${text.replace(/(["\\])/g, '\\$1')}"`;
  // RFC 2047 §2: encoded words of at most 75 characters, never splitting a character's UTF-8 bytes.
  const words: string[] = [];
  let chunk = '';
  for (const ch of text) {
    if (Buffer.byteLength(chunk + ch, 'utf8') > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(' ');
}

/** The header lines put before one subscriber's copy of a post, without newlines. */
export function listHeaders(l: ListIdentity, unsubscribeToken: string): string[] {
  const request = (command: string) => `<mailto:${l.request}?subject=${command}>`;
  const web = l.baseUrl ? listUrls(l.baseUrl, l.slug) : null;
  const lines = [
    `List-Id: ${phrase(l.name)} <${listIdOf(l.list)}>`, // RFC 2919 §3
    `List-Post: <mailto:${l.list}>`, // RFC 2369 §3.4
    `List-Help: ${request('help')}`, // RFC 2369 §3.1
    `List-Subscribe: ${web ? `<${web.subscribe}>, ` : ''}${request('subscribe')}`, // RFC 2369 §3.3
    `List-Unsubscribe: ${web ? `<${web.unsubscribe(unsubscribeToken)}>, ` : ''}${request('unsubscribe')}`, // RFC 2369 §3.2
  ];
  if (web) {
    // RFC 8058 §3.1: one-click needs an HTTP(S) URI in List-Unsubscribe; a mailto: alone must not claim it.
    lines.push('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    lines.push(`List-Archive: <${l.baseUrl}/${encodeURIComponent(archiveRoot(l.slug))}/>`); // RFC 2369 §3.6, public-inbox layout
  }
  lines.push('Precedence: list', `X-Loop: ${l.list}`);
  return lines;
}

/** What the list knows about a post when it decides whether to relay it. */
export interface PostFacts {
  /** The header block, LF newlines (ParsedMessage.header). */
  header: string;
  /** The decoded subject. */
  subject: string | null;
  /** MAIL FROM of the SMTP transaction; '' for the null reverse-path. */
  envelopeFrom: string;
}

export type AutomaticKind = 'loop' | 'auto-reply';

export interface AutomaticRule {
  name: string;
  kind: AutomaticKind;
  matches(post: PostFacts, list: ListIdentity): boolean;
}

const values = (post: PostFacts, name: string) => headerValues(post.header, name);
/** A field's leading keyword, without RFC 5322 comments or parameters: "auto-replied (vacation)" → "auto-replied". */
const keyword = (value: string) => /^[A-Za-z0-9_-]*/.exec(value.trim())![0].toLowerCase();
const bare = (address: string) => address.trim().replace(/^<|>$/g, '').trim().toLowerCase();

/** Every rule, in the order they are tried. Each names the header it was written for, as seen in real mail. */
export const AUTOMATIC_RULES: AutomaticRule[] = [
  // Our own copy come back (a subscriber's forward to the list, or another list that relays us):
  //   List-Id: Proctree Syscall <proctree.lists.example.org>
  {
    name: 'own-list-id',
    kind: 'loop',
    matches: (post, list) => values(post, 'list-id').some((v) => v.toLowerCase().includes(`<${listIdOf(list.list)}>`)),
  },
  // The procmail convention every list manager follows (procmailex(5): formail -A"X-Loop: your@own.mail.address"):
  //   X-Loop: proctree@lists.example.org
  {
    name: 'own-x-loop',
    kind: 'loop',
    matches: (post, list) => values(post, 'x-loop').some((v) => bare(v) === list.list),
  },
  // RFC 3834 §5: any value but "no" is automatic. Dovecot Pigeonhole's vacation action writes:
  //   Auto-Submitted: auto-replied (vacation)
  // and an Exchange inbox rule (Mailbox Rules Agent) writes:
  //   auto-submitted: auto-generated
  {
    name: 'auto-submitted',
    kind: 'auto-reply',
    matches: (post) => values(post, 'auto-submitted').some((v) => keyword(v) !== 'no'),
  },
  // Exchange's Mailbox Rules Agent, next to the auto-submitted line above:
  //   x-autoreply: yes
  {
    name: 'x-autoreply',
    kind: 'auto-reply',
    matches: (post) => values(post, 'x-autoreply').length > 0,
  },
  // cPanel's BoxTrapper challenge, with the id of the mail it answers:
  //   X-Autorespond: 1732615200.4711
  {
    name: 'x-autorespond',
    kind: 'auto-reply',
    matches: (post) => values(post, 'x-autorespond').length > 0,
  },
  // Pigeonhole's vacation writes "Precedence: bulk", procmailex(5)'s autoreply recipe "Precedence: junk",
  // cPanel's BoxTrapper:
  //   Precedence: auto_reply
  {
    name: 'precedence',
    kind: 'auto-reply',
    matches: (post) => values(post, 'precedence').some((v) => ['bulk', 'junk', 'auto_reply'].includes(keyword(v))),
  },
  // Vacation replies that carry no header saying so; Outlook, Lotus Notes and older Exchange name them in the subject:
  //   Subject: Automatic reply: [PATCH 1/3] proctree: add the syscall
  //   Subject: AUTO: Jane Doe is out of the office (returning 02.01.2027)
  //   Subject: Out of Office AutoReply: [PATCH 1/3] proctree: add the syscall
  {
    name: 'vacation-subject',
    kind: 'auto-reply',
    matches: (post) =>
      /^\s*(auto:|automatic reply\b|auto[- ]?reply\b|auto[- ]?response\b|out of (the )?office\b|automatische antwort\b|abwesenheitsnotiz\b|réponse automatique\b)/i.test(
        post.subject ?? '',
      ),
  },
  // RFC 5321 §4.5.5: delivery reports come from the null reverse-path; Postfix's bounce to a list post arrives as
  //   MAIL FROM:<>
  {
    name: 'null-sender',
    kind: 'auto-reply',
    matches: (post) => post.envelopeFrom.trim() === '',
  },
];

/** The first rule a post trips, or null for a post the list may relay. */
export function detectAutomatic(post: PostFacts, list: ListIdentity): { kind: AutomaticKind; rule: string } | null {
  for (const rule of AUTOMATIC_RULES) if (rule.matches(post, list)) return { kind: rule.kind, rule: rule.name };
  return null;
}

// Composes patchbay's own mails (subscription replies, notices) as raw RFC 5322 bytes; one typed function per kind, no I/O but reading templates/mail.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import MailComposer from 'nodemailer/lib/mail-composer';

export interface Address {
  address: string;
  name?: string;
}

/** The mail we answer: its Message-ID (without brackets) and its References, oldest first. */
export interface ReplyTarget {
  messageId: string;
  references: string[];
}

export interface ComposeInput {
  /** Right-hand side of the generated Message-ID. */
  hostname: string;
  from: Address;
  to: Address | Address[];
  cc?: Address[];
  /** Several addresses: a reply-all reaches every one (RFC 5322 §3.6.3). */
  replyTo?: Address | Address[];
  subject: string;
  text: string;
  /** Set when answering a mail: In-Reply-To and References follow RFC 5322 §3.6.4. */
  inReplyTo?: ReplyTarget;
  /**
   * RFC 3834 §5: `auto-replied` for a response to a message, `auto-generated` for a mail no message asked for.
   * Defaults from inReplyTo.
   */
  autoSubmitted?: 'auto-replied' | 'auto-generated';
  headers?: Record<string, string>;
  date?: Date;
}

export interface ComposedMail {
  raw: Buffer;
  /** Without angle brackets. */
  messageId: string;
  to: string;
  subject: string;
}

/** Longest References chain we send on: the first id (thread root) and the most recent ones. */
const MAX_REFERENCES = 20;

export function newMessageId(hostname: string): string {
  return `${Date.now().toString(36)}.${crypto.randomBytes(12).toString('hex')}@${hostname}`;
}

/** RFC 5322 §3.6.4: the parent's References (or, lacking them, nothing) followed by the parent's Message-ID. */
export function replyReferences(target: ReplyTarget): string[] {
  const chain = [...target.references.filter((r) => r !== target.messageId), target.messageId];
  return chain.length <= MAX_REFERENCES ? chain : [chain[0]!, ...chain.slice(chain.length - MAX_REFERENCES + 1)];
}

/** Builds a complete text/plain message; the composer encodes headers (RFC 2047) and body as needed. */
export async function composeMail(input: ComposeInput): Promise<ComposedMail> {
  const messageId = newMessageId(input.hostname);
  const headers: Record<string, string> = {
    'Auto-Submitted': input.autoSubmitted ?? (input.inReplyTo ? 'auto-replied' : 'auto-generated'),
    ...input.headers,
  };
  const composer = new MailComposer({
    from: input.from,
    to: input.to,
    cc: input.cc?.length ? input.cc : undefined,
    replyTo: Array.isArray(input.replyTo) && !input.replyTo.length ? undefined : input.replyTo,
    subject: input.subject,
    text: input.text,
    messageId: `<${messageId}>`,
    date: input.date ?? new Date(),
    inReplyTo: input.inReplyTo ? `<${input.inReplyTo.messageId}>` : undefined,
    references: input.inReplyTo ? replyReferences(input.inReplyTo).map((r) => `<${r}>`) : undefined,
    headers,
    xMailer: false,
    newline: '\r\n',
  });
  const raw = await composer.compile().build();
  return { raw, messageId, to: (Array.isArray(input.to) ? input.to : [input.to]).map((a) => a.address).join(', '), subject: input.subject };
}

const TEMPLATE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../templates/mail');
const compiled = new Map<string, Handlebars.TemplateDelegate>();
let engine: typeof Handlebars | null = null;

/** A private handlebars instance with the shared pieces (templates/mail/_<name>.hbs) as partials. */
function templates(): typeof Handlebars {
  if (engine) return engine;
  const hb = Handlebars.create();
  for (const file of fs.readdirSync(TEMPLATE_DIR)) {
    if (file.startsWith('_') && file.endsWith('.hbs')) {
      hb.registerPartial(file.slice(1, -4), fs.readFileSync(path.join(TEMPLATE_DIR, file), 'utf8'));
    }
  }
  return (engine = hb);
}

/**
 * Renders templates/mail/<kind>.hbs. Plain text: nothing is HTML-escaped, and a missing field is an error
 * (strict) rather than a blank in a mail sent to someone.
 */
export function renderTemplate(kind: string, data: object): string {
  let template = compiled.get(kind);
  if (!template) {
    const source = fs.readFileSync(path.join(TEMPLATE_DIR, `${kind}.hbs`), 'utf8');
    template = templates().compile(source, { noEscape: true, strict: true });
    compiled.set(kind, template);
  }
  return template(data).replace(/\n{3,}/g, '\n\n');
}

/** The addresses and URLs of one list, as its mails name them. */
export interface ListInfo {
  name: string;
  slug: string;
  list: string;
  request: string;
  /** Public web base URL, without a trailing slash. */
  baseUrl: string;
  hostname: string;
}

/** The web endpoints of a list; the List-* headers and our mails point at the same ones. */
export function listUrls(baseUrl: string, slug: string) {
  const root = `${baseUrl}/lists/${encodeURIComponent(slug)}`;
  return {
    subscribe: `${root}/subscribe`,
    confirm: (token: string) => `${root}/confirm/${encodeURIComponent(token)}`,
    unsubscribe: (token: string) => `${root}/unsubscribe/${encodeURIComponent(token)}`,
  };
}

function fromRequest(list: ListInfo): Address {
  return { name: `${list.name} list`, address: list.request };
}

async function requestMail(
  kind: string,
  list: ListInfo,
  to: Address,
  subject: string,
  data: object,
  reply: ReplyTarget | undefined,
): Promise<ComposedMail> {
  const urls = listUrls(list.baseUrl, list.slug);
  return composeMail({
    hostname: list.hostname,
    from: fromRequest(list),
    to,
    replyTo: { address: list.request },
    subject,
    text: renderTemplate(kind, { list, to, subscribeUrl: urls.subscribe, ...data }),
    inReplyTo: reply,
  });
}

/** Asks the address's owner to confirm a subscription: reply to it, or open the link (the page has a POST button). */
export function confirmSubscribeMail(list: ListInfo, to: Address, confirmToken: string, reply?: ReplyTarget): Promise<ComposedMail> {
  return requestMail('confirm-subscribe', list, to, `confirm ${confirmToken}`, {
    token: confirmToken,
    confirmUrl: listUrls(list.baseUrl, list.slug).confirm(confirmToken),
  }, reply);
}

/** Asks the subscriber to confirm leaving: a forged From must not unsubscribe someone. */
export function confirmUnsubscribeMail(list: ListInfo, to: Address, confirmToken: string, reply?: ReplyTarget): Promise<ComposedMail> {
  return requestMail('confirm-unsubscribe', list, to, `confirm ${confirmToken}`, {
    token: confirmToken,
    confirmUrl: listUrls(list.baseUrl, list.slug).confirm(confirmToken),
  }, reply);
}

export function welcomeMail(list: ListInfo, to: Address, unsubscribeToken: string, reply?: ReplyTarget): Promise<ComposedMail> {
  return requestMail('welcome', list, to, `Welcome to the ${list.name} list`, {
    unsubscribeUrl: listUrls(list.baseUrl, list.slug).unsubscribe(unsubscribeToken),
  }, reply);
}

export function goodbyeMail(list: ListInfo, to: Address, reply?: ReplyTarget): Promise<ComposedMail> {
  return requestMail('goodbye', list, to, `You have left the ${list.name} list`, {}, reply);
}

export function alreadySubscribedMail(list: ListInfo, to: Address, unsubscribeToken: string, reply?: ReplyTarget): Promise<ComposedMail> {
  return requestMail('already-subscribed', list, to, `You are already subscribed to the ${list.name} list`, {
    unsubscribeUrl: listUrls(list.baseUrl, list.slug).unsubscribe(unsubscribeToken),
  }, reply);
}

export function notSubscribedMail(list: ListInfo, to: Address, reply?: ReplyTarget): Promise<ComposedMail> {
  return requestMail('not-subscribed', list, to, `You are not subscribed to the ${list.name} list`, {}, reply);
}

export function confirmFailedMail(list: ListInfo, to: Address, reply?: ReplyTarget): Promise<ComposedMail> {
  return requestMail('confirm-failed', list, to, `Confirmation code not recognised by the ${list.name} list`, {}, reply);
}

export function helpMail(list: ListInfo, to: Address, reply?: ReplyTarget): Promise<ComposedMail> {
  return requestMail('help', list, to, `Help for the ${list.name} list`, {}, reply);
}

/** The answer to a mail with no command we know: the help text, saying so. Nothing from the mail is echoed back. */
export function unknownCommandMail(list: ListInfo, to: Address, reply?: ReplyTarget): Promise<ComposedMail> {
  return requestMail('unknown-command', list, to, `No command found: help for the ${list.name} list`, {}, reply);
}

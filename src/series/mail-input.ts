// Turns a parsed mail (mailparser's result plus our header text) into the series core's MailInput.
import type { MailInput } from './classify.js';
import type { Identity } from './trailers.js';
import { boundedReferences } from './limits.js';

const PATCH_TYPES = new Set(['text/x-patch', 'text/x-diff', 'text/x-patch-file', 'application/x-patch']);

/** All <msgid> in a header value, in order, without brackets. */
export function msgidsIn(value: string | undefined): string[] {
  return value ? [...value.matchAll(/<([^<>\s]+)>/g)].map((m) => m[1]!) : [];
}

/** CRLF and lone CR become LF (the raw mail was normalized before parsing: a CR here came from an encoded body). */
function lf(text: string): string {
  return text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
}

const HEADER_FIELDS = new Map<string, RegExp>();

function headerOf(header: string, name: string): string | undefined {
  let re = HEADER_FIELDS.get(name);
  if (!re) HEADER_FIELDS.set(name, (re = new RegExp(`^${name}:[ \\t]*(.*(?:\\n[ \\t].*)*)`, 'im')));
  return re.exec(header)?.[1]?.replace(/\n[ \t]+/g, ' ');
}

export interface ParsedParts {
  text: string;
  attachments: { contentType: string; filename: string | null; text: string | null }[];
}

export function toMailInput(a: { msgid: string; header: string; parts: ParsedParts; from: Identity | null; subject: string | null; date: string | null; fallbackDate: string }): MailInput {
  const text = lf(a.parts.text);
  const patchAttachments = a.parts.attachments
    .filter((att) => att.text !== null && (PATCH_TYPES.has(att.contentType) || /\.(patch|diff)$/i.test(att.filename ?? '')))
    .map((att) => lf(att.text!));
  return {
    msgid: a.msgid,
    inReplyTo: msgidsIn(headerOf(a.header, 'in-reply-to'))[0] ?? null,
    references: boundedReferences(msgidsIn(headerOf(a.header, 'references'))),
    date: a.date ?? a.fallbackDate,
    from: a.from ?? { name: '', email: '' },
    subject: a.subject ?? '',
    text,
    patchAttachments,
  };
}

/** git send-email puts "From: Author <addr>" as the first body line when the sender is not the author. */
export function authorOf(input: MailInput): Identity {
  const m = /^From:\s*(.*?)\s*<([^<>\s]+@[^<>\s]+)>\s*\n/.exec(input.text.replace(/^\s*\n/, ''));
  return m ? { name: m[1]!.replace(/^"|"$/g, ''), email: m[2]!.toLowerCase() } : input.from;
}

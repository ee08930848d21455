// Turns a parsed mail (mailparser's result plus our header text) into the series core's MailInput.
import { MAX_LINE, trimStartWhere } from '../text.js';
import type { MailInput } from './classify.js';
import { nameAndAddress, type Identity } from './trailers.js';
import { boundedReferences } from './limits.js';

const PATCH_TYPES = new Set(['text/x-patch', 'text/x-diff', 'text/x-patch-file', 'application/x-patch']);

/** All <msgid> in a header value, in order, without brackets; one longer than a mail line (998) is none. */
export function msgidsIn(value: string | undefined): string[] {
  return value ? [...value.matchAll(/<([^<>\s]+)>/g)].map((m) => m[1]!).filter((id) => id.length <= MAX_LINE) : [];
}

/** CRLF and lone CR become LF (the raw mail was normalized before parsing: a CR here came from an encoded body). */
function lf(text: string): string {
  return text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
}

/**
 * The first `name:` field of a header block (name in lower case), its continuation lines joined with one space.
 * Read line by line rather than by a RegExp built from the name, which no checker could see.
 */
export function headerOf(header: string, name: string): string | undefined {
  const key = `${name}:`;
  const lines = header.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.slice(0, key.length).toLowerCase() !== key) continue;
    let value = trimStartWhere(lines[i]!.slice(key.length), (c) => c === ' ' || c === '\t');
    while (i + 1 < lines.length && (lines[i + 1]![0] === ' ' || lines[i + 1]![0] === '\t')) {
      value += ` ${trimStartWhere(lines[++i]!, (c) => c === ' ' || c === '\t')}`;
    }
    return value;
  }
  return undefined;
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

/**
 * git send-email puts "From: Author <addr>" as the first body line when the sender is not the author. Blank lines
 * before it are skipped; the line must end with a newline and be at most MAX_LINE long.
 */
export function authorOf(input: MailInput): Identity {
  const text = input.text;
  let start = 0;
  let end = text.indexOf('\n');
  while (end !== -1 && text.slice(start, end).trim() === '') {
    start = end + 1;
    end = text.indexOf('\n', start);
  }
  const line = end === -1 ? '' : text.slice(start, end);
  const id = line.startsWith('From:') && line.length <= MAX_LINE ? nameAndAddress(line.slice('From:'.length)) : null;
  return id ? { name: id.name.replace(/^"|"$/g, ''), email: id.email.toLowerCase() } : input.from;
}

// Classification of one list mail: patch, cover letter, comment, pull request, or plain list mail.
import { splitPatch, cleanComment } from './diff.js';
import { patchHash } from './hash.js';
import { findPullRequest, type PullRequest } from './pull-request.js';
import { parseSubject, type ParsedSubject } from './subject.js';
import { baseCommit, changeId, countTags, signedOffBy, supersedes, type Identity, type Tags } from './trailers.js';

/** What the service extracts from a parsed mail; newlines are LF. */
export interface MailInput {
  msgid: string;
  inReplyTo: string | null;
  /** References header, oldest first. */
  references: string[];
  date: string;
  from: Identity;
  subject: string;
  /** The text/plain parts (inline, decoded), joined. */
  text: string;
  /** Diffs sent as attachments (text/x-patch, text/x-diff, *.patch, *.diff), decoded. */
  patchAttachments: string[];
}

interface Common {
  subject: ParsedSubject;
  /** The message text without the diff and the signature: commit message, notes, or the comment. */
  content: string;
  tags: Tags;
  signoffs: Identity[];
  changeId: string | null;
  supersedes: string | null;
  baseCommit: string | null;
}

export type Classified =
  | ({ kind: 'patch'; diff: string; hash: string; pull: PullRequest | null } & Common)
  | ({ kind: 'pull'; pull: PullRequest } & Common)
  | ({ kind: 'cover' } & Common)
  | ({ kind: 'comment'; diff: string | null } & Common)
  | ({ kind: 'plain'; reason: string } & Common);

export function classify(mail: MailInput, projectSlug?: string): Classified {
  const subject = parseSubject(mail.subject, projectSlug);
  const split = splitPatch(mail.text);
  let diff = split.diff;
  let content = split.comment;
  for (const attachment of mail.patchAttachments) {
    const part = splitPatch(attachment);
    if (part.diff) {
      diff += part.diff;
      // An attached git format-patch file carries its own commit message; the inline text may be empty. Its From,
      // Date and Subject lines go, each read to its own end only (`[^\n]*` rescanned past every CR: quadratic).
      if (part.comment && !content) content = cleanComment(part.comment.replace(/^(From|Date|Subject)[^\n\r\u2028\u2029]*\n/gm, ''));
    }
  }
  const full = `${mail.text}\n${mail.patchAttachments.join('\n')}`;
  const common: Common = {
    subject,
    content,
    tags: countTags(content),
    signoffs: signedOffBy(full),
    changeId: changeId(full),
    supersedes: supersedes(full),
    baseCommit: baseCommit(full),
  };
  const threaded = mail.inReplyTo !== null || mail.references.length > 0;

  // "Re: [PATCH] …" carrying a diff is a review comment with a suggestion, never a new patch (Patchwork #389).
  // The suggestion is part of what the reviewer wrote: the comment keeps the whole text, as Patchwork's does.
  if (subject.isReply) {
    const reply = { ...common, content: cleanComment(mail.text) };
    return threaded ? { kind: 'comment', diff: diff || null, ...reply } : { kind: 'plain', reason: 'reply-without-thread', ...reply };
  }
  const pull = findPullRequest(mail.text);
  if (diff) return { kind: 'patch', diff, hash: patchHash(diff), pull, ...common };
  if (pull) return { kind: 'pull', pull, ...common };
  if (subject.index === 0 && subject.total !== null && subject.total > 0) return { kind: 'cover', ...common };
  if (threaded) return { kind: 'comment', diff: null, ...common };
  return { kind: 'plain', reason: subject.hasPatchTag ? 'patch-subject-without-diff' : 'no-patch', ...common };
}

// The moderation notices patchbay sends (pure): a held post's sender told that a moderator rejected it.
import { composeMail, renderTemplate, type Address, type ComposedMail, type ListInfo, type ReplyTarget } from './compose.js';

export interface RejectedPost {
  subject: string | null;
  /** When it was written (Date header) or, lacking one, received; ISO. */
  date: string;
  /** Why the policy held it: 'non-member', 'not-on-roster'. */
  heldFor: string | null;
  /** The post's Message-ID and References, to thread the notice under it. */
  thread: ReplyTarget;
}

/** RFC 3834 §3.1.5: an answer to one message, so Auto-Submitted: auto-replied, threaded under the post. */
export function postRejectedMail(list: ListInfo, to: Address, post: RejectedPost, reason: string): Promise<ComposedMail> {
  return composeMail({
    hostname: list.hostname,
    from: { name: `${list.name} list`, address: list.request },
    to,
    subject: `Your message to the ${list.name} list was rejected`,
    text: renderTemplate('post-rejected', {
      list,
      subject: post.subject ?? '(no subject)',
      date: post.date,
      reason,
      nonMember: post.heldFor === 'non-member',
      notOnRoster: post.heldFor === 'not-on-roster',
    }),
    inReplyTo: post.thread,
    autoSubmitted: 'auto-replied',
  });
}

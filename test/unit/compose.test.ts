// Our own mails: headers (RFC 5322, RFC 3834 Auto-Submitted, threading) and what each kind's text says.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import {
  alreadySubscribedMail,
  composeMail,
  confirmFailedMail,
  confirmSubscribeMail,
  confirmUnsubscribeMail,
  goodbyeMail,
  helpMail,
  listUrls,
  notSubscribedMail,
  replyReferences,
  unknownCommandMail,
  welcomeMail,
  type ListInfo,
} from '../../src/mail/compose.js';
import { headerText, headerValue } from '../../src/mail/raw.js';

const LIST: ListInfo = {
  name: 'Proctree Syscall',
  slug: 'proctree',
  list: 'proctree@lists.example.org',
  request: 'proctree-request@lists.example.org',
  baseUrl: 'https://patchbay.example.org',
  hostname: 'patchbay.example.org',
};
const ALICE = { address: 'alice@example.com', name: 'Alice Liddell' };
const TOKEN = 'Zk3q_9Xw-Lr2mN8pQ4sT6vYb';
const REPLY = { messageId: 'req-1@example.com', references: ['root@example.com'] };

describe('compose', () => {
  it('writes From, To, Subject, Date, a fresh Message-ID and Auto-Submitted: auto-generated', async () => {
    const m = await composeMail({ hostname: 'h.example', from: { address: 'a@h.example' }, to: { address: 'b@example.com' }, subject: 'hi', text: 'body\n' });
    const header = headerText(m.raw);
    assert.equal(headerValue(header, 'from'), 'a@h.example');
    assert.equal(headerValue(header, 'to'), 'b@example.com');
    assert.equal(headerValue(header, 'subject'), 'hi');
    assert.ok(!Number.isNaN(Date.parse(headerValue(header, 'date') ?? '')));
    assert.equal(headerValue(header, 'message-id'), `<${m.messageId}>`);
    assert.match(m.messageId, /^[a-z0-9]+\.[0-9a-f]{24}@h\.example$/);
    assert.equal(headerValue(header, 'auto-submitted'), 'auto-generated');
    assert.equal(headerValue(header, 'in-reply-to'), undefined);
    assert.equal(headerValue(header, 'x-mailer'), undefined);
    assert.ok(m.raw.includes('\r\n'), 'CRLF line ends, as SMTP sends them');
    const other = await composeMail({ hostname: 'h.example', from: { address: 'a@h.example' }, to: { address: 'b@example.com' }, subject: 'hi', text: '' });
    assert.notEqual(other.messageId, m.messageId);
  });

  it('threads a reply (In-Reply-To, References) and marks it auto-replied (RFC 3834 §5)', async () => {
    const m = await composeMail({ hostname: 'h', from: { address: 'a@h.example' }, to: { address: 'b@example.com' }, subject: 's', text: 't', inReplyTo: REPLY });
    const header = headerText(m.raw);
    assert.equal(headerValue(header, 'in-reply-to'), '<req-1@example.com>');
    assert.equal(headerValue(header, 'references'), '<root@example.com> <req-1@example.com>');
    assert.equal(headerValue(header, 'auto-submitted'), 'auto-replied');
  });

  it('keeps the thread root and the newest ids when References grow long', () => {
    const refs = Array.from({ length: 30 }, (_, i) => `r${i}@x`);
    const chain = replyReferences({ messageId: 'me@x', references: refs });
    assert.equal(chain.length, 20);
    assert.equal(chain[0], 'r0@x');
    assert.equal(chain[chain.length - 1], 'me@x');
    assert.equal(chain[chain.length - 2], 'r29@x');
  });

  it('asks to confirm a subscription: subject "confirm TOKEN", Reply-To the -request address, the confirm URL', async () => {
    const m = await confirmSubscribeMail(LIST, ALICE, TOKEN, REPLY);
    const parsed = await simpleParser(m.raw);
    assert.equal(parsed.subject, `confirm ${TOKEN}`);
    assert.equal(parsed.from?.value[0]?.address, LIST.request);
    assert.equal(parsed.from?.value[0]?.name, 'Proctree Syscall list');
    assert.equal((parsed.replyTo?.value[0])?.address, LIST.request);
    assert.equal(parsed.inReplyTo, '<req-1@example.com>');
    assert.equal(parsed.headers.get('auto-submitted'), 'auto-replied');
    assert.ok(parsed.text?.includes(`https://patchbay.example.org/lists/proctree/confirm/${TOKEN}`));
    assert.ok(parsed.text?.includes('alice@example.com'));
    assert.match(parsed.text ?? '', /reply to this mail/i);
  });

  it('sends a web-initiated confirmation as a fresh, auto-generated mail', async () => {
    const m = await confirmSubscribeMail(LIST, ALICE, TOKEN);
    const parsed = await simpleParser(m.raw);
    assert.equal(parsed.inReplyTo, undefined);
    assert.equal(parsed.headers.get('auto-submitted'), 'auto-generated');
  });

  it('writes one distinct mail per kind, each naming the list and the address where it should', async () => {
    const kinds = [
      ['confirm-unsubscribe', await confirmUnsubscribeMail(LIST, ALICE, TOKEN), `confirm ${TOKEN}`, [`/lists/proctree/confirm/${TOKEN}`, 'you stay subscribed']],
      ['welcome', await welcomeMail(LIST, ALICE, 'unsub-token-1234567890'), 'Welcome to the Proctree Syscall list', ['/lists/proctree/unsubscribe/unsub-token-1234567890', LIST.list]],
      ['goodbye', await goodbyeMail(LIST, ALICE), 'You have left the Proctree Syscall list', ['/lists/proctree/subscribe']],
      ['already-subscribed', await alreadySubscribedMail(LIST, ALICE, 'unsub-token-1234567890'), 'You are already subscribed to the Proctree Syscall list', ['/lists/proctree/unsubscribe/unsub-token-1234567890']],
      ['not-subscribed', await notSubscribedMail(LIST, ALICE), 'You are not subscribed to the Proctree Syscall list', ['nothing was changed']],
      ['confirm-failed', await confirmFailedMail(LIST, ALICE), 'Confirmation code not recognised by the Proctree Syscall list', ['used already']],
      ['help', await helpMail(LIST, ALICE), 'Help for the Proctree Syscall list', ['* subscribe:', '* unsubscribe:', LIST.request]],
      ['unknown-command', await unknownCommandMail(LIST, ALICE), 'No command found: help for the Proctree Syscall list', ['no command', '* help:']],
    ] as const;
    for (const [kind, mail, subject, phrases] of kinds) {
      const parsed = await simpleParser(mail.raw);
      assert.equal(parsed.subject, subject, kind);
      assert.equal(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value[0]?.address : null, 'alice@example.com', kind);
      for (const p of phrases) assert.ok(parsed.text?.includes(p), `${kind} mentions ${p}:\n${parsed.text}`);
      assert.doesNotMatch(parsed.text ?? '', /\n\n\n/, `${kind} has no runs of blank lines`);
    }
  });

  it('encodes a non-ASCII list name in the From phrase (RFC 2047) and keeps the body UTF-8', async () => {
    const m = await helpMail({ ...LIST, name: 'Żółw Kernel' }, ALICE);
    assert.ok(!/[^\x00-\x7f]/.test(headerText(m.raw)), 'header block is ASCII');
    const parsed = await simpleParser(m.raw);
    assert.equal(parsed.from?.value[0]?.name, 'Żółw Kernel list');
    assert.ok(parsed.text?.includes('This is the Żółw Kernel list'));
  });

  it('builds the list URLs the List-* headers and our mails share', () => {
    const u = listUrls('https://p.example', 'proctree');
    assert.equal(u.subscribe, 'https://p.example/lists/proctree/subscribe');
    assert.equal(u.confirm('T'), 'https://p.example/lists/proctree/confirm/T');
    assert.equal(u.unsubscribe('U'), 'https://p.example/lists/proctree/unsubscribe/U');
  });
});

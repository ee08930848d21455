// List headers of a relayed post, and the loop and auto-reply rules on header samples seen in real mail.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AUTOMATIC_RULES, detectAutomatic, listHeaders, listIdOf, phrase, type ListIdentity, type PostFacts } from '../../src/mail/list-headers.js';

const LIST: ListIdentity = {
  name: 'Proctree Syscall',
  slug: 'proctree',
  list: 'proctree@lists.example.org',
  request: 'proctree-request@lists.example.org',
  baseUrl: 'https://patchbay.example.org',
};

/** Decodes RFC 2047 B words (all UTF-8 here), to check that an encoded phrase says what it should. */
function decodeWords(text: string): string {
  return text
    .split(' ')
    .map((w) => /^=\?UTF-8\?B\?([^?]*)\?=$/.exec(w)![1]!)
    .map((b64) => Buffer.from(b64, 'base64'))
    .reduce((acc, b) => Buffer.concat([acc, b]), Buffer.alloc(0))
    .toString('utf8');
}

describe('list headers', () => {
  it('gives every RFC 2369, 2919 and 8058 header, with the subscriber\'s own unsubscribe link', () => {
    assert.deepEqual(listHeaders(LIST, 'b7f0c2d9e4a1'), [
      'List-Id: Proctree Syscall <proctree.lists.example.org>',
      'List-Post: <mailto:proctree@lists.example.org>',
      'List-Help: <mailto:proctree-request@lists.example.org?subject=help>',
      'List-Subscribe: <https://patchbay.example.org/lists/proctree/subscribe>, <mailto:proctree-request@lists.example.org?subject=subscribe>',
      'List-Unsubscribe: <https://patchbay.example.org/lists/proctree/unsubscribe/b7f0c2d9e4a1>, <mailto:proctree-request@lists.example.org?subject=unsubscribe>',
      'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
      'List-Archive: <https://patchbay.example.org/proctree/>',
      'Precedence: list',
      'X-Loop: proctree@lists.example.org',
    ]);
  });

  it('gives only mailto: URIs, and claims no one-click unsubscribe, when the web address is unknown', () => {
    assert.deepEqual(listHeaders({ ...LIST, baseUrl: '' }, 'b7f0c2d9e4a1'), [
      'List-Id: Proctree Syscall <proctree.lists.example.org>',
      'List-Post: <mailto:proctree@lists.example.org>',
      'List-Help: <mailto:proctree-request@lists.example.org?subject=help>',
      'List-Subscribe: <mailto:proctree-request@lists.example.org?subject=subscribe>',
      'List-Unsubscribe: <mailto:proctree-request@lists.example.org?subject=unsubscribe>',
      'Precedence: list',
      'X-Loop: proctree@lists.example.org',
    ]);
  });

  it('builds the list-id from the posting address (RFC 2919 §2)', () => {
    const cases: [string, string][] = [
      ['proctree@lists.example.org', 'proctree.lists.example.org'],
      ['linux-kernel@vger.kernel.org', 'linux-kernel.vger.kernel.org'],
      ['OS-Course@Lists.Example.Org', 'os-course.lists.example.org'],
    ];
    for (const [list, id] of cases) assert.equal(listIdOf(list), id, list);
  });

  it('writes the list name as an RFC 5322 phrase', () => {
    const cases: [string, string][] = [
      ['Proctree Syscall', 'Proctree Syscall'],
      ['OS course (2026), group A', '"OS course (2026), group A"'],
      ['The "kernel" list \\ lab', '"The \\"kernel\\" list \\\\ lab"'],
      ['Two\r\nlines', 'Two lines'],
    ];
    for (const [name, want] of cases) assert.equal(phrase(name), want, name);
  });

  it('encodes a non-ASCII list name in RFC 2047 words of at most 75 characters', () => {
    for (const name of ["Système d'exploitation", 'Ядро Linux: курс системного программирования для студентов']) {
      const out = phrase(name);
      assert.match(out, /^[\x21-\x7e ]+$/, 'pure ASCII');
      for (const word of out.split(' ')) assert.ok(word.length <= 75, `${word.length}: ${word}`);
      assert.equal(decodeWords(out), name);
    }
    assert.ok(phrase('Ядро Linux: курс системного программирования для студентов').split(' ').length > 1);
  });
});

describe('loops and auto-replies', () => {
  const post = (header: string, envelopeFrom = 'someone@example.com'): PostFacts => ({
    header,
    subject: /^Subject: (.*)$/im.exec(header)?.[1] ?? null,
    envelopeFrom,
  });

  // [what, header block as received (LF), envelope sender, expected kind and rule | null]
  const cases: [string, string, string, { kind: string; rule: string } | null][] = [
    ['our own List-Id come back', 'From: a@example.com\nList-Id: Proctree Syscall <proctree.lists.example.org>\nSubject: Re: [PATCH] x', 'a@example.com', { kind: 'loop', rule: 'own-list-id' }],
    ['our List-Id folded, another name', 'From: a@example.com\nList-Id: "old name"\n <PROCTREE.lists.example.org>', 'a@example.com', { kind: 'loop', rule: 'own-list-id' }],
    ['our X-Loop', 'From: a@example.com\nX-Loop: proctree@lists.example.org', 'a@example.com', { kind: 'loop', rule: 'own-x-loop' }],
    ['our X-Loop in brackets, among another list\'s', 'From: a@example.com\nX-Loop: owner@bugs.debian.org\nX-Loop: <Proctree@Lists.Example.Org>', 'a@example.com', { kind: 'loop', rule: 'own-x-loop' }],
    ['Pigeonhole vacation', 'From: a@example.com\nSubject: Away\nAuto-Submitted: auto-replied (vacation)\nPrecedence: bulk', 'a@example.com', { kind: 'auto-reply', rule: 'auto-submitted' }],
    ['Exchange inbox rule', 'From: BCA <buildingadmin_designdocument@selwyn.govt.nz>\nSubject: Selwyn Autoreply\nx-autoreply: yes\nauto-submitted: auto-generated', 'b@example.com', { kind: 'auto-reply', rule: 'auto-submitted' }],
    ['X-Autoreply alone', 'From: a@example.com\nSubject: Re: [PATCH 1/3] proctree\nx-autoreply: yes', 'a@example.com', { kind: 'auto-reply', rule: 'x-autoreply' }],
    ['cPanel BoxTrapper', 'From: a@example.com\nSubject: Re: hello\nX-Autorespond: 1732615200.4711\nX-Precedence: auto_reply', 'a@example.com', { kind: 'auto-reply', rule: 'x-autorespond' }],
    ['BoxTrapper Precedence', 'From: a@example.com\nPrecedence: auto_reply', 'a@example.com', { kind: 'auto-reply', rule: 'precedence' }],
    ['procmail autoreply recipe', 'From: a@example.com\nPrecedence: junk\nX-Loop: a@example.com', 'a@example.com', { kind: 'auto-reply', rule: 'precedence' }],
    ['Pigeonhole bulk without Auto-Submitted', 'From: a@example.com\nPrecedence: Bulk', 'a@example.com', { kind: 'auto-reply', rule: 'precedence' }],
    ['Outlook out of office', 'From: a@example.com\nSubject: Automatic reply: [PATCH 1/3] proctree: add the syscall', 'a@example.com', { kind: 'auto-reply', rule: 'vacation-subject' }],
    ['Lotus Notes', 'From: a@example.com\nSubject: AUTO: Jane Doe is out of the office (returning 02.01.2027)', 'a@example.com', { kind: 'auto-reply', rule: 'vacation-subject' }],
    ['Exchange 2003', 'From: a@example.com\nSubject: Out of Office AutoReply: [PATCH 1/3] proctree: add the syscall', 'a@example.com', { kind: 'auto-reply', rule: 'vacation-subject' }],
    ['German Outlook', 'From: a@example.com\nSubject: Automatische Antwort: [PATCH 2/3] proctree: test', 'a@example.com', { kind: 'auto-reply', rule: 'vacation-subject' }],
    ['a delivery report from the null sender', 'From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\nSubject: Undelivered Mail Returned to Sender', '', { kind: 'auto-reply', rule: 'null-sender' }],
    // What people send, and must reach the list:
    ['a patch', 'From: a@example.com\nSubject: [PATCH v2 1/3] auto: fix the out of office parser', 'a@example.com', null],
    ['Auto-Submitted: no (RFC 3834 §5)', 'From: a@example.com\nAuto-Submitted: no\nSubject: [PATCH] x', 'a@example.com', null],
    ['a crosspost from another list', 'From: a@example.com\nList-Id: <linux-kernel.vger.kernel.org>\nPrecedence: list\nX-Loop: linux-kernel@vger.kernel.org', 'a@example.com', null],
    ['a person replying to an auto-reply', 'From: a@example.com\nSubject: Re: Automatic reply: [PATCH 1/3] proctree', 'a@example.com', null],
    ['a suppression request is not an auto-reply', 'From: a@example.com\nX-Auto-Response-Suppress: All\nSubject: [PATCH] x', 'a@example.com', null],
  ];

  for (const [what, header, envelopeFrom, want] of cases) {
    it(`${want ? `flags ${want.kind} (${want.rule})` : 'relays'}: ${what}`, () => {
      assert.deepEqual(detectAutomatic(post(header, envelopeFrom), LIST), want);
    });
  }

  it('has a sample above for every rule', () => {
    const covered = new Set(cases.map(([, , , want]) => want?.rule).filter(Boolean));
    assert.deepEqual(AUTOMATIC_RULES.map((r) => r.name).filter((n) => !covered.has(n)), []);
  });
});

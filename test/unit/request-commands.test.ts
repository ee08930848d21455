// Command extraction from mails to LIST-request: subject first, then the first lines the sender wrote.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authoredLines, extractCommand, stripSubjectPrefixes, type RequestCommand } from '../../src/smtp/request-commands.js';

const TOKEN = 'Zk3q_9Xw-Lr2mN8pQ4sT6vYb';

describe('request command extraction', () => {
  const cases: [string, string | null, string, RequestCommand][] = [
    ['subscribe in the subject', 'subscribe', '', { kind: 'subscribe' }],
    ['a capitalised subject', 'Subscribe', '', { kind: 'subscribe' }],
    ['unsubscribe in the subject', 'unsubscribe', '', { kind: 'unsubscribe' }],
    ['help in the subject', 'HELP', '', { kind: 'help' }],
    ['a reply to the confirmation mail', `Re: confirm ${TOKEN}`, '> someone asked to subscribe', { kind: 'confirm', token: TOKEN }],
    ['a German Outlook reply with a list tag', `AW: [proctree] RE: confirm ${TOKEN}`, '', { kind: 'confirm', token: TOKEN }],
    ['a forwarded confirmation', `Fwd: confirm ${TOKEN}`, '', { kind: 'confirm', token: TOKEN }],
    ['the command on the first body line', '', 'subscribe\n', { kind: 'subscribe' }],
    ['the command after a greeting line', 'please', 'Hello,\n\nunsubscribe\n', { kind: 'unsubscribe' }],
    ['the subject winning over the body', 'help', 'subscribe\n', { kind: 'help' }],
    ['confirm with its token in the body', 'hi', `confirm ${TOKEN}\n`, { kind: 'confirm', token: TOKEN }],
    ['a command only in quoted lines', 'Re: welcome', 'thanks!\n\n> unsubscribe\n> subscribe\n', { kind: 'none' }],
    ['a command only in the signature', 'hello', 'just saying hi\n-- \nsubscribe to my newsletter\n', { kind: 'none' }],
    ['a command only below the quote attribution', 'Re: x', 'ok\nOn Thu, 26 Nov 2026, List wrote:\nunsubscribe\n', { kind: 'none' }],
    ['a command only in an unquoted Outlook original', 'RE: x', 'ok\n-----Original Message-----\nsubscribe\n', { kind: 'none' }],
    ['confirm without a token', 'confirm', '', { kind: 'none' }],
    ['confirm with a token too short to be ours', 'Re: confirm abc', '', { kind: 'none' }],
    ['no subject and an empty body', null, '', { kind: 'none' }],
    ['a word that only starts like a command', 'subscribers wanted', '', { kind: 'none' }],
    ['CRLF line ends and trailing punctuation', '', '\r\n  Subscribe.\r\n', { kind: 'subscribe' }],
  ];
  for (const [name, subject, body, expected] of cases) {
    it(`finds ${JSON.stringify(expected)} in ${name}`, () => {
      assert.deepEqual(extractCommand(subject, body), expected);
    });
  }

  it('reads at most the first ten authored lines', () => {
    const body = Array.from({ length: 12 }, (_, i) => `line ${i}`).join('\n') + '\nsubscribe\n';
    assert.equal(authoredLines(body).length, 10);
    assert.deepEqual(extractCommand('', body), { kind: 'none' });
  });

  it('strips nested reply prefixes and list tags', () => {
    assert.equal(stripSubjectPrefixes('Re: RE[2]: [proctree] Fwd: confirm x'), 'confirm x');
  });
});

// The envelope sender an imported mail is stored with: the From header's address, as the MTA would have had it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envelopeSender } from '../../src/smtp/import.service.js';

describe('envelope sender of an imported mail', () => {
  it('takes the address of the From header, or MAILER-DAEMON when there is none', () => {
    const cases: [string, string][] = [
      ['From: =?UTF-8?q?Zo=C3=A9?= <zoe@students.example.org>\nSubject: x\n\nbody\n', 'zoe@students.example.org'],
      ['From: bare@example.org\n\n', 'bare@example.org'],
      ['From: bare@example.org (Bare Person)\r\n\r\n', 'bare@example.org'],
      ['From: "Doe, Jane" <jane@example.org>,\n  other@example.org\n\n', 'jane@example.org'],
      ['Subject: no sender\n\nFrom: body@example.org\n', 'MAILER-DAEMON'],
      ['From: undisclosed\n\n', 'MAILER-DAEMON'],
    ];
    for (const [raw, want] of cases) assert.equal(envelopeSender(Buffer.from(raw)), want, raw);
  });
});

// Delivery status notifications (RFC 3464) read from real-shaped Postfix and Exim reports in test/fixtures/eml.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseDeliveryStatus, parseDsn, severityOf } from '../../src/mail/dsn.js';
import { verpSubscriber } from '../../src/smtp/bounce.service.js';

const EML = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/eml');
const fixture = (name: string) => fs.readFileSync(path.join(EML, name));

describe('DSN parsing', () => {
  const cases: [string, { final: string; action: string; status: string; severity: string; diagnostic: RegExp | null }][] = [
    ['postfix-bounce-user-unknown.eml', { final: 'alice@example.com', action: 'failed', status: '5.1.1', severity: 'permanent', diagnostic: /User unknown in virtual mailbox table$/ }],
    ['postfix-delayed.eml', { final: 'alice@example.com', action: 'delayed', status: '4.4.1', severity: 'transient', diagnostic: /Connection timed out$/ }],
    ['exim-bounce-user-unknown.eml', { final: 'carol@example.net', action: 'failed', status: '5.0.0', severity: 'permanent', diagnostic: /^smtp; 550 5\.1\.1/ }],
    ['exim-delayed.eml', { final: 'carol@example.net', action: 'delayed', status: '4.0.0', severity: 'transient', diagnostic: null }],
  ];
  for (const [file, want] of cases) {
    it(`reads ${want.action} ${want.status} for ${want.final} from ${file}`, async () => {
      const dsn = await parseDsn(fixture(file));
      assert.ok(dsn, 'recognised as a DSN');
      assert.equal(dsn.recipients.length, 1);
      const r = dsn.recipients[0]!;
      assert.equal(r.finalRecipient, want.final);
      assert.equal(r.action, want.action);
      assert.equal(r.status, want.status);
      assert.equal(r.severity, want.severity);
      if (want.diagnostic) assert.match(r.diagnostic ?? '', want.diagnostic);
      else assert.equal(r.diagnostic, null);
    });
  }

  it('unfolds a Diagnostic-Code continued on the next line (Postfix folds at 80 columns)', async () => {
    const dsn = await parseDsn(fixture('postfix-bounce-user-unknown.eml'));
    assert.equal(dsn?.recipients[0]?.diagnostic, 'smtp; 550 5.1.1 <alice@example.com>: Recipient address rejected: User unknown in virtual mailbox table');
    assert.equal(dsn?.reportingMta, 'dns; mail.example.com');
  });

  it('says a vacation reply is not a DSN', async () => {
    assert.equal(await parseDsn(fixture('vacation-reply.eml')), null);
  });

  it('says a multipart/report of another report-type is not a DSN', async () => {
    const raw = fixture('postfix-bounce-user-unknown.eml').toString('latin1').replace('report-type=delivery-status', 'report-type=disposition-notification');
    assert.equal(await parseDsn(Buffer.from(raw, 'latin1')), null);
  });

  it('reads several recipients, each with its own verdict', () => {
    const dsn = parseDeliveryStatus(
      'Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; <A@Example.com>\nAction: failed\nStatus: 5.2.2 (mailbox full)\n\n' +
        'Final-Recipient: rfc822; b@example.com\nAction: delayed\nStatus: 4.4.7\n\nFinal-Recipient: rfc822; c@example.com\nAction: delivered\nStatus: 2.0.0\n',
    );
    assert.deepEqual(
      dsn.recipients.map((r) => [r.finalRecipient, r.status, r.severity]),
      [
        ['a@example.com', '5.2.2', 'permanent'],
        ['b@example.com', '4.4.7', 'transient'],
        ['c@example.com', '2.0.0', 'success'],
      ],
    );
  });

  it('lets the action decide when the status is missing or malformed', () => {
    assert.equal(severityOf('failed', null), 'permanent');
    assert.equal(severityOf('delayed', null), 'transient');
    assert.equal(severityOf('relayed', null), 'success');
    assert.equal(severityOf('failed', '4.4.7'), 'transient');
  });

  it('decodes the VERP tag of the bounce address', () => {
    assert.equal(verpSubscriber('proctree-bounces+alice=example.com@lists.example.org'), 'alice@example.com');
    assert.equal(verpSubscriber('proctree-bounces+a.b+c=sub.example.com@lists.example.org'), 'a.b+c@sub.example.com');
    assert.equal(verpSubscriber('proctree-bounces@lists.example.org'), null);
    assert.equal(verpSubscriber('proctree-bounces+junk@lists.example.org'), null);
  });
});

// RCPT TO resolution: our four mailboxes per project, VERP bounces, unknown users and relay attempts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressesFor } from '../../src/config/projects.js';
import { acceptsOutsideBeside, buildRecipientTable, encodeVerp, resolveRecipient, type Mailbox } from '../../src/smtp/recipients.js';

const table = buildRecipientTable([{ id: 7, slug: 'proctree', addresses: addressesFor('proctree@Lists.Example.org') }]);

describe('recipient resolution', () => {
  const cases: [string, string, string?][] = [
    ['proctree@lists.example.org', 'list'],
    ['PROCTREE@lists.example.org', 'list'],
    ['proctree-request@lists.example.org', 'request'],
    ['proctree-bounces@lists.example.org', 'bounces'],
    ['proctree-bot@lists.example.org', 'bot'],
    ['proctree-bounces+alice=example.com@lists.example.org', 'bounces', 'alice@example.com'],
  ];
  for (const [address, route, verp] of cases) {
    it(`routes ${address} to ${route}`, () => {
      const r = resolveRecipient(address, table);
      assert.equal(r.kind, 'local');
      if (r.kind !== 'local') return;
      assert.equal(r.mailbox.route, route);
      assert.equal(r.mailbox.projectId, 7);
      assert.equal(r.verp, verp);
    });
  }

  it('says no-such-user for an unknown mailbox of our domain, and relay for any other domain', () => {
    assert.deepEqual(resolveRecipient('nobody@lists.example.org', table), { kind: 'unknown', reason: 'no-such-user' });
    assert.deepEqual(resolveRecipient('proctree+x@lists.example.org', table), { kind: 'unknown', reason: 'no-such-user' });
    assert.deepEqual(resolveRecipient('proctree@elsewhere.example', table), { kind: 'relay' });
  });

  it('routes postmaster of each of our domains, in any case and without a domain, to the first project of the domain', () => {
    const two = buildRecipientTable([
      { id: 1, slug: 'alpha', addresses: addressesFor('alpha@lists.example.org') },
      { id: 2, slug: 'beta', addresses: addressesFor('beta@lists.example.org') },
      { id: 3, slug: 'gamma', addresses: addressesFor('gamma@courses.example.edu') },
    ]);
    const routed = (address: string) => {
      const r = resolveRecipient(address, two);
      return r.kind === 'local' ? [r.mailbox.route, r.mailbox.projectId, r.recipient] : [r.kind];
    };
    assert.deepEqual(routed('postmaster@lists.example.org'), ['postmaster', 1, 'postmaster@lists.example.org']);
    assert.deepEqual(routed('PostMaster@Lists.Example.org'), ['postmaster', 1, 'postmaster@lists.example.org']);
    assert.deepEqual(routed('postmaster@courses.example.edu'), ['postmaster', 3, 'postmaster@courses.example.edu']);
    // RFC 5321 §4.1.1.3: "RCPT TO:<Postmaster>" names the server's postmaster.
    assert.deepEqual(routed('Postmaster'), ['postmaster', 1, 'postmaster@lists.example.org']);
    assert.deepEqual(routed('postmaster@elsewhere.example'), ['relay']);
    assert.deepEqual(resolveRecipient('postmaster', buildRecipientTable([])), { kind: 'unknown', reason: 'no-such-user' });
  });

  it('encodes a subscriber into the VERP bounce address and resolves it back', () => {
    const verp = encodeVerp('proctree-bounces@lists.example.org', 'Bob.Smith@Example.NET');
    assert.equal(verp, 'proctree-bounces+bob.smith=example.net@lists.example.org');
    const r = resolveRecipient(verp, table);
    assert.equal(r.kind === 'local' && r.verp, 'bob.smith@example.net');
  });
});

describe('outside recipients beside local ones', () => {
  const box = (route: Mailbox['route']): Mailbox => ({ projectId: 7, slug: 'proctree', route });
  it('takes an outside address only beside a list or bot mailbox', () => {
    assert.equal(acceptsOutsideBeside([box('list')]), true);
    assert.equal(acceptsOutsideBeside([box('request'), box('bot')]), true);
    assert.equal(acceptsOutsideBeside([]), false);
    assert.equal(acceptsOutsideBeside([box('request'), box('bounces'), box('postmaster')]), false);
  });
});

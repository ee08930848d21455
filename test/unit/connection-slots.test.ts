// Connection slots: an address's share, the reserve kept one per address, the pool; and how clients are counted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKey, ConnectionSlots } from '../../src/smtp/connection-slots.js';

describe('addressKey', () => {
  it('counts an IPv4 client by its address, and an IPv4-mapped IPv6 one as that IPv4 address', () => {
    assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('::FFFF:127.0.0.1'), '127.0.0.1');
  });

  it('counts an IPv6 client by its /64, however the address is written', () => {
    const key = '2001:db8:0:1::/64';
    for (const a of ['2001:db8:0:1::1', '2001:0db8:0000:0001:ffff:ffff:ffff:ffff', '2001:DB8::1:0:0:0:9', '2001:db8:0:1:1:2:192.0.2.1', '2001:db8:0:1::5%eth0']) {
      assert.equal(addressKey(a), key, a);
    }
    assert.notEqual(addressKey('2001:db8:0:2::1'), key);
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
  });
});

describe('ConnectionSlots', () => {
  it('refuses an address past its share and gives the slot back on release', () => {
    const slots = new ConnectionSlots({ maxClients: 100, maxPerAddress: 3, reservedSlots: 0 });
    assert.deepEqual([1, 2, 3, 4].map(() => slots.take('a')), [null, null, null, 'too_many_connections']);
    assert.equal(slots.take('b'), null, 'another address is not affected');
    slots.release('a');
    assert.equal(slots.take('a'), null);
    assert.equal(slots.total, 4);
  });

  it('gives the reserved last slots only to addresses holding no connection, then refuses everyone past the pool', () => {
    // 10 slots, the last 4 reserved: 6 open to anyone.
    const slots = new ConnectionSlots({ maxClients: 10, maxPerAddress: 0, reservedSlots: 4 });
    const a = Array.from({ length: 7 }, () => slots.take('a'));
    assert.deepEqual(a, [null, null, null, null, null, null, 'too_many_connections'], 'one address fills the open part, not the reserve');
    assert.deepEqual(['b', 'b', 'c', 'd', 'e', 'f'].map((k) => slots.take(k)), [null, 'too_many_connections', null, null, null, 'server_busy']);
    assert.equal(slots.total, 10);
    assert.equal(slots.holding('b'), 1);
  });

  it('takes no limit per address when maxPerAddress is 0, and never counts below zero', () => {
    const slots = new ConnectionSlots({ maxClients: 3, maxPerAddress: 0, reservedSlots: 0 });
    assert.deepEqual([1, 2, 3, 4].map(() => slots.take('a')), [null, null, null, 'server_busy']);
    slots.release('x');
    assert.equal(slots.total, 3);
    for (let i = 0; i < 5; i++) slots.release('a');
    assert.equal(slots.total, 0);
    assert.equal(slots.holding('a'), 0);
  });
});

// The failed-login counters: exact sliding windows, the rules that combine them, IPv6 /64 grouping, device cookies.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { accountKey, addressKey, DEFAULT_LOGIN_LIMITS, FailureLog, LoginGuard } from '../../src/api/login-guard.js';
import { DEVICE_MAX_AGE_S, DeviceCookies } from '../../src/web/device-cookie.js';
import { tempDir } from '../helpers/dirs.js';

const MIN = 60_000;

describe('failure log', () => {
  it('blocks at the limit within the window and says when the oldest counted failure leaves it', () => {
    const log = new FailureLog(3, 15 * MIN, 100);
    log.hit('a', 0);
    log.hit('a', 1 * MIN);
    assert.equal(log.retryAfterMs('a', 2 * MIN), 0);
    log.hit('a', 2 * MIN);
    assert.equal(log.retryAfterMs('a', 2 * MIN), 13 * MIN);
    assert.equal(log.retryAfterMs('a', 14 * MIN), 1 * MIN);
    assert.equal(log.retryAfterMs('a', 15 * MIN), 0, 'the first failure left the window');
    assert.equal(log.retryAfterMs('b', 2 * MIN), 0);
  });

  it('keeps at most maxKeys keys, dropping the ones quiet the longest', () => {
    const log = new FailureLog(2, 15 * MIN, 3);
    for (const [k, t] of [['a', 0], ['b', 1], ['c', 2], ['a', 3], ['d', 4]] as const) log.hit(k, t);
    assert.equal(log.size, 3);
    assert.equal(log.retryAfterMs('b', 5), 0, 'b was evicted');
    log.hit('a', 5);
    assert.ok(log.retryAfterMs('a', 5) > 0, 'a was kept (it failed again since)');
  });
});

describe('login guard', () => {
  const at = (t: { now: number }) => () => t.now;

  it('limits an address, an (address, account) pair and an unproven account separately', () => {
    const t = { now: 0 };
    const g = new LoginGuard({}, at(t));
    const L = DEFAULT_LOGIN_LIMITS;
    for (let i = 0; i < L.perAddressAccount; i++) g.failed({ address: '10.0.0.1', account: 'id:1' });
    assert.equal(g.check({ address: '10.0.0.1', account: 'id:1' }).ok, false);
    assert.equal(g.check({ address: '10.0.0.1', account: 'id:2' }).ok, true);
    assert.equal(g.check({ address: '10.0.0.2', account: 'id:1' }).ok, true);
    // The account from many addresses: its own limit, which a proven device passes.
    for (let a = 3; g.check({ address: `10.0.0.${a}`, account: 'id:1' }).ok; a++) g.failed({ address: `10.0.0.${a}`, account: 'id:1' });
    const v = g.check({ address: '10.9.9.9', account: 'id:1' });
    assert.deepEqual(v, { ok: false, retryAfterS: L.windowMs / 1000 });
    assert.equal(g.check({ address: '10.9.9.9', account: 'id:1', device: 'dev1' }).ok, true);
    // A success forgets the pair's own failures only.
    g.succeeded({ address: '10.0.0.1', account: 'id:1' });
    assert.equal(g.check({ address: '10.0.0.1', account: 'id:2' }).ok, true);
    t.now += L.windowMs;
    assert.equal(g.check({ address: '10.9.9.9', account: 'id:1' }).ok, true, 'the window passed');
  });

  it('counts a device’s failures against the device, and stops exempting it at its limit', () => {
    const g = new LoginGuard({ perAccount: 1 });
    g.failed({ address: '10.0.0.1', account: 'id:7' });
    const proven = { address: '10.0.0.2', account: 'id:7', device: 'd' };
    for (let i = 0; i < DEFAULT_LOGIN_LIMITS.perDevice; i++) {
      assert.equal(g.check(proven).ok, true);
      g.failed(proven);
    }
    assert.equal(g.check(proven).ok, false);
  });

  it('keys IPv4 as is, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64; accounts by user id when one exists', () => {
    assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
    assert.equal(accountKey(3, 'Teacher'), 'id:3');
    assert.equal(accountKey(undefined, ' Ghost '), 'login:ghost');
    assert.equal(accountKey(undefined, 'x'.repeat(10_000)).length, 'login:'.length + 256);
  });
});

describe('device cookies', () => {
  it('verify for their user and password hash only, within their lifetime, and refuse forgeries', () => {
    const dir = tempDir('patchbay-device-');
    try {
      const key = DeviceCookies.keyFrom(dir);
      assert.equal(fs.statSync(path.join(dir, 'device-cookie.key')).mode & 0o777, 0o600);
      assert.deepEqual(DeviceCookies.keyFrom(dir), key, 'the key survives a restart');
      const t = { now: Date.parse('2030-01-01T00:00:00Z') };
      const d = new DeviceCookies(key, () => t.now);
      const v = d.issue(5, '$argon2id$hash-a');
      assert.equal(d.verify(v, 5, '$argon2id$hash-a')?.userId, 5);
      assert.equal(d.verify(v, 6, '$argon2id$hash-a'), null, 'another user');
      assert.equal(d.verify(v, 5, '$argon2id$hash-b'), null, 'a new password retires it');
      assert.equal(new DeviceCookies(Buffer.alloc(32), () => t.now).verify(v, 5, '$argon2id$hash-a'), null, 'another server key');
      const [uid, issued, id, mac] = v.split('.');
      assert.equal(d.verify(`${uid}.${Number(issued) + 1}.${id}.${mac}`, 5, '$argon2id$hash-a'), null, 'a changed date');
      for (const junk of [undefined, '', 'a.b.c', `${v}.x`, 'x'.repeat(500)]) assert.equal(d.verify(junk, 5, '$argon2id$hash-a'), null);
      t.now += (DEVICE_MAX_AGE_S + 1) * 1000;
      assert.equal(d.verify(v, 5, '$argon2id$hash-a'), null, 'expired');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AllowedIps } from '../../main/core/allowed-ips';
import {
  formatCidr,
  formatIp,
  ipPacketLength,
  isNattedAddress,
  parseCidr,
  parseIp,
} from '../../main/core/ip';
import { ipv4Packet, ipv6Packet } from '../lib/sim';

describe('ip parsing', () => {
  it('parses and formats IPv4 and IPv6 (RFC 5952 compression)', () => {
    for (const [s, f] of [
      ['100.64.0.1', '100.64.0.1'],
      ['fd00:6d::1', 'fd00:6d::1'],
      ['::', '::'],
      ['::1', '::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['::ffff:198.18.0.1', '::ffff:c612:1'],
      ['FD00:0:0:0:0:0:0:2', 'fd00::2'],
    ]) {
      const ip = parseIp(s);
      assert.ok(ip, s);
      assert.equal(formatIp(ip.bytes), f);
    }
  });

  it('rejects malformed addresses and prefixes', () => {
    for (const s of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '1::2::3',
      ':::',
      'g::1',
      '1:2:3:4:5:6:7:8:9',
      'abc',
    ]) {
      assert.equal(parseIp(s), null, s);
    }
    for (const s of ['1.2.3.4/33', '::/129', '1.2.3.4/-1', '1.2.3.4/', '1.2.3.4/08x'])
      assert.equal(parseCidr(s), null, s);
    assert.equal(parseCidr('10.1.2.3/8', { strict: true }), null);
    assert.equal(formatCidr(parseCidr('10.1.2.3/8')!), '10.0.0.0/8');
  });

  it('reads IP packet lengths from headers and rejects garbage', () => {
    const p4 = ipv4Packet('100.64.0.1', '100.64.0.2', 'hello');
    assert.equal(ipPacketLength(Buffer.concat([p4, Buffer.alloc(11)]), 0, p4.length + 11), p4.length);
    const p6 = ipv6Packet('fd00::1', 'fd00::2', 'hello');
    assert.equal(ipPacketLength(p6, 0, p6.length), p6.length);
    assert.equal(ipPacketLength(p4, 0, p4.length - 1), -1);
    assert.equal(ipPacketLength(Buffer.from([0x50, 0, 0]), 0, 3), -1);
  });
});

describe('allowed IPs (cryptokey routing)', () => {
  it('longest prefix wins, for v4 and v6, reading addresses from packets', () => {
    const t = new AllowedIps<string>();
    t.insert(parseCidr('100.64.0.0/10')!, 'wide');
    t.insert(parseCidr('100.64.0.2/32')!, 'b');
    t.insert(parseCidr('0.0.0.0/0')!, 'default');
    t.insert(parseCidr('fd00:6d::/64')!, 'v6net');
    t.insert(parseCidr('fd00:6d::2/128')!, 'v6b');
    assert.equal(t.lookupDestination(ipv4Packet('1.1.1.1', '100.64.0.2', ''), 0), 'b');
    assert.equal(t.lookupDestination(ipv4Packet('1.1.1.1', '100.64.9.9', ''), 0), 'wide');
    assert.equal(t.lookupDestination(ipv4Packet('1.1.1.1', '8.8.8.8', ''), 0), 'default');
    assert.equal(t.lookupSource(ipv4Packet('100.64.0.2', '8.8.8.8', ''), 0), 'b');
    assert.equal(t.lookupDestination(ipv6Packet('::1', 'fd00:6d::2', ''), 0), 'v6b');
    assert.equal(t.lookupDestination(ipv6Packet('::1', 'fd00:6d::3', ''), 0), 'v6net');
    assert.equal(t.lookupDestination(ipv6Packet('::1', 'fd00:6e::3', ''), 0), undefined);
  });

  it('a prefix inserted for another owner moves; removing an owner removes all its prefixes', () => {
    const t = new AllowedIps<string>();
    t.insert(parseCidr('100.64.0.2/32')!, 'old');
    t.insert(parseCidr('fd00::2/128')!, 'old');
    t.insert(parseCidr('100.64.0.2/32')!, 'new');
    assert.equal(t.lookupV4(parseCidr('100.64.0.2')!.bytes, 0), 'new');
    assert.deepEqual(t.prefixesOf('old'), ['fd00::2/128']);
    t.removeValue('old');
    assert.equal(t.lookupV6(parseCidr('fd00::2')!.bytes, 0), undefined);
    assert.deepEqual(t.prefixesOf('new'), ['100.64.0.2/32']);
  });

  it('tells addresses that NATs hide from public ones', () => {
    for (const a of [
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.1',
      '192.168.1.9',
      '100.64.0.1',
      '169.254.3.4',
      'fd00::1',
      'fe80::1',
    ])
      assert.equal(isNattedAddress(a), true, a);
    for (const a of [
      '198.18.0.1',
      '172.32.0.1',
      '100.128.0.1',
      '8.8.8.8',
      '2001:db8::1',
      'not an address',
      '',
    ])
      assert.equal(isNattedAddress(a), false, a);
  });
});

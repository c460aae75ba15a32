import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildUpConfig } from '../../main/cli/commands/up';
import { ConfigError, parseEndpoint, parsePeerFlag } from '../../main/node/config';

const KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';

describe('config', () => {
  it('parses --peer KEY@HOST:PORT,CIDR... including IPv6 endpoints', () => {
    const p = parsePeerFlag(`${KEY}@198.18.0.2:51820,100.64.0.2/32,fd00:6d::2/128`);
    assert.equal(p.publicKey, KEY);
    assert.equal(p.endpoint, '198.18.0.2:51820');
    assert.deepEqual(p.allowedIps, ['100.64.0.2/32', 'fd00:6d::2/128']);
    assert.equal(parsePeerFlag(`${KEY}@[fd00::1]:9,10.0.0.0/8`).endpoint, '[fd00::1]:9');
    assert.equal(parsePeerFlag(`${KEY},10.0.0.0/8`).endpoint, null);
    assert.deepEqual(parseEndpoint('[fd00::1]:51820'), { host: 'fd00::1', port: 51820 });
    assert.deepEqual(parseEndpoint('vps.example.org:1'), { host: 'vps.example.org', port: 1 });
  });

  it('rejects bad values with a message naming them', () => {
    const bad: [string[], RegExp][] = [
      [['--peer', 'nokey@1.2.3.4:5'], /public key/],
      [['--peer', `${KEY}@1.2.3.4:99999`], /port/],
      [['--peer', `${KEY}@fd00::1:5`], /\[ADDR\]:PORT/],
      [['--peer', `${KEY}@1.2.3.4:5,300.1.1.1/32`], /allowed IP/],
      [['--address', '100.64.0.1'], /CIDR/],
      [['--interface', 'this-name-is-too-long'], /interface name/],
      [['--mtu', '100', '--address', '10.0.0.1/24'], /mtu/],
      [['--mtu', '1000', '--address', 'fd00::1/64'], /mtu/],
      [['--listen', 'abc'], /--listen/],
      [['--log-level', 'loud'], /log-level/],
      [['--peer', `${KEY}`, '--peer', `${KEY}`], /twice/],
    ];
    for (const [args, re] of bad) {
      assert.throws(
        () => buildUpConfig(args),
        (e: Error) => e instanceof ConfigError && re.test(e.message),
        args.join(' '),
      );
    }
    assert.throws(() => buildUpConfig(['--nope']), /Unknown option/);
  });

  it('flags override the config file; file paths are relative to the file; unknown keys are refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-cfg-'));
    const file = join(dir, 'node.json');
    writeFileSync(
      file,
      JSON.stringify({
        interface: 'pmfile',
        addresses: ['100.64.0.1/24'],
        listenPort: 4000,
        privateKeyFile: 'k/node.key',
        peers: [
          {
            publicKey: KEY,
            endpoint: 'peer.example:51820',
            allowedIps: ['100.64.0.2/32'],
            persistentKeepalive: 25,
          },
        ],
      }),
    );
    const c = buildUpConfig(['-c', file, '--listen', '5000']);
    assert.equal(c.interface, 'pmfile');
    assert.equal(c.listenPort, 5000);
    assert.equal(c.privateKeyFile, join(dir, 'k/node.key'));
    assert.equal(c.peers[0].persistentKeepalive, 25);
    writeFileSync(file, JSON.stringify({ interfce: 'typo' }));
    assert.throws(() => buildUpConfig(['-c', file]), /unknown option "interfce"/);
    writeFileSync(file, '{ not json');
    assert.throws(() => buildUpConfig(['-c', file]), /config file/);
    assert.throws(() => buildUpConfig(['-c', join(dir, 'missing.json')]), /cannot read \(ENOENT\)/);
  });
});

// Names in the hosts file: labels, collisions resolved the same way everywhere, the managed block
// replaced and removed without touching the rest of the file, and real writes (rename or in place).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { dnsLabel, memberNames, withHostsBlock, writeHostsBlock } from '../../main/node/hosts';

const k = (b: number) => Buffer.alloc(32, b).toString('base64');

describe('member names', () => {
  it('makes DNS labels of free-form names', () => {
    assert.equal(dnsLabel('Raspberry Pi'), 'raspberry-pi');
    assert.equal(dnsLabel('--Büro_PC--'), 'b-ro-pc');
    assert.equal(dnsLabel('!!!'), 'node');
    assert.equal(dnsLabel('x'.repeat(80)).length, 63);
  });

  it('resolves equal names by key, the same whatever the order', () => {
    const ms = [
      { key: k(9), name: 'pi' },
      { key: k(1), name: 'Pi' },
      { key: k(5), name: 'laptop' },
    ];
    const a = memberNames('home', ms);
    const b = memberNames('home', [...ms].reverse());
    assert.deepEqual([...a].sort(), [...b].sort());
    assert.equal(a.get(k(1)), 'pi.home');
    assert.equal(a.get(k(9)), 'pi-0909.home');
    assert.equal(a.get(k(5)), 'laptop.home');
    assert.equal(memberNames('my_net.x', ms).get(k(5)), 'laptop.my-net-x');
  });

  it('replaces and removes only its own block', () => {
    const base = '127.0.0.1\tlocalhost\n# mine\n10.0.0.1 nas\n';
    const one = withHostsBlock(base, 'home', [{ name: 'pi.home', addresses: ['100.64.0.2', 'fd00::2'] }]);
    assert.match(one, /^127\.0\.0\.1\tlocalhost\n# mine\n10\.0\.0\.1 nas\n# BEGIN peermesh home/);
    assert.match(one, /100\.64\.0\.2\tpi\.home\nfd00::2\tpi\.home\n# END peermesh home\n$/);
    const other = withHostsBlock(one, 'work', [{ name: 'db.work', addresses: ['100.65.0.9'] }]);
    const two = withHostsBlock(other, 'home', [{ name: 'nas.home', addresses: ['100.64.0.3'] }]);
    assert.doesNotMatch(two, /pi\.home/);
    assert.match(two, /db\.work/);
    assert.equal(withHostsBlock(withHostsBlock(two, 'home', null), 'work', null), base);
  });

  it('writes the file atomically and keeps its mode; an unwritable file throws', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-hosts-'));
    const f = join(dir, 'hosts');
    writeFileSync(f, '127.0.0.1 localhost\n', { mode: 0o644 });
    assert.equal(writeHostsBlock(f, 'home', [{ name: 'pi.home', addresses: ['100.64.0.2'] }]), true);
    assert.equal(writeHostsBlock(f, 'home', [{ name: 'pi.home', addresses: ['100.64.0.2'] }]), false);
    assert.match(readFileSync(f, 'utf8'), /pi\.home/);
    assert.equal(statSync(f).mode & 0o777, 0o644);
    assert.throws(() => writeHostsBlock(join(dir, 'missing'), 'home', null));
  });
});

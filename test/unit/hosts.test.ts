// Names in the hosts file: labels, collisions resolved the same way everywhere, the managed block
// replaced and removed without touching the rest of the file, and real writes (rename or in place).
import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dnsLabel, memberNames, withHostsBlock, writeHostsBlock } from '../../main/node/hosts';

const k = (b: number) => Buffer.alloc(32, b).toString('base64');

describe('member names', () => {
  it('makes DNS labels of free-form names', () => {
    assert.equal(dnsLabel('Raspberry Pi'), 'raspberry-pi');
    assert.equal(dnsLabel('--Büro_PC--'), 'b-ro-pc');
    assert.equal(dnsLabel('!!!'), 'node');
    assert.equal(dnsLabel('x'.repeat(80)).length, 63);
  });

  it('the member that had a name first keeps it (join time, then key), the same whatever the order', () => {
    const ms = [
      { key: k(1), name: 'Pi', joined: 3000 },
      { key: k(9), name: 'pi', joined: 1000 }, // larger key, but joined first
      { key: k(5), name: 'laptop', joined: 2000 },
      { key: k(7), name: 'LAPTOP', joined: 2000 }, // same join time: the smaller key keeps it
    ];
    const a = memberNames('home', ms);
    const b = memberNames('home', [...ms].reverse());
    assert.deepEqual([...a].sort(), [...b].sort());
    assert.equal(a.get(k(9)), 'pi.home');
    assert.equal(a.get(k(1)), 'pi-0101.home');
    assert.equal(a.get(k(5)), 'laptop.home');
    assert.equal(a.get(k(7)), 'laptop-0707.home');
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

  it('never follows a link planted in a shared directory, and keeps the file a link where it is one', () => {
    // A custom --hosts-file in a directory others can write (e.g. /tmp): another local user plants
    // links where a temp file could be made, pointing at a file of ours; a root node must not write
    // through them. Every name the old code used (.hosts.peermesh.PID) is planted.
    const shared = mkdtempSync(join(tmpdir(), 'pm-hosts-shared-'));
    const victimDir = mkdtempSync(join(tmpdir(), 'pm-hosts-victim-'));
    after(() => {
      rmSync(shared, { recursive: true, force: true });
      rmSync(victimDir, { recursive: true, force: true });
    });
    const victim = join(victimDir, 'secret');
    writeFileSync(victim, 'precious\n', { mode: 0o600 });
    symlinkSync(victim, join(shared, `.hosts.peermesh.${process.pid}`));
    const f = join(shared, 'hosts');
    writeFileSync(f, '127.0.0.1 localhost\n', { mode: 0o640 });
    assert.equal(writeHostsBlock(f, 'home', [{ name: 'pi.home', addresses: ['100.64.0.2'] }]), true);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.match(readFileSync(f, 'utf8'), /100\.64\.0\.2\tpi\.home/);
    assert.equal(statSync(f).mode & 0o777, 0o640);
    // no temp file left behind (only the planted link, the file, and nothing else)
    assert.deepEqual(readdirSync(shared).sort(), [`.hosts.peermesh.${process.pid}`, 'hosts'].sort());
    // a hosts file that is itself a link (some distributions) stays a link; its target is rewritten
    const target = join(shared, 'hosts.real');
    writeFileSync(target, '127.0.0.1 localhost\n', { mode: 0o644 });
    const link = join(shared, 'hosts.link');
    symlinkSync(target, link);
    assert.equal(writeHostsBlock(link, 'home', [{ name: 'pi.home', addresses: ['100.64.0.3'] }]), true);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.match(readFileSync(target, 'utf8'), /100\.64\.0\.3/);
  });
});

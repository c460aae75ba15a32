// Local discovery: two members on one LAN, neither given any bootstrap address, find each other by
// the sealed hellos every member sends to its LANs' broadcast addresses, and talk directly.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import { removeDir, runCli, startNode, tempDir } from '../lib/peermesh-proc';

const skip = netnsSkipReason();

describe('mesh: local discovery on a LAN', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('lan');
  const status = (h: string) =>
    JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, h)], lab.ns(h)).stdout);

  before(async () => {
    for (const h of ['a', 'b']) lab.addHost(h);
    lab.lan([
      ['a', '198.18.0.1/24'],
      ['b', '198.18.0.2/24'],
    ]);
    writeFileSync(join(dir, 'secret'), 'found on the local network\n', { mode: 0o600 });
    for (const h of ['a', 'b'])
      await startNode(lab, h, join(dir, h), [
        '--interface',
        `pm${lab.id}${h}`,
        '--network',
        'lan',
        '--secret-file',
        join(dir, 'secret'),
        '--name',
        `node-${h}`,
      ]);
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('members with no bootstrap address find each other and ping directly', async () => {
    await waitFor('a knows b', () => status('a').network.members.length === 1, 15_000);
    const b = status('b');
    assert.equal(b.network.members.length, 1);
    const a = status('a').network.members[0];
    assert.equal(a.name, 'node-b');
    assert.equal(a.path, 'direct');
    assert.equal(a.endpoint, '198.18.0.2:51820');
    const bAddr = b.addresses[0].split('/')[0];
    await waitFor('a pings b', () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', bAddr]).ok, 10_000);
  });
});

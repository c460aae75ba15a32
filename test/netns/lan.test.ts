// Local discovery: two members on one LAN, neither given any bootstrap address, find each other by
// the sealed hellos every member sends to its LANs' broadcast addresses, and talk directly; they
// reach each other by name (node-b.lan), and a hosts file rewritten without their names gets them back.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import { type RunningNode, removeDir, runCli, startNode, stopNode, tempDir } from '../lib/peermesh-proc';

const skip = netnsSkipReason();

describe('mesh: local discovery on a LAN', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('lan');
  const nodes: Record<string, RunningNode> = {};
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
      nodes[h] = await startNode(lab, h, join(dir, h), [...lab.memberArgs(h, 'lan', join(dir, 'secret'))]);
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
    assert.doesNotMatch(
      nodes.a.log(),
      /members see this node at 198\.18\.0\.255/,
      'a broadcast is no "seen at"',
    );
    const bAddr = b.addresses[0].split('/')[0];
    await waitFor('a pings b', () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', bAddr]).ok, 10_000);
  });

  it('members are reachable by name (NAME.NETWORK, through the hosts file); the names go when the node stops', async () => {
    const bAddr = status('b').addresses[0].split('/')[0];
    await waitFor(
      'a resolves node-b.lan',
      () => lab.tryExec('a', 'getent', ['ahostsv4', 'node-b.lan']).out.includes(bAddr),
      10_000,
    ).catch((e) => {
      throw new Error(
        `${e.message}; hosts: ${readFileSync(`/etc/netns/${lab.ns('a')}/hosts`, 'utf8')}; log: ${nodes.a.log()}`,
      );
    });
    assert.equal(status('a').network.members[0].dnsName, 'node-b.lan');
    lab.exec('a', 'ping', ['-c', '1', '-W', '1', 'node-b.lan']);
    // its own name too
    assert.ok(lab.tryExec('b', 'getent', ['ahostsv4', 'node-b.lan']).out.includes(bAddr));
    const hostsA = `/etc/netns/${lab.ns('a')}/hosts`;
    const withBlock = readFileSync(hostsA, 'utf8');
    assert.match(withBlock, /# BEGIN peermesh lan/);
    // Another program rewrites the file in place without our block (or another node's write, made
    // from a text read before ours, lands after it): the block is back within the check's 10 s.
    const without = withBlock.replace(
      /# BEGIN peermesh lan[\s\S]*# END peermesh lan\n/,
      '# the admin was here\n',
    );
    assert.doesNotMatch(without, /peermesh/);
    writeFileSync(hostsA, without);
    await waitFor('the block is written again', () => readFileSync(hostsA, 'utf8').includes(bAddr), 15_000);
    const again = readFileSync(hostsA, 'utf8');
    assert.match(again, /# the admin was here\n# BEGIN peermesh lan /, "the other program's text is kept");
    assert.equal(again.match(/# BEGIN peermesh lan/g)?.length, 1);
    await stopNode(nodes.a);
    const after = readFileSync(hostsA, 'utf8');
    assert.doesNotMatch(after, /peermesh|node-b/);
    assert.match(after, /localhost/, 'the rest of the file is kept');
  });
});

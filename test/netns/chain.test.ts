// Six real nodes join in a chain (each knows only the previous one's address); the two first nodes
// stop; every remaining pair still pings. Then one node's underlay address changes (roaming): its
// tunnels recover by themselves, without a restart.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import {
  assertDataPath,
  type RunningNode,
  removeDir,
  runCli,
  startNode,
  stopNode,
  tempDir,
} from '../lib/peermesh-proc';

const skip = netnsSkipReason();
const HOSTS = ['a', 'b', 'c', 'd', 'e', 'f'];

describe('mesh: a chain of six, the first two leave, a member roams', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('chain');
  const nodes: Record<string, RunningNode> = {};
  const overlay: Record<string, string> = {};
  const status = (h: string) =>
    JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, h)], lab.ns(h)).stdout);

  before(async () => {
    for (const h of HOSTS) lab.addHost(h);
    lab.lan(HOSTS.map((h, i) => [h, `198.18.0.${i + 1}/24`] as [string, string]));
    writeFileSync(join(dir, 'secret'), 'a chain of six nodes\n', { mode: 0o600 });
    for (const [i, h] of HOSTS.entries()) {
      nodes[h] = await startNode(lab, h, join(dir, h), [
        ...lab.memberArgs(h, 'chain', join(dir, 'secret')),
        ...(i > 0 ? ['--bootstrap', `198.18.0.${i}:51820`] : []),
      ]);
      overlay[h] = status(h).addresses[0].split('/')[0];
    }
    assertDataPath(status('c')); // the node in the middle of the chain
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('every node learns all five others', async () => {
    for (const h of HOSTS)
      await waitFor(`${h} knows 5 members`, () => status(h).network.members.length === 5, 20_000);
  });

  it('after the first two nodes stop, all remaining pairs ping', async () => {
    await stopNode(nodes.a);
    await stopNode(nodes.b);
    const rest = HOSTS.slice(2);
    for (const from of rest) {
      for (const to of rest) {
        if (from === to) continue;
        await waitFor(
          `${from} -> ${to}`,
          () => lab.tryExec(from, 'ping', ['-c', '1', '-W', '1', overlay[to]]).ok,
          15_000,
        );
      }
    }
  });

  it('roaming: E moves to a new underlay address and is reachable again within seconds, no restart', async () => {
    const dev = `v${lab.id}e`.slice(0, 15);
    lab.exec('c', 'ping', ['-c', '1', '-W', '1', overlay.e]);
    lab.exec('e', 'ip', ['addr', 'del', '198.18.0.5/24', 'dev', dev]);
    lab.exec('e', 'ip', ['addr', 'add', '198.18.0.55/24', 'dev', dev]);
    const moved = Date.now();
    for (const from of ['c', 'd', 'f']) {
      await waitFor(
        `${from} -> e after the move`,
        () => lab.tryExec(from, 'ping', ['-c', '1', '-W', '1', overlay.e]).ok,
        20_000,
      );
    }
    const took = (Date.now() - moved) / 1000;
    assert.ok(took < 20, `recovered after ${took} s`);
    // the others now reach E at its new address
    const c = status('c').network.members.find((m: { name: string }) => m.name === 'node-e');
    assert.match(JSON.stringify(c), /198\.18\.0\.55:51820/);
    assert.equal(nodes.e.proc.exitCode, null, 'E kept running');
  });
});

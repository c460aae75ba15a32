// "I lost my laptop, remove it" with real nodes (docs/mesh.md, "A new network secret after a
// removal"): A, B and the laptop L are members on one LAN; A removes L. A and B move to a new secret
// (status: secretEpoch 1), A's open invitation is revoked, and L — also started again under a new key
// with the secret file it holds — never becomes a member again nor reaches A over the overlay. A
// machine X that joins later with a new code from B gets the current secret and meets A.
//
//   a 198.18.0.1   b 198.18.0.2   l 198.18.0.3   x 198.18.0.4   (one switch)
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, sleep, waitFor } from '../lib/netns';
import {
  type RunningNode,
  removeDir,
  runCli,
  type StatusMember,
  startNode,
  stopNode,
  tempDir,
} from '../lib/peermesh-proc';

const skip = netnsSkipReason();

interface Status {
  publicKey: string;
  addresses: string[];
  network: { secretEpoch: number; members: StatusMember[] };
}

describe('a removal moves the network to a new secret', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('rotation');
  const nodes: Record<string, RunningNode> = {};

  const cli = (h: string, stateDir: string, ...args: string[]) => {
    const r = runCli([...args, '--state-dir', join(dir, stateDir)], lab.ns(h));
    assert.equal(r.code, 0, `${h} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r;
  };
  const status = (h: string, stateDir = h) =>
    JSON.parse(cli(h, stateDir, 'status', '--json').stdout) as Status;
  const names = (h: string, stateDir = h) =>
    status(h, stateDir)
      .network.members.map((m) => m.name)
      .sort();
  const args = (h: string, name: string, extra: string[] = []) => [
    ...lab.memberArgs(h, 'rot', join(dir, 'secret'), name),
    ...extra,
  ];
  const boot = ['--bootstrap', '198.18.0.1:51820'];

  before(async () => {
    for (const h of ['a', 'b', 'l', 'x']) lab.addHost(h);
    lab.lan([
      ['a', '198.18.0.1/24'],
      ['b', '198.18.0.2/24'],
      ['l', '198.18.0.3/24'],
      ['x', '198.18.0.4/24'],
    ]);
    writeFileSync(join(dir, 'secret'), 'the laptop was lost on a train\n', { mode: 0o600 });
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', 'a'));
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', 'b', boot));
    nodes.l = await startNode(lab, 'l', join(dir, 'l'), args('l', 'laptop', boot));
    await waitFor(
      'three members',
      () => names('a').join() === 'b,laptop' && names('b').join() === 'a,laptop',
      20_000,
    );
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('A removes the laptop: A and B move to a new secret, open invitations are revoked', async () => {
    assert.equal(status('a').network.secretEpoch, 0);
    const code = cli('a', 'a', 'invite', '--expires', '10m').stdout.trim();
    cli('a', 'a', 'remove', 'laptop');
    await waitFor(
      'A and B at epoch 1',
      () => status('a').network.secretEpoch === 1 && status('b').network.secretEpoch === 1,
      15_000,
    );
    assert.equal(status('l').network.secretEpoch, 0);
    await waitFor("the move in A's log", () =>
      /the network moved to a new secret \(epoch 1\) after this node removed "laptop"/.test(nodes.a.log()),
    );
    await waitFor("the revocation in A's log", () => /1 open invitation\(s\) revoked/.test(nodes.a.log()));
    const list = JSON.parse(cli('a', 'a', 'invite', '--list', '--json').stdout) as { state: string }[];
    assert.deepEqual(
      list.map((i) => i.state),
      ['revoked'],
    );
    // The old code, tried by the laptop's owner from another machine: refused.
    const r = runCli(
      ['join', code, '--state-dir', join(dir, 'x-old'), '--interface', `pm${lab.id}xo`],
      lab.ns('x'),
    );
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /refused: this invitation was revoked/);
    // A and B still reach each other over the overlay, after the move.
    const bAddr = status('b').addresses[0].split('/')[0];
    await waitFor('a pings b', () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', bAddr]).ok, 15_000, 500);
  });

  it('the laptop, started again under a new key with the secret file it holds, gets nothing', async () => {
    await stopNode(nodes.l);
    const aAddr = status('a').addresses[0].split('/')[0];
    nodes.l2 = await startNode(lab, 'l', join(dir, 'l2'), args('l', 'laptop-again', boot));
    await sleep(12_000);
    assert.deepEqual(names('l', 'l2'), [], 'the laptop learned members under its new key');
    assert.ok(!names('a').includes('laptop-again'), 'A took the new key in');
    assert.ok(!names('b').includes('laptop-again'), 'B took the new key in');
    assert.ok(!lab.tryExec('l', 'ping', ['-c', '2', '-W', '1', aAddr]).ok, 'the laptop reached A');
    await stopNode(nodes.l2);
  });

  it('a machine joining later with a new code from B starts on the current secret and meets A', async () => {
    const code = cli('b', 'b', 'invite', '--expires', '10m').stdout.trim();
    nodes.x = await startNode(
      lab,
      'x',
      join(dir, 'x'),
      ['--interface', `pm${lab.id}x`, '--name', 'x'],
      ['join', code],
    );
    await waitFor('x meets a and b', () => names('x').join() === 'a,b' && names('a').includes('x'), 20_000);
    assert.equal(status('x').network.secretEpoch, 1);
  });
});

// Mesh membership with real nodes on a LAN: A starts the network, B joins through A, C joins
// through B only (knowing nothing of A) — all pairs then ping over derived overlay addresses. A
// non-member that fires garbage and a wrong-secret hello at A gets zero bytes back.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
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

describe('mesh: join with a secret', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('mesh');
  const nodes: Record<string, RunningNode> = {};
  const overlay: Record<string, string> = {};

  const args = (h: string, bootstrap: string | null) => [
    ...lab.memberArgs(h, 'home', join(dir, 'secret')),
    ...(bootstrap ? ['--bootstrap', bootstrap] : []),
  ];

  before(async () => {
    for (const h of ['a', 'b', 'c', 'x']) lab.addHost(h);
    lab.lan([
      ['a', '198.18.0.1/24'],
      ['b', '198.18.0.2/24'],
      ['c', '198.18.0.3/24'],
      ['x', '198.18.0.9/24'],
    ]);
    writeFileSync(join(dir, 'secret'), 'correct horse battery staple\n', { mode: 0o600 });
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', null));
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', '198.18.0.1:51820'));
    nodes.c = await startNode(lab, 'c', join(dir, 'c'), args('c', '198.18.0.2:51820'));
    for (const h of ['a', 'b', 'c']) {
      const s = JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, h)], lab.ns(h)).stdout);
      assertDataPath(s);
      overlay[h] = s.addresses[0].split('/')[0];
      assert.match(overlay[h], /^100\./);
    }
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('every node learns every other member, also C and A which were never introduced by hand', async () => {
    for (const h of ['a', 'b', 'c']) {
      await waitFor(
        `${h} knows 2 members`,
        () => {
          const s = JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, h)], lab.ns(h)).stdout);
          return s.network.members.length === 2;
        },
        15_000,
      );
    }
  });

  it('all pairs ping over their derived overlay addresses', async () => {
    for (const [from, to] of [
      ['a', 'b'],
      ['a', 'c'],
      ['b', 'c'],
      ['c', 'a'],
      ['b', 'a'],
      ['c', 'b'],
    ]) {
      await waitFor(
        `${from} -> ${to}`,
        () => lab.tryExec(from, 'ping', ['-c', '1', '-W', '1', overlay[to]]).ok,
        10_000,
      );
    }
  });

  it('a non-member probe (garbage, a wrong-secret hello, a WireGuard initiation) gets zero bytes', async () => {
    const probe = `
      const dgram = require('node:dgram');
      const s = dgram.createSocket('udp4');
      let got = 0;
      s.on('message', (m) => { got += m.length; });
      s.bind(0, () => {
        const payloads = [Buffer.alloc(0), Buffer.from('hello?'), Buffer.alloc(148, 1), Buffer.alloc(1400, 0x50)];
        const hello = Buffer.alloc(120, 7); hello[0] = 0x50; hello[3] = 1; payloads.push(hello);
        const init = Buffer.alloc(148, 9); init.writeUInt32LE(1, 0); payloads.push(init);
        for (let i = 0; i < 50; i++) for (const p of payloads) s.send(p, 51820, '198.18.0.1');
        setTimeout(() => { console.log(got); s.close(); }, 1500);
      });`;
    const out = lab.exec('x', process.execPath, ['-e', probe]);
    assert.equal(out.trim(), '0');
    // and A still serves its members
    lab.exec('b', 'ping', ['-c', '2', '-i', '0.2', '-W', '1', overlay.a]);
  });

  it('the log names the members that joined', async () => {
    // (waitFor also lets this process read the nodes' stderr, which the synchronous steps above did not)
    await waitFor(
      'member lines in the logs',
      () => /member "node-a"/.test(nodes.c.log()) && /member "node-c"/.test(nodes.a.log()),
      5000,
    );
  });

  it('peermesh remove: the removed member reaches no one, also after the others restart', async () => {
    const r = runCli(['remove', 'node-c', '--state-dir', join(dir, 'a')], lab.ns('a'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /removed "node-c"/);
    // the removal reaches b through a; c's pings then go nowhere
    await waitFor(
      'b to drop c',
      () => {
        const s = JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, 'b')], lab.ns('b')).stdout);
        return !s.network.members.some((m: { name: string }) => m.name === 'node-c');
      },
      10_000,
    );
    const cannotReach = () => {
      for (const to of ['a', 'b'])
        assert.ok(
          !lab.tryExec('c', 'ping', ['-c', '2', '-i', '0.3', '-W', '1', overlay[to]]).ok,
          `c reached ${to}`,
        );
    };
    cannotReach();
    for (const h of ['a', 'b']) {
      await stopNode(nodes[h]);
      nodes[h] = await startNode(lab, h, join(dir, h), args(h, h === 'a' ? null : '198.18.0.1:51820'));
    }
    await waitFor(
      'a and b to see each other again',
      () => lab.tryExec('b', 'ping', ['-c', '1', '-W', '1', overlay.a]).ok,
      15_000,
    );
    cannotReach();
    assert.match(nodes.a.log(), /loaded \d+ record/);
    assert.equal(runCli(['remove', 'nobody', '--state-dir', join(dir, 'a')], lab.ns('a')).code, 1);
  });

  it('peermesh invite / join: a new machine joins with only the code', async () => {
    const inv = runCli(['invite', '--expires', '10m', '--state-dir', join(dir, 'b')], lab.ns('b'));
    assert.equal(inv.code, 0, inv.stderr);
    const code = inv.stdout.trim();
    assert.match(code, /^pm1-/);
    assert.equal(runCli(['join', 'pm1-garbage', '--state-dir', join(dir, 'x')], lab.ns('x')).code, 2);
    nodes.x = await startNode(
      lab,
      'x',
      join(dir, 'x'),
      ['--interface', `pm${lab.id}x`, '--name', 'node-x'],
      ['join', code],
    );
    await waitFor(
      'x to ping a',
      () => lab.tryExec('x', 'ping', ['-c', '1', '-W', '1', overlay.a]).ok,
      15_000,
    );
    assert.match(nodes.b.log(), /"node-x" at .* used an invitation/);

    // The saved config starts the same device again: same state directory (identity) and name,
    // from any working directory, with no flags — not a new member under the host name.
    const next = /Next time: peermesh up -c (\S+)/.exec(nodes.x.log());
    assert.ok(next, nodes.x.log());
    const keyOf = (h: string) =>
      JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, h)], lab.ns(h)).stdout).publicKey;
    const key = keyOf('x');
    assert.match(key, /^[A-Za-z0-9+/]{43}=$/);
    await stopNode(nodes.x);
    nodes.x = await startNode(lab, 'x', '', ['-c', next[1]], ['up'], '/');
    assert.equal(keyOf('x'), key);
    await waitFor(
      'x to ping a again',
      () => lab.tryExec('x', 'ping', ['-c', '1', '-W', '1', overlay.a]).ok,
      15_000,
    );
    const members = JSON.parse(
      runCli(['status', '--json', '--state-dir', join(dir, 'b')], lab.ns('b')).stdout,
    ).network.members as { name: string; publicKey: string }[];
    assert.deepEqual(
      members.filter((m) => m.publicKey === key).map((m) => m.name),
      ['node-x'],
    );
    // no stray member under the host's name (a new identity in the default state directory)
    assert.deepEqual(
      members.filter((m) => m.name === hostname().split('.')[0]),
      [],
      JSON.stringify(members.map((m) => m.name)),
    );
  });
});

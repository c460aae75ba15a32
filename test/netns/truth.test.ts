// What the nodes show is true (issue 17), with real nodes and real NATs:
//
//   a (198.19.1.2) -- ra [cone NAT] --+                        +-- [cone NAT] rb -- b (198.19.2.2)
//                                     +-- switch 198.18.100.0/24 (ra .1, rb .2, p .3, v .4, c .5)
//
// P is public and relays. V is killed with SIGKILL: every other member must show it offline within
// 30 s, and C, which joins after V died, must never show it online. Then B's machine drops every
// UDP datagram from A's NAT (an nftables rule): with pings flowing, A and B must go relayed through P
// within 10 s and the pings must get through, and go back to direct once the rule is gone. No member
// may show a path endpoint inside an overlay range.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildNatLab, NAT_P_ENDPOINT } from '../lib/nat-lab';
import { NetnsLab, netnsNftSkipReason, sleep, waitFor } from '../lib/netns';
import {
  type RunningNode,
  removeDir,
  runCli,
  type StatusMember,
  startNode,
  stopNode,
  tempDir,
} from '../lib/peermesh-proc';

const skip = netnsNftSkipReason();

describe('what the nodes show is true', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('truth');
  const nodes: Record<string, RunningNode> = {};

  const members = (h: string) =>
    (
      JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, h)], lab.ns(h)).stdout) as {
        network: { members: StatusMember[] };
      }
    ).network.members;
  const member = (h: string, name: string) => members(h).find((m) => m.name === name);
  const overlayEndpoints = (h: string) =>
    members(h)
      .filter((m) => m.endpoint && /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./.test(m.endpoint))
      .map((m) => `${m.name} ${m.endpoint}`);

  /** Waits until A and B both show the other's path as `kind`; returns how long that took. */
  const bothGo = async (kind: string, limitMs: number) => {
    const t0 = Date.now();
    await waitFor(
      `a and b to show ${kind}`,
      () => member('a', 'b')?.path === kind && member('b', 'a')?.path === kind,
      limitMs,
      200,
    );
    return Date.now() - t0;
  };

  const args = (h: string, extra: string[]) => [
    ...lab.memberArgs(h, 'truth', join(dir, 'secret'), h),
    ...extra,
  ];
  const boot = ['--bootstrap', NAT_P_ENDPOINT];

  before(async () => {
    buildNatLab(lab, 'cone', ['v', 'c']);
    writeFileSync(join(dir, 'secret'), 'what the app shows is true\n', { mode: 0o600 });
    nodes.p = await startNode(lab, 'p', join(dir, 'p'), args('p', ['--relay']));
    nodes.v = await startNode(lab, 'v', join(dir, 'v'), args('v', boot));
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', boot));
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', boot));
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('a member killed with SIGKILL is offline everywhere within 30 s, and never online at a node that joins later', async () => {
    for (const h of ['p', 'a', 'b'])
      await waitFor(`${h} shows v online`, () => member(h, 'v')?.online === true, 15_000, 200);
    const m = member('a', 'v')!;
    assert.ok(m.lastSeen !== null && Date.now() - m.lastSeen < 30_000, `lastSeen ${m.lastSeen}`);
    const killed = Date.now();
    await stopNode(nodes.v, 'SIGKILL');
    await waitFor(
      'every member to show v offline',
      () => ['p', 'a', 'b'].every((h) => member(h, 'v')?.online === false),
      30_000,
      250,
    );
    const took = Date.now() - killed;
    console.log(`# v offline everywhere ${took} ms after SIGKILL`);
    for (const h of ['p', 'a', 'b']) {
      const x = member(h, 'v')!;
      assert.equal(x.rttMs, null, `${h} still shows an RTT for v`);
      assert.ok(x.lastSeen !== null && x.lastSeen <= killed + 1000, `${h}: v last seen ${x.lastSeen}`);
    }
    nodes.c = await startNode(lab, 'c', join(dir, 'c'), args('c', boot));
    await waitFor('c to learn v', () => member('c', 'v') !== undefined, 15_000, 200);
    await waitFor('c to show a online', () => member('c', 'a')?.online === true, 15_000, 200);
    const end = Date.now() + 15_000;
    while (Date.now() < end) {
      const x = member('c', 'v')!;
      assert.equal(x.online, false, 'c shows the dead member online');
      assert.notEqual(x.path, 'direct', 'c shows the dead member direct');
      assert.equal(x.rttMs, null, 'c shows an RTT for the dead member');
      assert.equal(x.lastSeen, null, 'c shows a lastSeen for a member that never answered it');
      await sleep(500);
    }
  });

  it('a direct path blocked by a firewall goes relayed within 10 s with pings flowing, and back to direct', async () => {
    await waitFor('a shows b direct', () => member('a', 'b')?.path === 'direct', 15_000, 200);
    await waitFor('b shows a direct', () => member('b', 'a')?.path === 'direct', 15_000, 200);
    const bAddr = member('a', 'b')!.address;
    const aRtt = member('a', 'b')!;
    assert.ok(
      aRtt.rttMs === null || (aRtt.rttAgeMs !== null && aRtt.rttAgeMs >= 0),
      'an RTT comes with its age',
    );
    // Pings a -> b all along (5 a second); replies counted with the time they came.
    const ping = lab.spawnIn('a', 'ping', ['-i', '0.2', '-W', '1', bAddr]);
    const replies: number[] = [];
    ping.stdout?.on('data', (d: Buffer) => {
      for (const _ of d.toString().match(/bytes from/g) ?? []) replies.push(Date.now());
    });
    const repliesSince = (t: number) => replies.filter((x) => x >= t).length;
    try {
      await waitFor('pings flowing', () => replies.length >= 5, 10_000, 100);
      // B's machine drops every UDP datagram from A's NAT (what P relays still reaches it).
      const nft = (...a: string[]) => lab.exec('b', 'nft', a);
      nft('add', 'table', 'inet', 'pmtruth');
      nft(
        'add',
        'chain',
        'inet',
        'pmtruth',
        'in',
        '{',
        'type',
        'filter',
        'hook',
        'input',
        'priority',
        '0',
        ';',
        '}',
      );
      nft(
        'add',
        'rule',
        'inet',
        'pmtruth',
        'in',
        'ip',
        'saddr',
        '198.18.100.1',
        'udp',
        'dport',
        '51820',
        'drop',
      );
      console.log(`# relayed ${await bothGo('relayed', 10_000)} ms after the block`);
      assert.equal(member('a', 'b')!.via, 'p');
      const t = Date.now();
      await sleep(3_000);
      assert.ok(repliesSince(t) >= 10, `only ${repliesSince(t)} ping replies in 3 s through the relay`);
      assert.equal(member('a', 'b')!.online, true, 'b is online (it answers through the relay)');
      assert.deepEqual(overlayEndpoints('a'), []);
      nft('delete', 'table', 'inet', 'pmtruth');
      console.log(`# direct again ${await bothGo('direct', 60_000)} ms after unblocking`);
      const t2 = Date.now();
      await sleep(2_000);
      assert.ok(repliesSince(t2) >= 7, `only ${repliesSince(t2)} ping replies in 2 s on the direct path`);
    } finally {
      ping.kill('SIGKILL');
    }
  });

  it('no member shows a path endpoint inside an overlay range', () => {
    for (const h of ['p', 'a', 'b', 'c']) assert.deepEqual(overlayEndpoints(h), [], `${h}`);
  });
});

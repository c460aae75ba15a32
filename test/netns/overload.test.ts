// No loss goes uncounted (issue 18): iperf3 -u overloads the tunnel from A to B; every datagram
// iperf3 reports lost must show up in a drop counter — PeerMesh's (status --json counters: the
// kernel's TUN queue and UDP socket drops, the data plane's own) or the iperf3 server's own socket
// (read from /proc/net/udp in B's namespace, the receiving program's share).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, sleep, waitFor } from '../lib/netns';
import {
  assertDataPath,
  type NodeStatus,
  nodeStatus,
  type RunningNode,
  removeDir,
  startNode,
  tempDir,
} from '../lib/peermesh-proc';

const skip = netnsSkipReason();

describe('overload: every lost datagram is counted', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('overload');
  const nodes: Record<string, RunningNode> = {};
  const status = (h: string) => nodeStatus(lab, h, join(dir, h));

  before(async () => {
    for (const h of ['a', 'b']) lab.addHost(h);
    lab.lan([
      ['a', '198.18.0.1/24'],
      ['b', '198.18.0.2/24'],
    ]);
    writeFileSync(join(dir, 'secret'), 'every loss is counted\n', { mode: 0o600 });
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), lab.memberArgs('b', 'ovl', join(dir, 'secret'), 'b'));
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), [
      ...lab.memberArgs('a', 'ovl', join(dir, 'secret'), 'a'),
      '--bootstrap',
      '198.18.0.2:51820',
    ]);
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('iperf3 -u far over what the tunnel carries: the lost datagrams are in the counters', async () => {
    for (const h of ['a', 'b']) assertDataPath(status(h)); // which drop counters `sum` reads
    const bAddr = status('b').addresses[0].split('/')[0];
    await waitFor('a pings b', () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', bAddr]).ok, 20_000, 300);
    const srv = lab.spawnIn('b', 'iperf3', ['-s', '-B', bAddr, '-p', '5301', '-1']);
    await sleep(500);
    /**
     * What PeerMesh counted as lost. The native receiver counts datagrams lost on the way by the gaps
     * in the sender's counters (rxLostInFlight: whatever the cause, the underlay or our socket's
     * buffer); the kernel counts our socket's drops per buffer (a GSO batch is one), so on the native
     * path those are inside the gaps and not added again.
     */
    const sum = (s: NodeStatus) => {
      const c = s.counters;
      const dp = s.dataPlane;
      // the data plane's own drops (queues full, send errors, writes the TUN refused)
      const dpDrops = [
        'txQueueFull',
        'txSendError',
        'jsQueueFull',
        'injectQueueFull',
        'tunWriteError',
        'rxLostInFlight',
      ]
        .map((k) => dp?.[k] ?? 0)
        .reduce((x, v) => x + v, 0);
      // the TypeScript path's: the helper's channel, packets staged for a handshake, UDP sends refused
      const tsDrops = (c.txDropped ?? 0) + (c.stagedDropped ?? 0) + (c.udpSendDropped ?? 0);
      const socket = dp ? 0 : (c.kernelUdpRcvDropped ?? 0);
      return (c.kernelTunTxDropped ?? 0) + (c.kernelTunRxDropped ?? 0) + socket + dpDrops + tsDrops;
    };
    /** Namespace-wide UDP receive-buffer drops (every socket: ours and the iperf3 server's). */
    const snmp = (h: string) => {
      const lines = lab
        .exec(h, 'cat', ['/proc/net/snmp'])
        .split('\n')
        .filter((l) => l.startsWith('Udp:'));
      const [names, values] = lines.map((l) => l.split(/\s+/));
      return Number(values[names.indexOf('RcvbufErrors')]);
    };
    /** The underlay's share: drops of the veth pair and of the kernel's per-CPU input backlog. */
    const underlay = () => {
      let n = 0;
      // both ends of each host's veth: a veth that cannot hand a packet to its peer counts it dropped
      for (const h of ['a', 'b'])
        for (const f of ['tx_dropped', 'rx_dropped']) {
          n += Number(lab.exec(h, 'cat', [`/sys/class/net/${lab.vethName(h)}/statistics/${f}`]));
          const inSw = `s${lab.id}${h}`.slice(0, 15);
          n += Number(lab.exec('sw', 'cat', [`/sys/class/net/${inSw}/statistics/${f}`]));
        }
      for (const l of readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n'))
        n += Number.parseInt(l.split(/\s+/)[1], 16);
      return n;
    };
    const snmpBefore = snmp('b');
    const underlayBefore = underlay();
    const before = sum(status('a')) + sum(status('b'));
    const r = lab.exec(
      'a',
      'iperf3',
      ['-c', bAddr, '-p', '5301', '-u', '-b', '4G', '-l', '1300', '-t', '4', '-J'],
      60_000,
    );
    const end = (JSON.parse(r) as { end: { sum: { lost_packets: number; packets: number } } }).end.sum;
    srv.kill();
    const ours = status('b').counters.kernelUdpRcvDropped ?? 0;
    const serverDrops = snmp('b') - snmpBefore - ours; // the receiving program's share
    const underlayDrops = underlay() - underlayBefore;
    const counted = sum(status('a')) + sum(status('b')) - before;
    process.stderr.write(
      `iperf3: ${end.packets} sent, ${end.lost_packets} lost; counted by PeerMesh ${counted}, by iperf3's socket ${serverDrops}, underlay ${underlayDrops}\n` +
        `a: ${JSON.stringify(status('a').counters)}\n a dp ${JSON.stringify(status('a').dataPlane)}\n` +
        `b: ${JSON.stringify(status('b').counters)}\n b dp ${JSON.stringify(status('b').dataPlane)}\n`,
    );
    assert.ok(end.lost_packets > 0, 'no loss: the overload did not overload');
    const all = counted + serverDrops + underlayDrops;
    assert.ok(counted > 0, 'PeerMesh counted no loss');
    assert.ok(all >= end.lost_packets * 0.9, `${all} of ${end.lost_packets} lost datagrams counted`);
  });
});

// The native data plane against stock WireGuard: Debian's wireguard-go in one namespace; in the
// other, the addon carrying the data (all offloads on) with a TypeScript Device in the same process
// doing the handshakes (the addon hands it handshake datagrams and packets without a session; the
// keys it derives are installed in the addon). Ping and iperf3 both ways; the transport messages
// wireguard-go accepts and sends are sealed and opened by the addon.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DpWorker, startDataplaneNode } from '../lib/dataplane-lab';
import { iperfTransfer, NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import { NATIVE_ONLY_SKIP, removeDir, tempDir } from '../lib/peermesh-proc';
import { spawnWireguardGo, wgSet, wireguardGoSkipReason } from '../lib/wireguard-go';

const skip = netnsSkipReason() ?? wireguardGoSkipReason() ?? NATIVE_ONLY_SKIP;

describe('native data plane interop with wireguard-go', { skip }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('dp-interop');
  const wgIf = `wg${lab.id}`;
  const dpIf = `d${lab.id}b`;
  let node: DpWorker;

  const genkey = () => {
    const priv = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
    return { priv, pub: execFileSync('wg', ['pubkey'], { input: priv, encoding: 'utf8' }).trim() };
  };

  before(async () => {
    lab.addHost('a');
    lab.addHost('b');
    lab.link('a', '198.18.0.1/24', 'b', '198.18.0.2/24');
    const wg = genkey();
    const ours = genkey();
    writeFileSync(join(dir, 'wg.key'), wg.priv, { mode: 0o600 });
    spawnWireguardGo(lab, 'a', wgIf);
    await wgSet(lab, 'a', wgIf, [
      'private-key',
      join(dir, 'wg.key'),
      'listen-port',
      '51820',
      'peer',
      ours.pub,
      'allowed-ips',
      '100.64.0.2/32',
      'endpoint',
      '198.18.0.2:51820',
    ]);
    lab.exec('a', 'ip', ['addr', 'add', '100.64.0.1/24', 'dev', wgIf]);
    lab.exec('a', 'ip', ['link', 'set', wgIf, 'up']);
    node = await startDataplaneNode(
      lab,
      'b',
      {
        tun: dpIf,
        vnetHdr: true,
        gso: true,
        gro: true,
        coalesce: true,
        port: 51820,
        peer: { endpoint: { address: '198.18.0.1', port: 51820 }, allowedIps: ['100.64.0.1/32'] },
        device: { privateKey: ours.priv, peerPublicKey: wg.pub },
      },
      ['100.64.0.2/24'],
    );
  });

  after(async () => {
    await node?.stop().catch(() => {});
    await lab.cleanup();
    removeDir(dir);
  });

  it('handshakes through the Device, then pings both ways through the addon', async () => {
    await waitFor(
      'ping wireguard-go',
      () => lab.tryExec('b', 'ping', ['-c', '1', '-W', '1', '100.64.0.1']).ok,
      10_000,
    );
    lab.exec('a', 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '100.64.0.2']);
    lab.exec('b', 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '-s', '1392', '-M', 'do', '100.64.0.1']);
    const s = await node.stats();
    assert.ok((s.items['datagram:rxNotTransport'] ?? 0) >= 1, 'the handshake response went to the Device');
    assert.ok((s.items['packet:txNoSession'] ?? 0) >= 1, 'the first packet went to the Device (staged)');
    assert.ok(s.counters.txPackets >= 6 && s.counters.rxPackets >= 6, JSON.stringify(s.counters));
    assert.equal(s.counters.rxBadTag + s.counters.rxReplayed, 0);
  });

  it('transfers data with iperf3 both ways (TSO/GSO/GRO inner packets accepted by wireguard-go)', async () => {
    const ba = iperfTransfer(lab, 'a', '100.64.0.1', 'b', 5201);
    const ab = iperfTransfer(lab, 'b', '100.64.0.2', 'a', 5202);
    assert.ok(ba > 1_000_000 && ab > 1_000_000, `${ba} and ${ab} bytes`);
    const s = await node.stats();
    assert.ok(s.counters.tunTsoReads > 0 && s.counters.tunGsoWrites > 0, JSON.stringify(s.counters));
    for (const h of ['a', 'b']) {
      const out = lab.exec(h, 'nstat', ['-az', 'TcpInCsumErrors']);
      assert.match(out, /TcpInCsumErrors\s+0\s/, `${h}: ${out}`);
    }
  });
});

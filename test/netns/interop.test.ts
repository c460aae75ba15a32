// Interoperability with stock WireGuard: Debian's wireguard-go + wg in one namespace, PeerMesh in
// another. Handshake, ping and iperf3 both ways, and re-handshake after a restart of either side.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { iperfTransfer, type NetnsLab as Lab, NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import {
  assertDataPath,
  keygen,
  nodeStatus,
  type RunningNode,
  removeDir,
  startNode,
  stopNode,
  tempDir,
} from '../lib/peermesh-proc';

function hasWireguardGo(): boolean {
  try {
    execFileSync('wireguard-go', ['--version'], { stdio: 'ignore' });
    execFileSync('wg', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip =
  netnsSkipReason() ??
  (hasWireguardGo()
    ? null
    : 'skipped: needs wireguard-go and wg (apt-get install wireguard-go wireguard-tools)');

describe('interop with wireguard-go', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('interop');
  const wgIf = `wg${lab.id}`;
  const pmIf = `pm${lab.id}`;
  let wgPub = '';
  let pmPub = '';
  let pm: RunningNode;

  function startWireguardGo(l: Lab) {
    const p = l.spawnIn('a', 'wireguard-go', ['-f', wgIf], {
      env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' },
    });
    return p;
  }

  async function configureWireguardGo(): Promise<void> {
    await waitFor('wireguard-go UAPI socket', () => lab.tryExec('a', 'wg', ['show', wgIf]).ok, 10_000);
    lab.exec('a', 'wg', [
      'set',
      wgIf,
      'private-key',
      join(dir, 'wg.key'),
      'listen-port',
      '51820',
      'peer',
      pmPub,
      'allowed-ips',
      '100.64.0.2/32,fd00:6d::2/128',
      'endpoint',
      '198.18.0.2:51820',
    ]);
    lab.exec('a', 'ip', ['addr', 'add', '100.64.0.1/24', 'dev', wgIf]);
    lab.exec('a', 'ip', ['addr', 'add', 'fd00:6d::1/64', 'dev', wgIf, 'nodad']);
    lab.exec('a', 'ip', ['link', 'set', wgIf, 'up']);
  }

  const pmArgs = () => [
    '--interface',
    pmIf,
    '--address',
    '100.64.0.2/24',
    '--address',
    'fd00:6d::2/64',
    '--listen',
    '51820',
    '--private-key-file',
    join(dir, 'pm.key'),
    '--peer',
    `${wgPub}@198.18.0.1:51820,100.64.0.1/32,fd00:6d::1/128`,
  ];

  let wgProc: ReturnType<typeof startWireguardGo>;

  before(async () => {
    lab.addHost('a');
    lab.addHost('b');
    lab.link('a', '198.18.0.1/24', 'b', '198.18.0.2/24');
    // wg's own key tools, to show the key formats are the same.
    const wgKey = execFileSync('wg', ['genkey'], { encoding: 'utf8' });
    writeFileSync(join(dir, 'wg.key'), wgKey, { mode: 0o600 });
    wgPub = execFileSync('wg', ['pubkey'], { input: wgKey, encoding: 'utf8' }).trim();
    pmPub = keygen(join(dir, 'pm.key'));
    wgProc = startWireguardGo(lab);
    await configureWireguardGo();
    pm = await startNode(lab, 'b', join(dir, 'state'), pmArgs());
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  /** PeerMesh (b) handshakes and pings wireguard-go (a); then pings both ways, IPv4 and IPv6. */
  async function pingsBothWays(what: string): Promise<void> {
    await waitFor(what, () => lab.tryExec('b', 'ping', ['-c', '1', '-W', '1', '100.64.0.1']).ok, 15_000);
    lab.exec('a', 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '100.64.0.2']);
    lab.exec('b', 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd00:6d::1']);
  }

  it('handshakes and pings both ways (IPv4 and IPv6), PeerMesh initiating', async () => {
    await pingsBothWays('ping wg from peermesh');
    lab.exec('a', 'ping', ['-c', '3', '-i', '0.1', '-W', '2', '-s', '1372', '100.64.0.2']);
    const show = lab.exec('a', 'wg', ['show', wgIf, 'latest-handshakes']);
    assert.ok(Number(show.trim().split(/\s+/)[1]) > 0, show);
  });

  it('transfers data with iperf3 both ways, on the data path of this run', () => {
    assert.ok(iperfTransfer(lab, 'a', '100.64.0.1', 'b', 5201) > 1_000_000);
    assert.ok(iperfTransfer(lab, 'b', '100.64.0.2', 'a', 5202) > 1_000_000);
    const s = nodeStatus(lab, 'b', join(dir, 'state'));
    assertDataPath(s);
    const peer = (s.peers as { rxBytes: number; txBytes: number }[])[0];
    assert.ok(peer.rxBytes > 1_000_000 && peer.txBytes > 1_000_000, JSON.stringify(peer));
  });

  it('re-handshakes after wireguard-go restarts (wireguard-go initiating)', async () => {
    wgProc.kill('SIGTERM');
    // Wait for the process itself (it holds the UDP port until it exits), not only its interface.
    await waitFor('wireguard-go exited', () => wgProc.exitCode !== null || wgProc.signalCode !== null, 5000);
    await waitFor('wireguard-go interface gone', () => !lab.links('a').includes(wgIf), 5000);
    wgProc = startWireguardGo(lab);
    await configureWireguardGo();
    await waitFor(
      'ping from restarted wireguard-go',
      () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', '100.64.0.2']).ok,
      15_000,
    );
    lab.exec('b', 'ping', ['-c', '2', '-W', '2', '100.64.0.1']);
  });

  it('re-handshakes after PeerMesh restarts', async () => {
    assert.equal(await stopNode(pm), 0);
    pm = await startNode(lab, 'b', join(dir, 'state'), pmArgs());
    await waitFor(
      'ping from wg to restarted peermesh',
      () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', '100.64.0.2']).ok,
      15_000,
    );
  });

  it('with a pre-shared key on both sides: handshake, pings (IPv4, IPv6) and iperf3 both ways', async () => {
    const psk = execFileSync('wg', ['genpsk'], { encoding: 'utf8' });
    writeFileSync(join(dir, 'psk'), psk, { mode: 0o600 });
    lab.exec('a', 'wg', ['set', wgIf, 'peer', pmPub, 'preshared-key', join(dir, 'psk')]);
    assert.equal(await stopNode(pm), 0);
    pm = await startNode(lab, 'b', join(dir, 'state'), [...pmArgs(), '--psk-file', join(dir, 'psk')]);
    await pingsBothWays('ping wg from peermesh with the PSK');
    assert.ok(iperfTransfer(lab, 'a', '100.64.0.1', 'b', 5203) > 1_000_000);
    assert.ok(iperfTransfer(lab, 'b', '100.64.0.2', 'a', 5204) > 1_000_000);
    // A PeerMesh without the key gets no session: wireguard-go drops its initiations.
    assert.equal(await stopNode(pm), 0);
    pm = await startNode(lab, 'b', join(dir, 'state'), pmArgs());
    assert.equal(lab.tryExec('b', 'ping', ['-c', '3', '-i', '0.5', '-W', '1', '100.64.0.1']).ok, false);
  });
});

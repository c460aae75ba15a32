// Two real `peermesh up` nodes in two network namespaces joined by a veth: IPv4 and IPv6 pings,
// 1400-byte packets, an iperf3 transfer, status over the control socket, restart of one side, and
// kill -9 leaving no interface or route behind.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultHelperPath } from '../../main/io/helper';
import { iperfTransfer, NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import {
  assertDataPath,
  DATA_PATH,
  keygen,
  type RunningNode,
  removeDir,
  runCli,
  startNode,
  stopNode,
  tempDir,
} from '../lib/peermesh-proc';

const skip = netnsSkipReason();
const NATIVE = DATA_PATH === 'native';

describe('tunnel between two peermesh nodes', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('tunnel');
  const ifA = `pm${lab.id}a`;
  const ifB = `pm${lab.id}b`;
  let pubA = '';
  let pubB = '';
  let a: RunningNode;
  let b: RunningNode;

  const argsA = () => [
    '--interface',
    ifA,
    '--address',
    '100.64.0.1/24',
    '--address',
    'fd00:6d::1/64',
    '--listen',
    '51820',
    '--private-key-file',
    join(dir, 'a.key'),
    '--peer',
    `${pubB}@198.18.0.2:51820,100.64.0.2/32,fd00:6d::2/128`,
  ];
  const argsB = () => [
    '--interface',
    ifB,
    '--address',
    '100.64.0.2/24',
    '--address',
    'fd00:6d::2/64',
    '--listen',
    '51820',
    '--private-key-file',
    join(dir, 'b.key'),
    '--peer',
    `${pubA}@198.18.0.1:51820,100.64.0.1/32,fd00:6d::1/128`,
  ];

  before(async () => {
    lab.addHost('a');
    lab.addHost('b');
    lab.link('a', '198.18.0.1/24', 'b', '198.18.0.2/24');
    pubA = keygen(join(dir, 'a.key'));
    pubB = keygen(join(dir, 'b.key'));
    a = await startNode(lab, 'a', join(dir, 'state-a'), argsA());
    b = await startNode(lab, 'b', join(dir, 'state-b'), argsB());
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('pings over IPv4 and IPv6 through the tunnel', () => {
    lab.exec('a', 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '100.64.0.2']);
    lab.exec('b', 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '100.64.0.1']);
    lab.exec('a', 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd00:6d::2']);
  });

  it('carries 1400-byte packets both ways (IPv4 and IPv6)', () => {
    const out = lab.exec('a', 'ping', [
      '-c',
      '5',
      '-i',
      '0.05',
      '-W',
      '2',
      '-M',
      'do',
      '-s',
      '1372',
      '100.64.0.2',
    ]);
    assert.match(out, /5 received/);
    assert.match(out, /1380 bytes from/);
    const out6 = lab.exec('b', 'ping', [
      '-6',
      '-c',
      '5',
      '-i',
      '0.05',
      '-W',
      '2',
      '-s',
      '1352',
      'fd00:6d::1',
    ]);
    assert.match(out6, /5 received/);
  });

  it('refuses packets bigger than the MTU with "message too long" instead of blackholing them', () => {
    const r = lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', '-M', 'do', '-s', '1400', '100.64.0.2']);
    assert.equal(r.ok, false);
    assert.match(r.out, /too long|mtu/i);
  });

  it('moves an iperf3 TCP transfer both ways', () => {
    assert.ok(iperfTransfer(lab, 'b', '100.64.0.2', 'a', 5201) > 1_000_000);
    assert.ok(iperfTransfer(lab, 'a', '100.64.0.1', 'b', 5202) > 1_000_000);
  });

  it('reports interface, peers, handshake and traffic with `peermesh status`', () => {
    const r = runCli(['status', '--json', '--state-dir', join(dir, 'state-a')], lab.ns('a'));
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.interface, ifA);
    assert.equal(s.peers.length, 1);
    assert.equal(s.peers[0].publicKey, pubB);
    assert.equal(s.peers[0].endpoint, '198.18.0.2:51820');
    assert.ok(s.peers[0].latestHandshake);
    assert.ok(s.peers[0].rxBytes > 1_000_000 && s.peers[0].txBytes > 1_000_000);
    assertDataPath(s);
    if (NATIVE) {
      // The addon's counters: drops by reason, all zero for clean traffic on a clean link.
      for (const c of [
        'rxBadTag',
        'rxReplayed',
        'rxWrongSource',
        'txSendError',
        'jsQueueFull',
        'tunWriteError',
      ])
        assert.equal(s.dataPlane[c], 0, `${c}: ${JSON.stringify(s.dataPlane)}`);
      assert.ok(s.dataPlane.txNoSession >= 0 && s.dataPlane.vnetHdr === 1, JSON.stringify(s.dataPlane));
    }
    const text = runCli(['status', '--state-dir', join(dir, 'state-a')], lab.ns('a'));
    assert.match(text.stdout, /latest handshake: \d+ s ago/);
    // The private key never appears in status output or the log.
    const priv = readFileSync(join(dir, 'a.key'), 'utf8').trim();
    assert.ok(!r.stdout.includes(priv) && !text.stdout.includes(priv) && !a.log().includes(priv));
  });

  it('recovers after one side restarts', async () => {
    assert.equal(await stopNode(b), 0);
    await waitFor('b interface gone', () => !lab.links('b').includes(ifB), 5000);
    b = await startNode(lab, 'b', join(dir, 'state-b'), argsB());
    // The restarted node handshakes with its static peers at once: no wait for a's timers.
    await waitFor(
      'ping after restart',
      () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', '100.64.0.2']).ok,
      10_000,
    );
  });

  it('a node on the other data path (native <-> TypeScript) interoperates; status says which path each runs', async () => {
    assert.equal(await stopNode(b), 0);
    await waitFor('b interface gone', () => !lab.links('b').includes(ifB), 5000);
    const other = NATIVE ? 'off' : 'on';
    b = await startNode(lab, 'b', join(dir, 'state-b'), argsB(), ['up'], undefined, {
      ...process.env,
      PEERMESH_DATAPLANE: other,
    });
    try {
      await waitFor(
        'ping to the other path',
        () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', '100.64.0.2']).ok,
        10_000,
      );
      assert.ok(iperfTransfer(lab, 'b', '100.64.0.2', 'a', 5203) > 1_000_000);
      assert.ok(iperfTransfer(lab, 'a', '100.64.0.1', 'b', 5204) > 1_000_000);
      const sb = JSON.parse(
        runCli(['status', '--json', '--state-dir', join(dir, 'state-b')], lab.ns('b')).stdout,
      );
      assert.equal(sb.dataPath, NATIVE ? 'typescript' : 'native');
      assert.equal(sb.dataPathReason, `PEERMESH_DATAPLANE=${other}`);
      assert.equal(sb.dataPlane === null, NATIVE);
    } finally {
      await stopNode(b);
      await waitFor('b interface gone', () => !lab.links('b').includes(ifB), 5000);
      b = await startNode(lab, 'b', join(dir, 'state-b'), argsB());
    }
  });

  it('a helper without fd mode: the node falls back to the TypeScript path, says why, and works', {
    skip: NATIVE && !process.env.PEERMESH_DATAPLANE ? false : 'only where the native path is the default',
  }, async () => {
    // A helper of an older build: the same binary with --pass-fd N taken out of its arguments.
    const wrapper = join(dir, 'old-helper.sh');
    writeFileSync(
      wrapper,
      `#!/bin/sh\nn=$#\ni=0\nwhile [ $i -lt $n ]; do a=$1; shift; i=$((i+1))\n` +
        `  if [ "$a" = --pass-fd ]; then shift; i=$((i+1)); continue; fi\n  set -- "$@" "$a"\ndone\n` +
        `exec '${defaultHelperPath()}' "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    assert.equal(await stopNode(b), 0);
    await waitFor('b interface gone', () => !lab.links('b').includes(ifB), 5000);
    b = await startNode(lab, 'b', join(dir, 'state-b'), argsB(), ['up'], undefined, {
      ...process.env,
      PEERMESH_HELPER: wrapper,
    });
    try {
      assert.match(
        b.log(),
        /native data path failed to start: .*no device descriptor.*using the TypeScript data path/,
      );
      await waitFor(
        'ping after the fallback',
        () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', '100.64.0.2']).ok,
        10_000,
      );
      const sb = JSON.parse(
        runCli(['status', '--json', '--state-dir', join(dir, 'state-b')], lab.ns('b')).stdout,
      );
      assert.equal(sb.dataPath, 'typescript');
      assert.match(sb.dataPathReason, /native data path failed to start/);
    } finally {
      await stopNode(b);
      await waitFor('b interface gone', () => !lab.links('b').includes(ifB), 5000);
      b = await startNode(lab, 'b', join(dir, 'state-b'), argsB());
    }
  });

  it('kill -9 of a node leaves no interface, address or route behind, and it starts again', async () => {
    await stopNode(a, 'SIGKILL');
    await waitFor('a interface gone after kill -9', () => !lab.links('a').includes(ifA), 5000);
    const routes = lab.exec('a', 'ip', ['route']) + lab.exec('a', 'ip', ['-6', 'route']);
    assert.ok(!routes.includes(ifA) && !routes.includes('100.64.0.'), routes);
    assert.ok(!lab.exec('a', 'ip', ['addr']).includes('100.64.0.1'));
    a = await startNode(lab, 'a', join(dir, 'state-a'), argsA());
    await waitFor(
      'ping after kill -9 and restart',
      () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', '100.64.0.2']).ok,
      10_000,
    );
  });

  it('exits 2 with one clear line when the UDP port is in use', () => {
    const r = runCli(
      [
        'up',
        '--state-dir',
        join(dir, 'state-c'),
        '--interface',
        `pm${lab.id}c`,
        '--listen',
        '51820',
        '--address',
        '100.64.1.1/24',
        '--private-key-file',
        join(dir, 'a.key'),
      ],
      lab.ns('a'),
    );
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /UDP port 51820 is used by another program: choose another port/);
    assert.ok(!lab.links('a').includes(`pm${lab.id}c`));
  });

  it('exits 2 with one clear line when the interface name is taken', () => {
    const r = runCli(
      [
        'up',
        '--state-dir',
        join(dir, 'state-d'),
        '--interface',
        ifA,
        '--listen',
        '51830',
        '--address',
        '100.64.1.1/24',
        '--private-key-file',
        join(dir, 'a.key'),
      ],
      lab.ns('a'),
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`An interface named ${ifA} exists: choose another interface name`));
  });

  it('the state directory and key files are private (0700 / 0600)', () => {
    assert.equal(statSync(join(dir, 'state-a')).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'a.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'state-a', 'peermesh.sock')).mode & 0o777, 0o600);
  });
});

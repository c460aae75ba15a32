// A handshake initiation recorded on the wire and replayed after the responder restarted (docs/security.md
// section 3): two mesh members A and B and a stranger X on one bridge (underlay 198.18.0.0/15). tcpdump
// on B's veth records the initiations between A and B; the responder of one of them is restarted
// (SIGTERM, same state directory); X then replays every recorded initiation to it. The responder must
// send X nothing at all (X's socket and an nftables counter on its veth both count 0), keep the
// initiator's endpoint where it was, and count the replays; A and B still ping each other.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, sh, waitFor } from '../lib/netns';
import { readPcapUdp } from '../lib/pcap';
import {
  assertDataPath,
  type RunningNode,
  removeDir,
  runCli,
  startNode,
  stopNode,
  tempDir,
} from '../lib/peermesh-proc';

function toolsSkipReason(): string | null {
  for (const tool of ['tcpdump', 'nft']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      return `skipped: needs ${tool}`;
    }
  }
  return null;
}

const skip = netnsSkipReason() ?? toolsSkipReason();
const ADDR: Record<string, string> = { a: '198.18.0.1', b: '198.18.0.2', x: '198.18.0.9' };
const PORT = 51820;

/** X: send the given datagrams (hex) to target:port, each `times` times; report what came back. */
const REPLAYER = `'use strict';
const dgram = require('node:dgram');
const o = JSON.parse(process.argv[2]);
const s = dgram.createSocket('udp4');
const got = { datagrams: 0, bytes: 0 };
s.on('message', (m) => { got.datagrams++; got.bytes += m.length; });
s.bind(0, async () => {
  let sent = 0;
  for (let t = 0; t < o.times; t++)
    for (const hex of o.datagrams) {
      await new Promise((r) => s.send(Buffer.from(hex, 'hex'), o.port, o.target, r));
      sent++;
      await new Promise((r) => setTimeout(r, 30));
    }
  setTimeout(() => { console.log(JSON.stringify({ sent, got })); s.close(); }, 2500);
});
`;

describe('replayed initiations after a restart', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('replay');
  const nodes: Record<string, RunningNode> = {};
  const pcap = join(dir, 'ab.pcap');

  const args = (h: string, bootstrap: string | null) => [
    ...lab.memberArgs(h, 'replay', join(dir, 'secret')),
    ...(bootstrap ? ['--bootstrap', bootstrap] : []),
  ];
  const bootstrapOf = (h: string) => (h === 'a' ? null : `${ADDR.a}:${PORT}`);
  const status = (h: string) =>
    JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, h)], lab.ns(h)).stdout);

  before(async () => {
    for (const h of ['a', 'b', 'x']) lab.addHost(h);
    lab.lan([
      ['a', `${ADDR.a}/15`],
      ['b', `${ADDR.b}/15`],
      ['x', `${ADDR.x}/15`],
    ]);
    writeFileSync(join(dir, 'secret'), 'replay test secret\n', { mode: 0o600 });
    writeFileSync(join(dir, 'replayer.js'), REPLAYER);
    for (const h of ['a', 'b']) {
      const rules = `table inet pmreplay {
  counter udp_to_x {}
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "${lab.vethName(h)}" ip daddr ${ADDR.x} meta l4proto udp counter name udp_to_x
  }
}
`;
      sh('ip', ['netns', 'exec', lab.ns(h), 'nft', '-f', '-'], { input: rules });
    }
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('a responder restarted with its state directory answers no recorded initiation and keeps the endpoint', async () => {
    const cap = lab.spawnIn('b', 'tcpdump', [
      '-n',
      '-U',
      '--immediate-mode',
      '-s',
      '0',
      '-Z',
      'root',
      '-c',
      '300',
      '-i',
      lab.vethName('b'),
      '-w',
      pcap,
      `udp and port ${PORT} and host ${ADDR.a} and host ${ADDR.b}`,
    ]);
    let capOut = '';
    cap.stderr?.on('data', (d) => {
      capOut += d;
    });
    await waitFor('tcpdump listening', () => /listening on/.test(capOut), 10_000);
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', null));
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', bootstrapOf('b')));
    const overlay: Record<string, string> = {};
    for (const h of ['a', 'b']) overlay[h] = status(h).addresses[0].split('/')[0];
    assertDataPath(status('b'));
    await waitFor(
      'a -> b over the overlay',
      () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', overlay.b]).ok,
      20_000,
    );
    lab.exec('b', 'ping', ['-c', '2', '-i', '0.2', '-W', '1', overlay.a]);
    const isInit = (d: { payload: Buffer }) => d.payload.length === 148 && d.payload[0] === 1;
    await waitFor('the initiation in the capture', () => readPcapUdp(pcap).some(isInit), 10_000, 200);
    cap.kill('SIGTERM');
    await new Promise((r) => (cap.exitCode !== null ? r(null) : cap.once('exit', r)));

    // The recorded initiations (type 1, 148 bytes), and the side that answered them.
    const inits = readPcapUdp(pcap).filter(isInit);
    const responder = inits[0].dst === ADDR.a ? 'a' : 'b';
    const initiator = responder === 'a' ? 'b' : 'a';
    const toResponder = inits.filter((d) => d.dst === ADDR[responder]).map((d) => d.payload.toString('hex'));
    const initiatorKey = status(initiator).publicKey;

    // Restart the responder (a clean stop: its table is saved, 0600).
    assert.equal(await stopNode(nodes[responder]), 0);
    const file = join(dir, responder, 'initiation-timestamps.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    nodes[responder] = await startNode(
      lab,
      responder,
      join(dir, responder),
      args(responder, bootstrapOf(responder)),
    );
    const before = status(responder);
    const toX0 = lab.exec(responder, 'nft', ['list', 'counter', 'inet', 'pmreplay', 'udp_to_x']);

    const out = lab.exec('x', process.execPath, [
      join(dir, 'replayer.js'),
      JSON.stringify({ target: ADDR[responder], port: PORT, datagrams: toResponder, times: 3 }),
    ]);
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
      sent: number;
      got: { datagrams: number; bytes: number };
    };
    const toX = lab.exec(responder, 'nft', ['list', 'counter', 'inet', 'pmreplay', 'udp_to_x']);
    const packets = (s: string) => Number(/packets (\d+)/.exec(s)?.[1] ?? -1);
    const after = status(responder);
    const peer = after.peers.find((p: { publicKey: string }) => p.publicKey === initiatorKey);
    console.log(
      `replay: ${toResponder.length} recorded initiation(s) ${initiator} -> ${responder}, replayed ${r.sent} times ` +
        `from X after ${responder}'s restart: X got ${r.got.datagrams} datagrams (${r.got.bytes} bytes), ` +
        `nft ${responder} -> X: ${packets(toX) - packets(toX0)} packets; replayed counter ` +
        `${before.counters.replayed} -> ${after.counters.replayed}; ${initiator}'s endpoint at ${responder}: ` +
        `${peer?.endpoint ?? '(no peer)'}`,
    );
    assert.equal(r.sent, toResponder.length * 3);
    assert.equal(r.got.bytes, 0, 'X got an answer');
    assert.equal(packets(toX) - packets(toX0), 0, 'the responder sent UDP to X');
    assert.ok(
      after.counters.replayed - before.counters.replayed >= r.sent,
      'the replays were not refused as replays',
    );
    assert.ok(!peer?.endpoint?.startsWith(ADDR.x), `endpoint moved to X: ${peer?.endpoint}`);
    // The members still reach each other (a fresh initiation is newer than the saved one).
    await waitFor(
      `${initiator} -> ${responder} after the restart`,
      () => lab.tryExec(initiator, 'ping', ['-c', '1', '-W', '1', overlay[responder]]).ok,
      20_000,
    );
    lab.exec(responder, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', overlay[initiator]]);
    for (const h of ['a', 'b']) assert.equal(await stopNode(nodes[h]), 0);
  });
});

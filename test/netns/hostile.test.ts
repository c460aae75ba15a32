// Hostile underlay traffic against real nodes. Two mesh members (A, B) and an attacker (X) share one
// bridge (underlay 198.18.0.0/15; the overlay is 100.64.0.0/10). While A pings B over the overlay,
// X fires a bounded burst at B's UDP port from a small node script built on main/core:
//   1. a stranger (knows nothing, but captured A<->B traffic on the wire): random bytes of random
//      sizes (up to 64 KiB, fragmented), truncated and oversized datagrams with real message headers,
//      replayed and bit-flipped captured datagrams, valid-looking WireGuard initiations to unknown
//      keys. B must send X nothing at all: counted by X's socket and by an nftables counter on B's
//      veth (udp from B to X). B's process stays up; A's ping loss during the flood is reported and
//      bounded; B's CPU during the flood is measured from /proc/<pid>/stat.
//   2. someone who knows B's public key (WireGuard public keys are not secret), but no member key:
//      initiations with a valid mac1 from unknown static keys, plus replays of A's captured
//      initiation, faster than 64 handshakes/s. Then B is "under load" and answers with 64-byte
//      cookie replies only — never a handshake response, never more bytes than it received.
// Figures are printed with console.log (`hostile: ...`).
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, sh, sleep, waitFor } from '../lib/netns';
import {
  assertDataPath,
  nodeStatus,
  REPO,
  type RunningNode,
  removeDir,
  startNode,
  tempDir,
} from '../lib/peermesh-proc';

function toolsSkipReason(): string | null {
  for (const [tool, arg] of [
    ['tcpdump', '--version'],
    ['nft', '--version'],
  ]) {
    try {
      execFileSync(tool, [arg], { stdio: 'ignore' });
    } catch {
      return `skipped: needs ${tool}`;
    }
  }
  return null;
}

const skip = netnsSkipReason() ?? toolsSkipReason();

const ADDR = { a: '198.18.0.1', b: '198.18.0.2', x: '198.18.0.9' };
const PORT = 51820;
/** Size of the stranger burst (PEERMESH_HOSTILE_COUNT=100000 for a heavier run; ping loss then grows). */
const COUNT = Number(process.env.PEERMESH_HOSTILE_COUNT ?? 20_000);

/**
 * The attacker: runs inside X's namespace with `node attacker.js '<json options>'`. Prints START when
 * it begins firing, STOP when the last datagram has left, then (after 1.5 s for late answers) one
 * JSON line with what it sent and received. Every loop is bounded in count and in time.
 */
const ATTACKER = `'use strict';
const dgram = require('node:dgram');
const fs = require('node:fs');
const path = require('node:path');
const o = JSON.parse(process.argv[2]);
const { makeIdentity, peerKeys, createInitiation } = require(path.join(o.core, 'handshake.js'));
const { CookieGenerator } = require(path.join(o.core, 'cookie.js'));
const { encodeInitiation, INITIATION_MAC1_OFFSET } = require(path.join(o.core, 'messages.js'));
const { x25519Base } = require(path.join(o.core, 'crypto', 'aead.js'));

let seed = o.seed >>> 0 || 1;
function rnd32() { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed; }
function bytes(n) { const b = Buffer.allocUnsafe(n); for (let i = 0; i < n; i++) b[i] = rnd32() & 0xff; return b; }
const pick = (a) => a[rnd32() % a.length];

// Datagrams captured on the wire between A and B (pcap written by tcpdump; test/lib/pcap.ts).
const { readPcapUdp } = require(path.join(o.lib, 'pcap.js'));
function readPcap(file) {
  return file && fs.existsSync(file) ? readPcapUdp(file).map((d) => d.payload) : [];
}
const captured = readPcap(o.pcap);
const type = (p) => (p.length >= 4 && p[1] === 0 && p[2] === 0 ? p[0] : -1);
const handshakes = captured.filter((p) => (type(p) === 1 && p.length === 148) || (type(p) === 2 && p.length === 92));
const others = captured.filter((p) => !handshakes.includes(p));

// Initiations with real crypto from fresh static keys: to random keys (stranger), or to B (knows-key).
const responderKey = o.knowsKey ? Buffer.from(o.knowsKey, 'base64') : null;
const inits = [];
for (let i = 0; i < 128; i++) {
  const responder = responderKey || x25519Base(bytes(32));
  const me = makeIdentity(bytes(32));
  const made = createInitiation(me, peerKeys(me, responder, null), rnd32(), bytes(32), Date.now());
  if (!made) continue;
  const m = encodeInitiation(made.message);
  new CookieGenerator(responder).addMacs(m, INITIATION_MAC1_OFFSET, 0);
  inits.push(Buffer.from(m));
}

const kinds = {};
function strangerDatagram(i) {
  const k = i % 5;
  if (k === 0) {
    kinds.random = (kinds.random || 0) + 1;
    if (i % 1000 === 0) return bytes(65507);
    const r = rnd32() % 10;
    return bytes(r < 7 ? rnd32() % 1501 : r < 9 ? 1500 + (rnd32() % 7500) : pick([0, 1, 3, 4, 31, 32, 33, 63, 64, 65, 91, 92, 93, 147, 148, 149]));
  }
  if (k === 1) {
    kinds.truncatedOrOversized = (kinds.truncatedOrOversized || 0) + 1;
    const t = pick([1, 2, 3, 4, 0x50, 0x51, 0x52, 0x53]);
    const base = { 1: 148, 2: 92, 3: 64, 4: 32 + 16 * (rnd32() % 90), 0x50: 100 + (rnd32() % 1300), 0x51: 184, 0x52: 184, 0x53: 1000 }[t];
    let len = base + pick([-4, -3, -2, -1, 1, 2, 3, 4]);
    if (t >= 0x50 && rnd32() % 2) len = 1401 + (rnd32() % 7000); // oversized discovery / relay / join
    if (t === 4 && rnd32() % 2) len = rnd32() % 32; // shorter than a keepalive
    const b = bytes(Math.max(0, len));
    if (b.length >= 4) { b[0] = t; b[1] = 0; b[2] = 0; b[3] = t === 0x50 ? 2 : t === 0x53 ? 1 : 0; }
    return b;
  }
  if (k === 2 && others.length) {
    kinds.replayed = (kinds.replayed || 0) + 1;
    return pick(others);
  }
  if (k === 3 && captured.length) {
    kinds.mutated = (kinds.mutated || 0) + 1;
    const src = pick(captured);
    const b = Buffer.from(src);
    // handshake messages only change in front of their mac1's end, so mac1 no longer matches
    const limit = type(b) === 1 ? 132 : type(b) === 2 ? 76 : b.length;
    if (rnd32() % 3 === 0) return b.subarray(0, rnd32() % b.length);
    b[rnd32() % limit] ^= 1 << (rnd32() % 8);
    return b;
  }
  kinds.initiationUnknownKey = (kinds.initiationUnknownKey || 0) + 1;
  return pick(inits);
}
function knowsKeyDatagram(i) {
  if (i % 10 === 0 && handshakes.length) {
    const h = handshakes.filter((p) => type(p) === 1);
    if (h.length) { kinds.replayedInitiation = (kinds.replayedInitiation || 0) + 1; return pick(h); }
  }
  kinds.initiationValidMac1 = (kinds.initiationValidMac1 || 0) + 1;
  return pick(inits);
}
const next = o.knowsKey ? knowsKeyDatagram : strangerDatagram;

const s = dgram.createSocket('udp4');
const got = { datagrams: 0, bytes: 0, fromTarget: 0, bytesFromTarget: 0, types: {}, sizes: {} };
s.on('message', (m, r) => {
  got.datagrams++;
  got.bytes += m.length;
  if (r.address === o.target) { got.fromTarget++; got.bytesFromTarget += m.length; }
  const t = m.length ? m[0] : -1;
  got.types[t] = (got.types[t] || 0) + 1;
  got.sizes[m.length] = (got.sizes[m.length] || 0) + 1;
});
s.on('error', () => {});
s.bind(0, () => {
  try { s.setSendBufferSize(4 << 20); } catch {}
  const sent = { datagrams: 0, bytes: 0, errors: 0 };
  let i = 0;
  let inflight = 0;
  const t0 = Date.now();
  const spanMs = o.seconds * 1000;
  const deadline = t0 + spanMs + 5000;
  console.log('START');
  const tick = setInterval(() => {
    const due = Math.min(o.count, Math.ceil(((Date.now() - t0) / spanMs) * o.count));
    for (let n = 0; i < due && n < 5000 && inflight < 4000; n++) {
      const p = next(i++);
      inflight++;
      s.send(p, o.port, o.target, (err) => {
        inflight--;
        if (err) sent.errors++;
        else { sent.datagrams++; sent.bytes += p.length; }
      });
    }
    if ((i >= o.count && inflight === 0) || Date.now() > deadline) {
      clearInterval(tick);
      console.log('STOP');
      setTimeout(() => {
        console.log(JSON.stringify({ sent, got, kinds, captured: captured.length, ms: Date.now() - t0 }));
        s.close();
      }, 1500);
    }
  }, 10);
});
`;

interface AttackReport {
  sent: { datagrams: number; bytes: number; errors: number };
  got: {
    datagrams: number;
    bytes: number;
    fromTarget: number;
    bytesFromTarget: number;
    types: Record<string, number>;
    sizes: Record<string, number>;
  };
  kinds: Record<string, number>;
  captured: number;
  ms: number;
}

/** utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return Number(f[11]) + Number(f[12]);
}

/** Wait for a child's exit (bounded: then it is killed by its PID). */
function exited(p: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      if (p.pid && p.exitCode === null) p.kill('SIGKILL');
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

function collect(p: ChildProcess): () => string {
  let out = '';
  p.stdout?.on('data', (d) => {
    out += d;
  });
  p.stderr?.on('data', (d) => {
    out += d;
  });
  return () => out;
}

describe('hostile underlay: a non-member floods a member', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('hostile');
  const nodes: Record<string, RunningNode> = {};
  const overlay: Record<string, string> = {};
  const pcap = join(dir, 'ab.pcap');
  const script = join(dir, 'attacker.js');
  const vethB = lab.vethName('b');
  let pubB = '';
  let hz = 100;

  const args = (h: string, bootstrap: string | null) => [
    ...lab.memberArgs(h, 'hostile', join(dir, 'secret')),
    ...(bootstrap ? ['--bootstrap', bootstrap] : []),
  ];
  const status = (h: string) => nodeStatus(lab, h, join(dir, h));
  const counter = (name: string) => {
    const out = lab.exec('b', 'nft', ['list', 'counter', 'inet', 'pmhostile', name]);
    return {
      packets: Number(/packets (\d+)/.exec(out)?.[1] ?? 0),
      bytes: Number(/bytes (\d+)/.exec(out)?.[1] ?? 0),
    };
  };

  before(async () => {
    hz = Number(sh('getconf', ['CLK_TCK']).trim()) || 100;
    for (const h of ['a', 'b', 'x']) lab.addHost(h);
    lab.lan([
      ['a', `${ADDR.a}/15`],
      ['b', `${ADDR.b}/15`],
      ['x', `${ADDR.x}/15`],
    ]);
    writeFileSync(join(dir, 'secret'), 'members only, attackers not\n', { mode: 0o600 });
    writeFileSync(script, ATTACKER);
    // Counters on B's veth: what B sends to X (must stay 0) and what X's flood brings in.
    const rules = `table inet pmhostile {
  counter udp_to_x {}
  counter any_to_x {}
  counter udp_from_x {}
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "${vethB}" ip daddr ${ADDR.x} meta l4proto udp counter name udp_to_x
    oifname "${vethB}" ip daddr ${ADDR.x} counter name any_to_x
  }
  chain in {
    type filter hook input priority 0; policy accept;
    iifname "${vethB}" ip saddr ${ADDR.x} meta l4proto udp counter name udp_from_x
  }
}
`;
    sh('ip', ['netns', 'exec', lab.ns('b'), 'nft', '-f', '-'], { input: rules });
    // Capture A<->B traffic from the very start (the handshake included), as an eavesdropper would.
    const cap = lab.spawnIn('b', 'tcpdump', [
      '-n',
      '-U',
      '-s',
      '0',
      '-Z',
      'root',
      '-c',
      '400',
      '-i',
      vethB,
      '-w',
      pcap,
      `udp and port ${PORT} and host ${ADDR.a} and host ${ADDR.b}`,
    ]);
    const capOut = collect(cap);
    await waitFor('tcpdump listening', () => /listening on/.test(capOut()), 10_000);
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', null));
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', `${ADDR.a}:${PORT}`));
    for (const h of ['a', 'b']) overlay[h] = status(h).addresses[0].split('/')[0];
    pubB = status('b').publicKey;
    assert.match(pubB, /^[A-Za-z0-9+/]{43}=$/);
    await waitFor(
      'a -> b over the overlay',
      () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', overlay.b]).ok,
      20_000,
    );
    lab.exec('a', 'ping', ['-c', '5', '-i', '0.2', '-W', '1', overlay.b]);
    lab.exec('b', 'ping', ['-c', '3', '-i', '0.2', '-W', '1', overlay.a]);
    cap.kill('SIGTERM');
    await exited(cap, 5000);
    assert.ok(existsSync(pcap), `no capture: ${capOut()}`);
    // B's PID is the node itself (`ip netns exec` execs it): CPU is read from its /proc entry.
    assert.match(readFileSync(`/proc/${nodes.b.proc.pid}/cmdline`, 'utf8'), /peermesh/);
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  /**
   * Run one burst from X while A pings B (every 0.2 s, from 2 s before the burst to after it).
   * Returns the attacker's report, B's CPU during the burst and before it, and A's ping loss during
   * the burst (by icmp_seq: the probes sent between the attacker's START and STOP).
   */
  async function burst(opts: { count: number; seconds: number; knowsKey?: string }) {
    const pidB = nodes.b.proc.pid!;
    const pings = Math.ceil((opts.seconds + 5) / 0.2);
    const ping = lab.spawnIn('a', 'ping', [
      '-n',
      '-i',
      '0.2',
      '-c',
      String(pings),
      '-W',
      '1',
      '-w',
      String(Math.ceil(pings * 0.2 + 10)),
      overlay.b,
    ]);
    const pingStart = Date.now();
    const pingOut = collect(ping);
    // Baseline: B's CPU with only the ping running.
    const base0 = { t: Date.now(), c: cpuTicks(pidB) };
    await sleep(2000);
    const base1 = { t: Date.now(), c: cpuTicks(pidB) };
    const udpIn0 = counter('udp_from_x');
    const toX0 = { udp: counter('udp_to_x'), any: counter('any_to_x') };
    const attacker = lab.spawnIn('x', process.execPath, [
      script,
      JSON.stringify({
        core: join(REPO, 'dist', 'main', 'core'),
        lib: join(REPO, 'dist', 'test', 'lib'),
        target: ADDR.b,
        port: PORT,
        count: opts.count,
        seconds: opts.seconds,
        pcap,
        seed: 0x5eed,
        knowsKey: opts.knowsKey ?? null,
      }),
    ]);
    let start: { t: number; c: number } | null = null;
    let stop: { t: number; c: number } | null = null;
    let out = '';
    attacker.stdout?.on('data', (d) => {
      out += d;
      if (!start && /^START$/m.test(out)) start = { t: Date.now(), c: cpuTicks(pidB) };
      if (!stop && /^STOP$/m.test(out)) stop = { t: Date.now(), c: cpuTicks(pidB) };
    });
    let err = '';
    attacker.stderr?.on('data', (d) => {
      err += d;
    });
    await exited(attacker, (opts.seconds + 20) * 1000);
    await exited(ping, (pings * 0.2 + 15) * 1000);
    assert.ok(start && stop, `attacker did not run: ${out}${err}`);
    const s0 = start as { t: number; c: number };
    const s1 = stop as { t: number; c: number };
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as AttackReport;
    const udpIn = counter('udp_from_x');
    const toX = { udp: counter('udp_to_x'), any: counter('any_to_x') };
    // A's probes whose send time fell into the burst, and which of them were answered.
    const answered = new Set([...pingOut().matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
    const during: number[] = [];
    for (let seq = 1; seq <= pings; seq++) {
      const sentAt = pingStart + (seq - 1) * 200;
      if (sentAt >= s0.t && sentAt <= s1.t) during.push(seq);
    }
    const lostDuring = during.filter((q) => !answered.has(q)).length;
    const summary = /(\d+) packets transmitted, (\d+) received/.exec(pingOut());
    return {
      report,
      cpuFlood: ((s1.c - s0.c) / hz / ((s1.t - s0.t) / 1000)) * 100,
      cpuBase: ((base1.c - base0.c) / hz / ((base1.t - base0.t) / 1000)) * 100,
      floodSeconds: (s1.t - s0.t) / 1000,
      pingDuring: during.length,
      lossDuring: during.length ? lostDuring / during.length : 1,
      pingTotal: summary ? `${summary[2]}/${summary[1]}` : pingOut().slice(-200),
      datagramsAtB: udpIn.packets - udpIn0.packets,
      toX: {
        udpPackets: toX.udp.packets - toX0.udp.packets,
        udpBytes: toX.udp.bytes - toX0.udp.bytes,
        anyPackets: toX.any.packets - toX0.any.packets,
      },
    };
  }

  const alive = (n: RunningNode) => {
    if (n.proc.exitCode !== null || n.proc.signalCode !== null) return false;
    try {
      process.kill(n.proc.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };

  it('a stranger (garbage, truncated/oversized, replays, initiations to unknown keys) gets 0 bytes; B stays up and A keeps pinging', async () => {
    const r = await burst({ count: COUNT, seconds: 4 });
    const k = r.report.kinds;
    console.log(
      `hostile: stranger burst: ${r.report.sent.datagrams} datagrams (${r.report.sent.bytes} bytes, ` +
        `${r.report.sent.errors} send errors) in ${r.floodSeconds.toFixed(1)} s; kinds ${JSON.stringify(k)}; ` +
        `${r.report.captured} captured datagrams to replay; ${r.datagramsAtB} arrived at B's UDP layer`,
    );
    console.log(
      `hostile: stranger burst: attacker socket received ${r.report.got.datagrams} datagrams / ` +
        `${r.report.got.bytes} bytes; nft on B's veth: ${r.toX.udpPackets} UDP packets (${r.toX.udpBytes} bytes) ` +
        `B -> X, ${r.toX.anyPackets} IP packets of any kind`,
    );
    console.log(
      `hostile: stranger burst: B CPU ${r.cpuFlood.toFixed(0)} % during the flood (${r.cpuBase.toFixed(0)} % ` +
        `before); member ping loss during the flood ${(r.lossDuring * 100).toFixed(1)} % of ` +
        `${r.pingDuring} probes (whole run ${r.pingTotal} answered)`,
    );
    assert.ok(r.report.sent.datagrams >= COUNT * 0.95, `only ${r.report.sent.datagrams} datagrams left X`);
    assert.ok(k.replayed > 0 && k.mutated > 0 && k.initiationUnknownKey > 0, JSON.stringify(k));
    assert.ok(r.report.captured > 0, 'nothing captured to replay');
    assert.ok(r.datagramsAtB > COUNT / 2, `B's veth saw only ${r.datagramsAtB} datagrams from X`);
    assert.equal(r.report.got.bytes, 0, `X received ${r.report.got.bytes} bytes`);
    assert.equal(r.toX.udpPackets, 0, 'B sent UDP to X');
    assert.ok(alive(nodes.b), `B died: ${nodes.b.log().slice(-2000)}`);
    assert.ok(r.pingDuring >= 10, `only ${r.pingDuring} probes during the flood`);
    assert.ok(r.lossDuring <= 0.1, `ping loss during the flood ${(r.lossDuring * 100).toFixed(1)} %`);
    assert.doesNotMatch(nodes.b.log(), /uncaught|TypeError|RangeError/i);
    lab.exec('a', 'ping', ['-c', '3', '-i', '0.2', '-W', '1', overlay.b]);
    assertDataPath(status('b')); // the flood met the data path this run is for
  });

  it("one who knows B's public key (valid mac1, no member key) gets only 64-byte cookie replies under load, fewer bytes than it sent", async () => {
    const r = await burst({ count: 3000, seconds: 3, knowsKey: pubB });
    const g = r.report.got;
    console.log(
      `hostile: valid-mac1 burst: ${r.report.sent.datagrams} initiations (${r.report.sent.bytes} bytes; kinds ` +
        `${JSON.stringify(r.report.kinds)}) in ${r.floodSeconds.toFixed(1)} s -> ${g.datagrams} replies ` +
        `(${g.bytes} bytes, types ${JSON.stringify(g.types)}, sizes ${JSON.stringify(g.sizes)}); ` +
        `reply/request bytes ${(g.bytes / Math.max(1, r.report.sent.bytes)).toFixed(3)}`,
    );
    console.log(
      `hostile: valid-mac1 burst: B CPU ${r.cpuFlood.toFixed(0)} % during the flood (${r.cpuBase.toFixed(0)} % ` +
        `before); member ping loss during the flood ${(r.lossDuring * 100).toFixed(1)} % of ` +
        `${r.pingDuring} probes (whole run ${r.pingTotal} answered)`,
    );
    assert.ok(r.report.sent.datagrams >= 2900);
    assert.ok(g.datagrams > 0, 'no cookie replies: B was not under load');
    assert.deepEqual(Object.keys(g.types), ['3'], `reply types ${JSON.stringify(g.types)}`);
    assert.deepEqual(Object.keys(g.sizes), ['64'], `reply sizes ${JSON.stringify(g.sizes)}`);
    assert.equal(g.fromTarget, g.datagrams);
    assert.ok(g.datagrams <= r.report.sent.datagrams);
    assert.ok(g.bytes < r.report.sent.bytes / 2, 'amplification');
    assert.equal(r.toX.udpPackets, g.datagrams, 'nft and the socket agree');
    assert.ok(alive(nodes.b), `B died: ${nodes.b.log().slice(-2000)}`);
    assert.ok(r.lossDuring <= 0.1, `ping loss during the flood ${(r.lossDuring * 100).toFixed(1)} %`);
    lab.exec('a', 'ping', ['-c', '3', '-i', '0.2', '-W', '1', overlay.b]);
  });
});

// The native data plane on real TUN devices in two namespaces, keys installed by hand (no handshake):
// ping and iperf3 both ways through it, for each step of the offload ladder (plain TUN + sendmmsg;
// vnet header TSO split + UDP GSO; UDP GRO; TCP coalescing into TUN writes), the counters checked against what was sent, and a
// non-transport datagram handed to JavaScript instead of being dropped.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { DP_VARIANTS, DpPair } from '../lib/dataplane-lab';
import { iperfTransfer, NetnsLab, netnsSkipReason } from '../lib/netns';
import { NATIVE_ONLY_SKIP } from '../lib/peermesh-proc';

const skip = netnsSkipReason() ?? NATIVE_ONLY_SKIP;

/** An IPv4 ICMP echo request with correct checksums (the receiving kernel answers it). */
function icmpEcho(src: string, dst: string, id: number, seq: number): Buffer {
  const b = Buffer.alloc(20 + 8 + 16);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[8] = 64;
  b[9] = 1;
  Buffer.from(src.split('.').map(Number)).copy(b, 12);
  Buffer.from(dst.split('.').map(Number)).copy(b, 16);
  b.writeUInt16BE(checksum(b.subarray(0, 20)), 10);
  b[20] = 8;
  b.writeUInt16BE(id, 24);
  b.writeUInt16BE(seq, 26);
  b.writeUInt16BE(checksum(b.subarray(20)), 22);
  return b;
}

function checksum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

describe('native data plane between two namespaces', { skip }, () => {
  const lab = new NetnsLab();
  const pairs: DpPair[] = [];

  after(async () => {
    for (const p of pairs) await p.stop().catch(() => {});
    await lab.cleanup();
  });

  for (const [i, variant] of DP_VARIANTS.entries()) {
    it(`${variant.name}: ping and iperf3 both ways`, async () => {
      const pair = new DpPair(lab, i + 1, variant);
      pairs.push(pair);
      await pair.start();
      const { hostA: a, hostB: b } = pair;
      // A credential change (the core's privilege drop) interrupts every thread's poll: the loops go on.
      await pair.setxid(a);
      await pair.setxid(b);
      lab.exec(a, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', pair.overlayB]);
      // Largest packet the MTU allows (1420 - 28): padding stays within the MTU.
      lab.exec(b, 'ping', ['-c', '2', '-s', '1392', '-M', 'do', '-W', '2', pair.overlayA]);
      const ab = iperfTransfer(lab, b, pair.overlayB, a, 5201, 2);
      const ba = iperfTransfer(lab, a, pair.overlayA, b, 5202, 2);
      assert.ok(ab > 5e6 && ba > 5e6, `iperf3 moved ${ab} and ${ba} bytes`);
      // IPv6 inside: TCPV6 segmentation and coalescing.
      lab.exec(a, 'ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', pair.overlay6B]);
      const ab6 = iperfTransfer(lab, b, pair.overlay6B, a, 5203, 1);
      const ba6 = iperfTransfer(lab, a, pair.overlay6A, b, 5204, 1);
      assert.ok(ab6 > 2e6 && ba6 > 2e6, `iperf3 over IPv6 moved ${ab6} and ${ba6} bytes`);

      // The kernels took every inner packet: no TCP checksum errors from our segmenting/coalescing.
      for (const h of [a, b]) {
        const csum = lab.exec(h, 'nstat', ['-az', 'TcpInCsumErrors', 'IpInHdrErrors']);
        for (const m of csum.matchAll(/^(\w+)\s+(\d+)/gm)) assert.equal(Number(m[2]), 0, `${h}: ${m[1]}`);
      }
      const sa = await pair.stats(a);
      const sb = await pair.stats(b);
      // What a sealed, b opened (and the reverse): the same count, nothing lost on the way in between
      // beyond what the counters say.
      assert.ok(sa.counters.txPackets > 1000 && sb.counters.rxPackets > 1000);
      const dropsB =
        sb.counters.rxReplayed + sb.counters.rxBadTag + sb.counters.rxWrongSource + sb.counters.rxBadIp;
      assert.equal(dropsB, 0, JSON.stringify(sb.counters));
      assert.equal(
        sa.counters.txBadGso + sb.counters.txBadGso,
        0,
        'every TSO read (IPv4 and IPv6) segmented',
      );
      // b's echo replies (and ACKs of lone segments) were waiting in its TUN right after the requests
      // were written: the thread that wrote them sent them, without waking the other.
      assert.ok(sb.counters.tunAnswerReads > 0, JSON.stringify(sb.counters));
      // a's send thread received the replies itself at the pings' low rate (one thread both ways).
      assert.ok(sa.counters.rxSendThread > 0, JSON.stringify(sa.counters));
      // Pings after the bulk runs: the send thread goes solo again and takes the answers itself
      // (the receive thread, asleep without a timeout, is told to stop polling the socket).
      const soloBefore = sa.counters.rxSendThread;
      lab.exec(a, 'ping', ['-c', '10', '-i', '0.15', '-W', '2', pair.overlayB]);
      const soloAnswers = (await pair.stats(a)).counters.rxSendThread - soloBefore;
      assert.ok(soloAnswers >= 8, `${soloAnswers} of 10 answers taken by the send thread`);
      assert.equal(sa.vnetHdr, variant.vnetHdr);
      if (variant.vnetHdr) assert.ok(sa.counters.tunTsoReads > 0, 'TSO super-packets read');
      else assert.equal(sa.counters.tunTsoReads, 0);
      if (variant.gso) assert.ok(sa.counters.txGsoSends + sb.counters.txGsoSends > 0, 'GSO sends');
      else assert.equal(sa.counters.txGsoSends, 0);
      if (variant.gro) assert.ok(sa.counters.rxGroBatches + sb.counters.rxGroBatches > 0, 'GRO batches');
      else assert.equal(sa.counters.rxGroBatches + sb.counters.rxGroBatches, 0);
      if (variant.coalesce)
        assert.ok(sa.counters.tunGsoWrites + sb.counters.tunGsoWrites > 0, 'TUN super-packets');
      else assert.equal(sa.counters.tunGsoWrites + sb.counters.tunGsoWrites, 0);
      // JavaScript heard of the traffic (for its timers) at its own tick: the traffic bits never wake
      // it (no onEvents call carried them alone in about 4 s of traffic); they wait for poll().
      const DATA = 1 | 2 | 4 | 8; // DATA_SENT, DATA_RECEIVED, AUTH_SENT, AUTH_RECEIVED
      assert.equal(sa.events.polledBits & DATA, DATA);
      assert.equal(sa.events.routineOnly, 0, JSON.stringify(sa.events));
      assert.ok(sa.events.calls < 50, `${sa.events.calls} onEvents calls`);
      assert.ok(sa.rssMb < 100, `RSS ${sa.rssMb} MB`);

      // A handshake-sized datagram is no transport message: it goes to JavaScript, counted.
      const init = Buffer.alloc(148);
      init[0] = 1;
      assert.equal(await pair.send(b, init, `198.18.${pair.n}.1`, 51820), 0);
      for (let t = 0; t < 50 && !(await pair.stats(a)).items['datagram:rxNotTransport']; t++)
        await new Promise((r) => setTimeout(r, 20));
      const after1 = await pair.stats(a);
      assert.equal(after1.items['datagram:rxNotTransport'], 1);
      assert.equal(after1.counters.rxNotTransport, 1);
      // A packet for an address no peer owns goes to JavaScript as well (the mesh adds peers on demand).
      lab.tryExec(a, 'ping', ['-c', '1', '-W', '1', `100.64.${pair.n}.77`]);
      const after2 = await pair.stats(a);
      assert.ok(after2.counters.txNoRoute >= 1 && (after2.items['packet:txNoRoute'] ?? 0) >= 1);
      await pair.stop();
    });
  }

  it('configuration calls from JS do not wait behind a busy data plane', async () => {
    const pair = new DpPair(lab, 8, DP_VARIANTS[3]);
    pairs.push(pair);
    await pair.start();
    const srv = lab.spawnIn(pair.hostB, 'iperf3', ['-s', '-B', pair.overlayB, '-p', '5301']);
    await new Promise((r) => setTimeout(r, 300));
    const cli = lab.spawnIn(pair.hostA, 'iperf3', ['-c', pair.overlayB, '-p', '5301', '-t', '4']);
    await new Promise((r) => setTimeout(r, 1500));
    const busy = (await pair.stats(pair.hostA)).counters.txPackets;
    let maxMs = 0;
    for (let i = 0; i < 10; i++) {
      maxMs = Math.max(maxMs, await pair.reconf(pair.hostA, 20));
      await new Promise((r) => setTimeout(r, 50));
    }
    const busyAfter = (await pair.stats(pair.hostA)).counters.txPackets;
    cli.kill('SIGKILL');
    srv.kill('SIGKILL');
    assert.ok(busyAfter - busy > 1000, 'traffic was flowing meanwhile');
    assert.ok(maxMs < 50, `a setPeer call waited ${maxMs} ms`);
    await pair.stop();
  });

  it('sessions rotate under traffic (as rekeying will): the next session takes over, old ones retire', async () => {
    const pair = new DpPair(lab, 7, DP_VARIANTS[3]);
    pairs.push(pair);
    await pair.start();
    const A = pair.worker(pair.hostA);
    const B = pair.worker(pair.hostB);
    const srv = lab.spawnIn(pair.hostB, 'iperf3', ['-s', '-B', pair.overlayB, '-p', '5311']);
    await new Promise((r) => setTimeout(r, 300));
    const cli = lab.spawnIn(pair.hostA, 'iperf3', ['-c', pair.overlayB, '-p', '5311', '-t', '5', '-J']);
    let report = '';
    cli.stdout!.on('data', (d: Buffer) => {
      report += d.toString();
    });
    const exited = new Promise((r) => cli.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    // Ten rotations, 250 ms apart, as WireGuard does them: the responder (b) gets the new keys as
    // "next", the initiator (a) sends with them at once; b switches on the first packet. Sessions two
    // rotations old are removed on both sides while packets may still be in flight.
    const oldA = [0x1111];
    const oldB = [0x2222];
    for (let r = 1; r <= 10; r++) {
      const k1 = randomBytes(32).toString('hex');
      const k2 = randomBytes(32).toString('hex');
      const ia = 0x10000 + r;
      const ib = 0x20000 + r;
      await B.session({
        localIndex: ib,
        remoteIndex: ia,
        sendKey: k2,
        recvKey: k1,
        isInitiator: false,
        slot: 'next',
      });
      await A.session({
        localIndex: ia,
        remoteIndex: ib,
        sendKey: k1,
        recvKey: k2,
        isInitiator: true,
        slot: 'current',
      });
      oldA.push(ia);
      oldB.push(ib);
      if (oldA.length > 2) assert.ok(await A.unsession(oldA.shift()!));
      if (oldB.length > 2) assert.ok(await B.unsession(oldB.shift()!));
      await new Promise((res) => setTimeout(res, 250));
    }
    await exited;
    srv.kill('SIGKILL');
    const bytes = (JSON.parse(report) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
    assert.ok(bytes > 10e6, `${bytes} bytes through ten rotations`);
    const sa = await A.stats();
    const sb = await B.stats();
    assert.equal(sa.peers[0].currentIndex, 0x1000a);
    assert.equal(sb.peers[0].currentIndex, 0x2000a, 'b switched to the last next session');
    assert.ok(sb.events.bits & 32, 'CONFIRMED reached JS');
    assert.equal(sa.counters.rxBadTag + sb.counters.rxBadTag, 0);
    await pair.stop();
  });

  it('a relayed message handed in by JS is opened in the same replay window as direct ones', async () => {
    const pair = new DpPair(lab, 6, DP_VARIANTS[3]);
    pairs.push(pair);
    await pair.start();
    const A = pair.worker(pair.hostA);
    const B = pair.worker(pair.hostB);
    // b seals an echo request to a (as if it went through a relay: JS on a unwraps and injects it).
    const d = await B.seal(icmpEcho(pair.overlayB, pair.overlayA, 0x4242, 1));
    const a0 = await A.stats();
    const b0 = await B.stats();
    assert.equal(await A.inject(d), 0);
    const delta = async (w: typeof A, s0: typeof a0, k: string) =>
      (await w.stats()).counters[k] - s0.counters[k];
    // a's kernel answers through the tunnel: b receives the echo reply.
    for (let i = 0; i < 50 && (await delta(B, b0, 'rxPackets')) < 1; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(await delta(A, a0, 'rxInjected'), 1);
    assert.equal(await delta(A, a0, 'rxPackets'), 1);
    assert.equal(await delta(B, b0, 'rxPackets'), 1, 'the echo reply came back');
    // The same message again, injected or straight over UDP: a replay either way.
    assert.equal(await A.inject(d), 0);
    assert.equal(await B.send(d, `198.18.${pair.n}.1`, 51820), 0);
    for (let i = 0; i < 50 && (await delta(A, a0, 'rxReplayed')) < 2; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(await delta(A, a0, 'rxReplayed'), 2);
    assert.equal(await delta(A, a0, 'rxPackets'), 1);
    await pair.stop();
  });

  it('a flood of random and forged datagrams from the underlay: every one accounted for, traffic still flows', async () => {
    const pair = new DpPair(lab, 9, DP_VARIANTS[0]);
    pairs.push(pair);
    await pair.start();
    const { hostA: a, hostB: b } = pair;
    const before = await pair.stats(a);
    // 20,000 datagrams to a's data plane port: noise, forged transport headers for a's session
    // index (bad tags, counters anywhere), handshake-sized junk.
    const flood = `
      const s = require('node:dgram').createSocket('udp4');
      const { randomBytes } = require('node:crypto');
      let i = 0;
      const next = () => {
        if (i >= 20000) return s.close();
        for (let k = 0; k < 200; k++, i++) {
          const d = randomBytes(1 + (randomBytes(2).readUInt16LE(0) % 1600));
          if (i % 3 === 0 && d.length >= 16) { d[0] = 4; d[1] = d[2] = d[3] = 0; d.writeUInt32LE(0x1111, 4); }
          if (i % 6 === 0 && d.length >= 16) d.writeUInt32LE(0, 12);
          if (i % 7 === 0) { d[0] = 1; }
          s.send(d, 51820, '198.18.${pair.n}.1');
        }
        setTimeout(next, 5);
      };
      next();`;
    lab.exec(b, process.execPath, ['-e', flood], 60_000);
    await new Promise((r) => setTimeout(r, 300));
    const s = await pair.stats(a);
    const d = (k: string) => s.counters[k] - before.counters[k];
    const reads = d('udpReads');
    assert.ok(reads > 10_000, `${reads} datagrams read`); // the kernel may drop some on a full buffer
    const accounted =
      d('rxTruncated') +
      d('rxNotTransport') +
      d('rxUnknownIndex') +
      d('rxCounterLimit') +
      d('rxExpired') +
      d('rxReplayed') +
      d('rxBadTag') +
      d('rxPackets');
    assert.equal(accounted, reads, JSON.stringify(s.counters));
    assert.ok(d('rxBadTag') > 1000 && d('rxCounterLimit') > 1000 && d('rxNotTransport') > 1000);
    assert.ok(d('rxPackets') < 10, 'forgeries are not accepted');
    // What went to JS arrived there or was counted as dropped on the way.
    const toJs = d('rxNotTransport') + d('rxUnknownIndex');
    const gotJs =
      (s.items['datagram:rxNotTransport'] ?? 0) +
      (s.items['datagram:rxUnknownIndex'] ?? 0) -
      (before.items['datagram:rxNotTransport'] ?? 0) -
      (before.items['datagram:rxUnknownIndex'] ?? 0);
    assert.equal(gotJs + d('jsQueueFull') + d('jsTooBig'), toJs);
    lab.exec(a, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', pair.overlayB]);
    await pair.stop();
  });
});

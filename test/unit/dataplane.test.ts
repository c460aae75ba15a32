// The native data plane (native/dataplane) against the TypeScript Device: after a real handshake
// between two Devices, their session keys and counters are installed in addons; then the same
// packets give byte-identical transport messages, each side decrypts the other's output, and
// replays, old counters, bad tags, bad inner packets and wrong sources are dropped identically
// (the addon counting each reason). A fuzz run feeds the addon random and mangled datagrams.
import assert from 'node:assert/strict';
import { fstatSync, writeSync } from 'node:fs';
import { describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { Device, type DeviceCounters, type Endpoint } from '../../main/core/device';
import { parseCidr } from '../../main/core/ip';
import { type DataplaneAddon, type DpHandle, type DpPeerEvent, loadDataplane } from '../../main/io/dataplane';
import { ipv4Packet, ipv6Packet, seededRandom } from '../lib/sim';

const MTU = 1420;
const LIMITS = { rejectAfterMessages: 20_000, rekeyAfterMessages: 15_000 };
const EP_A: Endpoint = { address: '198.18.0.1', port: 51820 };
const EP_B: Endpoint = { address: '198.18.0.2', port: 51820 };

function addon(): DataplaneAddon {
  const dp = loadDataplane();
  assert.ok(dp, 'the data plane addon must be built (npm run build:native)');
  return dp;
}

interface Side {
  device: Device;
  sent: Buffer[];
  tun: Buffer[];
}

function side(seed: number, now: number): Side {
  const s: Side = { device: null as unknown as Device, sent: [], tun: [] };
  s.device = new Device(
    {
      send: (buf, start, len) => s.sent.push(Buffer.from(buf.subarray(start, start + len))),
      writeTun: (buf, start, end) => s.tun.push(Buffer.from(buf.subarray(start, end))),
      event: () => {},
    },
    {
      privateKey: nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(seed)).secretKey,
      random: seededRandom(seed * 7),
      now,
      wallNow: 1_700_000_000_000,
      mtu: MTU,
      limits: LIMITS,
    },
  );
  return s;
}

/** Two TypeScript devices with a completed handshake (a initiator), the confirming keepalive delivered. */
function handshaken() {
  const now = 1_000_000;
  const a = side(1, now);
  const b = side(2, now);
  const pa = a.device.addPeer({
    publicKey: Buffer.from(b.device.identity.publicKey),
    endpoint: EP_B,
    allowedIps: [parseCidr('100.64.0.2/32')!, parseCidr('fd00:6d::2/128')!],
  });
  const pb = b.device.addPeer({
    publicKey: Buffer.from(a.device.identity.publicKey),
    endpoint: EP_A,
    allowedIps: [parseCidr('100.64.0.1/32')!, parseCidr('fd00:6d::1/128')!],
  });
  a.device.connectAll(); // initiation
  b.device.handleDatagram(a.sent[0], a.sent[0].length, EP_A); // response
  a.device.handleDatagram(b.sent[0], b.sent[0].length, EP_B); // keepalive confirms
  const keepalive = a.sent[1];
  b.device.handleDatagram(keepalive, keepalive.length, EP_A);
  assert.ok(pa.current && pb.current, 'handshake completed');
  a.sent.length = 0;
  b.sent.length = 0;
  return { a, b, ka: pa.current!, kb: pb.current!, keepalive };
}

/** An addon in synchronous mode holding one peer (id 1) with the given keypair. */
function clone(dp: DataplaneAddon, kp: ReturnType<typeof handshaken>['ka'], ips: string[], ep: Endpoint) {
  const events: DpPeerEvent[] = [];
  const h = dp.create(-1, -1, { mtu: MTU, ...LIMITS, onEvents: (_i, e) => events.push(...e) });
  dp.setPeer(h, 1, { address: ep.address, port: ep.port }, ips);
  dp.setSession(h, 1, {
    localIndex: kp.localIndex,
    remoteIndex: kp.remoteIndex,
    sendKey: Buffer.from(kp.sendKey),
    recvKey: Buffer.from(kp.recvKey),
    sendCounter: kp.sendCounter,
    isInitiator: kp.isInitiator,
  });
  return { h, events };
}

function packets(): Buffer[] {
  const out: Buffer[] = [];
  const rnd = seededRandom(99);
  for (const n of [0, 1, 15, 16, 17, 100, 500, 1000, MTU - 28 - 3, MTU - 28, MTU - 28 + 5]) {
    out.push(ipv4Packet('100.64.0.1', '100.64.0.2', Buffer.from(rnd(n)), n));
  }
  for (const n of [0, 33, 700, MTU - 48])
    out.push(ipv6Packet('fd00:6d::1', 'fd00:6d::2', Buffer.from(rnd(n))));
  return out;
}

type Outcome = 'tun' | 'invalid' | 'replayed' | 'wrongSource' | 'keepalive';

/** What the TypeScript device did with one datagram, from its counters and TUN output. */
function tsOutcome(s: Side, d: Buffer): { outcome: Outcome; packet?: Buffer } {
  const before: DeviceCounters = { ...s.device.counters };
  const tunBefore = s.tun.length;
  s.device.handleDatagram(Buffer.from(d), d.length, EP_A);
  const c = s.device.counters;
  if (s.tun.length > tunBefore) return { outcome: 'tun', packet: s.tun.at(-1) };
  if (c.invalid > before.invalid) return { outcome: 'invalid' };
  if (c.replayed > before.replayed) return { outcome: 'replayed' };
  if (c.wrongSource > before.wrongSource) return { outcome: 'wrongSource' };
  return { outcome: 'keepalive' };
}

/** Every reason a received datagram is counted under (one each; delivered packets count as rxPackets). */
const RX_REASONS = [
  'rxKeepalive',
  'rxReplayed',
  'rxBadTag',
  'rxCounterLimit',
  'rxExpired',
  'rxNotTransport',
  'rxUnknownIndex',
  'rxBadIp',
  'rxWrongSource',
  'rxTruncated',
];

const INVALID_REASONS = new Set(['rxCounterLimit', 'rxExpired', 'rxBadTag', 'rxBadIp', 'rxUnknownIndex']);

function dpOutcome(dp: DataplaneAddon, h: DpHandle, d: Buffer): { outcome: Outcome; packet?: Buffer } {
  const r = dp.decrypt(h, d, EP_A);
  if (r.result === 'tun') return { outcome: 'tun', packet: r.packet };
  if (r.result === 'keepalive') return { outcome: 'keepalive' };
  if (r.reason === 'rxReplayed') return { outcome: 'replayed' };
  if (r.reason === 'rxWrongSource') return { outcome: 'wrongSource' };
  // A transport message for no session, or anything else handed to JS, is invalid to a device
  // without a mesh.
  if (r.result === 'js' || INVALID_REASONS.has(r.reason)) return { outcome: 'invalid' };
  throw new Error(`unexpected ${JSON.stringify(r)}`);
}

describe('native data plane: equivalence with the TypeScript device', () => {
  it('seals the same packets into the same bytes (header, counter, padding, tag)', () => {
    const dp = addon();
    const { a, ka } = handshaken();
    const x = clone(dp, ka, ['100.64.0.2/32', 'fd00:6d::2/128'], EP_B);
    try {
      for (const p of packets()) {
        a.device.handleTunPacket(p, 0, p.length);
        const ts = a.sent.pop();
        assert.ok(ts, 'TypeScript sent a datagram');
        const r = dp.encrypt(x.h, p);
        assert.ok('datagram' in r, `addon sealed the ${p.length}-byte packet: ${JSON.stringify(r)}`);
        assert.equal(r.datagram.toString('hex'), ts.toString('hex'), `${p.length}-byte packet`);
        assert.deepEqual(r.to, { address: EP_B.address, port: EP_B.port });
      }
      const st = dp.stats(x.h);
      assert.equal(st.peers[0].sendCounter, ka.sendCounter);
      assert.equal(st.counters.txPackets, packets().length);
      // No route: handed back (counted), nothing sealed.
      const r = dp.encrypt(x.h, ipv4Packet('100.64.0.1', '100.64.9.9', 'x'));
      assert.deepEqual(r, { peer: 0, drop: 'txNoRoute' });
      assert.equal(dp.stats(x.h).counters.txNoRoute, 1);
    } finally {
      dp.close(x.h);
    }
  });

  it('decrypts the TypeScript output and the TypeScript device decrypts the addon output', () => {
    const dp = addon();
    const { a, b, ka, kb, keepalive } = handshaken();
    const xa = clone(dp, ka, ['100.64.0.2/32', 'fd00:6d::2/128'], EP_B);
    const xb = clone(dp, kb, ['100.64.0.1/32', 'fd00:6d::1/128'], EP_A);
    try {
      assert.equal(dp.decrypt(xb.h, keepalive, EP_A).result, 'keepalive');
      for (const p of packets()) {
        // TypeScript a -> addon b
        a.device.handleTunPacket(p, 0, p.length);
        const d1 = a.sent.pop()!;
        const r1 = dp.decrypt(xb.h, d1, EP_A);
        assert.equal(r1.result, 'tun');
        assert.deepEqual((r1 as { packet: Buffer }).packet, p);
        // addon a -> TypeScript b (the addon's counter is behind a's by one packet per round now)
        const r2 = dp.encrypt(xa.h, p);
        assert.ok('datagram' in r2);
        const got = tsOutcome(b, r2.datagram);
        assert.equal(got.outcome, 'tun');
        assert.deepEqual(got.packet, p);
      }
    } finally {
      dp.close(xa.h);
      dp.close(xb.h);
    }
  });

  it('drops replays, old counters, bad tags, bad packets and wrong sources exactly as the device', () => {
    const dp = addon();
    const { a, b, kb, keepalive } = handshaken();
    const x = clone(dp, kb, ['100.64.0.1/32', 'fd00:6d::1/128'], EP_A);
    try {
      const seal = (p: Buffer) => {
        a.device.handleTunPacket(p, 0, p.length);
        return a.sent.pop()!;
      };
      const good = (i: number) => ipv4Packet('100.64.0.1', '100.64.0.2', `packet ${i}`, i);
      // The device took the confirming keepalive during the handshake; the addon takes it now.
      assert.equal(dp.decrypt(x.h, keepalive, EP_A).result, 'keepalive');
      const seq: Buffer[] = [keepalive];
      const early: Buffer[] = [];
      for (let i = 0; i < 40; i++) early.push(seal(good(i)));
      // In order, then out of order within the window, then replays.
      seq.push(...early.slice(0, 10), early[20], early[15], ...early.slice(10, 15), early[3], early[20]);
      // A bad tag, a truncated message, a flipped counter (fails auth), a counter at the limit.
      const bad = Buffer.from(early[30]);
      bad[bad.length - 1] ^= 1;
      const flipped = Buffer.from(early[31]);
      flipped[8] ^= 0x40;
      const limit = Buffer.from(early[32]);
      limit.writeUInt32LE(LIMITS.rejectAfterMessages, 8);
      seq.push(bad, early[30].subarray(0, 40), flipped, limit, early[30], early[31], early[32]);
      // A transport message for an index nobody holds, and non-transport junk.
      const unknown = Buffer.from(early[33]);
      unknown.writeUInt32LE((kb.localIndex ^ 0x5a5a5a5a) >>> 0, 4);
      seq.push(unknown, Buffer.from([4, 0, 0, 0, 1, 2]), Buffer.from([0x50, 0, 0, 0, 9, 9, 9]));
      // Inner packets: a source the peer may not use, a length field beyond the payload, not IP.
      seq.push(seal(ipv4Packet('100.64.0.77', '100.64.0.2', 'spoofed')));
      const long = good(1000);
      long.writeUInt16BE(1400, 2);
      seq.push(seal(long));
      // Far ahead, then the old ones fall out of the window (8160 counters).
      for (let i = 0; i < 8200; i++) seal(good(i));
      seq.push(seal(good(5)), early[35], early[36], seal(good(6)));
      const c0 = dp.stats(x.h).counters;
      const tally: Record<string, number> = {};
      for (const [i, d] of seq.entries()) {
        const ts = tsOutcome(b, d);
        const nat = dpOutcome(dp, x.h, d);
        assert.equal(nat.outcome, ts.outcome, `datagram ${i} (${d.length} bytes)`);
        if (ts.packet) assert.deepEqual(nat.packet, ts.packet);
        tally[ts.outcome] = (tally[ts.outcome] ?? 0) + 1;
      }
      // The sequence exercised every outcome.
      for (const o of ['tun', 'invalid', 'replayed', 'wrongSource'])
        assert.ok((tally[o] ?? 0) > 0, `no ${o} outcome in the sequence: ${JSON.stringify(tally)}`);
      // Every datagram is counted under exactly one reason (packets written count as rxPackets).
      const c = dp.stats(x.h).counters;
      const delivered = tally.tun;
      const counted = RX_REASONS.reduce((n, r) => n + c[r] - c0[r], 0);
      assert.equal(counted + delivered, seq.length, JSON.stringify(c));
      assert.equal(c.rxReplayed - c0.rxReplayed, tally.replayed);
      assert.equal(c.rxWrongSource - c0.rxWrongSource, tally.wrongSource);
      assert.ok(c.rxBadTag > 0 && c.rxCounterLimit > 0 && c.rxBadIp > 0 && c.rxUnknownIndex > 0);
    } finally {
      dp.close(x.h);
    }
  });
});

describe('native data plane: sessions, limits and events', () => {
  it('a next session becomes current on first receipt; age and message limits stop sending', async () => {
    const dp = addon();
    const events: DpPeerEvent[] = [];
    const h = dp.create(-1, -1, {
      mtu: MTU,
      rekeyAfterMessages: 2,
      rejectAfterMessages: 4,
      onEvents: (_i, e) => events.push(...e),
    });
    const k1 = Buffer.alloc(32, 1);
    const k2 = Buffer.alloc(32, 2);
    try {
      dp.setPeer(h, 7, { address: '198.18.0.2', port: 1 }, ['100.64.0.2/32']);
      dp.setPeer(h, 8, { address: '198.18.0.3', port: 1 }, ['100.64.0.3/32']);
      // Peer 8's "remote" side: a session whose send key is our receive key.
      dp.setSession(h, 8, { localIndex: 100, remoteIndex: 200, sendKey: k1, recvKey: k2 });
      dp.setSession(h, 7, { localIndex: 1, remoteIndex: 2, sendKey: k2, recvKey: k1, slot: 'next' });
      const p = ipv4Packet('100.64.0.2', '100.64.0.3', 'x');
      assert.deepEqual(dp.encrypt(h, ipv4Packet('100.64.0.3', '100.64.0.2', 'x')), {
        peer: 7,
        drop: 'txNoSession',
      });
      // Seal as "peer 8" but addressed to index 1: rewrite the receiver index.
      const r = dp.encrypt(h, p);
      assert.ok('datagram' in r);
      r.datagram.writeUInt32LE(1, 4);
      const got = dp.decrypt(h, r.datagram, { address: '198.18.0.9', port: 5 });
      assert.equal(got.result, 'tun');
      const st = dp.stats(h).peers.find((q) => q.peer === 7)!;
      assert.equal(st.currentIndex, 1, 'next became current');
      // Now peer 7 sends: counters 0..3 allowed, REKEY raised past 2, then the limit.
      const out = [];
      for (let i = 0; i < 6; i++) out.push(dp.encrypt(h, ipv4Packet('100.64.0.3', '100.64.0.2', `${i}`)));
      assert.equal(out.filter((o) => 'datagram' in o).length, 4);
      assert.deepEqual(out[5], { peer: 7, drop: 'txNoSession' });
      await new Promise((res) => setTimeout(res, 50));
      const bits = events.filter((e) => e.peer === 7).reduce((b, e) => b | e.events, 0);
      for (const name of ['CONFIRMED', 'ENDPOINT', 'REKEY', 'LIMIT', 'DATA_SENT', 'DATA_RECEIVED'] as const)
        assert.ok(bits & dp.events[name], `event ${name} raised`);
      assert.deepEqual(events.find((e) => e.endpoint)?.endpoint, { address: '198.18.0.9', port: 5 });
      // An expired session: nothing sent, nothing accepted.
      dp.setSession(h, 8, { localIndex: 300, remoteIndex: 400, sendKey: k1, recvKey: k2, ageMs: 180_001 });
      const e = dp.encrypt(h, p);
      assert.deepEqual(e, { peer: 8, drop: 'txNoSession' });
      assert.ok(dp.removeSession(h, 300));
      assert.ok(!dp.removeSession(h, 300));
      assert.ok(dp.removePeer(h, 8));
      assert.deepEqual(dp.encrypt(h, p), { peer: 0, drop: 'txNoRoute' });
    } finally {
      dp.close(h);
    }
  });

  it('longest-prefix match over IPv4 and IPv6, prefixes moving between peers', () => {
    const dp = addon();
    const h = dp.create(-1, -1, { onEvents: () => {} });
    try {
      dp.setPeer(h, 1, null, ['100.64.0.0/10', 'fd00::/8']);
      dp.setPeer(h, 2, null, ['100.64.5.0/24', 'fd00:6d::/64']);
      dp.setPeer(h, 3, null, ['100.64.5.7/32', 'fd00:6d::7/128']);
      const dst = (d: string) =>
        dp.encrypt(h, d.includes(':') ? ipv6Packet('fd00::1', d, 'x') : ipv4Packet('100.64.0.1', d, 'x'))
          .peer;
      assert.deepEqual(
        [
          '100.64.9.9',
          '100.64.5.9',
          '100.64.5.7',
          '10.0.0.1',
          'fd00::9',
          'fd00:6d::9',
          'fd00:6d::7',
          'fe80::1',
        ].map(dst),
        [1, 2, 3, 0, 1, 2, 3, 0],
      );
      dp.setPeer(h, 1, null, ['100.64.5.0/24']); // moves the /24 to peer 1, drops its /10 and fd00::/8
      assert.deepEqual(['100.64.9.9', '100.64.5.9', 'fd00::9'].map(dst), [0, 1, 0]);
      dp.removePeer(h, 3);
      assert.equal(dst('100.64.5.7'), 1);
      assert.throws(() => dp.setPeer(h, 4, null, ['100.64.0.0/33']), /not a CIDR/);
      assert.throws(() => dp.setPeer(h, 4, { address: 'nope', port: 1 }, []), /endpoint/);
    } finally {
      dp.close(h);
    }
  });
});

describe('native data plane: fuzzed datagrams', () => {
  it('random and mangled datagrams: no crash, every one counted under one reason', () => {
    const dp = addon();
    const { a, kb } = handshaken();
    const x = clone(dp, kb, ['100.64.0.1/32'], EP_A);
    const rnd = seededRandom(4242);
    const valid: Buffer[] = [];
    for (let i = 0; i < 64; i++) {
      const p = ipv4Packet('100.64.0.1', '100.64.0.2', Buffer.from(rnd(i * 20)));
      a.device.handleTunPacket(p, 0, p.length);
      valid.push(a.sent.pop()!);
    }
    try {
      const c0 = dp.stats(x.h).counters;
      const N = 20_000;
      let delivered = 0;
      for (let i = 0; i < N; i++) {
        const r = rnd(4);
        let d: Buffer;
        const base = valid[r[1] % valid.length];
        switch (r[0] % 6) {
          case 0: // pure noise of any length up to beyond a slot
            d = Buffer.from(rnd(((r[2] << 8) | r[3]) % 5000));
            break;
          case 1: // a transport header for our index, random rest
            d = Buffer.from(rnd(((r[2] << 8) | r[3]) % 1600));
            if (d.length >= 8) {
              d[0] = 4;
              d[1] = d[2] = d[3] = 0;
              d.writeUInt32LE(kb.localIndex, 4);
              if (d.length >= 16 && r[2] & 1) {
                d.writeUInt32LE(d.readUInt32LE(8) % LIMITS.rejectAfterMessages, 8); // half below the limit
                d.writeUInt32LE(0, 12);
              }
            }
            break;
          case 2: // a valid message cut anywhere
            d = Buffer.from(base.subarray(0, ((r[2] << 8) | r[3]) % (base.length + 1)));
            break;
          case 3: // a valid message with one byte flipped
            d = Buffer.from(base);
            d[((r[2] << 8) | r[3]) % d.length] ^= 1 << (r[3] % 8);
            break;
          case 4: // a valid message with junk appended
            d = Buffer.concat([base, Buffer.from(rnd(r[2] % 64))]);
            break;
          default: // a valid message replayed (delivered once at most)
            d = base;
        }
        const out = dp.decrypt(x.h, d, EP_A);
        if (out.result === 'tun') delivered++;
      }
      const c = dp.stats(x.h).counters;
      const counted = RX_REASONS.reduce((n, k) => n + c[k] - c0[k], 0);
      assert.equal(counted + delivered, N);
      assert.ok(delivered <= valid.length, 'each valid message delivered at most once');
      assert.ok(c.rxBadTag > 1000 && c.rxNotTransport > 1000 && c.rxReplayed > 100, JSON.stringify(c));
    } finally {
      dp.close(x.h);
    }
  });
});

describe('native data plane: receiving the TUN fd from the helper (SCM_RIGHTS)', () => {
  it('recvFd gets the very file the other end sent; a message without an fd or a timeout is an error', () => {
    const dp = addon();
    const [ours, theirs] = dp.socketpair();
    const sock = dp.openUdp('127.0.0.1', 0);
    try {
      dp.sendFd(theirs, sock);
      const got = dp.recvFd(ours, 1000);
      assert.notEqual(got, sock);
      const a = fstatSync(sock);
      const b = fstatSync(got);
      assert.equal(b.ino, a.ino, 'the same open file');
      assert.equal(b.dev, a.dev);
      dp.closeFd(got);
      assert.throws(() => dp.recvFd(ours, 50), /timed out/);
      writeSync(theirs, Buffer.from('no fd'));
      assert.throws(() => dp.recvFd(ours, 1000), /carried no fd/);
    } finally {
      dp.closeFd(sock);
      dp.closeFd(ours);
      dp.closeFd(theirs);
    }
  });
});

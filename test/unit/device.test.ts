// Two (or more) sans-IO devices talking through the in-process network with a virtual clock:
// handshakes, transport, replay, timers, rekeying, cookies under load, cryptokey routing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import nacl from 'tweetnacl';
import {
  KEEPALIVE_TIMEOUT,
  MAX_TIMER_HANDSHAKES,
  MSG_COOKIE_REPLY,
  MSG_INITIATION,
  MSG_MESH,
  MSG_RESPONSE,
  MSG_TRANSPORT,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
  RELAYED_INITIATION_RESEND,
  RESPONSES_PER_INITIATION,
  UNDER_LOAD_HANDSHAKES_PER_SECOND,
} from '../../main/core/constants';
import { CookieGenerator } from '../../main/core/cookie';
import {
  Device,
  type DeviceDelegate,
  type RelayedEndpoint,
  type RelayVia,
  sameEndpoint,
} from '../../main/core/device';
import { InitiationTimestamps } from '../../main/core/initiation-timestamps';
import { parseCidr } from '../../main/core/ip';
import { messageType } from '../../main/core/messages';
import { ipv4Packet, ipv6Packet, type SimDatagram, SimNet, SimNode, seededRandom } from '../lib/sim';

function key(seed: number): Uint8Array {
  return nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(seed)).secretKey;
}

function pair(limits = {}): { net: SimNet; a: SimNode; b: SimNode } {
  const net = new SimNet();
  const a = net.add('a', key(1), 11, limits);
  const b = net.add('b', key(2), 22, limits);
  a.addPeer(b, ['100.64.0.2/32', 'fd00:6d::2/128']);
  b.addPeer(a, ['100.64.0.1/32', 'fd00:6d::1/128']);
  return { net, a, b };
}

const types = (ds: SimDatagram[]) => ds.map((d) => messageType(d.bytes));

describe('device: handshake and transport', () => {
  it('first packet triggers a handshake; the packet is delivered after it; both directions work', () => {
    const { net, a, b } = pair();
    const seen: SimDatagram[] = [];
    net.filter = (d) => {
      seen.push(d);
      return true;
    };
    const p1 = ipv4Packet('100.64.0.1', '100.64.0.2', 'hello b');
    a.send(p1);
    net.run();
    assert.deepEqual(types(seen).slice(0, 3), [MSG_INITIATION, MSG_RESPONSE, MSG_TRANSPORT]);
    assert.equal(b.tunOut.length, 1);
    assert.deepEqual(b.tunOut[0], p1);
    const p2 = ipv6Packet('fd00:6d::2', 'fd00:6d::1', 'hello a over v6');
    b.send(p2);
    net.run();
    assert.deepEqual(a.tunOut.at(-1), p2);
    assert.ok(a.events.some((e) => e.type === 'handshake' && e.role === 'initiator'));
    assert.ok(b.events.some((e) => e.type === 'handshake' && e.role === 'responder'));
  });

  it('simultaneous initiations from both sides complete at once (no wait for a retransmit)', () => {
    const { net, a, b } = pair();
    a.device.connectAll();
    b.device.connectAll();
    net.run();
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'from a'));
    b.send(ipv4Packet('100.64.0.2', '100.64.0.1', 'from b'));
    net.run();
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'from a');
    assert.equal(a.tunOut.at(-1)?.subarray(28).toString(), 'from b');
  });

  it('pads transport payloads to 16 bytes and strips the padding on receipt', () => {
    const { net, a, b } = pair();
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'x'));
    net.run();
    const sizes: number[] = [];
    net.filter = (d) => {
      sizes.push(d.bytes.length);
      return true;
    };
    const p = ipv4Packet('100.64.0.1', '100.64.0.2', 'abc'); // 31 bytes -> 32 padded
    a.send(p);
    net.run();
    assert.deepEqual(sizes, [16 + 32 + 16]);
    assert.deepEqual(b.tunOut.at(-1), p);
  });

  it('carries packets of exactly the MTU (padding is capped at the MTU) and larger ones unpadded', () => {
    const { net, a, b } = pair();
    for (const size of [1420, 1419, 1500]) {
      const p = ipv4Packet('100.64.0.1', '100.64.0.2', Buffer.alloc(size - 28, 0x5a));
      a.send(p);
      net.run();
      assert.deepEqual(b.tunOut.at(-1), p, `packet of ${size} bytes`);
    }
    assert.equal(b.device.counters.invalid, 0);
  });

  it('drops replayed transport messages and accepts reordered ones once', () => {
    const { net, a, b } = pair();
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'warm up'));
    net.run();
    const captured: SimDatagram[] = [];
    net.filter = (d) => {
      if (messageType(d.bytes) === MSG_TRANSPORT && d.to === b.endpoint) {
        captured.push(d);
        return false;
      }
      return true;
    };
    for (let i = 0; i < 5; i++) a.send(ipv4Packet('100.64.0.1', '100.64.0.2', `pkt ${i}`, i));
    net.run();
    net.filter = () => true;
    const before = b.tunOut.length;
    for (const i of [4, 2, 0, 1, 3]) net.deliver(captured[i]); // reordered
    assert.equal(b.tunOut.length, before + 5);
    for (const d of captured) net.deliver(d); // replayed
    assert.equal(b.tunOut.length, before + 5);
    assert.equal(b.device.counters.replayed, 5);
  });

  it('drops packets whose inner source the peer may not use (cryptokey routing)', () => {
    const { net, a, b } = pair();
    a.device.getPeer(b.device.publicKeyB64)!; // a may send to b
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'ok'));
    net.run();
    assert.equal(b.tunOut.length, 1);
    a.send(ipv4Packet('100.64.0.99', '100.64.0.2', 'spoofed source'));
    net.run();
    assert.equal(b.tunOut.length, 1);
    assert.equal(b.device.counters.wrongSource, 1);
  });

  it('drops packets to destinations no peer owns', () => {
    const { net, a } = pair();
    a.send(ipv4Packet('100.64.0.1', '100.64.0.77', 'nobody'));
    net.run();
    assert.equal(net.delivered, 0);
    assert.equal(a.device.counters.noRoute, 1);
  });

  it('mismatched pre-shared keys never complete a handshake', () => {
    const net = new SimNet();
    const a = net.add('a', key(1), 1);
    const b = net.add('b', key(2), 2);
    a.addPeer(b, ['100.64.0.2/32'], { psk: new Uint8Array(32).fill(7) });
    b.addPeer(a, ['100.64.0.1/32'], { psk: new Uint8Array(32).fill(8) });
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'x'));
    net.advance(2000);
    assert.equal(b.tunOut.length, 0);
    assert.ok(!a.events.some((e) => e.type === 'handshake'));
  });

  it('matching pre-shared keys work', () => {
    const net = new SimNet();
    const a = net.add('a', key(1), 1);
    const b = net.add('b', key(2), 2);
    const psk = new Uint8Array(32).fill(9);
    a.addPeer(b, ['100.64.0.2/32'], { psk });
    b.addPeer(a, ['100.64.0.1/32'], { psk });
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'x'));
    net.run();
    assert.equal(b.tunOut.length, 1);
  });

  it('ignores initiations from keys it does not know, and garbage, without answering', () => {
    const net = new SimNet();
    const a = net.add('a', key(1), 1);
    const b = net.add('b', key(2), 2);
    a.addPeer(b, ['100.64.0.2/32']); // b does not know a
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'x'));
    net.run();
    assert.equal(net.queue.length, 0);
    assert.equal(types(net.queue).length, 0);
    for (const junk of [
      Buffer.alloc(0),
      Buffer.alloc(148, 1),
      Buffer.from([4, 0, 0, 0]),
      Buffer.alloc(1500, 4),
    ]) {
      b.device.handleDatagram(junk, junk.length, a.endpoint);
    }
    assert.equal(net.queue.length, 0);
  });
});

describe('device: a peer restarted', () => {
  it('a message to an index it no longer holds, from a known peer without a session, starts a handshake at once', () => {
    const { net, a, b } = pair();
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'before'));
    net.run();
    assert.equal(b.tunOut.length, 1);
    // b restarts (a crash: no goodbye) with the same key; it knows a's endpoint again (the mesh finds it).
    b.down = true;
    const b2 = new SimNode(net, 'b', b.endpoint, b.privateKey, 33);
    net.nodes.set(`${b.endpoint.address}:${b.endpoint.port}`, b2);
    b2.addPeer(a, ['100.64.0.1/32', 'fd00:6d::1/128']);
    b2.device.setEndpoint(b2.device.getPeer(a.device.publicKeyB64)!, a.endpoint);
    net.advance(1_000);
    const seen: SimDatagram[] = [];
    net.filter = (d) => {
      seen.push(d);
      return true;
    };
    // a still holds its session with b's earlier incarnation: its packet is lost, but b answers it
    // with an initiation, and a's next packet goes in the new session (not after a's 15 s timeout).
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'into the old session'));
    net.run();
    assert.deepEqual(types(seen).slice(0, 3), [MSG_TRANSPORT, MSG_INITIATION, MSG_RESPONSE]);
    assert.equal(b2.tunOut.length, 0);
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'in the new one'));
    net.run();
    assert.equal(b2.tunOut.at(-1)?.subarray(28).toString(), 'in the new one');
    // Many more stale messages (or forged ones from a's address) cost no more initiations than
    // REKEY_TIMEOUT allows; an unknown source costs none.
    const initiations = () => seen.filter((d) => messageType(d.bytes) === MSG_INITIATION).length;
    const before = initiations();
    const stale = Buffer.from(seen[0].bytes);
    for (let i = 0; i < 50; i++) {
      b2.device.handleDatagram(Buffer.from(stale), stale.length, a.endpoint);
      b2.device.handleDatagram(Buffer.from(stale), stale.length, { address: '198.18.9.9', port: 9 });
      net.advance(10);
    }
    net.run();
    assert.equal(initiations(), before, 'a session exists: no initiation');
  });
});

describe('device: timers', () => {
  it('retransmits an unanswered initiation every REKEY_TIMEOUT (+jitter) and gives up after the attempt budget', () => {
    const { net, a } = pair();
    const inits: number[] = [];
    net.filter = (d) => {
      if (messageType(d.bytes) === MSG_INITIATION) inits.push(net.now);
      return false; // b is unreachable
    };
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'x'));
    net.run();
    net.advance(REKEY_TIMEOUT * (MAX_TIMER_HANDSHAKES + 4));
    assert.equal(inits.length, MAX_TIMER_HANDSHAKES + 1);
    for (let i = 1; i < inits.length; i++) {
      const gap = inits[i] - inits[i - 1];
      assert.ok(gap >= REKEY_TIMEOUT && gap <= REKEY_TIMEOUT + 334 + 100, `gap ${gap}`);
    }
    assert.ok(a.events.some((e) => e.type === 'handshake-failed'));
  });

  it('sends a keepalive when data arrived and nothing went back for KEEPALIVE_TIMEOUT', () => {
    const { net, a, b } = pair();
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'x'));
    net.run();
    const fromB: number[] = [];
    net.filter = (d) => {
      if (d.from === b.endpoint) fromB.push(d.bytes.length);
      return true;
    };
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'data'));
    net.run();
    net.advance(KEEPALIVE_TIMEOUT + 500);
    assert.deepEqual(fromB, [32]);
  });

  it('the initiator rekeys after REKEY_AFTER_TIME when it sends, without losing traffic', () => {
    const { net, a, b } = pair();
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'x'));
    net.run();
    const handshakesBefore = a.events.filter((e) => e.type === 'handshake').length;
    net.advance(REKEY_AFTER_TIME + 1000, 1000);
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'after rekey time'));
    net.run();
    assert.equal(a.events.filter((e) => e.type === 'handshake').length, handshakesBefore + 1);
    assert.equal(b.tunOut.at(-1)!.subarray(28).toString(), 'after rekey time');
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'on the new session'));
    b.send(ipv4Packet('100.64.0.2', '100.64.0.1', 'reply on the new session'));
    net.run();
    assert.equal(b.tunOut.at(-1)!.subarray(28).toString(), 'on the new session');
    assert.equal(a.tunOut.at(-1)!.subarray(28).toString(), 'reply on the new session');
  });

  it('erases sessions after REJECT_AFTER_TIME * 3 of silence and reports it', () => {
    const { net, a } = pair();
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'x'));
    net.run();
    net.advance(REJECT_AFTER_TIME * 3 + 1000, 5000);
    assert.ok(a.events.some((e) => e.type === 'session-expired'));
    assert.equal(a.device.getPeer(a.device.allPeers().next().value!.keyB64)!.current, null);
  });

  it('persistent keepalive keeps sending while idle', () => {
    const net = new SimNet();
    const a = net.add('a', key(1), 1);
    const b = net.add('b', key(2), 2);
    a.addPeer(b, ['100.64.0.2/32'], { keepalive: 25 });
    b.addPeer(a, ['100.64.0.1/32']);
    let fromA = 0;
    net.filter = (d) => {
      if (d.from === a.endpoint && messageType(d.bytes) === MSG_TRANSPORT) fromA++;
      return true;
    };
    net.advance(100_000, 500);
    assert.ok(fromA >= 3, `keepalives sent: ${fromA}`);
  });
});

describe('device: counters and limits', () => {
  it('rekeys when the message count passes rekeyAfterMessages and never reuses a nonce', () => {
    const { net, a, b } = pair({ rekeyAfterMessages: 20, rejectAfterMessages: 30 });
    const counters = new Map<number, Set<number>>();
    net.filter = (d) => {
      if (messageType(d.bytes) === MSG_TRANSPORT && d.from === a.endpoint) {
        const idx = d.bytes.readUInt32LE(4);
        const c = d.bytes.readUInt32LE(8);
        const set = counters.get(idx) ?? new Set();
        assert.ok(!set.has(c), 'nonce reused');
        set.add(c);
        counters.set(idx, set);
      }
      return true;
    };
    for (let i = 0; i < 100; i++) {
      a.send(ipv4Packet('100.64.0.1', '100.64.0.2', `p${i}`, i));
      net.run();
      net.advance(REKEY_TIMEOUT / 10, 100); // initiations are rate-limited to one per REKEY_TIMEOUT
    }
    assert.ok(counters.size >= 3, `sessions used: ${counters.size}`);
    for (const set of counters.values()) assert.ok(Math.max(...set) < 30);
    assert.ok(b.tunOut.length >= 90, `delivered ${b.tunOut.length}`);
  });
});

describe('device: cookies under load', () => {
  it('under an initiation flood answers with cookie replies; a real peer still gets through with mac2', () => {
    const net = new SimNet();
    const b = net.add('b', key(2), 2);
    const a = net.add('a', key(1), 1);
    a.addPeer(b, ['100.64.0.2/32']);
    b.addPeer(a, ['100.64.0.1/32']);
    // Flood b with valid-looking initiations from a third key b does not know (mac1 is valid).
    const flooder = net.add('f', key(3), 3);
    flooder.addPeer(b, ['100.64.0.2/32']);
    let cookieReplies = 0;
    net.filter = (d) => {
      if (messageType(d.bytes) === MSG_COOKIE_REPLY) cookieReplies++;
      return true;
    };
    for (let i = 0; i < UNDER_LOAD_HANDSHAKES_PER_SECOND * 2; i++) {
      const peer = flooder.device.allPeers().next().value!;
      peer.lastInitiationSent = -1e12; // bypass the flooder's own rate limit
      flooder.send(ipv4Packet('100.64.0.9', '100.64.0.2', 'f'));
      net.run();
    }
    assert.ok(cookieReplies > 0, 'no cookie replies under load');
    const repliesBefore = cookieReplies;
    // The real peer's first initiation gets a cookie reply, its retransmission carries mac2.
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'legit'));
    net.run();
    assert.ok(cookieReplies > repliesBefore);
    net.advance(REKEY_TIMEOUT + 500, 100);
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'legit');
  });
});

/** The initiation `node` sends for `packet`, captured and not delivered (the filter stays). */
function heldInitiation(net: SimNet, node: SimNode, packet: Buffer): Buffer {
  let init: Buffer | undefined;
  net.filter = (d) => {
    if (messageType(d.bytes) !== MSG_INITIATION) return true;
    init = d.bytes;
    return false;
  };
  node.send(packet);
  net.run();
  assert.ok(init);
  return init;
}

describe('device: many sessions started at once', () => {
  it('a node that starts sessions with more members than the load threshold in one burst gets every answer, without cookie replies', () => {
    const net = new SimNet();
    const a = net.add('a', key(1), 1);
    const n = UNDER_LOAD_HANDSHAKES_PER_SECOND + 36; // 100 members, as a node starting in a mesh
    const others: SimNode[] = [];
    for (let i = 0; i < n; i++) {
      const o = net.add(`m${i}`, key(10 + i), 10 + i);
      const v4 = `100.64.${1 + (i >> 8)}.${i & 0xff}`;
      a.addPeer(o, [`${v4}/32`]);
      o.addPeer(a, ['100.64.0.1/32']);
      others.push(o);
    }
    let cookieReplies = 0;
    net.filter = (d) => {
      if (messageType(d.bytes) === MSG_COOKIE_REPLY) cookieReplies++;
      return true;
    };
    // Every first packet within 0.1 s: n initiations out, n responses back within the same second.
    for (let i = 0; i < n; i++)
      a.send(ipv4Packet('100.64.0.1', `100.64.${1 + (i >> 8)}.${i & 0xff}`, `first ${i}`));
    net.run();
    net.advance(500, 50);
    assert.equal(cookieReplies, 0);
    assert.equal(a.device.counters.cookieRepliesSent, 0);
    for (const [i, o] of others.entries())
      assert.equal(o.tunOut.at(-1)?.subarray(28).toString(), `first ${i}`, `m${i} got its first packet`);
  });

  it('forged responses to an initiation in flight (valid mac1): at most RESPONSES_PER_INITIATION opened without the load rules', () => {
    const { net, a, b } = pair();
    // a's initiation to b is held back; an attacker on the path saw it (and so a's index).
    const init = heldInitiation(net, a, ipv4Packet('100.64.0.1', '100.64.0.2', 'x'));
    // a under load: one initiation from a stranger (valid mac1), delivered above the threshold at once.
    const f = net.add('f', key(3), 3);
    f.addPeer(a, ['100.64.0.1/32']);
    const flood = heldInitiation(net, f, ipv4Packet('100.64.0.9', '100.64.0.1', 'f'));
    for (let i = 0; i <= UNDER_LOAD_HANDSHAKES_PER_SECOND; i++)
      a.device.handleDatagram(flood, flood.length, f.endpoint);
    const cookies = a.device.counters.cookieRepliesSent;
    const invalid = a.device.counters.invalid;
    assert.ok(cookies > 0, 'a is under load');
    // Responses for a's pending index with garbage keys and a valid mac1 (a's public key is no secret).
    const forge = () => {
      const m = Buffer.alloc(92);
      m.writeUInt32LE(MSG_RESPONSE, 0);
      m.writeUInt32LE(77, 4);
      init.copy(m, 8, 4, 8); // receiver: the initiation's sender index
      m.fill(7, 12, 60);
      new CookieGenerator(a.publicKey).addMacs(m, 60, net.now);
      return m;
    };
    for (let i = 0; i < RESPONSES_PER_INITIATION + 3; i++) a.device.handleDatagram(forge(), 92, b.endpoint);
    // The first ones were opened (and failed: invalid); the rest met the load rules (cookie replies).
    assert.equal(a.device.counters.invalid - invalid, RESPONSES_PER_INITIATION);
    assert.equal(a.device.counters.cookieRepliesSent - cookies, 3);
  });
});

describe('device: hostile input', () => {
  it('20,000 random and mutated datagrams: no exception, no reply, the session keeps working', () => {
    const { net, a, b } = pair();
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'establish'));
    net.run();
    const captured: Buffer[] = [];
    net.filter = (d) => {
      captured.push(d.bytes);
      return true;
    };
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'sample'));
    b.send(ipv4Packet('100.64.0.2', '100.64.0.1', 'sample'));
    net.run();
    net.filter = () => true;
    const rnd = seededRandom(99);
    const attacker = { address: '198.18.9.9', port: 4444 };
    const before = { tun: b.tunOut.length, queued: net.queue.length };
    for (let i = 0; i < 20_000; i++) {
      const r = rnd(4);
      let d: Buffer;
      if (i % 2 === 0) {
        // random bytes, with a valid-looking type byte half the time
        d = Buffer.from(rnd(r[0] % 4 === 0 ? 148 : (r[1] << 3) % 1600));
        if (d.length >= 4 && r[2] & 1) d.writeUInt32LE(1 + (r[3] % 4), 0);
      } else {
        // a real message with one byte flipped or truncated
        const base = captured[i % captured.length];
        d = Buffer.from(base.subarray(0, r[0] % 2 ? base.length : r[1] % base.length));
        if (d.length > 0) d[r[2] % d.length] ^= 1 << (r[3] % 8);
      }
      b.device.handleDatagram(d, d.length, attacker);
    }
    assert.equal(net.queue.length, before.queued, 'replied to garbage');
    assert.equal(b.tunOut.length, before.tun, 'garbage reached the TUN device');
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'still works'));
    net.run();
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'still works');
  });
});

describe('device: relayed endpoints and the delegate', () => {
  /** A relay as the layer above gives it: the device only calls `send` and `sameAs`. */
  class TestVia implements RelayVia {
    readonly sent: number[] = [];
    constructor(
      readonly far: string,
      private readonly forward: (bytes: Buffer) => void,
    ) {}
    send(buf: Buffer, start: number, len: number, to: RelayedEndpoint): void {
      assert.equal(to.via, this);
      this.sent.push(buf[start]);
      this.forward(Buffer.from(buf.subarray(start, start + len)));
    }
    sameAs(other: RelayVia): boolean {
      return other instanceof TestVia && other.far === this.far;
    }
  }

  it('sends to a relayed endpoint only through its via; an equal one (sameEndpoint) changes nothing', () => {
    const { net, a, b } = pair();
    const udp: SimDatagram[] = [];
    net.filter = (d) => {
      udp.push(d);
      return true;
    };
    const via = new TestVia('b', (bytes) => net.emit(a, b.endpoint, bytes));
    const peer = a.device.getPeer(b.device.publicKeyB64)!;
    a.device.setEndpoint(peer, { kind: 'relay', address: '198.18.0.99', port: 51820, via });
    const moved = a.events.filter((e) => e.type === 'endpoint').length;
    a.device.setEndpoint(peer, {
      kind: 'relay',
      address: '198.18.0.99',
      port: 51820,
      via: new TestVia('b', () => assert.fail('an equal endpoint replaced the first')),
    });
    assert.equal(a.events.filter((e) => e.type === 'endpoint').length, moved);
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'relayed'));
    net.run();
    assert.deepEqual(via.sent, [MSG_INITIATION]);
    // Nothing of a's went out as a plain datagram to the relay's address.
    assert.ok(!udp.some((d) => d.to.address === '198.18.0.99'));
    // b answered straight from its own address: an authenticated packet from there moves the peer
    // off the relay (roaming), and the packet follows directly.
    assert.ok(sameEndpoint(peer.endpoint, b.endpoint));
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'relayed');
    const relayed: RelayedEndpoint = { kind: 'relay', address: '198.18.0.99', port: 51820, via };
    assert.ok(sameEndpoint(relayed, { ...relayed, via: new TestVia('b', () => {}) }));
    assert.ok(!sameEndpoint(relayed, { ...relayed, via: new TestVia('c', () => {}) }));
    assert.ok(!sameEndpoint(relayed, { address: '198.18.0.99', port: 51820 }));
  });

  it('a waiting handshake sent through a relay that dropped it: the same initiation goes at once on a direct path found since (not after REKEY_TIMEOUT); a new one through the relay only when stale', () => {
    const { net, a, b } = pair();
    const direct: Buffer[] = [];
    net.filter = (d) => {
      if (messageType(d.bytes) === MSG_INITIATION) direct.push(Buffer.from(d.bytes));
      return true;
    };
    // The relay does not forward yet (it has not confirmed b's path): its frames are lost.
    const viaBytes: Buffer[] = [];
    const via = new TestVia('p', (bytes) => viaBytes.push(bytes));
    const peer = a.device.getPeer(b.device.publicKeyB64)!;
    const relayed: RelayedEndpoint = { kind: 'relay', address: '198.18.0.99', port: 51820, via };
    a.device.setEndpoint(peer, relayed);
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'first'));
    net.run();
    assert.deepEqual(via.sent, [MSG_INITIATION]);
    // Same endpoint, unanswered for less than RELAYED_INITIATION_RESEND: nothing.
    net.advance(RELAYED_INITIATION_RESEND - 50);
    a.device.restartWaitingHandshake(peer);
    assert.equal(viaBytes.length, 1);
    // Unanswered for RELAYED_INITIATION_RESEND: the same initiation through the relay again (the
    // relay may have dropped the first copy).
    net.advance(100);
    a.device.restartWaitingHandshake(peer);
    assert.equal(viaBytes.length, 2);
    assert.ok(viaBytes[1].equals(viaBytes[0]));
    // Stale for the caller's limit (the mesh: 1 s through a relay): a new one through the relay.
    net.advance(30);
    a.device.restartWaitingHandshake(peer, RELAYED_INITIATION_RESEND);
    assert.equal(viaBytes.length, 3);
    assert.ok(!viaBytes[2].equals(viaBytes[0]));
    // A direct path 10 ms later: that same initiation goes there at once, is answered, and the
    // packet arrives.
    net.advance(10, 10);
    // (setEndpoint's own restart waits ENDPOINT_HANDSHAKE_RESTART_GAP: 1 s)
    a.device.setEndpoint(peer, b.endpoint);
    assert.equal(direct.length, 0);
    a.device.restartWaitingHandshake(peer);
    net.run();
    assert.equal(direct.length, 1);
    assert.ok(direct[0].equals(viaBytes[2]), 'the initiation in flight, not a new one');
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'first');
    assert.ok(net.now - 1_000_000 < REKEY_TIMEOUT);
    // With a session nothing waits: no more initiations.
    a.device.restartWaitingHandshake(peer, 0, net.now + 1);
    net.run();
    assert.equal(direct.length, 1);
  });

  it('a layer above that moves the peer when a handshake starts (a relay for the first packets) gets one initiation there, not two', () => {
    const { net, a, b } = pair();
    const via = new TestVia('p', (bytes) => net.emit(a, b.endpoint, bytes));
    const relayed: RelayedEndpoint = { kind: 'relay', address: '198.18.0.99', port: 51820, via };
    a.handshakeStarting = (peer) => a.device.setEndpoint(peer, relayed);
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'via relay'));
    net.run();
    // Two back to back (setEndpoint starting its own inside this one) and the responder answers
    // the first, drops the second (20 ms rate), and the initiator kept only the second.
    assert.deepEqual(via.sent, [MSG_INITIATION]);
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'via relay');
  });

  it('a waiting handshake sent on the endpoint before the path there was found (a NAT dropped it): the same initiation goes again once the path is found; a copy that arrives late is a replay', () => {
    const { net, a, b } = pair();
    const inits: Buffer[] = [];
    let open = false;
    net.filter = (d) => {
      if (messageType(d.bytes) === MSG_INITIATION) inits.push(Buffer.from(d.bytes));
      return open; // b's NAT has no mapping for a yet
    };
    const peer = a.device.getPeer(b.device.publicKeyB64)!;
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'early'));
    net.run();
    assert.equal(inits.length, 1);
    net.advance(200, 10);
    // A path found before that initiation went out: no reason to send it again.
    a.device.restartWaitingHandshake(peer, REKEY_TIMEOUT, peer.lastInitiationSent - 1);
    assert.equal(inits.length, 1);
    // The mesh finds the path (same endpoint) after it: the same initiation again, answered.
    open = true;
    a.device.restartWaitingHandshake(peer, REKEY_TIMEOUT, net.now);
    net.run();
    assert.equal(inits.length, 2);
    assert.ok(inits[1].equals(inits[0]));
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'early');
    // The first copy arriving now (late) is a replay: b answers nothing, the session stays.
    const responses = b.events.filter((e) => e.type === 'handshake').length;
    net.emit(a, b.endpoint, inits[0]);
    net.run();
    assert.equal(b.events.filter((e) => e.type === 'handshake').length, responses);
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'after'));
    net.run();
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'after');
  });

  it('without a delegate, mesh datagrams count as invalid; with one, it adds peers on demand', () => {
    const net = new SimNet();
    const b = net.add('b', key(2), 22);
    const asked: string[] = [];
    const sends: Buffer[] = [];
    const lone = new Device(
      {
        send: (buf, s, len) => sends.push(Buffer.from(buf.subarray(s, s + len))),
        writeTun: () => {},
        event: () => {},
      },
      { privateKey: key(1), random: seededRandom(5), now: net.now, wallNow: net.wall() },
    );
    lone.handleDatagram(Buffer.from([MSG_MESH, 0, 0, 2, 1, 2, 3]), 7, b.endpoint);
    assert.equal(lone.counters.invalid, 1);
    const delegate: DeviceDelegate = {
      meshMessage: () => true,
      noRoute: () => {
        asked.push('route');
        withPeer.addPeer({
          publicKey: b.publicKey,
          endpoint: b.endpoint,
          allowedIps: [parseCidr('100.64.0.2/32')!],
        });
        return true;
      },
      unknownPeer: () => false,
      handshakeStarting: (p) => asked.push(`start ${p.keyB64 === b.device.publicKeyB64}`),
    };
    const withPeer = new Device(
      {
        send: (buf, s, len) => sends.push(Buffer.from(buf.subarray(s, s + len))),
        writeTun: () => {},
        event: () => {},
      },
      { privateKey: key(1), random: seededRandom(5), now: net.now, wallNow: net.wall(), delegate },
    );
    withPeer.handleDatagram(Buffer.from([MSG_MESH, 0, 0, 2, 1, 2, 3]), 7, b.endpoint);
    assert.equal(withPeer.counters.invalid, 0);
    const p = ipv4Packet('100.64.0.1', '100.64.0.2', 'on demand');
    withPeer.handleTunPacket(p, 0, p.length);
    assert.deepEqual(asked, ['route', 'start true']);
    assert.equal(messageType(sends.at(-1)!), MSG_INITIATION);
  });
});

describe('device: a recorded initiation replayed later', () => {
  const stranger = { address: '198.18.9.9', port: 40000 };

  /** a and b handshake once; returns the initiation a sent (as a stranger on the path records it). */
  function recorded(): { net: SimNet; a: SimNode; b: SimNode; init: Buffer } {
    const { net, a, b } = pair();
    let init: Buffer | null = null;
    net.filter = (d) => {
      if (!init && messageType(d.bytes) === MSG_INITIATION) init = Buffer.from(d.bytes);
      return true;
    };
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'first'));
    net.run();
    assert.equal(b.tunOut.length, 1);
    assert.ok(init);
    return { net, a, b, init };
  }

  /** Replay `init` to `node` from the stranger; the datagrams `node` sent in answer. */
  function replay(net: SimNet, node: SimNode, init: Buffer): SimDatagram[] {
    const answers: SimDatagram[] = [];
    net.filter = (d) => {
      if (d.sender === node) answers.push(d);
      return true;
    };
    net.queue.push({ from: stranger, to: node.endpoint, bytes: Buffer.from(init), at: net.now });
    net.run();
    net.advance(2_000);
    return answers;
  }

  it('is refused after the peer was dropped for idleness: no answer, no peer added, no endpoint moved', () => {
    const { net, a, b, init } = recorded();
    const aKey = a.device.publicKeyB64;
    // The layer above adds peers on demand, as the mesh does for members.
    let asked = 0;
    b.unknownPeer = (k: string) => {
      asked++;
      if (k === aKey) b.addPeer(a, ['100.64.0.1/32'], { endpoint: false });
      return k === aKey;
    };
    assert.ok(b.device.removePeer(aKey)); // idle drop: the peer and its timestamp go
    const replayedBefore = b.device.counters.replayed;
    const answers = replay(net, b, init);
    assert.deepEqual(answers.length, 0, 'no byte goes back to the stranger (or anywhere)');
    assert.equal(asked, 0, 'the replay did not make the device ask for the peer');
    assert.equal(b.device.getPeer(aKey), undefined);
    assert.equal(b.device.counters.replayed, replayedBefore + 1);
    assert.ok(!b.events.some((e) => e.type === 'endpoint' && sameEndpoint(e.endpoint, stranger)));

    // The real a, with a fresh initiation, is still let in (and its peer added on demand).
    net.advance(1_000);
    a.device.removePeer(b.device.publicKeyB64);
    a.addPeer(b, ['100.64.0.2/32']);
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'again'));
    net.run();
    assert.equal(asked, 1);
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'again');
    assert.ok(sameEndpoint(b.device.getPeer(aKey)?.endpoint ?? null, a.endpoint));
  });

  it('is refused by a fresh Device that imported the saved table (a restart); without it, it is answered', () => {
    const { net, a, b, init } = recorded();
    const saved = JSON.parse(JSON.stringify(b.device.initiationTimestamps.export()));
    assert.equal(saved.length, 1);
    // Restart b: a new device with the same key and configuration.
    const restart = (seed: number, withTable: boolean) => {
      b.down = true;
      const fresh = new SimNode(net, 'b', b.endpoint, b.privateKey, seed);
      net.nodes.set(`${b.endpoint.address}:${b.endpoint.port}`, fresh);
      if (withTable) assert.equal(fresh.device.initiationTimestamps.import(saved), 1);
      fresh.addPeer(a, ['100.64.0.1/32']);
      return fresh;
    };
    const aKey = a.device.publicKeyB64;

    // Without the saved table (what WireGuard does): the stranger's replay is answered and moves
    // the endpoint to the stranger. This is the attack the table stops.
    const naive = restart(30, false);
    assert.equal(replay(net, naive, init).length, 1);
    assert.ok(sameEndpoint(naive.device.getPeer(aKey)!.endpoint, stranger));

    const b2 = restart(31, true);
    const answers = replay(net, b2, init);
    assert.equal(answers.length, 0, 'no byte goes back');
    assert.ok(sameEndpoint(b2.device.getPeer(aKey)!.endpoint, a.endpoint), 'endpoint not moved');
    assert.equal(b2.device.counters.replayed, 1);
    assert.ok(!b2.events.some((e) => e.type === 'endpoint' || e.type === 'handshake'));

    // a's next real initiation is newer: accepted.
    net.advance(1_000);
    a.device.removePeer(b.device.publicKeyB64);
    a.addPeer(b, ['100.64.0.2/32']);
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'after restart'));
    net.run();
    assert.equal(b2.tunOut.at(-1)?.subarray(28).toString(), 'after restart');
  });

  it('the table is bounded (least recently used out) and its import skips malformed entries', () => {
    const t = new InitiationTimestamps(3);
    const k = (i: number) => Buffer.alloc(32, i).toString('base64');
    const ts = (n: number) => Uint8Array.from([...new Uint8Array(11), n]);
    for (let i = 1; i <= 4; i++) t.record(k(i), ts(i));
    assert.equal(t.size, 3);
    assert.ok(!t.has(k(1)));
    t.record(k(2), ts(9)); // 2 used last now: 3 goes next
    t.record(k(5), ts(1));
    assert.deepEqual(
      t.export().map((e) => e[0]),
      [k(4), k(2), k(5)],
    );
    assert.ok(!t.isNewer(k(2), ts(9)) && !t.isNewer(k(2), ts(8)) && t.isNewer(k(2), ts(10)));
    t.record(k(2), ts(3)); // older: ignored
    assert.ok(!t.isNewer(k(2), ts(9)));
    const u = new InitiationTimestamps(10);
    const n = u.import([
      [k(1), '00'.repeat(12)],
      ['not a key', '00'.repeat(12)],
      [k(2), 'zz'.repeat(12)],
      [k(3)],
      null,
      [k(4), '01'.repeat(12)],
    ]);
    assert.equal(n, 2);
    assert.equal(u.import({ nope: 1 }), 0);
    assert.equal(u.import('[]'), 0);
    assert.deepEqual(
      u.export().map((e) => e[0]),
      [k(1), k(4)],
    );
  });
});

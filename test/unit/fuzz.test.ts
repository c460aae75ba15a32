// Property-based fuzzing (fast-check, fixed seeds: a failure prints its seed and path and reproduces)
// of every decoder a remote or local party can feed: wire codecs, the Device and the Mesh behind the
// UDP port, invitations, the Control API, config files, PeerVPN import. The properties:
//   - no input makes a public entry point throw (decoders that report errors by throwing throw only
//     their own error class);
//   - a non-member's garbage makes a Device or Mesh send nothing at all (zero datagrams), and no input
//     from anyone who has not completed a handshake gets more bytes back than it sent;
//   - a transport packet is accepted once, reordered ones within the replay window once, older ones
//     never; the send counter limit forces a rekey and a nonce is never used twice.
// Figures (inputs tried, replies) are printed at the end: `node --test dist/test/unit/fuzz.test.js`.
// PEERMESH_FUZZ_SCALE=10 runs ten times as many inputs; PEERMESH_FUZZ_SEED=n changes the seed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { EVENTS, METHODS, parseEvent, parseRequest } from '../../main/control/api';
import { importPeerVpn } from '../../main/control/peervpn';
import {
  COOKIE_REPLY_SIZE,
  INITIATION_SIZE,
  MAX_SAFE_COUNTER,
  MESH_MAX_MESSAGE,
  MSG_COOKIE_REPLY,
  MSG_INITIATION,
  MSG_JOIN,
  MSG_MESH,
  MSG_RELAY_FROM,
  MSG_RELAY_TO,
  MSG_RESPONSE,
  MSG_TRANSPORT,
  REJECT_AFTER_MESSAGES,
  REKEY_AFTER_MESSAGES,
  REKEY_TIMEOUT,
  RESPONSE_SIZE,
  UNDER_LOAD_HANDSHAKES_PER_SECOND,
} from '../../main/core/constants';
import { CookieGenerator } from '../../main/core/cookie';
import { x25519Base, xseal } from '../../main/core/crypto/aead';
import { Blake2s } from '../../main/core/crypto/blake2s';
import type { DeviceLimits, Endpoint } from '../../main/core/device';
import { createInitiation, makeIdentity, peerKeys } from '../../main/core/handshake';
import {
  decodeInviteCode,
  encodeInviteCode,
  InviteCodeError,
  Invites,
  inviteKey,
  joinRequest,
  readJoinAnswer,
} from '../../main/core/invites';
import { networkKeys } from '../../main/core/mesh';
import {
  decodeCookieReply,
  decodeInitiation,
  decodeResponse,
  encodeCookieReply,
  encodeInitiation,
  encodeResponse,
  INITIATION_MAC1_OFFSET,
  messageType,
  RESPONSE_MAC1_OFFSET,
  transportCounter,
  transportReceiver,
} from '../../main/core/messages';
import { ReplayWindow, WINDOW_SIZE } from '../../main/core/replay-window';
import {
  ConfigError,
  checkAddress,
  defaults,
  loadConfigFile,
  parseEndpoint,
  parsePeerFlag,
  validate,
} from '../../main/node/config';
import { net0, secret } from '../lib/mesh-fixtures';
import { ipv4Packet, type SimDatagram, SimNet, type SimNode, seededRandom } from '../lib/sim';

const SEED = Number(process.env.PEERMESH_FUZZ_SEED ?? 0x5eed2026);
const SCALE = Math.max(0.01, Number(process.env.PEERMESH_FUZZ_SCALE ?? 1));

// ---- tallies ------------------------------------------------------------------------------------

/** Inputs tried per target (every generated value counts, shrinking included). */
const tally = new Map<string, number>();
/** Datagrams a Device/Mesh/Invites sent in answer to a non-member's input: must stay 0. */
let nonMemberReplies = 0;
/** Cookie replies to inputs with a valid mac1 (the sender knows the responder's public key). */
let cookieReplies = 0;
let cookieRequestBytes = 0;
let cookieReplyBytes = 0;
let maxCookieRatio = 0;
/** Largest join answer / join request seen (answers to holders of an invitation code). */
let maxJoinRatio = 0;

/** Targets whose inputs are well-formed on purpose (replays, traffic patterns, valid mac1, ...). */
const wellFormed = new Set([
  'Device.handleDatagram: mac1-valid handshakes from non-members',
  'ReplayWindow.accept sequences',
  'Device transport replay/reorder sequences',
  'Device counter limits (lowered) traffic patterns',
  'Invites.handle: holders of the code',
  'importPeerVpn: psk never shown',
]);

function check<T>(name: string, arb: fc.Arbitrary<T>, runs: number, body: (v: T) => void): void {
  fc.assert(
    fc.property(arb, (v) => {
      tally.set(name, (tally.get(name) ?? 0) + 1);
      body(v);
    }),
    { numRuns: Math.max(1, Math.round(runs * SCALE)), seed: SEED, includeErrorInReport: true },
  );
}

after(() => {
  let bad = 0;
  let all = 0;
  for (const [name, n] of tally) {
    all += n;
    if (!wellFormed.has(name)) bad += n;
    console.log(
      `fuzz: ${String(n).padStart(6)} ${name}${wellFormed.has(name) ? ' (well-formed on purpose)' : ''}`,
    );
  }
  console.log(
    `fuzz: ${bad} malformed inputs, ${nonMemberReplies} replies to non-members (${all} inputs in all)`,
  );
  console.log(
    `fuzz: ${cookieReplies} cookie replies (${cookieReplyBytes} bytes) to ${cookieRequestBytes} bytes of ` +
      `mac1-valid handshake messages under load; largest reply/request ratio ${maxCookieRatio.toFixed(3)}`,
  );
  console.log(
    `fuzz: join answers to holders of a code: largest answer/request ratio ${maxJoinRatio.toFixed(3)}`,
  );
});

// ---- helpers ------------------------------------------------------------------------------------

const key = (seed: number) => nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(seed)).secretKey;
const bytesOf = (len: number, seed: number) => Buffer.from(seededRandom(seed)(len));
const ATTACKER: Endpoint = { address: '198.51.100.66', port: 6666 };
const WIRE_TYPES = [0, 1, 2, 3, 4, 5, 0x4f, MSG_MESH, MSG_RELAY_TO, MSG_RELAY_FROM, MSG_JOIN, 0x54, 0xff];
const EDGE_SIZES = [0, 1, 3, 4, 5, 31, 32, 33, 35, 36, 37, 47, 48, 63, 64, 65, 91, 92, 93, 147, 148, 149];

/** Every datagram a node emits on the simulated network (relayed ones included). */
function recordSends(net: SimNet): SimDatagram[] {
  const out: SimDatagram[] = [];
  const emit = net.emit.bind(net);
  net.emit = (sender: SimNode, to: Endpoint, bytes: Buffer) => {
    out.push({ from: sender.endpoint, to, bytes, at: net.now, sender });
    emit(sender, to, bytes);
  };
  return out;
}

/** Random bytes of any size (rarely up to 64 KiB), the first bytes often a real message header. */
const garbage: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 1600 }).map((u) => Buffer.from(u)) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 1400, max: 65_535 }), fc.integer()).map(([n, s]) => bytesOf(n, s)),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...WIRE_TYPES),
        fc.oneof(fc.constantFrom(...EDGE_SIZES), fc.integer({ min: 0, max: 2000 })),
        fc.integer(),
        fc.boolean(),
      )
      .map(([t, len, s, zero]) => {
        const b = bytesOf(len, s);
        if (len > 0) b[0] = t;
        if (zero && len >= 4) {
          b[1] = b[2] = 0;
          b[3] = t === MSG_MESH ? 2 : t === MSG_JOIN ? 1 : 0;
        }
        return b;
      }),
  },
);

type Mutation = ['flip' | 'truncate' | 'append' | 'set' | 'zero', number, number];
const mutations = fc.array(
  fc.tuple(
    fc.constantFrom('flip', 'truncate', 'append', 'set', 'zero') as fc.Arbitrary<Mutation[0]>,
    fc.nat(),
    fc.nat(),
  ),
  { minLength: 1, maxLength: 4 },
);

/**
 * A captured message changed by 1-4 edits. With `keepMac1Broken`, handshake messages are only ever
 * changed in front of the end of their mac1, so mac1 no longer matches (what a sender who does not
 * know the responder's public key can produce: it cannot compute a valid mac1).
 */
function mutate(base: Buffer, ops: Mutation[], keepMac1Broken: boolean): Buffer {
  let b = Buffer.from(base);
  const t = messageType(base);
  const macEnd =
    t === MSG_INITIATION ? INITIATION_MAC1_OFFSET + 16 : t === MSG_RESPONSE ? RESPONSE_MAC1_OFFSET + 16 : 0;
  for (const [op, x, y] of ops) {
    const limit = keepMac1Broken && macEnd ? macEnd : b.length;
    if (op === 'flip' && b.length > 0) b[x % Math.max(1, Math.min(limit, b.length))] ^= 1 << (y % 8);
    else if (op === 'truncate') b = b.subarray(0, x % (b.length + 1));
    else if (op === 'append') b = Buffer.concat([b, bytesOf(1 + (x % 1500), y)]);
    else if (op === 'set' && b.length > 0) b[x % Math.max(1, Math.min(limit, b.length))] = y & 0xff;
    else if (op === 'zero' && b.length > 4) b.fill(0, 4, Math.min(b.length, 5 + (x % 64)));
  }
  // An edit that changed nothing would be a plain replay (tested on its own): change one byte. A
  // handshake message whose size and mac1 both survived is no longer "garbage" either: break mac1.
  if (b.length > 0 && b.equals(base)) b[b.length - 1] ^= 1;
  if (
    keepMac1Broken &&
    macEnd &&
    b.length === base.length &&
    b.subarray(0, macEnd).equals(base.subarray(0, macEnd))
  )
    b[4] ^= 0x80;
  return b;
}

function mutatedFrom(pool: () => Buffer[], keepMac1Broken: boolean): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.nat(), mutations)
    .map(([i, ops]) => mutate(pool()[i % pool().length], ops, keepMac1Broken));
}

/** Two static WireGuard peers with a session and the messages they exchanged (all four types). */
function devicePair(limits: Partial<DeviceLimits> = {}) {
  const net = new SimNet();
  const a = net.add('a', key(1), 11, limits);
  const b = net.add('b', key(2), 22, limits);
  a.addPeer(b, ['100.64.0.2/32']);
  b.addPeer(a, ['100.64.0.1/32']);
  const seen: Buffer[] = [];
  net.filter = (d) => {
    seen.push(Buffer.from(d.bytes));
    return true;
  };
  a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'hello b'));
  net.run();
  b.send(ipv4Packet('100.64.0.2', '100.64.0.1', 'hello a'));
  a.send(ipv4Packet('100.64.0.1', '100.64.0.2', Buffer.alloc(1300, 7)));
  net.run();
  // A cookie reply to one of a's sessions (as b would send under load), well formed, wrong cookie.
  const idx = transportReceiver(seen.find((s) => messageType(s) === MSG_TRANSPORT)!);
  const cr = encodeCookieReply({ receiver: idx, nonce: bytesOf(24, 3), encryptedCookie: bytesOf(32, 4) });
  seen.push(Buffer.from(cr));
  net.filter = () => true;
  return { net, a, b, seen };
}

/** Valid-looking initiations (right sizes, real crypto) from fresh unknown keys to `responder`. */
function strangerInitiation(responder: Uint8Array, seed: number, wall: number): Buffer {
  const rnd = seededRandom(seed);
  const me = makeIdentity(rnd(32));
  const made = createInitiation(me, peerKeys(me, responder, null), seed >>> 0, rnd(32), wall)!;
  const bytes = encodeInitiation(made.message);
  new CookieGenerator(responder).addMacs(bytes, INITIATION_MAC1_OFFSET, 0);
  return Buffer.from(bytes);
}

// ---- wire codecs --------------------------------------------------------------------------------

describe('fuzz: wire codecs (messages.ts)', () => {
  it('decoders never throw; they accept exactly the right sizes and round-trip what they accept', () => {
    const input = fc.oneof(
      garbage,
      fc
        .tuple(fc.constantFrom(1, 2, 3, 4), fc.constantFrom(148, 92, 64, 32, 48, 1452), fc.integer())
        .map(([t, n, s]) => {
          const b = bytesOf(n, s);
          b[0] = t;
          b[1] = b[2] = b[3] = 0;
          return b;
        }),
    );
    check('wire codecs: messageType/decode*/transport*', input, 20_000, (b) => {
      const t = messageType(b);
      assert.ok([0, 1, 2, 3, 4].includes(t));
      const init = decodeInitiation(b);
      const resp = decodeResponse(b);
      const cookie = decodeCookieReply(b);
      assert.equal(init !== null, t === MSG_INITIATION);
      assert.equal(resp !== null, t === MSG_RESPONSE);
      assert.equal(cookie !== null, t === MSG_COOKIE_REPLY);
      if (init) assert.deepEqual(Buffer.from(encodeInitiation(init)), b);
      if (resp) assert.deepEqual(Buffer.from(encodeResponse(resp)), b);
      if (cookie) assert.deepEqual(Buffer.from(encodeCookieReply(cookie)), b);
      if (t === MSG_TRANSPORT) {
        const c = transportCounter(b);
        assert.ok(c === -1 || (Number.isSafeInteger(c) && c >= 0));
        assert.ok(transportReceiver(b) >= 0 && transportReceiver(b) <= 0xffffffff);
      }
      // A length shorter than the buffer (a reused receive buffer) is honoured.
      if (b.length > 4) assert.equal(messageType(b, 3), 0);
    });
  });
});

// ---- the Device behind the UDP port -------------------------------------------------------------

describe('fuzz: Device.handleDatagram', () => {
  it('garbage, truncations, bit-flips, oversized and replayed datagrams from a non-member: no throw, zero datagrams sent', () => {
    const { net, a, b, seen } = devicePair();
    const sends = recordSends(net);
    const tunBefore = b.tunOut.length;
    const bKey = a.device.getPeer(b.device.publicKeyB64)!;
    assert.ok(bKey.current, 'session up');
    // Exact copies of transport messages are replays; handshake messages are changed so that mac1 fails.
    const replays = seen.filter(
      (s) => messageType(s) === MSG_TRANSPORT || messageType(s) === MSG_COOKIE_REPLY,
    );
    const input = fc.oneof(
      { weight: 3, arbitrary: garbage },
      { weight: 3, arbitrary: mutatedFrom(() => seen, true) },
      { weight: 1, arbitrary: fc.nat().map((i) => Buffer.from(replays[i % replays.length])) },
      // A big receive buffer holding a shorter datagram (how the UDP layer may hand them over).
      {
        weight: 1,
        arbitrary: fc
          .tuple(
            fc.oneof(
              mutatedFrom(() => seen, true),
              fc.constantFrom(...replays),
            ),
            fc.integer(),
          )
          .filter(([m]) => m.length < 2048)
          .map(([m, s]) => Buffer.concat([m, bytesOf(2048, s)])),
      },
    );
    for (const dev of [b, a]) {
      check(`Device.handleDatagram (${dev.name}): non-member garbage`, input, 20_000, (d) => {
        const before = sends.length;
        const len = d.length > 2048 && d.length < 4096 ? d.length - 2048 : d.length;
        dev.device.handleDatagram(Buffer.from(d), len, ATTACKER);
        nonMemberReplies += sends.length - before;
        assert.equal(sends.length, before, `sent ${sends.length - before} datagram(s) for ${d.length} bytes`);
      });
    }
    assert.equal(b.tunOut.length, tunBefore, 'garbage reached the TUN device');
    // The session still works.
    a.send(ipv4Packet('100.64.0.1', '100.64.0.2', 'still works'));
    net.run();
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'still works');
  });

  it('mac1-valid input (replayed handshakes, made-up initiations and responses): at most a cookie reply, never more bytes than came in', () => {
    const { net, a, b, seen } = devicePair();
    const sends = recordSends(net);
    const wall = net.wall();
    const strangers = Array.from({ length: 64 }, (_, i) => strangerInitiation(b.publicKey, 1000 + i, wall));
    const handshakes = seen.filter(
      (s) => messageType(s) === MSG_INITIATION || messageType(s) === MSG_RESPONSE,
    );
    const input = fc.oneof(
      fc.nat().map((i) => strangers[i % strangers.length]),
      fc.nat().map((i) => Buffer.from(handshakes[i % handshakes.length])),
      // mac2 changed: still mac1-valid
      fc.tuple(fc.nat(), fc.nat()).map(([i, p]) => {
        const m = Buffer.from(strangers[i % strangers.length]);
        m[INITIATION_MAC1_OFFSET + 16 + (p % 16)] ^= 1;
        return m;
      }),
      // made-up responses (random receiver index, sometimes a live one) with a valid mac1 for b
      fc.tuple(fc.integer(), fc.boolean()).map(([seed, live]) => {
        const m = bytesOf(RESPONSE_SIZE, seed);
        m[0] = MSG_RESPONSE;
        m[1] = m[2] = m[3] = 0;
        if (live) m.set(handshakes.find((h) => messageType(h) === MSG_RESPONSE)!.subarray(4, 8), 8);
        new CookieGenerator(b.publicKey).addMacs(m, RESPONSE_MAC1_OFFSET, 0);
        return m;
      }),
      garbage,
    );
    let step = 0;
    check('Device.handleDatagram: mac1-valid handshakes from non-members', input, 5000, (d) => {
      // 1 ms per input: more than 64 handshake messages a second, so the device is under load.
      net.now += 1;
      b.device.setTime(net.now, net.wall());
      const before = sends.length;
      b.device.handleDatagram(Buffer.from(d), d.length, ATTACKER);
      const out = sends.slice(before);
      for (const s of out) {
        assert.equal(messageType(s.bytes), MSG_COOKIE_REPLY, 'only cookie replies go to a stranger');
        assert.equal(s.bytes.length, COOKIE_REPLY_SIZE);
        assert.deepEqual(s.to, ATTACKER);
      }
      const sent = out.reduce((n, s) => n + s.bytes.length, 0);
      assert.ok(sent <= d.length, `${sent} bytes in answer to ${d.length}`);
      if (out.length) {
        cookieReplies += out.length;
        cookieReplyBytes += sent;
        cookieRequestBytes += d.length;
        maxCookieRatio = Math.max(maxCookieRatio, sent / d.length);
      }
      step++;
    });
    assert.ok(step > UNDER_LOAD_HANDSHAKES_PER_SECOND);
    assert.ok(b.device.counters.cookieRepliesSent > 0, 'the flood put the device under load');
    assert.equal(a.device.counters.cookieRepliesSent, 0);
  });
});

// ---- the Mesh (discovery and relay frames) ------------------------------------------------------

const wrongNet = networkKeys('home', new TextEncoder().encode('not the secret'));

function meshPair() {
  const net = new SimNet();
  const m1 = net.add('m1', key(1), 101);
  m1.joinMesh(net0, [], 201, { relay: true });
  const m2 = net.add('m2', key(2), 102);
  m2.joinMesh(net0, [m1.endpoint], 202, { relay: true });
  const seen: Buffer[] = [];
  net.filter = (d) => {
    seen.push(Buffer.from(d.bytes));
    return true;
  };
  net.advance(3000);
  const v4 = (n: SimNode) => n.mesh!.addressesOf(n.device.publicKeyB64).v4;
  m1.send(ipv4Packet(v4(m1), v4(m2), 'hi m2'));
  net.run();
  m2.send(ipv4Packet(v4(m2), v4(m1), 'hi m1'));
  net.run();
  net.filter = () => true;
  assert.equal(m2.tunOut.length, 1, 'mesh pair carries data');
  return { net, m1, m2, seen, v4 };
}

function sealDiscovery(key: Uint8Array, plaintext: Uint8Array, nonceSeed: number): Buffer {
  const header = Uint8Array.of(MSG_MESH, 0, 0, 2);
  const nonce = bytesOf(24, nonceSeed);
  return Buffer.concat([header, nonce, xseal(key, nonce, plaintext, header)]);
}

describe('fuzz: Mesh.handleDatagram', () => {
  it('a non-member (garbage, wrong secret, replays, relay frames, oversized) gets zero datagrams and changes nothing', () => {
    const { net, m1, m2, seen } = meshPair();
    const sends = recordSends(net);
    const membersBefore = m2.mesh!.members.size;
    const keys = [m1.publicKey, m2.publicKey, bytesOf(32, 9)];
    const wall = net.wall();
    const hello = (k: string, extra: Record<string, unknown>) =>
      new TextEncoder().encode(
        JSON.stringify({ t: 'hello', ts: wall, key: k, seen: '198.18.0.2:51820', d: 'x', ...extra }),
      );
    const input = fc.oneof(
      { weight: 3, arbitrary: garbage },
      { weight: 3, arbitrary: mutatedFrom(() => seen, true) },
      // exact replays of everything the members exchanged (discovery, handshakes, transport)
      {
        weight: 2,
        arbitrary: fc
          .nat()
          .map((i) => seen[i % seen.length])
          .filter((s) => messageType(s) !== MSG_INITIATION && messageType(s) !== MSG_RESPONSE),
      },
      // well-formed discovery messages sealed with the wrong secret, any size (also > 1400 bytes)
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 2 }), fc.nat(3000), fc.integer())
          .map(([k, v, pad, s]) =>
            sealDiscovery(
              wrongNet.discoveryKey,
              hello(Buffer.from(k).toString('base64'), { v, pad: ' '.repeat(pad) }),
              s,
            ),
          ),
      },
      // relay frames from a non-member endpoint: to/from real member keys, carrying real messages
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom(MSG_RELAY_TO, MSG_RELAY_FROM), fc.constantFrom(...keys), fc.nat())
          .map(([t, k, i]) =>
            Buffer.concat([Buffer.from([t, 0, 0, 0]), Buffer.from(k), seen[i % seen.length]]),
          ),
      },
      // an over-long discovery datagram with the right header
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.integer({ min: MESH_MAX_MESSAGE + 1, max: 9000 }), fc.integer())
          .map(([n, s]) => {
            const b = bytesOf(n, s);
            b.set([MSG_MESH, 0, 0, 2]);
            return b;
          }),
      },
    );
    for (const target of [m2, m1]) {
      check(`Mesh.handleDatagram (${target.name}): non-member input`, input, 20_000, (d) => {
        const before = sends.length;
        target.device.handleDatagram(Buffer.from(d), d.length, ATTACKER);
        nonMemberReplies += sends.length - before;
        assert.equal(sends.length, before, `sent ${sends.length - before} datagram(s) for ${d.length} bytes`);
      });
    }
    assert.equal(m2.mesh!.members.size, membersBefore, 'a non-member added a member');
    assert.equal(m2.mesh!.counters.relayed, 0);
    assert.ok(m2.mesh!.counters.relayDropped > 0 && m2.mesh!.counters.replays > 0);
  });

  it('a member (who holds the secret) sending malformed JSON bodies cannot make the mesh throw', () => {
    const { net, m1, m2 } = meshPair();
    const k1 = m1.device.publicKeyB64;
    const k2 = m2.device.publicKeyB64;
    const rec1 = m1.mesh!.exportState().records.find((r) => r.k === k1) ?? m2.mesh!.exportState().records[0];
    const recs = m2.mesh!.exportState().records;
    const atom = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(k1, k2, 'x', '', '198.18.0.1:51820', '[::1]:1', '1.2.3.4:0', '~', null),
      fc.constant(rec1),
      fc.constantFrom(...recs),
      fc.constant({ ...rec1, v: rec1.v + 1 }), // bad signature
      fc.constant({ k: k1, rm: k2, v: 1, s: `${'A'.repeat(86)}==` }),
      fc.array(fc.tuple(fc.integer({ min: -1, max: 64 }), fc.string(), fc.string(), fc.jsonValue())),
    );
    const body = fc.record(
      {
        t: fc.constantFrom('hello', 'dig', 'sum', 'sub', 'recs', 'want', 'intro', 'nope'),
        ts: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer() }),
        key: fc.constantFrom(k1, k1, k2, Buffer.alloc(32, 9).toString('base64'), 'nope'),
        seen: fc.oneof(fc.constantFrom('198.18.0.2:51820', '[fd00::1]:9', ''), fc.string()),
        d: atom,
        r: fc.constantFrom(1, 0, true),
        rec: atom,
        b: fc.oneof(fc.base64String({ maxLength: 520 }), atom),
        p: fc.oneof(
          atom,
          fc.array(fc.tuple(fc.nat(70), fc.string(), fc.string(), fc.constant([[k1, 1]]))),
          // Listings as sent (key prefix + base-36 version) and sub-bucket digests, valid and not.
          fc.array(
            fc.tuple(
              fc.nat(70),
              fc.constantFrom('', 'A', 'AB'),
              fc.constantFrom('~', 'B~', 'AC'),
              fc.array(
                fc.oneof(
                  fc.constant(`${k1.slice(0, 12)}zz`),
                  fc.constant(`${k2.slice(0, 12)}0`),
                  fc.string({ maxLength: 30 }),
                ),
                { maxLength: 70 },
              ),
            ),
          ),
          fc.array(
            fc.tuple(fc.nat(70), fc.oneof(fc.base64String({ minLength: 88, maxLength: 88 }), fc.string())),
            { maxLength: 12 },
          ),
        ),
        np: fc.constantFrom(1, 0, true),
        na: fc.constantFrom(1, 0, true),
        q: fc.constantFrom(1, 0, true),
        recs: fc.oneof(atom, fc.array(atom, { maxLength: 17 })),
        peer: atom,
        at: atom,
        th: atom,
        h: atom,
      },
      { requiredKeys: ['t', 'ts', 'key', 'seen'] },
    );
    const sends = recordSends(net);
    let nonce = 1;
    let maxRatio = 0;
    check('Mesh.handleDatagram: malformed bodies sealed by a member', body, 6000, (m) => {
      net.now += 5;
      m2.device.setTime(net.now, net.wall());
      m2.mesh!.setTime(net.now, net.wall());
      const msg = { ...m, ts: m.ts === 0 ? net.wall() : m.ts };
      const pt = new TextEncoder().encode(JSON.stringify(msg));
      const d = sealDiscovery(net0.discoveryKey, pt, nonce++);
      const before = sends.length;
      m2.device.handleDatagram(d, d.length, m1.endpoint);
      const out = sends.slice(before).reduce((n, x) => n + x.bytes.length, 0);
      maxRatio = Math.max(maxRatio, out / d.length);
      net.queue.length = 0; // whatever it answered goes nowhere
    });
    // Members are trusted not to amplify (they hold the secret): measured, not asserted.
    console.log(
      `fuzz: mesh answers to a member's sealed messages: largest answer/request ratio ${maxRatio.toFixed(2)}`,
    );
    // and it still works: time passes, the members talk again
    net.advance(70_000, 500);
    const v4 = (n: SimNode) => n.mesh!.addressesOf(n.device.publicKeyB64).v4;
    m1.send(ipv4Packet(v4(m1), v4(m2), 'after the storm'));
    net.advance(2000, 50);
    assert.equal(m2.tunOut.at(-1)?.subarray(28).toString(), 'after the storm');
  });
});

// ---- replay and reordering ----------------------------------------------------------------------

describe('fuzz: replay window and reordering', () => {
  it('ReplayWindow agrees with a reference model for any sequence (jumps, old, duplicates)', () => {
    const counters = fc.array(
      fc.oneof(
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 3 * WINDOW_SIZE }),
        fc.constantFrom(-1, 2 ** 53, MAX_SAFE_COUNTER, Number.NaN, 0.5),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      ),
      { maxLength: 300 },
    );
    check('ReplayWindow.accept sequences', counters, 3000, (seq) => {
      const w = new ReplayWindow();
      const seen = new Set<number>();
      let max = -1;
      for (const c of seq) {
        const ok = Number.isSafeInteger(c) && c >= 0;
        const expect = ok && (c > max || (max - c < WINDOW_SIZE && !seen.has(c)));
        assert.equal(w.accept(c), expect, `counter ${c} after max ${max}`);
        if (expect) {
          seen.add(c);
          max = Math.max(max, c);
        }
      }
    });
  });

  it('a captured transport packet delivered twice is accepted once; reordered within the window once; older never', () => {
    const { net, a, b } = devicePair();
    // Capture (and hold back) more than a window's worth of a -> b transport packets.
    const captured: SimDatagram[] = [];
    net.filter = (d) => {
      if (messageType(d.bytes) === MSG_TRANSPORT && d.to === b.endpoint && d.bytes.length > 32) {
        captured.push(d);
        return false;
      }
      return true;
    };
    const N = WINDOW_SIZE + 400;
    for (let i = 0; i < N; i++) a.send(ipv4Packet('100.64.0.1', '100.64.0.2', `p${i}`, i & 0xffff));
    net.run();
    net.filter = () => true;
    assert.equal(captured.length, N);
    const counterOf = captured.map((d) => transportCounter(d.bytes));
    const kp = b.device.getPeer(a.device.publicKeyB64)!.current!;
    // Indices near both ends and anywhere, with repeats.
    const seqs = fc.array(
      fc.oneof(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: N - 300, max: N - 1 }),
        fc.integer({ min: 0, max: N - 1 }),
      ),
      { minLength: 1, maxLength: 120 },
    );
    check('Device transport replay/reorder sequences', seqs, 1000, (seq) => {
      kp.replay.reset(); // a fresh window over the same session for every sequence
      const tun = b.tunOut.length;
      const replayed = b.device.counters.replayed;
      const seen = new Set<number>();
      let max = -1;
      let accepted = 0;
      for (const i of seq) {
        const c = counterOf[i];
        const expect = c > max || (max - c < WINDOW_SIZE && !seen.has(c));
        net.deliver(captured[i]);
        assert.equal(
          b.tunOut.length - tun,
          accepted + (expect ? 1 : 0),
          `packet ${i} (counter ${c}, max ${max})`,
        );
        if (expect) {
          accepted++;
          seen.add(c);
          max = Math.max(max, c);
        }
      }
      assert.equal(b.device.counters.replayed - replayed, seq.length - accepted);
    });
    // The plain case, spelled out: twice -> once.
    kp.replay.reset();
    const tun = b.tunOut.length;
    net.deliver(captured[N - 1]);
    net.deliver(captured[N - 1]);
    assert.equal(b.tunOut.length, tun + 1);
    net.deliver(captured[N - 1 - (WINDOW_SIZE - 1)]); // just inside the window
    assert.equal(b.tunOut.length, tun + 2);
    net.deliver(captured[N - 1 - WINDOW_SIZE]); // just outside
    assert.equal(b.tunOut.length, tun + 2);
  });

  it('a replayed handshake initiation is refused (TAI64N) and answered with nothing', () => {
    const { net, b, seen } = devicePair();
    const sends = recordSends(net);
    const init = seen.find((s) => messageType(s) === MSG_INITIATION)!;
    const replayed = b.device.counters.replayed;
    for (let i = 0; i < 5; i++) {
      net.now += REKEY_TIMEOUT; // not under load, not rate limited: only the timestamp refuses it
      b.device.setTime(net.now, net.wall());
      b.device.handleDatagram(Buffer.from(init), init.length, ATTACKER);
    }
    assert.equal(sends.length, 0);
    assert.equal(b.device.counters.replayed - replayed, 5);
  });
});

// ---- counters and rekeying ----------------------------------------------------------------------

describe('fuzz: send counter limits', () => {
  it('production limits: counters stop below 2^53, the limit forces a rekey, no nonce is used twice', () => {
    const { net, a, b } = devicePair();
    const limits = (a.device as unknown as { limits: DeviceLimits }).limits;
    // WireGuard's REKEY_AFTER_MESSAGES (2^60) and REJECT_AFTER_MESSAGES (2^64 - 2^13 - 1) do not fit a
    // JS number: both are capped at MAX_SAFE_COUNTER (2^53 - 2^13 - 1), so the "rekey" and the "reject"
    // count are the same and the rekey happens when the reject limit stops the session.
    assert.ok(REKEY_AFTER_MESSAGES > MAX_SAFE_COUNTER && REJECT_AFTER_MESSAGES > MAX_SAFE_COUNTER);
    assert.equal(limits.rejectAfterMessages, MAX_SAFE_COUNTER);
    assert.equal(limits.rekeyAfterMessages, MAX_SAFE_COUNTER);
    const peer = a.device.getPeer(b.device.publicKeyB64)!;
    const old = peer.current!;
    old.sendCounter = MAX_SAFE_COUNTER - 3; // as if 2^53 packets had been sent
    net.now += REKEY_TIMEOUT + 1; // past the initiation rate limit, far from REKEY_AFTER_TIME
    const nonces = new Map<number, Set<number>>();
    let initiations = 0;
    net.filter = (d) => {
      const t = messageType(d.bytes);
      if (t === MSG_INITIATION && d.from === a.endpoint) initiations++;
      if (t === MSG_TRANSPORT && d.from === a.endpoint) {
        const idx = transportReceiver(d.bytes);
        const c = transportCounter(d.bytes);
        assert.ok(c >= 0 && c < MAX_SAFE_COUNTER, `counter ${c}`);
        const set = nonces.get(idx) ?? new Set<number>();
        assert.ok(!set.has(c), `nonce ${c} reused on session ${idx}`);
        set.add(c);
        nonces.set(idx, set);
      }
      return true;
    };
    const tun = b.tunOut.length;
    for (let i = 0; i < 10; i++) {
      a.send(ipv4Packet('100.64.0.1', '100.64.0.2', `near the limit ${i}`, i));
      net.run();
    }
    assert.equal(initiations, 1, 'the limit started a new handshake');
    assert.notEqual(peer.current, old, 'a new session');
    assert.ok(old.sendCounter <= MAX_SAFE_COUNTER);
    assert.equal(b.tunOut.length - tun, 10, 'every packet arrived (3 on the old session, 7 on the new)');
    assert.deepEqual(
      [...nonces.values()].map((s) => s.size).sort((x, y) => x - y),
      [3, 7],
    );
  });

  it('lowered limits (DeviceLimits): for any traffic pattern no nonce repeats and no counter reaches the reject limit', () => {
    const scenario = fc.record({
      rekey: fc.integer({ min: 1, max: 30 }),
      extra: fc.integer({ min: 1, max: 20 }),
      gaps: fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 120 }),
      twoWay: fc.boolean(),
    });
    let sent = 0;
    let delivered = 0;
    let counted = 0;
    let sessions = 0;
    check(
      'Device counter limits (lowered) traffic patterns',
      scenario,
      120,
      ({ rekey, extra, gaps, twoWay }) => {
        const reject = rekey + extra;
        const { net, a, b } = devicePair({ rekeyAfterMessages: rekey, rejectAfterMessages: reject });
        const nonces = new Map<string, Set<number>>();
        net.filter = (d) => {
          if (messageType(d.bytes) === MSG_TRANSPORT) {
            const id = `${d.from.address}/${transportReceiver(d.bytes)}`;
            const c = transportCounter(d.bytes);
            assert.ok(c < reject, `counter ${c} >= reject limit ${reject}`);
            const set = nonces.get(id) ?? new Set<number>();
            assert.ok(!set.has(c), `nonce ${c} reused`);
            set.add(c);
            nonces.set(id, set);
          }
          return true;
        };
        const tunB = b.tunOut.length;
        for (const [i, gap] of gaps.entries()) {
          a.send(ipv4Packet('100.64.0.1', '100.64.0.2', `a${i}`, i));
          if (twoWay) b.send(ipv4Packet('100.64.0.2', '100.64.0.1', `b${i}`, i));
          net.run();
          if (gap) net.advance(gap, 100);
        }
        net.advance(4 * REKEY_TIMEOUT, 100); // staged packets go out after the next handshake
        sent += gaps.length;
        delivered += b.tunOut.length - tunB;
        counted += a.device.counters.stagedDropped;
        sessions += [...nonces.keys()].filter((k) => k.startsWith(a.endpoint.address)).length;
        // Traffic flows again afterwards: a new packet gets through within two attempts (the first may
        // only flush what was still staged, see below).
        let resumed = false;
        for (let attempt = 0; attempt < 3 && !resumed; attempt++) {
          net.advance(REKEY_TIMEOUT + 1, 100);
          a.send(ipv4Packet('100.64.0.1', '100.64.0.2', `afterwards ${attempt}`));
          net.advance(2 * REKEY_TIMEOUT, 100);
          resumed = b.tunOut.some((p) => p.subarray(28).toString() === `afterwards ${attempt}`);
        }
        assert.ok(resumed, 'traffic resumed');
      },
    );
    assert.ok(sessions > 100 * SCALE, `sessions used: ${sessions}`);
    // Not a nonce problem, but worth seeing: when the count limit stops a session less than
    // REKEY_TIMEOUT after the last initiation, packets wait staged until the next outgoing packet
    // (no timer starts the handshake), and Device.sendStaged() empties the queue but stops at the new
    // session's limit, so packets beyond one session's worth are dropped without being counted.
    // Only reachable with lowered limits: production sessions carry 2^53 - 2^13 - 1 messages.
    console.log(
      `fuzz: counter limits: ${sent} packets, ${delivered} delivered, ${counted} counted as dropped, ` +
        `${sent - delivered - counted} dropped uncounted, ${sessions} sessions`,
    );
  });
});

// ---- invitations --------------------------------------------------------------------------------

const joinHeader = Uint8Array.of(MSG_JOIN, 0, 0, 1);
function sealJoin(k: Uint8Array, pt: Uint8Array, nonceSeed: number): Buffer {
  const nonce = bytesOf(24, nonceSeed);
  return Buffer.concat([joinHeader, nonce, xseal(k, nonce, pt, joinHeader)]);
}

function checksummed(body: Uint8Array): string {
  const sum = new Blake2s(32)
    .update(new TextEncoder().encode('peermesh code checksum'))
    .update(body)
    .digest();
  const all = Buffer.concat([body, sum.subarray(0, 4)]);
  return `pm1-${all.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
}

describe('fuzz: invitations (invites.ts)', () => {
  const eps = [
    { address: '198.18.0.1', port: 51820 },
    { address: 'fd00::1', port: 4242 },
  ];
  const valid = encodeInviteCode({
    network: 'home',
    token: bytesOf(16, 1),
    expires: 1_900_000_000,
    endpoints: eps,
  });

  it('decodeInviteCode: any text returns a sane code or throws InviteCodeError, nothing else', () => {
    const b64url = fc.constantFrom(
      ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split(''),
    );
    const structured = fc
      .record({
        version: fc.constantFrom(1, 1, 1, 0, 2),
        nameLen: fc.integer({ min: 0, max: 255 }),
        name: fc.uint8Array({ maxLength: 70 }),
        count: fc.integer({ min: 0, max: 255 }),
        entries: fc.array(
          fc.tuple(fc.constantFrom(4, 6, 0, 5, 255), fc.uint8Array({ maxLength: 17 }), fc.nat(65_535)),
          { maxLength: 10 },
        ),
        tail: fc.uint8Array({ maxLength: 3 }),
      })
      .map((r) => {
        const parts = [r.version, ...bytesOf(16, 2), 0x71, 0x3f, 0, 0, r.nameLen, ...r.name, r.count];
        for (const [fam, addr, port] of r.entries) parts.push(fam, ...addr, port >> 8, port & 0xff);
        parts.push(...r.tail);
        return checksummed(Uint8Array.from(parts));
      });
    const mutatedCode = fc
      .array(fc.tuple(fc.constantFrom('replace', 'delete', 'insert', 'cut'), fc.nat(), b64url), {
        minLength: 1,
        maxLength: 3,
      })
      .map((ops) => {
        let s = valid;
        for (const [op, p, ch] of ops) {
          const i = p % (s.length + 1);
          if (op === 'replace') s = s.slice(0, i) + ch + s.slice(i + 1);
          else if (op === 'delete') s = s.slice(0, i) + s.slice(i + 1);
          else if (op === 'insert') s = s.slice(0, i) + (p % 3 ? ch : ' \n\t'[p % 3]) + s.slice(i);
          else s = s.slice(0, i);
        }
        return s;
      });
    const input = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.string({ unit: b64url, maxLength: 400 }).map((s) => `pm1-${s}`),
      structured,
      mutatedCode,
    );
    check('decodeInviteCode', input, 15_000, (s) => {
      try {
        const c = decodeInviteCode(s);
        assert.equal(c.token.length, 16);
        assert.ok(Number.isInteger(c.expires) && c.expires >= 0);
        assert.ok(c.endpoints.length <= 255);
        for (const e of c.endpoints)
          assert.ok(e.port >= 0 && e.port <= 65_535 && typeof e.address === 'string');
      } catch (e) {
        if (!(e instanceof InviteCodeError)) throw e;
      }
    });
  });

  it('Invites.handle: no answer without the invitation key; with it, never an answer larger than the request', () => {
    const nowSec = 1_800_000_000;
    const inv = new Invites('home', secret, seededRandom(5));
    const code = decodeInviteCode(inv.create(3600, nowSec, eps).code);
    const expired = decodeInviteCode(inv.create(-60, nowSec, eps).code);
    const requests = [
      joinRequest(code, 'new', seededRandom(6)),
      joinRequest(expired, 'late', seededRandom(7)),
    ];
    const stranger = fc.oneof(
      { weight: 3, arbitrary: garbage },
      { weight: 3, arbitrary: mutatedFrom(() => requests, false) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.jsonValue({ maxDepth: 2 }), fc.integer())
          .map(([v, s]) =>
            sealJoin(inviteKey(bytesOf(16, s)), new TextEncoder().encode(JSON.stringify(v)), s),
          ),
      },
    );
    check('Invites.handle: strangers', stranger, 20_000, (d) => {
      const r = inv.handle(Buffer.from(d), nowSec, ['198.18.0.1:51820']);
      if (r) nonMemberReplies++;
      assert.equal(r, null);
    });
    // Holders of a code (or of a captured request): sealed requests of every size and shape.
    const holder = fc
      .tuple(
        fc.constantFrom(code, expired),
        fc.oneof(
          fc.record({
            t: fc.constant('join'),
            name: fc.oneof(fc.string({ maxLength: 100 }), fc.jsonValue()),
          }),
          fc.jsonValue({ maxDepth: 2 }),
        ),
        fc.nat(1400),
        fc.integer(),
      )
      .map(([c, body, pad, s]) => {
        const text = JSON.stringify(body) ?? 'null';
        return sealJoin(inviteKey(c.token), new TextEncoder().encode(text + ' '.repeat(pad)), s);
      });
    let answered = 0;
    check('Invites.handle: holders of the code', holder, 3000, (d) => {
      const r = inv.handle(Buffer.from(d), nowSec, ['198.18.0.1:51820', '[fd00::1]:51820']);
      if (r) {
        answered++;
        assert.ok(r.reply.length <= d.length, `answer ${r.reply.length} > request ${d.length}`);
        maxJoinRatio = Math.max(maxJoinRatio, r.reply.length / d.length);
      }
    });
    assert.ok(answered > 0, 'some padded requests were answered');
  });

  it('readJoinAnswer: any datagram, also sealed with the right key, gives an answer or null, never a throw', () => {
    const code = decodeInviteCode(valid);
    const k = inviteKey(code.token);
    const welcome = fc.record(
      {
        t: fc.constantFrom('welcome', 'refused', 'join', 'x'),
        network: fc.oneof(fc.string(), fc.jsonValue()),
        secret: fc.oneof(fc.base64String(), fc.jsonValue()),
        bootstrap: fc.oneof(fc.array(fc.string(), { maxLength: 20 }), fc.jsonValue()),
        reason: fc.oneof(fc.string({ maxLength: 400 }), fc.jsonValue()),
      },
      { requiredKeys: ['t'] },
    );
    const input = fc.oneof(
      garbage,
      fc
        .tuple(fc.oneof(welcome, fc.jsonValue({ maxDepth: 2 })), fc.integer())
        .map(([v, s]) => sealJoin(k, new TextEncoder().encode(JSON.stringify(v) ?? ''), s)),
      fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.integer()).map(([pt, s]) => sealJoin(k, pt, s)),
    );
    check('readJoinAnswer', input, 10_000, (d) => {
      const r = readJoinAnswer(code, d);
      if (r?.ok) {
        assert.ok(r.secret instanceof Uint8Array && r.bootstrap.length <= 8);
        assert.equal(typeof r.network, 'string');
      } else if (r) assert.ok(r.reason.length <= 200);
    });
  });
});

// ---- Control API --------------------------------------------------------------------------------

describe('fuzz: Control API (parseRequest, parseEvent)', () => {
  const CODES = new Set(['bad_request', 'unknown_method', 'bad_params']);
  const fieldNames = [
    ...new Set(
      Object.values(METHODS).flatMap((m) => m.params.describe.replace(/^an object with /, '').split(', ')),
    ),
    'peer',
    'name',
    'code',
    'secret',
    '__proto__',
    'constructor',
    'x',
  ];
  const nasty = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom('', 'x'.repeat(5000), '100.64.0.1', '10.0.0.0/8', 'fd00::/64', '1.2.3.4/33', -0, 1e308),
    fc.string({ unit: 'binary', maxLength: 80 }),
  );
  const params = fc.oneof(
    nasty,
    fc.dictionary(fc.constantFrom(...fieldNames), nasty, { maxKeys: 6 }),
    fc
      .constantFrom('{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}')
      .map((s) => JSON.parse(s)),
  );
  const request = fc.record(
    {
      id: fc.oneof(fc.integer(), fc.string({ maxLength: 80 }), nasty, fc.double()),
      method: fc.oneof(
        fc.constantFrom(
          ...Object.keys(METHODS),
          'nope',
          '__proto__',
          'constructor',
          'toString',
          'hasOwnProperty',
        ),
        nasty,
      ),
      params,
      extra: nasty,
    },
    { requiredKeys: [] },
  );

  it('parseRequest: any JSON value (and more) returns ok or a structured error, never throws', () => {
    const input = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      request,
      fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true }),
      fc
        .constantFrom(
          '{"id":1,"method":"rename","params":{"__proto__":{"polluted":1},"peer":"a","name":"b"}}',
          '{"__proto__":{"polluted":1},"id":1,"method":"status"}',
        )
        .map((s) => JSON.parse(s)),
    );
    check('parseRequest', input, 20_000, (raw) => {
      const r = parseRequest(raw);
      if (r.ok) {
        assert.ok(Object.hasOwn(METHODS, r.method));
        assert.ok(typeof r.id === 'number' || typeof r.id === 'string');
        assert.equal(typeof r.params, 'object');
      } else {
        assert.ok(CODES.has(r.error.code), r.error.code);
        assert.equal(typeof r.error.message, 'string');
        assert.ok(r.id === null || typeof r.id === 'number' || typeof r.id === 'string');
        JSON.stringify(r); // what the transport sends back must serialise
      }
    });
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype polluted');
  });

  it('parseEvent: any JSON value returns an event or null, never throws', () => {
    const event = fc.record(
      {
        type: fc.oneof(fc.constantFrom(...Object.keys(EVENTS), 'nope', '__proto__', 'toString'), nasty),
        key: nasty,
        name: nasty,
        by: nasty,
        kind: fc.oneof(fc.constantFrom('direct', 'relayed', 'none'), nasty),
        endpoint: nasty,
        via: nasty,
        ms: nasty,
        message: nasty,
        state: nasty,
        error: nasty,
        online: nasty,
        time: nasty,
        level: nasty,
      },
      { requiredKeys: ['type'] },
    );
    check('parseEvent', fc.oneof(fc.jsonValue({ maxDepth: 4 }), event, fc.anything()), 15_000, (raw) => {
      const e = parseEvent(raw);
      if (e !== null) assert.ok(Object.hasOwn(EVENTS, e.type));
    });
  });
});

// ---- configuration ------------------------------------------------------------------------------

describe('fuzz: config parsing (config.ts)', () => {
  const onlyConfigError = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
    }
  };

  it('parseEndpoint, parsePeerFlag, checkAddress: only ConfigError', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.string({ unit: 'binary', maxLength: 120 }),
      fc
        .tuple(
          fc.constantFrom('', 'host', '1.2.3.4', '[::1]', '::1', '[fe80::1%eth0]', 'a..b', '-x', '999.1.1.1'),
          fc.constantFrom('', ':', ':0', ':1', ':65535', ':65536', ':99999999', ':-1', ':1e3', ':0x10'),
        )
        .map(([h, p]) => h + p),
      fc
        .tuple(
          fc.oneof(fc.base64String({ minLength: 44, maxLength: 44 }), fc.string()),
          fc.oneof(
            fc.constant(''),
            fc.string().map((s) => `@${s}`),
          ),
          fc.array(fc.oneof(fc.string(), fc.constantFrom('10.0.0.0/8', 'fd00::/300', '1.2.3.4/33')), {
            maxLength: 3,
          }),
        )
        .map(([k, e, a]) => [k + e, ...a].join(',')),
    );
    check('config: parseEndpoint/parsePeerFlag/checkAddress', text, 15_000, (s) => {
      onlyConfigError(() => parseEndpoint(s));
      onlyConfigError(() => parsePeerFlag(s));
      onlyConfigError(() => checkAddress(s));
    });
  });

  it('loadConfigFile + validate: any file content gives a config or a ConfigError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-fuzz-'));
    try {
      const value = fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        fc.constantFrom(
          'pm0',
          'x'.repeat(20),
          '100.64.0.1/24',
          'fd00::1/64',
          '1.2.3.4',
          51820,
          70000,
          -1,
          1.5,
        ),
        fc.array(fc.constantFrom('100.64.0.1/24', 'x', '1.2.3.4:5', 'h:0', '::1'), { maxLength: 3 }),
      );
      const network = fc.dictionary(
        fc.constantFrom('name', 'secretFile', 'bootstrap', 'relay', 'advertiseRoutes', 'x'),
        value,
        { maxKeys: 5 },
      );
      const peer = fc.dictionary(
        fc.constantFrom(
          'publicKey',
          'endpoint',
          'allowedIps',
          'persistentKeepalive',
          'presharedKeyFile',
          'y',
        ),
        fc.oneof(value, fc.base64String({ minLength: 44, maxLength: 44 })),
        { maxKeys: 5 },
      );
      const config = fc.dictionary(
        fc.constantFrom(
          'stateDir',
          'interface',
          'addresses',
          'listenPort',
          'mtu',
          'privateKeyFile',
          'pskFile',
          'hostsFile',
          'logLevel',
          'name',
          'network',
          'peers',
          'unknown',
          '__proto__',
        ),
        fc.oneof(value, network, fc.array(fc.oneof(peer, value), { maxLength: 3 })),
        { maxKeys: 8 },
      );
      const content = fc.oneof(
        { weight: 4, arbitrary: config.map((c) => JSON.stringify(c)) },
        { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? '') },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)) },
        { weight: 1, arbitrary: fc.constant('{"__proto__":{"polluted":1},"name":"n"}') },
      );
      const file = join(dir, 'c.json');
      let loaded = 0;
      check('config: loadConfigFile + validate', content, 4000, (text: string | Buffer) => {
        writeFileSync(file, text);
        onlyConfigError(() => {
          const cfg = loadConfigFile(file, defaults());
          loaded++;
          validate(cfg);
        });
      });
      assert.ok(loaded > 0);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- PeerVPN import -----------------------------------------------------------------------------

describe('fuzz: PeerVPN import (peervpn.ts)', () => {
  const OPTIONS = [
    'networkname',
    'psk',
    'port',
    'interface',
    'ifconfig4',
    'ifconfig6',
    'initpeers',
    'enablerelay',
    'enableipv4',
    'enableipv6',
    'enabletunneling',
    'local',
    'engine',
    'sockmark',
    'upcmd',
    'user',
    'group',
    'chroot',
    'enableprivdrop',
    'enableconsole',
    'enableseccomp',
    'forceseccomp',
    'echo',
    'endconfig',
    'NetworkName',
    'PSK',
    'bogus',
  ];
  const value = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom(
      '',
      'yes',
      'no',
      'maybe',
      '7000',
      '0',
      '65536',
      '10.8.0.1/24',
      'fd00::1/64',
      '1.2.3.4 7000',
      'host.example 1 [::1] 2',
      'a b c',
      '#comment',
      'x;y',
      'ab\rcd',
      'nul\0byte',
    ),
  );
  const line = fc
    .tuple(
      fc.constantFrom(...OPTIONS),
      fc.constantFrom(' ', '\t', '  \t'),
      value,
      fc.constantFrom('', ' # c', ' ;c'),
    )
    .map(([o, sep, v, tail]) => `${o}${sep}${v}${tail}`);

  it('importPeerVpn: any text returns a config or throws a plain Error (no TypeError, no crash)', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 400 }),
      fc.array(line, { maxLength: 25 }).map((ls) => ls.join('\n')),
      fc
        .tuple(fc.array(line, { maxLength: 10 }), value)
        .map(([ls, name]) =>
          ['networkname home', 'psk a long enough secret', ...ls, `interface ${name}`].join('\r\n'),
        ),
    );
    check('importPeerVpn', text, 15_000, (t) => {
      try {
        const r = importPeerVpn(t);
        assert.equal(typeof r.config, 'object');
        assert.ok(Array.isArray(r.warnings));
      } catch (e) {
        // Only the importer's own refusals: a line number, or a missing networkname / psk (an internal
        // TypeError would be re-thrown as a plain Error by importPeerVpn, so look at the message too).
        assert.equal((e as Error).constructor, Error, `${(e as Error).name}: ${(e as Error).message}`);
        assert.match((e as Error).message, /^(line \d+: |no networkname line|no psk line)/);
      }
    });
  });

  it('regression (found by this fuzz): whitespace other than space/tab in a line is no TypeError', () => {
    // Before the fix, lines() matched /^(\S+)(?:[ \t]+(.*))?$/ and got null for "\v", "psk\u00a0x" or
    // a value holding U+2028, then read m[1] of null: importPeerVpn threw a TypeError.
    const base = 'networkname home\npsk a long enough secret\n';
    const r = importPeerVpn(`${base}\u000b\nnetworkname\u000bother\npsk\u00a0x`);
    assert.equal((r.config.network as { name: string }).name, 'home');
    assert.equal(r.warnings.filter((w) => /unknown option/.test(w)).length, 3);
    assert.throws(() => importPeerVpn(`${base}interface a\u2028b`), /^Error: line 3: interface /);
  });

  it('the psk never appears in a warning or an error, whatever the other lines say', () => {
    const input = fc
      .tuple(
        fc.stringMatching(/^[A-Za-z0-9]{12,32}$/),
        // (not endconfig: a psk line after it is no psk, and its text may then be shown like any other)
        fc.array(fc.tuple(fc.constantFrom(...OPTIONS.filter((o) => o !== 'endconfig')), fc.nat(5)), {
          maxLength: 12,
        }),
        fc.boolean(),
      )
      .map(([psk, ls, early]) => {
        const lines = ls.map(([o, k]) => {
          const v = [psk, `${psk} 7000`, `x${psk}y`, psk.slice(0, 6), `${psk}/24`, 'yes'][k];
          return `${o} ${v}`;
        });
        if (early) lines.unshift(`psk ${psk}`);
        else lines.push(`psk ${psk}`);
        return { psk, text: lines.join('\n') };
      });
    check('importPeerVpn: psk never shown', input, 4000, ({ psk, text }) => {
      let messages: string[];
      try {
        messages = importPeerVpn(text).warnings;
      } catch (e) {
        messages = [(e as Error).message];
      }
      for (const m of messages) assert.ok(!m.includes(psk), `psk shown in: ${m}`);
    });
  });
});

// Sanity: the fixed sizes the properties above rely on.
assert.equal(INITIATION_SIZE, 148);
assert.equal(RESPONSE_SIZE, 92);
assert.equal(x25519Base(new Uint8Array(32).fill(1)).length, 32);

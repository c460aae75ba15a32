// The sans-IO WireGuard-compatible device: peers, handshakes, sessions, timers and the packet path.
//
// Inputs:  handleDatagram(bytes from the UDP socket), handleTunPacket(bytes from the TUN device),
//          tick(now) for timers, and configuration calls (addPeer, removePeer, ...).
// Outputs: through the `DeviceIO` the caller supplies: datagrams to send, packets to write to the
//          TUN device, and events. The device never touches a socket, a file or a clock: the caller
//          sets the time with setTime() before handing it work (anchor: boringtun's Tunn).
//
// The per-packet paths (handleTunPacket, transport messages in handleDatagram) allocate nothing:
// they encrypt into a ring of outgoing datagrams and decrypt in place.

import { AllowedIps } from './allowed-ips';
import {
  COOKIE_REPLY_SIZE,
  DEFAULT_MTU,
  ENDPOINT_HANDSHAKE_RESTART_GAP,
  HANDSHAKE_INITIATION_RATE,
  KEEPALIVE_TIMEOUT,
  MAX_SAFE_COUNTER,
  MAX_STAGED_PACKETS,
  MAX_TIMER_HANDSHAKES,
  MSG_COOKIE_REPLY,
  MSG_INITIATION,
  MSG_MESH,
  MSG_MESH_LAST,
  MSG_RESPONSE,
  MSG_TRANSPORT,
  PADDING_MULTIPLE,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  TRANSPORT_HEADER_SIZE,
  TRANSPORT_OVERHEAD,
} from './constants';
import { CookieChecker } from './cookie';
import { openInto, sealInto } from './crypto/aead';
import { type Endpoint, type PeerEndpoint, sameEndpoint } from './endpoint';
import {
  beginConsumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveTransportKeys,
  finishConsumeInitiation,
  makeIdentity,
  type StaticIdentity,
  timestampIsNewer,
} from './handshake';
import { IndexTable } from './index-table';
import { InitiationTimestamps, replayedBeforePeer } from './initiation-timestamps';
import { type Cidr, ipPacketLength } from './ip';
import { Keypair } from './keypair';
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
  writeTransportHeader,
} from './messages';
import { Peer, type PeerConfig } from './peer';
import { HandshakeLoad } from './ratelimiter';
import { NEVER } from './timers';

// What users of the device name from here (the types live in their own files).
export {
  type Endpoint,
  type PeerEndpoint,
  type RelayedEndpoint,
  type RelayVia,
  sameEndpoint,
} from './endpoint';
export { Peer, type PeerConfig, type PeerStats } from './peer';

export type DeviceEvent =
  | { type: 'handshake'; peer: string; role: 'initiator' | 'responder'; endpoint: PeerEndpoint }
  | { type: 'session-expired'; peer: string }
  | { type: 'handshake-failed'; peer: string; attempts: number }
  | { type: 'endpoint'; peer: string; endpoint: PeerEndpoint }
  | { type: 'log'; level: 'debug' | 'info' | 'warn'; message: string };

/** The I/O layer queues at most this many datagrams before dropping (see io/udp.ts). */
export const MAX_PENDING_SENDS = 256;

export interface DeviceIO {
  /** Send buf[start, start+len) to `to`. The region stays untouched until the ring wraps. */
  send(buf: Buffer, start: number, len: number, to: Endpoint): void;
  /** Write the IP packet buf[start, end) to the TUN device (copy it; buf is reused). */
  writeTun(buf: Buffer, start: number, end: number): void;
  event(e: DeviceEvent): void;
}

/**
 * What the device asks of the layer above it (the mesh, through the node): given at construction,
 * never rewired. Every method has a "no" answer, which is what a device without a delegate gets.
 */
export interface DeviceDelegate {
  /** A datagram of the mesh's types (discovery, relay, join); false: not taken (counted invalid). */
  meshMessage(buf: Buffer, len: number, from: Endpoint): boolean;
  /** A TUN packet has no peer: return true after adding one (the packet is routed again). */
  noRoute(buf: Buffer, start: number): boolean;
  /** A valid initiation comes from an unknown key: return true after adding it as a peer. */
  unknownPeer(keyB64: string): boolean;
  /** A handshake with a peer is about to start (the mesh makes a path on demand). */
  handshakeStarting(peer: Peer): void;
}

const NO_DELEGATE: DeviceDelegate = {
  meshMessage: () => false,
  noRoute: () => false,
  unknownPeer: () => false,
  handshakeStarting: () => {},
};

/** Limits that tests may lower to exercise rekeying; production uses WireGuard's values. */
export interface DeviceLimits {
  rekeyAfterMessages: number;
  rejectAfterMessages: number;
  rekeyAfterTime: number;
  rejectAfterTime: number;
}

export interface DeviceOptions {
  privateKey: Uint8Array;
  mtu?: number;
  /** Randomness source (tests inject a deterministic one). */
  random: (n: number) => Uint8Array;
  /** Initial monotonic time in ms, and wall-clock time in ms (for TAI64N timestamps). */
  now: number;
  wallNow: number;
  limits?: Partial<DeviceLimits>;
  /** Size of the outgoing datagram ring (bytes). */
  ringSize?: number;
  /** The layer above (mesh messages, peers on demand); none: those are dropped or refused. */
  delegate?: DeviceDelegate;
}

export interface DeviceCounters {
  /** Datagrams dropped because they were no valid message (size, type, MAC, decryption). */
  invalid: number;
  replayed: number;
  /** TUN packets with no peer for their destination. */
  noRoute: number;
  /** Decrypted packets whose source address the peer may not use. */
  wrongSource: number;
  cookieRepliesSent: number;
  handshakesRateLimited: number;
  stagedDropped: number;
}

export class Device {
  readonly identity: StaticIdentity;
  readonly publicKeyB64: string;
  readonly counters: DeviceCounters = {
    invalid: 0,
    replayed: 0,
    noRoute: 0,
    wrongSource: 0,
    cookieRepliesSent: 0,
    handshakesRateLimited: 0,
    stagedDropped: 0,
  };
  mtu: number;
  private readonly delegate: DeviceDelegate;
  private now: number;
  private wallNow: number;
  private readonly random: (n: number) => Uint8Array;
  private readonly limits: DeviceLimits;
  private readonly peers = new Map<string, Peer>();
  private readonly routes = new AllowedIps<Peer>();
  private readonly indices = new IndexTable();
  private readonly checker: CookieChecker;
  private readonly ring: Buffer;
  private ringPos = 0;
  private readonly load = new HandshakeLoad();
  /**
   * Newest initiation timestamp per peer key, beyond the peers' lifetime (initiation-timestamps.ts):
   * the node saves it (export()) and hands it to the next Device (import()).
   */
  readonly initiationTimestamps = new InitiationTimestamps();

  constructor(
    private readonly io: DeviceIO,
    opts: DeviceOptions,
  ) {
    this.identity = makeIdentity(opts.privateKey);
    this.publicKeyB64 = Buffer.from(this.identity.publicKey).toString('base64');
    this.mtu = opts.mtu ?? DEFAULT_MTU;
    this.now = opts.now;
    this.wallNow = opts.wallNow;
    this.random = opts.random;
    this.delegate = opts.delegate ?? NO_DELEGATE;
    this.limits = {
      rekeyAfterMessages: Math.min(REKEY_AFTER_MESSAGES, MAX_SAFE_COUNTER),
      rejectAfterMessages: MAX_SAFE_COUNTER,
      rekeyAfterTime: REKEY_AFTER_TIME,
      rejectAfterTime: REJECT_AFTER_TIME,
      ...opts.limits,
    };
    this.checker = new CookieChecker(this.identity.publicKey, this.random, this.now);
    // The ring must outlive every datagram the I/O layer may still hold: it bounds queued sends to
    // MAX_PENDING_SENDS, so 2x that many maximum-size messages always fit.
    this.ring = Buffer.allocUnsafe(
      opts.ringSize ?? Math.max(1 << 20, 2 * MAX_PENDING_SENDS * (this.mtu + 64)),
    );
  }

  setTime(now: number, wallNow: number): void {
    this.now = now;
    this.wallNow = wallNow;
  }

  // ---------------------------------------------------------------- configuration

  addPeer(cfg: PeerConfig): Peer {
    const key = Buffer.from(cfg.publicKey).toString('base64');
    if (key === this.publicKeyB64) throw new Error('a peer cannot have our own public key');
    const existing = this.peers.get(key);
    if (existing) this.removePeer(key);
    const peer = new Peer(this.identity, cfg);
    if (!peer.keys.staticStatic) throw new Error(`peer ${key}: public key is of small order`);
    this.peers.set(key, peer);
    for (const c of cfg.allowedIps) this.routes.insert(c, peer);
    if (peer.persistentKeepaliveMs > 0) peer.timers.persistentKeepalive = this.now;
    return peer;
  }

  removePeer(keyB64: string): boolean {
    const peer = this.peers.get(keyB64);
    if (!peer) return false;
    this.zeroKeys(peer);
    peer.timers.stopAll();
    peer.staged.length = 0;
    this.routes.removeValue(peer);
    this.peers.delete(keyB64);
    return true;
  }

  /** Replace the prefixes a peer owns (a member's record changed its routes). */
  setAllowedIps(peer: Peer, cidrs: Cidr[]): void {
    this.routes.removeValue(peer);
    for (const c of cidrs) this.routes.insert(c, peer);
  }

  getPeer(keyB64: string): Peer | undefined {
    return this.peers.get(keyB64);
  }

  allPeers(): IterableIterator<Peer> {
    return this.peers.values();
  }

  allowedIpsOf(peer: Peer): string[] {
    return this.routes.prefixesOf(peer);
  }

  /**
   * Start a handshake with every peer that has an endpoint. Called when a node starts, so a peer
   * that still holds a session with our previous incarnation learns the new one within a round trip
   * instead of after its own 15 s timeout.
   */
  connectAll(): void {
    for (const p of this.peers.values()) if (p.endpoint) this.sendInitiation(p, false);
  }

  // ---------------------------------------------------------------- packets from the TUN device

  /** An IP packet read from the TUN device: encrypt it to its peer, or queue it and handshake. */
  handleTunPacket(buf: Buffer, start: number, end: number): void {
    const len = end - start;
    if (len < 20) return;
    let peer = this.routes.lookupDestination(buf, start);
    if (!peer && this.delegate.noRoute(buf, start)) peer = this.routes.lookupDestination(buf, start);
    if (!peer) {
      this.counters.noRoute++;
      return;
    }
    const kp = peer.current;
    if (kp && peer.endpoint && this.canSend(kp)) {
      this.sendTransport(peer, kp, buf, start, len);
      this.keepKeyFreshSending(peer, kp);
      return;
    }
    this.stage(peer, buf, start, end);
    this.sendInitiation(peer, false);
  }

  private canSend(kp: Keypair): boolean {
    return (
      kp.sendCounter < this.limits.rejectAfterMessages &&
      this.now - kp.createdAt < this.limits.rejectAfterTime
    );
  }

  private stage(peer: Peer, buf: Buffer, start: number, end: number): void {
    if (peer.staged.length >= MAX_STAGED_PACKETS) {
      peer.staged.shift();
      this.counters.stagedDropped++;
    }
    peer.staged.push(Buffer.from(buf.subarray(start, end)));
  }

  /** Encrypt (with padding) into the ring and send. len = 0 makes a keepalive. */
  private sendTransport(peer: Peer, kp: Keypair, src: Buffer, start: number, len: number): void {
    const endpoint = peer.endpoint;
    if (!endpoint) return;
    let padded = len;
    if (len > 0) {
      padded = (len + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
      if (padded > this.mtu) padded = Math.max(len, this.mtu);
    }
    const total = padded + TRANSPORT_OVERHEAD;
    if (this.ringPos + total > this.ring.length) this.ringPos = 0;
    const at = this.ringPos;
    const ring = this.ring;
    const counter = kp.sendCounter++;
    writeTransportHeader(ring, at, kp.remoteIndex, counter);
    const body = at + TRANSPORT_HEADER_SIZE;
    if (len > 0) src.copy(ring, body, start, start + len);
    if (padded > len) ring.fill(0, body + len, body + padded);
    const n = sealInto(kp.sendKey, counter, ring, body, body + padded, ring, body);
    this.ringPos = (at + TRANSPORT_HEADER_SIZE + n + 15) & ~15;
    peer.stats.txBytes += total;
    peer.stats.txPackets++;
    this.transmit(ring, at, TRANSPORT_HEADER_SIZE + n, endpoint);
    peer.timers.anyAuthenticatedPacketSent();
    peer.timers.anyAuthenticatedPacketTraversal(this.now, peer.persistentKeepaliveMs);
    if (len > 0) peer.timers.dataSent(this.now, this.jitter());
  }

  /** Initiator rekeys by time and both sides by message count (wireguard-go keepKeyFreshSending). */
  private keepKeyFreshSending(peer: Peer, kp: Keypair): void {
    if (
      kp.sendCounter > this.limits.rekeyAfterMessages ||
      (kp.isInitiator && this.now - kp.createdAt > this.limits.rekeyAfterTime)
    ) {
      this.sendInitiation(peer, false);
    }
  }

  private sendStaged(peer: Peer): void {
    const kp = peer.current;
    if (!kp || !peer.endpoint) return;
    const staged = peer.staged.splice(0);
    for (const p of staged) {
      if (!this.canSend(kp)) break;
      this.sendTransport(peer, kp, p, 0, p.length);
    }
  }

  private sendKeepalive(peer: Peer): void {
    const kp = peer.current;
    if (kp && peer.endpoint && this.canSend(kp)) {
      this.sendTransport(peer, kp, this.ring, 0, 0);
    } else {
      this.sendInitiation(peer, false);
    }
  }

  // ---------------------------------------------------------------- datagrams from the network

  /** A UDP datagram buf[0, len) from `from`. Invalid input is dropped silently (stealth). */
  handleDatagram(buf: Buffer, len: number, from: PeerEndpoint): void {
    switch (messageType(buf, len)) {
      case MSG_TRANSPORT:
        this.handleTransport(buf, len, from);
        return;
      case MSG_INITIATION:
        this.handleInitiation(buf.subarray(0, len), from);
        return;
      case MSG_RESPONSE:
        this.handleResponse(buf.subarray(0, len), from);
        return;
      case MSG_COOKIE_REPLY:
        this.handleCookieReply(buf.subarray(0, len));
        return;
      default:
        // (Relayed datagrams are WireGuard messages only: mesh messages come straight from UDP.)
        if (
          !(
            len > 0 &&
            buf[0] >= MSG_MESH &&
            buf[0] <= MSG_MESH_LAST &&
            from.kind !== 'relay' &&
            this.delegate.meshMessage(buf, len, from)
          )
        )
          this.counters.invalid++;
    }
  }

  private handleTransport(buf: Buffer, len: number, from: PeerEndpoint): void {
    const entry = this.indices.get(transportReceiver(buf));
    const kp = entry?.keypair;
    if (!entry || !kp) {
      this.counters.invalid++;
      return;
    }
    const counter = transportCounter(buf);
    if (
      counter < 0 ||
      counter >= this.limits.rejectAfterMessages ||
      this.now - kp.createdAt >= this.limits.rejectAfterTime
    ) {
      this.counters.invalid++;
      return;
    }
    if (!kp.replay.check(counter)) {
      this.counters.replayed++;
      return;
    }
    const ptLen = openInto(kp.recvKey, counter, buf, TRANSPORT_HEADER_SIZE, len, buf, TRANSPORT_HEADER_SIZE);
    if (ptLen < 0) {
      this.counters.invalid++;
      return;
    }
    if (!kp.replay.accept(counter)) {
      this.counters.replayed++;
      return;
    }
    const peer = entry.peer;
    if (kp === peer.next) this.confirmNext(peer);
    this.updateEndpoint(peer, from);
    peer.stats.rxBytes += len;
    peer.stats.rxPackets++;
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal(this.now, peer.persistentKeepaliveMs);
    // wireguard-go keepKeyFreshReceiving: an initiator whose session nears expiry rekeys now.
    if (
      kp === peer.current &&
      kp.isInitiator &&
      this.now - kp.createdAt > this.limits.rejectAfterTime - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT
    ) {
      this.sendInitiation(peer, false);
    }
    if (ptLen === 0) return; // keepalive
    peer.timers.dataReceived(this.now);
    const ipLen = ipPacketLength(buf, TRANSPORT_HEADER_SIZE, TRANSPORT_HEADER_SIZE + ptLen);
    if (ipLen < 0) {
      this.counters.invalid++;
      return;
    }
    if (this.routes.lookupSource(buf, TRANSPORT_HEADER_SIZE) !== peer) {
      this.counters.wrongSource++;
      return;
    }
    this.io.writeTun(buf, TRANSPORT_HEADER_SIZE, TRANSPORT_HEADER_SIZE + ipLen);
  }

  /** The responder's new keypair is used once the initiator proved it has it. */
  private confirmNext(peer: Peer): void {
    const next = peer.next!;
    this.indices.retire(peer.previous);
    peer.previous = peer.current;
    peer.current = next;
    peer.next = null;
    this.sendStaged(peer);
  }

  private updateEndpoint(peer: Peer, from: PeerEndpoint): void {
    const e = peer.endpoint;
    if (sameEndpoint(e, from)) return;
    if (from.kind === 'relay' && e && e.kind !== 'relay' && this.now < peer.preferDirectUntil) return;
    this.setEndpoint(peer, from);
  }

  /** Point a peer at a new endpoint (roaming, or the mesh choosing a direct or relayed path). */
  setEndpoint(peer: Peer, to: PeerEndpoint): void {
    if (sameEndpoint(peer.endpoint, to)) return;
    peer.endpoint =
      to.kind === 'relay'
        ? { kind: 'relay', address: to.address, port: to.port, via: to.via }
        : { address: to.address, port: to.port };
    this.io.event({ type: 'endpoint', peer: peer.keyB64, endpoint: peer.endpoint });
    // Packets waiting for a session whose handshake had nowhere to go (or went to a dead endpoint):
    // start it now on the new path instead of at the next retry.
    // (At most every ENDPOINT_HANDSHAKE_RESTART_GAP: endpoints that flip between two relays must not restart a handshake
    // before its answer can arrive.)
    if (
      peer.staged.length > 0 &&
      !peer.current &&
      this.now - peer.lastInitiationSent >= ENDPOINT_HANDSHAKE_RESTART_GAP
    ) {
      peer.lastInitiationSent = -NEVER;
      this.sendInitiation(peer, false);
    }
  }

  /**
   * mac1, then under load mac2 (or a cookie reply), then the per-source rate limit.
   * Returns true when the message may be processed.
   */
  private admitHandshake(msg: Buffer, mac1Offset: number, senderIndex: number, from: PeerEndpoint): boolean {
    if (!this.checker.checkMac1(msg, mac1Offset)) {
      this.counters.invalid++;
      return false;
    }
    if (!this.load.underLoad(this.now)) return true;
    const source = Buffer.from(`${from.address}:${from.port}`);
    if (!this.checker.checkMac2(msg, mac1Offset, source, this.now)) {
      const reply = encodeCookieReply(
        this.checker.createReply(msg, mac1Offset, senderIndex, source, this.now),
      );
      this.counters.cookieRepliesSent++;
      this.transmit(
        Buffer.from(reply.buffer, reply.byteOffset, COOKIE_REPLY_SIZE),
        0,
        COOKIE_REPLY_SIZE,
        from,
      );
      return false;
    }
    if (!this.load.allowSource(from.address, this.now)) {
      this.counters.handshakesRateLimited++;
      return false;
    }
    return true;
  }

  private handleInitiation(msg: Buffer, from: PeerEndpoint): void {
    const init = decodeInitiation(msg);
    if (!init || !this.admitHandshake(msg, INITIATION_MAC1_OFFSET, init.sender, from)) return;
    const begun = beginConsumeInitiation(this.identity, init);
    const remote = begun ? Buffer.from(begun.remoteStatic).toString('base64') : '';
    let peer = begun && this.peers.get(remote);
    // A replay for a key without a peer (dropped idle, or before a restart) adds no peer.
    const ts = this.initiationTimestamps;
    if (begun && !peer && replayedBeforePeer(ts, this.identity, begun.remoteStatic, remote, begun, init)) {
      this.counters.replayed++;
      return;
    }
    if (begun && !peer && this.delegate.unknownPeer(remote)) peer = this.peers.get(remote);
    const done = begun && peer && finishConsumeInitiation(begun, peer.keys, init);
    if (!peer || !done) {
      this.counters.invalid++;
      return;
    }
    if (!timestampIsNewer(done.timestamp, peer.lastTimestamp) || !ts.isNewer(remote, done.timestamp)) {
      this.counters.replayed++;
      return;
    }
    if (this.now - peer.lastInitiationConsumed < HANDSHAKE_INITIATION_RATE) {
      this.counters.handshakesRateLimited++;
      return;
    }
    peer.lastTimestamp = done.timestamp;
    ts.record(remote, done.timestamp);
    peer.lastInitiationConsumed = this.now;

    // Our own initiation, if one is in flight, stays valid: when both sides initiate at the same
    // moment (two nodes starting together), both complete at once instead of after a retransmit.
    const localIndex = this.indices.add(peer, this.random);
    const resp = createResponse(done.state, peer.keys, localIndex, this.random(32));
    if (!resp) {
      this.indices.delete(localIndex);
      this.counters.invalid++;
      return;
    }
    const bytes = encodeResponse(resp);
    peer.cookies.addMacs(bytes, RESPONSE_MAC1_OFFSET, this.now);
    const [sendKey, recvKey] = deriveTransportKeys(done.state, false);
    const kp = new Keypair(
      Buffer.from(sendKey),
      Buffer.from(recvKey),
      false,
      localIndex,
      done.state.remoteIndex,
      this.now,
    );
    this.indices.set(localIndex, { peer, keypair: kp });
    this.indices.retire(peer.next);
    peer.next = kp;
    this.indices.retire(peer.previous);
    peer.previous = null;

    this.updateEndpoint(peer, from);
    this.sendHandshakeBytes(peer, bytes);
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.sessionDerived(this.now);
    peer.stats.lastHandshake = this.wallNow;
    this.io.event({ type: 'handshake', peer: peer.keyB64, role: 'responder', endpoint: peer.endpoint! });
  }

  private handleResponse(msg: Buffer, from: PeerEndpoint): void {
    const resp = decodeResponse(msg);
    if (!resp || !this.admitHandshake(msg, RESPONSE_MAC1_OFFSET, resp.sender, from)) return;
    const entry = this.indices.get(resp.receiver);
    const peer = entry?.peer;
    const hs = peer?.handshake;
    if (!entry || entry.keypair || !peer || !hs || hs.localIndex !== resp.receiver) {
      this.counters.invalid++;
      return;
    }
    if (!consumeResponse(this.identity, hs, peer.keys, resp)) {
      this.counters.invalid++;
      return;
    }
    const [sendKey, recvKey] = deriveTransportKeys(hs, true);
    const kp = new Keypair(
      Buffer.from(sendKey),
      Buffer.from(recvKey),
      true,
      hs.localIndex,
      hs.remoteIndex,
      this.now,
    );
    peer.handshake = null;
    this.indices.set(kp.localIndex, { peer, keypair: kp });
    // wireguard-go BeginSymmetricSession, initiator side.
    if (peer.next) {
      this.indices.retire(peer.previous);
      peer.previous = peer.next;
      peer.next = null;
      this.indices.retire(peer.current);
    } else {
      this.indices.retire(peer.previous);
      peer.previous = peer.current;
    }
    peer.current = kp;

    this.updateEndpoint(peer, from);
    peer.timers.handshakeComplete();
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal(this.now, peer.persistentKeepaliveMs);
    peer.timers.sessionDerived(this.now);
    peer.stats.lastHandshake = this.wallNow;
    this.io.event({ type: 'handshake', peer: peer.keyB64, role: 'initiator', endpoint: peer.endpoint! });
    // Confirm the session to the responder: staged data, or else a keepalive.
    if (peer.staged.length > 0) this.sendStaged(peer);
    else this.sendKeepalive(peer);
  }

  private handleCookieReply(msg: Buffer): void {
    const reply = decodeCookieReply(msg);
    const entry = reply && this.indices.get(reply.receiver);
    if (!reply || !entry?.peer.cookies.consumeReply(reply, this.now)) {
      this.counters.invalid++;
    }
    // The retransmission timer resends the initiation, now with mac2.
  }

  // ---------------------------------------------------------------- handshake initiation

  /** Send a handshake initiation unless one was sent less than REKEY_TIMEOUT ago (retries bypass). */
  private sendInitiation(peer: Peer, isRetry: boolean): void {
    if (!isRetry) {
      if (this.now - peer.lastInitiationSent < REKEY_TIMEOUT) return;
      peer.timers.handshakeAttempts = 0;
    }
    this.delegate.handshakeStarting(peer);
    if (!peer.endpoint) return;
    peer.lastInitiationSent = this.now;
    this.indices.dropHandshake(peer);
    const localIndex = this.indices.add(peer, this.random);
    const made = createInitiation(this.identity, peer.keys, localIndex, this.random(32), this.wallNow);
    if (!made) {
      this.indices.delete(localIndex);
      return;
    }
    peer.handshake = made.state;
    const bytes = encodeInitiation(made.message);
    peer.cookies.addMacs(bytes, INITIATION_MAC1_OFFSET, this.now);
    this.sendHandshakeBytes(peer, bytes);
    peer.timers.handshakeInitiated(this.now, this.jitter());
  }

  /** Every datagram leaves here: to a UDP address, or through the relay a relayed endpoint names. */
  private transmit(buf: Buffer, start: number, len: number, to: PeerEndpoint): void {
    if (to.kind === 'relay') to.via.send(buf, start, len, to);
    else this.io.send(buf, start, len, to);
  }

  private sendHandshakeBytes(peer: Peer, bytes: Uint8Array): void {
    if (!peer.endpoint) return;
    peer.stats.txBytes += bytes.length;
    this.transmit(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), 0, bytes.length, peer.endpoint);
    peer.timers.anyAuthenticatedPacketSent();
    peer.timers.anyAuthenticatedPacketTraversal(this.now, peer.persistentKeepaliveMs);
  }

  // ---------------------------------------------------------------- timers

  /** Fire every expired timer. Call regularly (e.g. every 100 ms) after setTime(). */
  tick(): void {
    const now = this.now;
    for (const peer of this.peers.values()) {
      const t = peer.timers;
      if (t.next() > now) continue;
      if (t.retransmitHandshake <= now) {
        t.retransmitHandshake = NEVER;
        if (t.handshakeAttempts >= MAX_TIMER_HANDSHAKES) {
          this.io.event({ type: 'handshake-failed', peer: peer.keyB64, attempts: t.handshakeAttempts + 1 });
          this.counters.stagedDropped += peer.staged.length;
          peer.staged.length = 0;
          this.indices.dropHandshake(peer);
          if (t.zeroKeyMaterial === NEVER) t.zeroKeyMaterial = now + REJECT_AFTER_TIME * 3;
        } else {
          t.handshakeAttempts++;
          this.sendInitiation(peer, true);
        }
      }
      if (t.sendKeepalive <= now) {
        t.sendKeepalive = NEVER;
        this.sendKeepalive(peer);
        if (t.needAnotherKeepalive) {
          t.needAnotherKeepalive = false;
          t.sendKeepalive = now + KEEPALIVE_TIMEOUT;
        }
      }
      if (t.newHandshake <= now) {
        t.newHandshake = NEVER;
        this.sendInitiation(peer, false);
      }
      if (t.persistentKeepalive <= now) {
        t.persistentKeepalive = NEVER;
        if (peer.persistentKeepaliveMs > 0) this.sendKeepalive(peer);
      }
      if (t.zeroKeyMaterial <= now) {
        t.zeroKeyMaterial = NEVER;
        this.zeroKeys(peer);
        this.io.event({ type: 'session-expired', peer: peer.keyB64 });
      }
    }
  }

  // ---------------------------------------------------------------- indices and key material

  private zeroKeys(peer: Peer): void {
    this.indices.retire(peer.previous);
    this.indices.retire(peer.current);
    this.indices.retire(peer.next);
    peer.previous = peer.current = peer.next = null;
    this.indices.dropHandshake(peer);
  }

  private jitter(): number {
    const r = this.random(2);
    return ((r[0] << 8) | r[1]) % REKEY_TIMEOUT_JITTER_MAX;
  }
}

// The sans-IO WireGuard-compatible device: peers, handshakes, sessions, timers and the packet path.
//
// Inputs:  handleDatagram(bytes from the UDP socket), handleTunPacket(bytes from the TUN device),
//          tick(now) for timers, and configuration calls (addPeer, removePeer, ...).
// Outputs: through the `DeviceIO` the caller supplies: datagrams to send, packets to write to the
//          TUN device, and events. The device never touches a socket, a file or a clock: the caller
//          sets the time with setTime() before handing it work (anchor: boringtun's Tunn).
//
// The per-packet paths (handleTunPacket, transport messages in handleDatagram) allocate nothing:
// they encrypt into a ring of outgoing datagrams and decrypt in place. The handshakes (admitting,
// answering and starting them) are in handshake-flow.ts; the types the device shares with the layers
// around it in device-types.ts.

import { AllowedIps } from './allowed-ips';
import {
  DEFAULT_MTU,
  ENDPOINT_HANDSHAKE_RESTART_GAP,
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
  TRANSPORT_HEADER_SIZE,
  TRANSPORT_OVERHEAD,
} from './constants';
import { openInto, sealInto } from './crypto/aead';
import type {
  DataPlaneReport,
  DeviceCounters,
  DeviceDataPlane,
  DeviceDelegate,
  DeviceIO,
  DeviceLimits,
  DeviceOptions,
} from './device-types';
import { type PeerEndpoint, sameEndpoint } from './endpoint';
import { makeIdentity, type StaticIdentity } from './handshake';
import { HandshakeFlow } from './handshake-flow';
import { IndexTable } from './index-table';
import { InitiationTimestamps } from './initiation-timestamps';
import { type Cidr, ipPacketLength } from './ip';
import type { Keypair } from './keypair';
import { messageType, transportCounter, transportReceiver, writeTransportHeader } from './messages';
import { Peer, type PeerConfig } from './peer';
import { NEVER, rekeyJitter } from './timers';

// What users of the device name from here (the types live in their own files).
export type {
  DataPlaneReport,
  DeviceCounters,
  DeviceDataPlane,
  DeviceDelegate,
  DeviceEvent,
  DeviceIO,
  DeviceLimits,
  DeviceOptions,
} from './device-types';
export {
  type Endpoint,
  type PeerEndpoint,
  type RelayedEndpoint,
  type RelayVia,
  sameEndpoint,
} from './endpoint';
export { Peer, type PeerConfig, type PeerStats } from './peer';

/** The I/O layer queues at most this many datagrams before dropping (see io/udp.ts). */
export const MAX_PENDING_SENDS = 256;

/** At most one peer scan for a transport message to an unknown index this often (ms). */
const STALE_SCAN_INTERVAL = 100;

/** No layer above: mesh messages are dropped, peers are never added on demand. */
const NO_DELEGATE: DeviceDelegate = {
  meshMessage: () => false,
  noRoute: () => false,
  unknownPeer: () => false,
  handshakeStarting: () => {},
};

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
  private readonly dataPlane: DeviceDataPlane | null;
  private now: number;
  private wallNow: number;
  private readonly random: (n: number) => Uint8Array;
  private readonly limits: DeviceLimits;
  private readonly peers = new Map<string, Peer>();
  private readonly routes = new AllowedIps<Peer>();
  private readonly indices = new IndexTable();
  private readonly handshakes: HandshakeFlow;
  /**
   * Newest initiation timestamp per peer key, beyond the peers' lifetime (initiation-timestamps.ts):
   * the node saves it (export()) and hands it to the next Device (import()).
   */
  readonly initiationTimestamps = new InitiationTimestamps();
  private readonly ring: Buffer;
  private ringPos = 0;
  private lastStaleScan = Number.NEGATIVE_INFINITY;

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
    this.dataPlane = opts.dataPlane ?? null;
    this.limits = {
      rekeyAfterMessages: Math.min(REKEY_AFTER_MESSAGES, MAX_SAFE_COUNTER),
      rejectAfterMessages: MAX_SAFE_COUNTER,
      rekeyAfterTime: REKEY_AFTER_TIME,
      rejectAfterTime: REJECT_AFTER_TIME,
      ...opts.limits,
    };
    this.handshakes = new HandshakeFlow({
      identity: this.identity,
      indices: this.indices,
      counters: this.counters,
      timestamps: this.initiationTimestamps,
      delegate: this.delegate,
      random: this.random,
      now: () => this.now,
      wallNow: () => this.wallNow,
      peer: (keyB64) => this.peers.get(keyB64),
      event: (e) => this.io.event(e),
      transmit: (buf, start, len, to) => this.transmit(buf, start, len, to),
      updateEndpoint: (peer, from) => this.updateEndpoint(peer, from),
      // Confirm the session to the responder: staged data, or else a keepalive.
      confirmSession: (peer) => (peer.staged.length > 0 ? this.sendStaged(peer) : this.sendKeepalive(peer)),
      sessionsChanged: (peer) => this.dataPlane?.sessionsChanged(peer),
    });
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
    this.dataPlane?.peerChanged(peer);
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
    this.dataPlane?.peerRemoved(peer);
    return true;
  }

  /** Replace the prefixes a peer owns (a member's record changed its routes). */
  setAllowedIps(peer: Peer, cidrs: Cidr[]): void {
    this.routes.removeValue(peer);
    for (const c of cidrs) this.routes.insert(c, peer);
    this.dataPlane?.peerChanged(peer);
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

  /**
   * A transport message for an index we do not hold, from a direct endpoint: if it is a peer's and
   * we have no session with it, the peer still sends in a session with an earlier incarnation of us
   * (we restarted, perhaps after a crash). Handshake now, so it moves to a new session within a round
   * trip instead of after its own 15 s timeout. A forged source costs at most one initiation to that
   * peer's known endpoint per REKEY_TIMEOUT (initiate() limits it), and the peer scan runs at most
   * every STALE_SCAN_INTERVAL.
   */
  private staleSession(from: PeerEndpoint): void {
    if (from.kind === 'relay' || this.now - this.lastStaleScan < STALE_SCAN_INTERVAL) return;
    this.lastStaleScan = this.now;
    for (const peer of this.peers.values()) {
      if (peer.endpoint && sameEndpoint(peer.endpoint, from)) {
        if (!peer.current) this.sendInitiation(peer, false);
        return;
      }
    }
  }

  // ---------------------------------------------------------------- packets from the TUN device

  /** An IP packet read from the TUN device: encrypt it to its peer, or queue it and handshake. */
  handleTunPacket(buf: Buffer, start: number, end: number): void {
    const len = end - start;
    if (len < 20) return;
    let peer = this.routes.lookupDestination(buf, start);
    if (!peer && this.delegate.noRoute(buf, start, end)) peer = this.routes.lookupDestination(buf, start);
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
    if (this.dataPlane) {
      // The data plane seals with its counter (and sends, unless the path is relayed).
      const relayed = this.dataPlane.seal(peer, src, start, len);
      if (relayed) this.transmit(relayed, 0, relayed.length, endpoint);
      peer.timers.anyAuthenticatedPacketSent();
      peer.timers.anyAuthenticatedPacketTraversal(this.now, peer.persistentKeepaliveMs);
      if (len > 0) peer.timers.dataSent(this.now, rekeyJitter(this.random));
      return;
    }
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
    if (len > 0) peer.timers.dataSent(this.now, rekeyJitter(this.random));
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
        this.handshakes.handleInitiation(buf.subarray(0, len), from);
        return;
      case MSG_RESPONSE:
        this.handshakes.handleResponse(buf.subarray(0, len), from);
        return;
      case MSG_COOKIE_REPLY:
        this.handshakes.handleCookieReply(buf.subarray(0, len));
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
    if (this.dataPlane) {
      // Direct ones reach us only for indices the data plane does not hold: nothing to open here.
      if (from.kind === 'relay') this.dataPlane.inject(buf, len);
      else {
        this.counters.invalid++;
        this.staleSession(from);
      }
      return;
    }
    const entry = this.indices.get(transportReceiver(buf));
    const kp = entry?.keypair;
    if (!entry || !kp) {
      this.counters.invalid++;
      if (!entry) this.staleSession(from);
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
    this.dataPlane?.sessionsChanged(peer);
    this.sendStaged(peer);
  }

  /** What the data plane did for a peer since its last report (the device's timers and sessions). */
  dataPlaneReport(peer: Peer, r: DataPlaneReport): void {
    const t = peer.timers;
    if (r.authSent) {
      t.anyAuthenticatedPacketSent();
      t.anyAuthenticatedPacketTraversal(this.now, peer.persistentKeepaliveMs);
    }
    if (r.dataSent) t.dataSent(this.now, rekeyJitter(this.random));
    if (r.authReceived) {
      t.anyAuthenticatedPacketReceived();
      t.anyAuthenticatedPacketTraversal(this.now, peer.persistentKeepaliveMs);
    }
    if (r.dataReceived) t.dataReceived(this.now);
    if (r.confirmed && peer.next) this.confirmNext(peer);
    if (r.endpoint) this.updateEndpoint(peer, r.endpoint);
    if (r.rekey) this.sendInitiation(peer, false);
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
    this.dataPlane?.peerChanged(peer);
    this.io.event({ type: 'endpoint', peer: peer.keyB64, endpoint: peer.endpoint });
    // Packets waiting for a session whose handshake had nowhere to go (or went to a dead endpoint):
    // start it now on the new path instead of at the next retry.
    // (At most every ENDPOINT_HANDSHAKE_RESTART_GAP: endpoints that flip between two relays must not restart a handshake
    // before its answer can arrive.)
    if (
      peer.staged.length > 0 &&
      !peer.current &&
      !this.handshakes.starting &&
      this.now - peer.lastInitiationSent >= ENDPOINT_HANDSHAKE_RESTART_GAP
    ) {
      peer.lastInitiationSent = -NEVER;
      this.sendInitiation(peer, false);
    }
  }

  // ---------------------------------------------------------------- handshakes (handshake-flow.ts)

  /** Packets wait for a session: their handshake again on a path found since (HandshakeFlow.restartWaiting). */
  restartWaitingHandshake(peer: Peer, staleMs = REKEY_TIMEOUT, pathSince = 0): void {
    this.handshakes.restartWaiting(peer, staleMs, pathSince);
  }

  /**
   * Send a handshake initiation to `peer` now, on its endpoint: a liveness check of a far end we
   * hear nothing from (a relayed member, idle): its answer proves it is there, and gives both sides
   * a fresh session. At most once per REKEY_TIMEOUT per peer (the caller checks far less often).
   */
  checkSession(peer: Peer): void {
    if (peer.endpoint && this.now - peer.lastInitiationSent >= REKEY_TIMEOUT) this.sendInitiation(peer, true);
  }

  /** Send a handshake initiation unless one was sent less than REKEY_TIMEOUT ago (retries bypass). */
  private sendInitiation(peer: Peer, isRetry: boolean): void {
    this.handshakes.initiate(peer, isRetry);
  }

  /** Every datagram leaves here: to a UDP address, or through the relay a relayed endpoint names. */
  private transmit(buf: Buffer, start: number, len: number, to: PeerEndpoint): void {
    if (to.kind === 'relay') to.via.send(buf, start, len, to);
    else this.io.send(buf, start, len, to);
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
    this.dataPlane?.sessionsChanged(peer);
  }
}

// Serverless membership, discovery, NAT traversal and relaying (docs/mesh.md): the front of the mesh.
//
// A network is a name plus a secret. Discovery messages ride on the WireGuard UDP port with a type
// WireGuard does not use (0x50), sealed with XChaCha20-Poly1305 under a key derived from the name and
// secret: a sender without the secret gets no answer at all. Replays are refused (timestamp window
// plus a nonce cache).
//
// Every member publishes a record (key, name, endpoints, relay offer, routes) signed with its own
// X25519 key (XEdDSA) and versioned by time, so no member can forge another's record and stale
// information loses. Records spread by anti-entropy: hellos carry a digest of all records; when two
// members' digests differ they compare 64 bucket digests, then the listings of the buckets that
// differ, and push each other exactly the records the other lacks.
//
// Paths: a member probes every endpoint it knows of another and asks a member that reaches both to
// introduce it; until a probe gets through, WireGuard traffic goes through a member that offers
// relaying. Small networks (up to MESH_EAGER_MAX members) keep a path to every member; larger ones
// make paths on demand, to anchors and to members with traffic.
//
// The parts, each owning its state (docs/mesh.md, "Code map"):
//   wire.ts        the messages' codec          messenger.ts  sealing, sending, opening, replays
//   records.ts     records and removals         digests.ts    XOR-set digests and bucket listings
//   sync.ts        the record sync              addresses.ts  network keys, overlay addresses, endpoints
//   anchors.ts     ring neighbours, home relays paths.ts      probes, introductions, NAT, keepalives
//   relay.ts       relayed paths                persistence.ts  exportState / importState
//   epochs.ts      the network secret's epochs: a new secret after a removal
//   discovery.ts   bootstrap and LAN hellos
//   core.ts        what the parts share (clock, member table, routing index)
// This front dispatches datagrams and timer work to them and is the Device's delegate;
// ../mesh.ts is what the rest of the node imports.
//
// Sans-IO like the Device: time is set by the caller, output goes through DeviceIO.send.

import {
  MESH_HOME_RELAYS,
  MESH_IDLE_SCAN,
  MESH_PATH_TIMEOUT,
  MESH_PEER_IDLE_DROP,
  MESH_RECORD_MAX_AGE,
  MESH_RECORD_REFRESH,
  MESH_RELAYED_HANDSHAKE_RETRY,
  MESH_SCAN_INTERVAL,
  MESH_SYNC_INTERVAL,
  MSG_RELAY_FROM,
  MSG_RELAY_TO,
  REKEY_TIMEOUT,
} from '../constants';
import type { Device, DeviceIO, Endpoint, Peer } from '../device';
import type { SharedInvite } from '../invites';
import { formatCidr } from '../ip';
import { Addresses, endpointText } from './addresses';
import { Anchors } from './anchors';
import { Core, type MeshCounters } from './core';
import { type DeviceClaim, Devices } from './devices';
import { Digests } from './digests';
import { Discovery } from './discovery';
import { Epochs } from './epochs';
import { Invitations } from './invitations';
import type { Member, MemberView } from './members';
import { Messenger } from './messenger';
import type { MeshEvent, MeshOptions } from './options';
import { Paths } from './paths';
import { exportState, importState, type MeshState } from './persistence';
import { type MemberRecord, Records, type Removal } from './records';
import { Relay } from './relay';
import { isExitOffer, type RouteClaim, Routes } from './routes';
import { Sync } from './sync';
import type { Body, MessageOf } from './wire';

type Handler<T extends Body['type']> = (msg: MessageOf<T>, sender: Member, from: Endpoint) => void;

export class Mesh {
  private readonly core: Core;
  private readonly discovery: Discovery;
  private lastScan = Number.NEGATIVE_INFINITY;
  private lastFullScan = Number.NEGATIVE_INFINITY;
  private lastAnnounce = Number.NEGATIVE_INFINITY;
  /** Stopping (leave()): nothing more is taken in. */
  private left = false;

  constructor(device: Device, io: DeviceIO, opts: MeshOptions, onEvent: (e: MeshEvent) => void = () => {}) {
    const core = new Core(device, io, opts, onEvent);
    this.core = core;
    core.addresses = new Addresses(core, Math.floor(opts.joined ?? opts.wallNow));
    core.anchors = new Anchors(core);
    core.digests = new Digests(core);
    core.sync = new Sync(core);
    core.paths = new Paths(core);
    core.relay = new Relay(core);
    core.messenger = new Messenger(core);
    core.routes = new Routes(core);
    core.epochs = new Epochs(core);
    core.devices = new Devices(core);
    core.invitations = new Invitations(core);
    this.discovery = new Discovery(core);
    // Never advertise an address inside an overlay (a PeerMesh interface's) as an endpoint.
    core.localEndpoints = core.localEndpoints.filter((e) => !core.isOverlay(e.address));
    core.records = new Records(core); // signs our first record
    core.addresses.add(core.selfKey, false);
    core.routes.settle();
  }

  // ---- what the node reads ---------------------------------------------------------------------

  /** Every other member we know of (by record or by contact), read-only. */
  get members(): ReadonlyMap<string, MemberView> {
    return this.core.members;
  }

  get counters(): Readonly<MeshCounters> {
    return this.core.counters;
  }

  get selfKey(): string {
    return this.core.selfKey;
  }

  /** Our own record. */
  get record(): MemberRecord {
    return this.core.records.self;
  }

  /** Our endpoint as members see it (public address behind NAT). */
  get publicEndpoint(): string | null {
    return this.core.publicEndpoint;
  }

  /**
   * The network secret's epoch (0: the secret it was made with) and the current secret (null at 0):
   * what an invitation's answer carries, so a new member starts on the current epoch.
   */
  get epoch(): { n: number; secret: Uint8Array | null } {
    return { n: this.core.epochs.epoch, secret: this.core.epochs.secret };
  }

  /** We believe we sit behind a symmetric NAT. */
  get hard(): boolean {
    return this.core.paths.hard;
  }

  /** Set once a member removed us from the network. */
  get removedSelf(): Removal | null {
    return this.core.records.removedSelf;
  }

  /** Members with a record (not removed), ourselves not included. */
  get memberCount(): number {
    return this.core.recordCount;
  }

  /** Paths only on demand (the network is larger than MESH_EAGER_MAX). */
  get onDemand(): boolean {
    return this.core.onDemand;
  }

  /**
   * Whether a member answered us recently (MESH_ONLINE_WINDOW): its direct path's hellos are
   * answered, or its tunnel's packets arrive through a relay. A member that never answered this
   * node is never online.
   */
  isOnline(key: string): boolean {
    const m = this.core.members.get(key);
    return !!m && this.core.paths.online(m);
  }

  /** Overlay addresses of a member (ourselves included), the same on every node. */
  addressesOf(keyB64: string): { v4: string; v6: string } {
    return this.core.addresses.addressesOf(keyB64);
  }

  /**
   * Every member's offered routes (ours included), each with whether it holds in the network and
   * why not (routes.ts): the same at every member holding the same records.
   */
  routeClaims(): readonly RouteClaim[] {
    return this.core.routes.all();
  }

  /**
   * The devices this node is the gateway of (their WireGuard keys): they go into our record, and
   * members route their addresses to us once the claim holds (devices.ts).
   */
  setDevices(keys: readonly string[]): void {
    const c = this.core;
    c.devices.own = [...keys];
    c.records.resign();
    c.devices.settle();
  }

  /** Every device that holds in the network, with its gateway and addresses. */
  devices(): readonly DeviceClaim[] {
    return this.core.devices.all();
  }

  /** Whether a member (or ourselves) offers itself as an exit node. */
  offersExit(key: string): boolean {
    const rec = key === this.core.selfKey ? this.core.records.self : this.core.members.get(key)?.rec;
    return !!rec?.rt.some(isExitOffer);
  }

  /** The exit node this machine uses (null: none). */
  get exitKey(): string | null {
    return this.core.routes.exitKey;
  }

  /**
   * Send everything not for a member through `key` (this machine's user chose it as exit node), or
   * stop (null). Its WireGuard peer gets 0.0.0.0/0 and ::/0 while its record offers to be an exit.
   */
  setExit(key: string | null): void {
    const c = this.core;
    const old = c.routes.exitKey;
    if (old === key) return;
    c.routes.exitKey = key;
    for (const k of [old, key]) {
      const m = k ? c.members.get(k) : undefined;
      if (m?.rec && !m.removed) c.ensurePeer(m, 'changed');
    }
  }

  /** The routes of a member that hold and that this machine accepted (its WireGuard allowed IPs besides its addresses). */
  routedOf(key: string): readonly string[] {
    return this.core.routes.routedOf(key).map(formatCidr);
  }

  /** What the user accepts changed (MeshOptions.acceptRoute): settle the routes again. */
  routesChanged(): void {
    this.core.routes.settle();
  }

  /** The anchors of a member (ring neighbours and home relays; see anchors.ts). */
  anchorsOf(key: string, relayCount = MESH_HOME_RELAYS): string[] {
    return this.core.anchors.of(key, relayCount);
  }

  /**
   * Invitations shared with the members (invitations.ts): publish one of ours (`key`: its derived
   * key, base64), returning its id (null: refused, over the bounds).
   */
  createInvite(key: string, createdSec: number, expiresSec: number, maxUses: number): string | null {
    return this.core.invitations.create(key, createdSec, expiresSec, maxUses);
  }

  /** We admitted a machine (`attempt`) with the shared invitation `id`: the use spreads, signed. */
  useInvite(id: string, attempt: string): void {
    this.core.invitations.use(id, attempt);
  }

  /** Revoke a shared invitation (any current member may). False when none has that id. */
  revokeInvite(id: string): boolean {
    return this.core.invitations.revoke(id);
  }

  /** The shared invitations this node holds, with their uses and whether they are revoked. */
  sharedInvites(): SharedInvite[] {
    return this.core.invitations.view();
  }

  /** Invitation facts dropped (malformed, forged, signer no current member, over a bound). */
  get invitesRejected(): number {
    return this.core.invitations.rejected;
  }

  /** Records and removals to keep across restarts. */
  exportState(): MeshState {
    return exportState(this.core);
  }

  /** Take back what exportState() returned (each entry is checked like one from the network). */
  importState(state: unknown): number {
    return importState(this.core, state);
  }

  // ---- what the node tells us ------------------------------------------------------------------

  setTime(now: number, wallNow: number): void {
    this.core.now = now;
    this.core.wallNow = wallNow;
  }

  /** Broadcast addresses of the LANs we sit on (Discovery.setLanTargets). */
  setLanTargets(eps: Endpoint[]): void {
    this.discovery.setLanTargets(eps);
  }

  /** The node's interface addresses changed (roaming): publish them and re-probe every member. */
  setLocalEndpoints(all: Endpoint[]): void {
    const c = this.core;
    const eps = all.filter((e) => !c.isOverlay(e.address));
    const before = c.localEndpoints.map(endpointText).join(',');
    if (eps.map(endpointText).join(',') === before) return;
    c.localEndpoints = eps;
    c.records.resign();
    this.discovery.bootstrapNow();
    for (const m of c.members.values()) {
      m.lastHelloSent = 0;
      if (m.direct) c.paths.ping(m, m.direct, true);
    }
  }

  /**
   * Measure the round trip to a member now (a hello on its direct path; the answer comes as an
   * 'rtt' event). False when there is no direct path (relayed members are measured by the caller).
   */
  ping(key: string): boolean {
    const m = this.core.members.get(key);
    if (!m?.direct || m.removed) return false;
    this.core.paths.ping(m, m.direct, false);
    return true;
  }

  /** Traffic towards a member is about to start: make a path now if there is none. */
  activate(key: string): void {
    this.core.paths.activate(key);
  }

  /**
   * Remove a member from the network, for good (see Records.remove), and move the remaining members
   * to a new network secret (Epochs.rotate), so the removed machine cannot come back under a new key.
   */
  remove(key: string): boolean {
    if (!this.core.records.remove(key)) return false;
    this.core.epochs.rotate(key);
    return true;
  }

  /**
   * Tell every member we have a direct path to that this node is stopping (a clean disconnect shows
   * as offline on their side at once). Unauthenticated beyond the network key, like hellos: a
   * member could fake it, and the real node's next hello undoes it.
   */
  leave(): void {
    const c = this.core;
    this.left = true;
    for (const m of c.members.values())
      if (m.direct && !m.removed && c.now - m.lastDirect <= MESH_PATH_TIMEOUT)
        c.messenger.send({ type: 'bye' }, m.direct);
  }

  // ---- the Device's delegate ---------------------------------------------------------------------

  /** The device begins a handshake with a peer: make a path to that member on demand. */
  handshakeStarting(peer: Peer): void {
    const c = this.core;
    // Not our relay liveness check (relay.ts, this very moment): that is no traffic, and must not
    // restart the fast probe series of a pair that stays relayed.
    const m = c.members.get(peer.keyB64);
    if (m?.lastRelayCheck === c.now) return;
    c.paths.activate(peer.keyB64);
    // Small networks: the first packets for a member without a direct path go through a relay now,
    // in the very handshake that starts here, while probing opens the direct path (relay.ts
    // fallback). A large one reaches members through their anchors and keeps its scan's timing (with
    // this there too, the 1,000-node simulator's first-packet p50 went from 0.30 to 0.56 s).
    if (!c.onDemand && m?.rec && !m.direct && !m.removed) c.relay.fallback(m, peer);
  }

  /** The device has a packet for an address no peer owns: a member's, whose peer we add now. */
  noRoute(buf: Buffer, start: number, end: number): boolean {
    const c = this.core;
    const key = c.index.lookupDestination(buf, start);
    if (c.wakePeer(key)) return true;
    if (!key) c.hold(buf, start, end); // a member we are about to learn of, most likely
    return false;
  }

  /** An initiation from a key the device does not know: fine if it is a member's. */
  unknownPeer(keyB64: string): boolean {
    return this.core.wakePeer(keyB64);
  }

  // ---- incoming ----------------------------------------------------------------------------------

  /** What each message type does, once its sender is known to have a direct path to us. */
  private readonly handlers: { [T in Exclude<Body['type'], 'bye'>]: Handler<T> } = {
    hello: (msg, sender, from) => {
      const c = this.core;
      if (msg.reply) c.paths.helloAnswered(sender, from);
      if (msg.record) {
        const known = !!sender.rec;
        if (c.records.ingest(msg.record, msg.sender) && !known && msg.record.k === msg.sender)
          c.paths.introduceNew(sender, from);
      }
      if (!msg.reply) {
        c.messenger.sendHello(from, true, !!msg.record);
        c.paths.pingBack(sender, from);
      }
      c.sync.compare(sender, msg.digest, from);
    },
    dig: (msg, _sender, from) => this.core.sync.dig(msg, from),
    sub: (msg, _sender, from) => this.core.sync.sub(msg, from),
    sum: (msg, _sender, from) => this.core.sync.sum(msg, from),
    recs: (msg) => this.core.sync.recs(msg),
    want: (msg, sender, from) => this.core.paths.want(msg, sender, from),
    intro: (msg) => this.core.paths.intro(msg),
    secret: (msg) => this.core.epochs.take(msg),
    // Invitation facts go to current members only (a key with a record).
    invd: (msg, sender, from) => {
      if (sender.rec) this.core.invitations.compare(msg.digest, msg.reply, from);
    },
    invs: (msg) => this.core.invitations.received(msg.facts, msg.sender),
  };

  /** A datagram whose first byte is one of the mesh types. Anything not from a member is dropped silently. */
  handleDatagram(buf: Buffer, len: number, from: Endpoint): void {
    if (this.left) return; // stopping: a hello answered now would bring our path back on their side
    const c = this.core;
    // Never learn an endpoint inside an overlay: that member is reached through some tunnel.
    if (c.isOverlay(from.address)) {
      c.counters.discoveryRejected++;
      return;
    }
    if (buf[0] === MSG_RELAY_TO || buf[0] === MSG_RELAY_FROM) {
      c.relay.handle(buf, len, from);
      return;
    }
    c.counters.discoveryIn++;
    const msg = c.messenger.open(buf.subarray(0, len));
    if (!msg) {
      c.counters.discoveryRejected++;
      return;
    }
    if (msg.sender === c.selfKey) return;
    if (c.members.get(msg.sender)?.removed) return;
    if (c.messenger.openedWith) {
      // Under an earlier epoch's key: the sender missed the new secret. Nothing else in it is taken.
      c.epochs.stale(msg, c.messenger.openedWith, from);
      return;
    }
    if (msg.type === 'bye') {
      const m = c.members.get(msg.sender);
      if (m) c.paths.lostMember(m, true);
      return;
    }
    const sender = c.member(msg.sender);
    c.epochs.heard(msg.sender);
    sender.hard = msg.hard;
    c.paths.heard(sender, from);
    c.paths.noteSeen(msg.seenAs, msg.sender);
    if (sender.rec) c.invitations.heard(msg.sender, from);
    (this.handlers[msg.type] as Handler<typeof msg.type>)(msg as never, sender, from);
  }

  // ---- periodic work -----------------------------------------------------------------------------

  /** What tick() does, in this order. */
  private readonly periodic: readonly (() => void)[] = [
    () => this.refreshRecord(),
    () => this.core.anchors.refresh(),
    () => this.discovery.lanHellos(),
    () => this.discovery.bootstrapHellos(),
    () => this.scan(),
    () => this.restartWaitingHandshakes(),
    () => this.core.epochs.tick(),
    () => this.core.relay.expireHeld(),
  ];

  /**
   * At every tick (not only every scan: a path often opens a few ms after the first handshake went,
   * within HANDSHAKE_MOVE_GAP), for the active members: packets waiting on a handshake sent before
   * the path found since (another way, or this way before a NAT opened it), or one sent through a
   * relay and unanswered for a second: it goes again now.
   */
  private restartWaitingHandshakes(): void {
    const c = this.core;
    for (const m of c.hot) {
      const peer = m.rec && !m.removed ? c.device.getPeer(m.key) : undefined;
      if (!peer?.staged.length || peer.current) continue;
      c.device.restartWaitingHandshake(
        peer,
        m.path === 'relayed' ? MESH_RELAYED_HANDSHAKE_RETRY : REKEY_TIMEOUT,
        m.path === 'direct' ? m.directSince : 0,
      );
    }
  }

  /** Periodic work: record refresh, anchors, LAN and bootstrap hellos, the per-member scan. */
  tick(): void {
    for (const step of this.periodic) step();
  }

  /**
   * Re-sign our record every MESH_RECORD_REFRESH (records of members gone for good age out), and
   * when a re-sign members caused has its turn (Records.resignForPeer).
   */
  private refreshRecord(): void {
    const c = this.core;
    if (c.wallNow - c.records.self.v > MESH_RECORD_REFRESH) c.records.resign();
    else c.records.flushPeerResign();
  }

  /** The bootstrap hellos between two ticks in the node's first second (Discovery.bootstrapEarly). */
  bootstrapEarly(): boolean {
    return this.discovery.bootstrapEarly();
  }

  /**
   * The per-member pass (keepalives, timeouts, probes, relay fallback) runs every
   * MESH_SCAN_INTERVAL: finer timing buys nothing and a large mesh has thousands of members.
   */
  private scan(): void {
    const c = this.core;
    if (c.now - this.lastScan < MESH_SCAN_INTERVAL) return;
    this.lastScan = c.now;
    // Push, not only pull: a change reaches our neighbours within a second (they ask for what they
    // lack), so news crosses a large mesh in a few hops instead of a few keepalive periods.
    const announce = c.announceDue && c.now - this.lastAnnounce >= MESH_SYNC_INTERVAL;
    if (announce) {
      c.announceDue = false;
      this.lastAnnounce = c.now;
    }
    const full = !c.onDemand || c.now - this.lastFullScan >= MESH_IDLE_SCAN;
    if (full) this.lastFullScan = c.now;
    for (const m of full ? c.members.values() : c.hot) this.scanMember(m, announce);
  }

  private scanMember(m: Member, announce: boolean): void {
    const c = this.core;
    if (m.removed) {
      c.hot.delete(m);
      return;
    }
    if (
      (m.rec && m.rec.v < c.wallNow - MESH_RECORD_MAX_AGE) ||
      (!m.rec && c.now - m.lastHeard > MESH_PATH_TIMEOUT)
    ) {
      c.forget(m);
      return;
    }
    const peer = m.rec ? c.device.getPeer(m.key) : undefined;
    if (peer) {
      // WireGuard traffic moved: the member is active.
      const traffic = peer.stats.rxPackets + peer.stats.txPackets;
      if (traffic !== m.lastTraffic) {
        m.lastTraffic = traffic;
        m.lastActive = c.now;
        c.hot.add(m);
      }
    }
    const wanted = c.wanted(m);
    if (m.direct && c.now - m.lastDirect > MESH_PATH_TIMEOUT) c.paths.lostMember(m);
    c.sync.resumePending(m);
    if (m.direct) c.paths.keepAlive(m, wanted, announce);
    else if (m.rec && wanted) {
      c.paths.pursue(m);
      c.relay.fallback(m, peer);
    } else if (m.rec && m.probingSince) {
      // Idle and not an anchor: stop probing (a relayed path stays usable; traffic wakes it up).
      m.probingSince = 0;
    }
    // A large mesh forgets the WireGuard state of members idle for long (it comes back on demand).
    if (peer && !wanted && c.now - m.lastActive > MESH_PEER_IDLE_DROP) {
      c.device.removePeer(m.key);
      if (m.path === 'relayed') c.paths.setPath(m, 'none', null);
    }
    if (
      !m.direct &&
      !m.probingSince &&
      !wanted &&
      m.path === 'none' &&
      !m.syncPending &&
      !c.device.getPeer(m.key)
    )
      c.hot.delete(m);
    else c.hot.add(m);
  }
}

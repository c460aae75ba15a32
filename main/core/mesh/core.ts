// What the parts of the mesh share: the clock, the member table, the routing index of members'
// prefixes, counters, and the parts themselves (each owns its own state; they call each other
// through here). The `Mesh` front (mesh.ts) builds one Core and exposes a read-only view of it.

import { AllowedIps } from '../allowed-ips';
import { MESH_ACTIVE_IDLE, MESH_EAGER_MAX, MESH_HOLD_MAX, MESH_HOLD_MS } from '../constants';
import { Blake2s } from '../crypto/blake2s';
import type { Device, DeviceIO, Endpoint } from '../device';
import { type Cidr, cidrOverlap, formatIp, parseCidr, parseIp } from '../ip';
import { type Addresses, endpointText } from './addresses';
import type { Anchors } from './anchors';
import type { Devices } from './devices';
import type { Digests } from './digests';
import type { Epochs } from './epochs';
import type { Invitations } from './invitations';
import { KeySlab, type Member, newMember } from './members';
import type { Messenger } from './messenger';
import type { MeshEvent, MeshOptions } from './options';
import type { Paths } from './paths';
import type { Records } from './records';
import type { Relay } from './relay';
import { EXIT_ROUTES, isExitOffer, type Routes } from './routes';
import type { Sync } from './sync';

export function hash(...parts: (string | Uint8Array)[]): Uint8Array {
  const h = new Blake2s(32);
  for (const p of parts) h.update(typeof p === 'string' ? Buffer.from(p) : p);
  return h.digest();
}

export const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');

export interface MeshCounters {
  discoveryIn: number;
  discoveryRejected: number;
  replays: number;
  recordsRejected: number;
  /** Removals refused because their signer is no current member (no record, or removed). */
  removalsRefused: number;
  /** New network secrets sent to members (in boxes sealed to each), and refused (bad signature or box). */
  secretsSent: number;
  secretsRefused: number;
  /** Discovery messages under an earlier epoch's key (their senders are sent the current secret). */
  staleEpoch: number;
  sent: number;
  sentBytes: number;
  relayed: number;
  relayDropped: number;
  oversize: number;
}

export class Core {
  now: number;
  wallNow: number;
  readonly selfKey: string;
  /** Every other member we know of (by record or by contact). */
  readonly members = new Map<string, Member>();
  /**
   * Members that need attention each pass (a path, probing, a WireGuard peer, wanted); the others
   * (idle members of a large mesh) are looked at every MESH_IDLE_SCAN only.
   */
  readonly hot = new Set<Member>();
  /** Direct endpoint text -> member key. */
  readonly byEndpoint = new Map<string, string>();
  /**
   * Where each member's last discovery message came from (text -> key; one entry per member): a
   * relay forwards a member's frames from there before its own ping there is answered.
   */
  readonly byHeard = new Map<string, string>();
  /** Every member's prefixes (overlay addresses, offered routes) -> member key. */
  readonly index = new AllowedIps<string>();
  readonly counters: MeshCounters = {
    discoveryIn: 0,
    discoveryRejected: 0,
    replays: 0,
    recordsRejected: 0,
    removalsRefused: 0,
    secretsSent: 0,
    secretsRefused: 0,
    staleEpoch: 0,
    sent: 0,
    sentBytes: 0,
    relayed: 0,
    relayDropped: 0,
    oversize: 0,
  };
  /** Members with a record (not removed), ourselves not included. */
  recordCount = 0;
  /** Our endpoint as members see it (public address behind NAT). */
  publicEndpoint: string | null = null;
  /** Our local endpoints (interface addresses with the listen port). */
  localEndpoints: Endpoint[];
  /** Our records changed: tell the members we keep paths to (our new digest) within a second. */
  announceDue = false;
  /** Packets for overlay addresses of members not known yet (hold, releaseHeld). */
  private held: { at: number; buf: Buffer }[] = [];
  private readonly keys = new KeySlab();

  // The parts (set up by the Mesh front, in this order of construction).
  addresses!: Addresses;
  anchors!: Anchors;
  records!: Records;
  digests!: Digests;
  sync!: Sync;
  paths!: Paths;
  relay!: Relay;
  messenger!: Messenger;
  routes!: Routes;
  epochs!: Epochs;
  invitations!: Invitations;
  devices!: Devices;

  constructor(
    readonly device: Device,
    readonly io: DeviceIO,
    readonly opts: MeshOptions,
    readonly emit: (e: MeshEvent) => void,
  ) {
    this.now = opts.now;
    this.wallNow = opts.wallNow;
    this.selfKey = device.publicKeyB64;
    this.localEndpoints = opts.localEndpoints ?? [];
  }

  /**
   * Whether an address lies inside an overlay (100.64.0.0/10, this network's IPv6 /48, or a range the
   * node names: other networks', its PeerMesh interfaces'): never an endpoint to advertise, learn or
   * probe — a member reached there is reached through some tunnel, not over the underlay.
   */
  isOverlay(address: string): boolean {
    const ip = parseIp(address);
    if (!ip) return false;
    if (!this.overlayRanges) {
      const own = parseCidr(`${this.addresses.addressesOf(this.selfKey).v6}/48`);
      this.overlayRanges = [
        parseCidr('100.64.0.0/10')!,
        ...(own ? [own] : []),
        ...(this.opts.overlayRanges ?? []),
      ];
    }
    const host: Cidr = { family: ip.family, bytes: ip.bytes, prefix: ip.family === 4 ? 32 : 128 };
    return this.overlayRanges.some((r) => cidrOverlap(r, host));
  }

  private overlayRanges: Cidr[] | null = null;

  /** Paths only on demand (the network is larger than MESH_EAGER_MAX). */
  get onDemand(): boolean {
    return this.recordCount > MESH_EAGER_MAX;
  }

  /** The member of `key`, made (without a record) if we did not know it. */
  member(key: string): Member {
    let m = this.members.get(key);
    if (!m) {
      m = newMember(key, this.keys.bytesOf(key));
      this.members.set(key, m);
      this.digests.addKey(m);
    }
    return m;
  }

  /** A member gone for long (record expired, or never more than a contact): forget it. */
  forget(m: Member): void {
    this.hot.delete(m);
    if (m.rec) {
      this.recordCount--;
      this.addresses.remove(m.key);
    }
    if (m.direct) this.byEndpoint.delete(endpointText(m.direct));
    if (m.heardFrom) this.byHeard.delete(m.heardFrom);
    this.digests.forget(m);
    this.members.delete(m.key);
    this.device.removePeer(m.key);
    this.index.removeValue(m.key);
    if (m.rec?.rt.length) this.routes.settle();
    if (m.rec?.dv?.length) this.devices.settle();
    this.invalidate(m.key);
  }

  /** Records changed (of `key`, or any): digests (of its bucket), anchors and news are due. */
  invalidate(key?: string): void {
    this.digests.changed(key);
    this.anchors.changed();
    this.announceDue = true;
  }

  /** Whether we keep (probe, keep alive, relay) a path to this member. */
  wanted(m: Member): boolean {
    return (
      !this.onDemand ||
      this.anchors.has(m.key) ||
      this.now - m.lastActive < MESH_ACTIVE_IDLE ||
      this.now < m.wantedUntil
    );
  }

  /**
   * Prefixes a member owns: its overlay addresses, the routes it offers that hold in the network and
   * that this machine's user accepted (routes.ts), the devices it is the gateway of (devices.ts), and
   * everything when it is our chosen exit node.
   */
  private allowedOf(m: Member): Cidr[] {
    const addrs = this.addresses.addressesOf(m.key);
    const own = [
      parseCidr(`${addrs.v4}/32`)!,
      parseCidr(`${addrs.v6}/128`)!,
      ...this.routes.routedOf(m.key),
      ...this.devices.prefixesOf(m.key),
    ];
    // Our chosen exit node, while it offers to be one: everything else goes to it.
    if (m.key === this.routes.exitKey && m.rec?.rt.some(isExitOffer))
      for (const r of EXIT_ROUTES) own.push(parseCidr(r)!);
    return own;
  }

  /**
   * Keep the member's prefixes in the mesh's own routing index, and its WireGuard peer in the device:
   * always in a small network; in a large one only while it is wanted (the device asks for the rest
   * when traffic starts: Mesh.noRoute / Mesh.unknownPeer), so an idle member costs no session state.
   */
  ensurePeer(m: Member, routes: 'new' | 'changed' | 'same'): void {
    if (!m.rec) return;
    const routesChanged = routes !== 'same';
    if (routes === 'changed') this.index.removeValue(m.key);
    if (routesChanged) for (const c of this.allowedOf(m)) this.index.insert(c, m.key);
    const peer = this.device.getPeer(m.key);
    if (peer) {
      if (routesChanged) this.device.setAllowedIps(peer, this.allowedOf(m));
      return;
    }
    if (this.onDemand && !this.wanted(m)) return;
    this.device.addPeer({ publicKey: m.keyBytes, endpoint: m.direct, allowedIps: this.allowedOf(m) });
  }

  /**
   * A packet for an overlay address no member owns yet: most likely a member we are about to learn
   * of (it just joined, its record is on its way), so keep a copy for MESH_HOLD_MS (MESH_HOLD_MAX
   * at most, the oldest dropped first) and send it once its record arrives (releaseHeld), instead of
   * losing the first packets to a new member. Anything else is not ours to hold.
   */
  hold(buf: Buffer, start: number, end: number): void {
    const v = buf[start] >> 4;
    const dst =
      v === 4 ? buf.subarray(start + 16, start + 20) : v === 6 ? buf.subarray(start + 24, start + 40) : null;
    if (!dst || end - start < (v === 4 ? 20 : 40) || !this.isOverlay(formatIp(dst))) return;
    this.held = this.held.filter((h) => this.now - h.at < MESH_HOLD_MS);
    if (this.held.length >= MESH_HOLD_MAX) this.held.shift();
    this.held.push({ at: this.now, buf: Buffer.from(buf.subarray(start, end)) });
  }

  /** A member's first record arrived: the packets held for its addresses go to the device now, and
   * what it sent us through a relay before (Relay.recordArrived). */
  releaseHeld(key: string): void {
    this.relay.recordArrived(key);
    if (!this.held.length) return;
    const keep: { at: number; buf: Buffer }[] = [];
    const now: Buffer[] = [];
    for (const h of this.held) {
      if (this.now - h.at >= MESH_HOLD_MS) continue;
      if (this.index.lookupDestination(h.buf, 0) === key) now.push(h.buf);
      else keep.push(h);
    }
    this.held = keep;
    for (const b of now) this.device.handleTunPacket(b, 0, b.length);
  }

  /** Traffic for (or from) a member the device has no peer for: add it if it is a member. */
  wakePeer(key: string | null | undefined): boolean {
    const m = key ? this.members.get(key) : undefined;
    if (!m?.rec || m.removed) return false;
    m.lastActive = this.now;
    this.hot.add(m);
    this.ensurePeer(m, 'same');
    return !!this.device.getPeer(m.key);
  }
}

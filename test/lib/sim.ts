// An in-process network for sans-IO devices: a virtual clock, datagrams delivered through a queue
// (with optional loss and a filter to drop, capture or replay messages), TUN output recorded per node.
// Anchors: wireguard-go's bindtest/tuntest, nebula's e2e router.

import { xeddsaVerify } from '../../main/core/crypto/xeddsa';
import {
  Device,
  type DeviceDelegate,
  type DeviceEvent,
  type DeviceLimits,
  type Endpoint,
  type Peer,
} from '../../main/core/device';
import { parseCidr } from '../../main/core/ip';
import {
  type MemberRecord,
  Mesh,
  type MeshEvent,
  type MeshOptions,
  type NetworkKeys,
} from '../../main/core/mesh';

export interface SimDatagram {
  from: Endpoint;
  to: Endpoint;
  bytes: Buffer;
  /** Delivery time (virtual ms). */
  at: number;
  /** The node that sent it (before any NAT rewrote `from`). */
  sender?: SimNode;
}

/**
 * A NAT router in front of some nodes. 'cone': one public port per inside endpoint, whatever the
 * destination (endpoint-independent mapping), with address-and-port-dependent filtering — what Linux
 * masquerade does. 'symmetric': a new public port per destination.
 */
export class SimNat {
  private nextPort = 40000;
  /** mapping key -> public port */
  private readonly out = new Map<string, number>();
  /** public port -> inside endpoint, and the remote endpoints allowed to answer */
  private readonly inbound = new Map<number, { inside: Endpoint; allowed: Set<string> }>();
  translated = 0;

  constructor(
    readonly publicAddress: string,
    readonly type: 'cone' | 'symmetric',
  ) {}

  outbound(from: Endpoint, to: Endpoint): Endpoint {
    const k = this.type === 'cone' ? epKey(from) : `${epKey(from)}>${epKey(to)}`;
    let port = this.out.get(k);
    if (port === undefined) {
      port = this.nextPort++;
      this.out.set(k, port);
      this.inbound.set(port, { inside: from, allowed: new Set() });
    }
    this.inbound.get(port)!.allowed.add(epKey(to));
    this.translated++;
    return { address: this.publicAddress, port };
  }

  /** The inside endpoint a datagram from `from` to our `port` goes to, or null (dropped). */
  inboundTo(port: number, from: Endpoint): Endpoint | null {
    const m = this.inbound.get(port);
    if (!m?.allowed.has(epKey(from))) return null;
    this.translated++;
    return m.inside;
  }
}

const epKey = (e: Endpoint) => `${e.address}:${e.port}`;

/**
 * A signature check shared by every simulated node: each distinct (key, message, signature) is
 * verified for real once (with xeddsaVerify), then remembered. Bounded.
 */
export function memoVerify(): NonNullable<MeshOptions['verify']> {
  // By signature; the key and message are compared byte for byte, so a different message under the
  // same signature is verified for real.
  const memo = new Map<string, { pub: Buffer; msg: Buffer; ok: boolean }>();
  return (pub, msg, sig) => {
    const id = Buffer.from(sig.buffer, sig.byteOffset, sig.length).toString('base64');
    const seen = memo.get(id);
    if (seen?.pub.equals(pub) && seen.msg.equals(msg)) return seen.ok;
    const ok = xeddsaVerify(pub, msg, sig);
    if (memo.size >= 1_000_000) memo.clear();
    memo.set(id, { pub: Buffer.from(pub), msg: Buffer.from(msg), ok });
    return ok;
  };
}

/**
 * One shared copy of each record (by key, version and signature) for every simulated node: what a
 * thousand separate processes would each hold once. Bounded.
 */
export function internRecords(): NonNullable<MeshOptions['intern']> {
  const memo = new Map<string, MemberRecord>();
  return (r) => {
    const id = `${r.k}|${r.v}|${r.s}`;
    const have = memo.get(id);
    if (have) return have;
    if (memo.size >= 1_000_000) memo.clear();
    memo.set(id, r);
    return r;
  };
}

/** Deterministic randomness (xorshift32), so every run of a test is the same run. */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}

export class SimNode implements DeviceDelegate {
  /** A mesh controller attached to this node's device, ticked with it. */
  mesh: Mesh | null = null;
  readonly privateKey: Uint8Array;
  meshNetwork: NetworkKeys | null = null;
  meshRelay: boolean | undefined;
  /** A stopped node neither sends nor receives. */
  down = false;
  readonly tunOut: Buffer[] = [];
  readonly events: DeviceEvent[] = [];
  readonly device: Device;

  constructor(
    readonly net: SimNet,
    readonly name: string,
    public endpoint: Endpoint,
    privateKey: Uint8Array,
    seed: number,
    limits?: Partial<DeviceLimits>,
    readonly nat: SimNat | null = null,
  ) {
    this.privateKey = privateKey;
    this.device = new Device(
      {
        send: (buf, start, len, to) => net.emit(this, to, Buffer.from(buf.subarray(start, start + len))),
        writeTun: (buf, start, end) => this.tunOut.push(Buffer.from(buf.subarray(start, end))),
        event: (e) => this.events.push(e),
      },
      {
        privateKey,
        random: seededRandom(seed),
        now: net.now,
        wallNow: net.wall(),
        limits,
        ringSize: 1 << 16,
        delegate: this,
      },
    );
  }

  // The device's delegate: whatever mesh is attached (none: the "no" answers).
  meshMessage(buf: Buffer, len: number, from: Endpoint): boolean {
    this.mesh?.handleDatagram(buf, len, from);
    return !!this.mesh;
  }

  noRoute(buf: Buffer, start: number, end: number): boolean {
    return this.mesh ? this.mesh.noRoute(buf, start, end) : false;
  }

  unknownPeer(keyB64: string): boolean {
    return this.mesh ? this.mesh.unknownPeer(keyB64) : false;
  }

  handshakeStarting(peer: Peer): void {
    this.mesh?.handshakeStarting(peer);
  }

  /** Attach a mesh controller (network name + secret, bootstrap endpoints). */
  joinMesh(
    network: NetworkKeys,
    bootstrap: Endpoint[],
    seed: number,
    opts: {
      relay?: boolean;
      onEvent?: (e: MeshEvent) => void;
      verify?: MeshOptions['verify'];
      intern?: MeshOptions['intern'];
      routes?: MeshOptions['routes'];
      exitOffer?: MeshOptions['exitOffer'];
      acceptRoute?: MeshOptions['acceptRoute'];
      joined?: MeshOptions['joined'];
    } = {},
  ): Mesh {
    const io = {
      send: (buf: Buffer, start: number, len: number, to: Endpoint) =>
        this.net.emit(this, to, Buffer.from(buf.subarray(start, start + len))),
      writeTun: () => {},
      event: () => {},
    };
    this.meshNetwork = network;
    this.meshRelay = opts.relay;
    this.mesh = new Mesh(
      this.device,
      io,
      {
        network,
        name: this.name,
        bootstrap,
        privateKey: this.privateKey,
        relay: opts.relay,
        random: seededRandom(seed),
        now: this.net.now,
        wallNow: this.net.wall(),
        localEndpoints: [this.endpoint],
        verify: opts.verify,
        intern: opts.intern,
        routes: opts.routes,
        exitOffer: opts.exitOffer,
        acceptRoute: opts.acceptRoute,
        joined: opts.joined,
      },
      opts.onEvent,
    );
    return this.mesh;
  }

  get publicKey(): Uint8Array {
    return this.device.identity.publicKey;
  }

  addPeer(
    other: SimNode,
    allowed: string[],
    opts: { endpoint?: boolean; psk?: Uint8Array; keepalive?: number } = {},
  ) {
    return this.device.addPeer({
      publicKey: other.publicKey,
      endpoint: opts.endpoint === false ? null : other.endpoint,
      allowedIps: allowed.map((a) => parseCidr(a)!),
      presharedKey: opts.psk ?? null,
      persistentKeepalive: opts.keepalive ?? 0,
    });
  }

  /** Hand an IP packet to the device as if read from TUN. */
  send(packet: Buffer): void {
    this.device.setTime(this.net.now, this.net.wall());
    this.device.handleTunPacket(packet, 0, packet.length);
  }
}

export class SimNet {
  now = 1_000_000; // monotonic ms
  readonly wallStart = Date.UTC(2026, 10, 24);
  readonly queue: SimDatagram[] = [];
  private head = 0;
  /** Nodes by the endpoint they bind (their inside address when behind a NAT). */
  readonly nodes = new Map<string, SimNode>();
  readonly nats = new Map<string, SimNat>();
  /** Return false to drop a datagram (loss, firewall); may record it for replay. */
  filter: (d: SimDatagram) => boolean = () => true;
  /** One-way delay of every datagram, ms (0: delivered within the same step). */
  latency = 0;
  /**
   * Nodes' timers run this often, ms (a real node ticks every 100 ms), whatever the step (which
   * sets how finely datagrams are delivered); 0: at every step.
   */
  tickInterval = 0;
  private lastTick = Number.NEGATIVE_INFINITY;
  delivered = 0;
  private natCount = 0;

  wall(): number {
    return this.wallStart + this.now;
  }

  add(
    name: string,
    privateKey: Uint8Array,
    seed: number,
    limits?: Partial<DeviceLimits>,
    opts: { nat?: 'cone' | 'symmetric' } = {},
  ): SimNode {
    const i = this.nodes.size + 1;
    let nat: SimNat | null = null;
    let ep: Endpoint;
    if (opts.nat) {
      this.natCount++;
      const pub = `198.19.${this.natCount >> 8}.${this.natCount & 0xff}`;
      nat = new SimNat(pub, opts.nat);
      this.nats.set(pub, nat);
      ep = { address: `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`, port: 51820 };
    } else {
      ep = { address: `198.18.${(i >> 8) & 0xff}.${i & 0xff}`, port: 51820 };
    }
    const n = new SimNode(this, name, ep, privateKey, seed, limits, nat);
    this.nodes.set(`${ep.address}:${ep.port}`, n);
    return n;
  }

  /**
   * Restart a node: a new process with the same key, address and saved mesh state (what the real
   * node writes to its state directory). The old SimNode object is dead afterwards.
   */
  restart(old: SimNode, bootstrap: Endpoint[], seed: number): SimNode {
    const state = old.mesh ? old.mesh.exportState() : null;
    old.down = true;
    const n = new SimNode(this, old.name, old.endpoint, old.privateKey, seed, undefined, old.nat);
    this.nodes.set(`${old.endpoint.address}:${old.endpoint.port}`, n);
    if (old.mesh) {
      n.joinMesh(old.meshNetwork!, bootstrap, seed + 1, { relay: old.meshRelay });
      n.mesh!.importState(state);
    }
    return n;
  }

  /** The node's underlay address changes (roaming): it now sends from and receives at `address`. */
  move(node: SimNode, address: string): void {
    this.nodes.delete(`${node.endpoint.address}:${node.endpoint.port}`);
    node.endpoint = { address, port: node.endpoint.port };
    this.nodes.set(`${address}:${node.endpoint.port}`, node);
    node.mesh?.setTime(this.now, this.wall());
    node.mesh?.setLocalEndpoints([node.endpoint]);
  }

  /** A node sends: NAT on the way out, then queued for delivery. */
  emit(sender: SimNode, to: Endpoint, bytes: Buffer): void {
    if (sender.down) return;
    const from = sender.nat ? sender.nat.outbound(sender.endpoint, to) : sender.endpoint;
    this.queue.push({ from, to, bytes, at: this.now + this.latency, sender });
  }

  /** Deliver queued datagrams that are due, until the network is quiet (bounded). */
  run(maxDatagrams = 1_000_000): void {
    for (let i = 0; i < maxDatagrams && this.head < this.queue.length; i++) {
      const d = this.queue[this.head];
      if (d.at > this.now) break;
      this.head++;
      this.deliver(d);
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Datagrams waiting for delivery. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  deliver(d: SimDatagram): void {
    if (!this.filter(d)) return;
    let to: Endpoint | null = d.to;
    const nat = this.nats.get(d.to.address);
    if (nat) to = nat.inboundTo(d.to.port, d.from);
    else if (d.to.address.startsWith('10.')) {
      // Inside addresses are only reachable from behind the same NAT (none of our NATs share one).
      const target = this.nodes.get(`${d.to.address}:${d.to.port}`);
      if (!target || !d.sender || target.nat !== d.sender.nat || target.nat !== null) to = null;
    }
    if (!to) return;
    const node = this.nodes.get(`${to.address}:${to.port}`);
    if (!node || node.down) return;
    this.delivered++;
    node.device.setTime(this.now, this.wall());
    node.mesh?.setTime(this.now, this.wall());
    const copy = Buffer.from(d.bytes);
    node.device.handleDatagram(copy, copy.length, d.from);
  }

  /** Advance the clock in steps, firing timers and delivering traffic at every step. */
  advance(ms: number, step = 100): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + step);
      this.run();
      if (this.tickInterval > 0 && this.now - this.lastTick < this.tickInterval) continue;
      this.lastTick = this.now;
      for (const n of this.nodes.values()) {
        if (n.down) continue;
        n.device.setTime(this.now, this.wall());
        n.device.tick();
        n.mesh?.setTime(this.now, this.wall());
        n.mesh?.tick();
      }
      this.run();
    }
  }
}

/** A minimal IPv4 UDP packet from src to dst with `payload` (checksums left zero: the core does not care). */
export function ipv4Packet(src: string, dst: string, payload: Buffer | string, id = 0): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const b = Buffer.alloc(28 + body.length);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(id, 4);
  b[8] = 64;
  b[9] = 17;
  Buffer.from(parseCidr(src)!.bytes).copy(b, 12);
  Buffer.from(parseCidr(dst)!.bytes).copy(b, 16);
  b.writeUInt16BE(1000, 20);
  b.writeUInt16BE(2000, 22);
  b.writeUInt16BE(8 + body.length, 24);
  body.copy(b, 28);
  return b;
}

/** A minimal IPv6 UDP packet. */
export function ipv6Packet(src: string, dst: string, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const b = Buffer.alloc(48 + body.length);
  b[0] = 0x60;
  b.writeUInt16BE(8 + body.length, 4);
  b[6] = 17;
  b[7] = 64;
  Buffer.from(parseCidr(src)!.bytes).copy(b, 8);
  Buffer.from(parseCidr(dst)!.bytes).copy(b, 24);
  b.writeUInt16BE(8 + body.length, 44);
  body.copy(b, 48);
  return b;
}

// An in-process network for sans-IO devices: a virtual clock, datagrams delivered through a queue
// (with optional loss and a filter to drop, capture or replay messages), TUN output recorded per node.
// Anchors: wireguard-go's bindtest/tuntest, nebula's e2e router.
import { Device, type DeviceEvent, type DeviceLimits, type Endpoint } from '../../main/core/device';
import { parseCidr } from '../../main/core/ip';
import { Mesh, type NetworkKeys } from '../../main/core/mesh';

export interface SimDatagram {
  from: Endpoint;
  to: Endpoint;
  bytes: Buffer;
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

export class SimNode {
  /** A mesh controller attached to this node's device, ticked with it. */
  mesh: Mesh | null = null;
  readonly tunOut: Buffer[] = [];
  readonly events: DeviceEvent[] = [];
  readonly device: Device;

  constructor(
    readonly net: SimNet,
    readonly name: string,
    readonly endpoint: Endpoint,
    privateKey: Uint8Array,
    seed: number,
    limits?: Partial<DeviceLimits>,
  ) {
    this.device = new Device(
      {
        send: (buf, start, len, to) =>
          net.queue.push({ from: this.endpoint, to, bytes: Buffer.from(buf.subarray(start, start + len)) }),
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
      },
    );
  }

  /** Attach a mesh controller (network name + secret, bootstrap endpoints). */
  joinMesh(network: NetworkKeys, bootstrap: Endpoint[], seed: number): Mesh {
    const io = {
      send: (buf: Buffer, start: number, len: number, to: Endpoint) =>
        this.net.queue.push({
          from: this.endpoint,
          to,
          bytes: Buffer.from(buf.subarray(start, start + len)),
        }),
      writeTun: () => {},
      event: () => {},
    };
    this.mesh = new Mesh(this.device, io, {
      network,
      name: this.name,
      bootstrap,
      random: seededRandom(seed),
      now: this.net.now,
      wallNow: this.net.wall(),
    });
    const mesh = this.mesh;
    this.device.onMeshMessage = (buf, len, from) => mesh.handleDatagram(buf, len, from);
    return mesh;
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
  readonly nodes = new Map<string, SimNode>();
  /** Return false to drop a datagram (loss, firewall); may record it for replay. */
  filter: (d: SimDatagram) => boolean = () => true;
  delivered = 0;

  wall(): number {
    return this.wallStart + this.now;
  }

  add(name: string, privateKey: Uint8Array, seed: number, limits?: Partial<DeviceLimits>): SimNode {
    const ep = { address: `198.18.0.${this.nodes.size + 1}`, port: 51820 };
    const n = new SimNode(this, name, ep, privateKey, seed, limits);
    this.nodes.set(`${ep.address}:${ep.port}`, n);
    return n;
  }

  /** Deliver queued datagrams until the network is quiet (bounded). */
  run(maxDatagrams = 100_000): void {
    for (let i = 0; i < maxDatagrams && this.queue.length > 0; i++) {
      const d = this.queue.shift()!;
      this.deliver(d);
    }
  }

  deliver(d: SimDatagram): void {
    if (!this.filter(d)) return;
    const node = this.nodes.get(`${d.to.address}:${d.to.port}`);
    if (!node) return;
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
      for (const n of this.nodes.values()) {
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

// The node's native data path: the Node-API data plane (main/io/dataplane.ts, native/dataplane/)
// carries the transport messages between the TUN device (its descriptor handed over by the helper,
// --pass-fd) and one dual-stack UDP socket, on threads of its own. The Device keeps handshakes,
// timers, the mesh and every decision; this adapter is its DeviceDataPlane: it mirrors peers
// (endpoint, allowed IPs) and sessions (keys, indices, counters) into the addon, sends every
// transport message the Device wants sent through the addon (one counter per key), and hands back
// to the Device what the addon does not handle (handshake and mesh datagrams, packets without a
// session) and its per-peer event bits (timers, confirmation, roaming, rekeying).
//
// Which path runs: PEERMESH_DATAPLANE=off -> TypeScript; =on -> native (an error when it cannot);
// unset -> NATIVE_BY_DEFAULT (docs/performance.md says why it is what it is).
import type { DataPlaneReport, Device, DeviceDataPlane, Endpoint, Peer } from '../core/device';
import type { Keypair } from '../core/keypair';
import {
  type DataplaneAddon,
  type DpHandle,
  type DpItem,
  type DpPeerEvent,
  dataplaneLoadError,
  loadDataplane,
} from '../io/dataplane';

/**
 * Whether the node uses the native data path when PEERMESH_DATAPLANE is not set: yes, since the
 * namespace suites (tunnel, interop, mesh, nat, hostile, loss, routes, chain, lan, multi, crash,
 * control, app) pass with it (docs/performance.md). Where the addon is missing (not built, not
 * packaged) or the native start fails, the node runs the TypeScript path and says why.
 */
export const NATIVE_BY_DEFAULT = true;

export interface DataPathChoice {
  addon: DataplaneAddon | null;
  /** Why this path: the switch, or the addon's load error. */
  reason: string;
  /** PEERMESH_DATAPLANE=on: failing to start the native path is an error, not a fallback. */
  required: boolean;
}

export function chooseDataPath(env: NodeJS.ProcessEnv = process.env): DataPathChoice {
  const v = env.PEERMESH_DATAPLANE;
  if (v === 'off') return { addon: null, reason: 'PEERMESH_DATAPLANE=off', required: false };
  if (v !== 'on' && !NATIVE_BY_DEFAULT)
    return { addon: null, reason: 'native data path is opt-in (PEERMESH_DATAPLANE=on)', required: false };
  const addon = loadDataplane();
  const required = v === 'on';
  if (!addon) return { addon: null, reason: `data plane addon not loaded: ${dataplaneLoadError}`, required };
  return { addon, reason: v === 'on' ? 'PEERMESH_DATAPLANE=on' : 'default', required };
}

type Slot = 'current' | 'next' | 'previous';

/** The node's UDP for the native path: the addon's one dual-stack socket (same surface as UdpSockets). */
export class NativeUdp {
  fd = -1;
  port = 0;
  /** Datagrams that could not be sent (the addon's queue was full or the socket failed). */
  dropped = 0;
  h: DpHandle | null = null;

  constructor(private readonly dp: DataplaneAddon) {}

  /**
   * One socket for IPv4 and IPv6 (IPv4 peers as mapped addresses): the addon's send and receive
   * threads each serve one socket. A host without IPv6 gets an IPv4 socket.
   */
  async bind(port: number): Promise<void> {
    try {
      this.fd = this.dp.openUdp('::', port);
    } catch (e) {
      if (/in use/i.test((e as Error).message))
        throw new Error(
          `UDP port ${port} is used by another program: choose another port (Settings, or --listen)`,
        );
      this.fd = this.dp.openUdp('0.0.0.0', port);
    }
    this.port = this.dp.localPort(this.fd);
  }

  send(buf: Buffer, start: number, len: number, to: Endpoint): void {
    // Handshakes and mesh messages only (transport goes out on the addon's threads): a copy is fine.
    if (!this.h || this.dp.send(this.h, buf.subarray(start, start + len), to) !== 0) this.dropped++;
  }

  close(): void {
    // The data plane owns the socket once created (NativePath.close closes it).
    if (!this.h && this.fd >= 0) this.dp.closeFd(this.fd);
    this.fd = -1;
  }
}

export class NativePath implements DeviceDataPlane {
  readonly udp: NativeUdp;
  private h: DpHandle | null = null;
  private device: Device | null = null;
  private readonly ids = new Map<Peer, number>();
  private readonly peers = new Map<number, Peer>();
  private nextId = 1;
  /** Sessions installed in the addon: local index -> peer id and the slot it was installed for. */
  private readonly installed = new Map<number, { id: number; slot: Slot }>();
  /** Traffic the addon counted that is already added to the peers' stats (peer id -> totals). */
  private readonly counted = new Map<
    number,
    { txBytes: number; rxBytes: number; txPackets: number; rxPackets: number }
  >();

  constructor(
    readonly dp: DataplaneAddon,
    private readonly onError: (message: string) => void,
  ) {
    this.udp = new NativeUdp(dp);
  }

  attach(device: Device): void {
    this.device = device;
  }

  get running(): boolean {
    return this.h !== null;
  }

  /** Start the threads on the helper's TUN descriptor and our socket; mirror what the Device has. */
  start(tunFd: number, mtu: number, setTime: () => void): void {
    const device = this.device!;
    this.h = this.dp.create(tunFd, this.udp.fd, {
      mtu,
      onEvents: (items, events) => {
        setTime();
        this.deliver(items, events);
      },
    });
    this.udp.h = this.h;
    for (const p of device.allPeers()) {
      this.peerChanged(p);
      this.sessionsChanged(p);
    }
  }

  /**
   * Collect what waits in the addon: the traffic bits the WireGuard timers need wake nobody (a
   * packet never pays for waking this thread), the node's tick calls this before the Device's.
   */
  pollEvents(): void {
    if (!this.h) return;
    const r = this.dp.poll(this.h);
    if (r) this.deliver(r[0], r[1]);
  }

  private deliver(items: DpItem[], events: DpPeerEvent[]): void {
    const device = this.device!;
    for (const i of items) {
      try {
        if (i.kind === 'datagram') device.handleDatagram(i.data, i.data.length, i.from!);
        else device.handleTunPacket(i.data, 0, i.data.length);
      } catch (e) {
        this.onError(`data plane item: ${(e as Error).message}`);
      }
    }
    const ev = this.dp.events;
    for (const e of events) {
      const peer = this.peers.get(e.peer);
      if (!peer) continue;
      const b = e.events;
      const r: DataPlaneReport = {
        dataSent: (b & ev.DATA_SENT) !== 0,
        dataReceived: (b & ev.DATA_RECEIVED) !== 0,
        authSent: (b & ev.AUTH_SENT) !== 0,
        authReceived: (b & ev.AUTH_RECEIVED) !== 0,
        confirmed: (b & ev.CONFIRMED) !== 0,
        rekey: (b & (ev.REKEY | ev.LIMIT)) !== 0,
        endpoint: b & ev.ENDPOINT && e.endpoint ? e.endpoint : undefined,
      };
      device.dataPlaneReport(peer, r);
    }
  }

  private idOf(peer: Peer): number {
    let id = this.ids.get(peer);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(peer, id);
      this.peers.set(id, peer);
    }
    return id;
  }

  // ------------------------------------------------------------------ DeviceDataPlane

  peerChanged(peer: Peer): void {
    const id = this.idOf(peer);
    if (!this.h || !this.device) return;
    const e = peer.endpoint;
    // A relayed peer has no endpoint here: its packets come back to JS (txNoSession), the Device
    // seals them through seal() and hands them to the relay.
    const to = e && e.kind !== 'relay' ? { address: e.address, port: e.port } : null;
    this.dp.setPeer(this.h, id, to, this.device.allowedIpsOf(peer));
  }

  peerRemoved(peer: Peer): void {
    const id = this.ids.get(peer);
    if (id === undefined) return;
    for (const [index, s] of this.installed) {
      if (s.id !== id) continue;
      if (this.h) this.dp.removeSession(this.h, index);
      this.installed.delete(index);
    }
    if (this.h) this.dp.removePeer(this.h, id);
    this.ids.delete(peer);
    this.peers.delete(id);
    this.counted.delete(id);
  }

  sessionsChanged(peer: Peer): void {
    if (!this.h) return;
    const id = this.idOf(peer);
    const want = new Map<number, { kp: Keypair; slot: Slot }>();
    if (peer.previous) want.set(peer.previous.localIndex, { kp: peer.previous, slot: 'previous' });
    if (peer.current) want.set(peer.current.localIndex, { kp: peer.current, slot: 'current' });
    if (peer.next) want.set(peer.next.localIndex, { kp: peer.next, slot: 'next' });
    for (const [index, s] of this.installed) {
      if (s.id !== id) continue;
      const w = want.get(index);
      // A `next` the Device set aside (both sides initiated at once) must not become current in the
      // addon on its first packet: installed again as previous (its replay window starts afresh).
      if (!w || (s.slot === 'next' && w.slot === 'previous')) {
        this.dp.removeSession(this.h, index);
        this.installed.delete(index);
      } else {
        s.slot = w.slot; // next -> current (the addon switched itself), current -> previous
      }
    }
    const now = performance.now();
    for (const [index, w] of want) {
      if (this.installed.has(index)) continue;
      const kp = w.kp;
      this.dp.setSession(this.h, id, {
        localIndex: kp.localIndex,
        remoteIndex: kp.remoteIndex,
        sendKey: kp.sendKey,
        recvKey: kp.recvKey,
        sendCounter: kp.sendCounter,
        isInitiator: kp.isInitiator,
        ageMs: Math.max(0, Math.round(now - kp.createdAt)),
        slot: w.slot,
      });
      this.installed.set(index, { id, slot: w.slot });
    }
  }

  seal(peer: Peer, buf: Buffer, start: number, len: number): Buffer | null {
    if (!this.h) return null;
    const relayed = peer.endpoint?.kind === 'relay';
    const id = this.idOf(peer);
    const r =
      len > 0
        ? this.dp.encrypt(this.h, buf.subarray(start, start + len), !relayed)
        : this.dp.keepalive(this.h, id, !relayed);
    return 'datagram' in r ? r.datagram : null;
  }

  inject(buf: Buffer, len: number): void {
    if (this.h) this.dp.inject(this.h, buf.subarray(0, len)); // a full queue is counted by the addon
  }

  // ------------------------------------------------------------------ status

  /** Add the traffic the addon counted since the last call to the peers' stats. */
  syncStats(): Record<string, number> {
    if (!this.h) return {};
    const s = this.dp.stats(this.h);
    for (const ps of s.peers) {
      const peer = this.peers.get(ps.peer);
      if (!peer) continue;
      const last = this.counted.get(ps.peer) ?? { txBytes: 0, rxBytes: 0, txPackets: 0, rxPackets: 0 };
      peer.stats.txBytes += ps.txBytes - last.txBytes;
      peer.stats.rxBytes += ps.rxBytes - last.rxBytes;
      peer.stats.txPackets += ps.txPackets - last.txPackets;
      peer.stats.rxPackets += ps.rxPackets - last.rxPackets;
      this.counted.set(ps.peer, {
        txBytes: ps.txBytes,
        rxBytes: ps.rxBytes,
        txPackets: ps.txPackets,
        rxPackets: ps.rxPackets,
      });
    }
    return { ...s.counters, vnetHdr: +s.vnetHdr, gso: +s.gso, gro: +s.gro, coalesce: +s.coalesce };
  }

  close(): void {
    if (this.h)
      this.dp.close(this.h); // closes the TUN descriptor and the socket
    else this.udp.close();
    this.h = null;
    this.udp.h = null;
  }
}

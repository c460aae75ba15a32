// A running node: the sans-IO Device (and the Mesh of its network) wired to real I/O (UDP sockets,
// the TUN helper, a clock, the control socket). Owns the lifecycle: start (validate, keys, bind, TUN,
// control) and stop. The rest is in its own files: the Control API handlers (api-handlers.ts), what
// the node makes of the core's events (events.ts), the state directory (persistence.ts), the
// host's network: addresses, routes, DNS, hosts file (host-net.ts), the timers (clocks.ts), the
// invitations it answers (admission.ts) and a member's exit node, devices and access rules
// (member-features.ts).

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ApiEvent, NodeHandlers, NodeStatus, PeerRow, RouteRow } from '../control/api';
import { ControlServer } from '../control/socket';
import { MSG_JOIN } from '../core/constants';
import { Device, type Endpoint } from '../core/device';
import type { Invites } from '../core/invites';
import { type Cidr, parseCidr, parseIp } from '../core/ip';
import {
  Mesh,
  memberAddresses,
  type NetworkKeys,
  networkKeys,
  OVERLAY_V4_PREFIX,
  OVERLAY_V6_PREFIX,
} from '../core/mesh';
import { TunHelper } from '../io/helper';
import { kernelDrops } from '../io/kernel-drops';
import { UdpSockets } from '../io/udp';
import { Admission } from './admission';
import { joinEndpoints, type NodeApiHost, nodeHandlers, nodeStatus, peerRows } from './api-handlers';
import { startClocks } from './clocks';
import { ConfigError, checkAddress, type NodeConfig, parseEndpoint } from './config';
import { DnsResponder, registerResolved, systemNameserver } from './dns';
import { type EventsHost, NodeEvents } from './events';
import {
  extraRoutes,
  HostNet,
  ipv6Enabled,
  PendingEndpoints,
  peerMeshInterfaces,
  resolveBootstrap,
} from './host-net';
import { networkDomain } from './hosts';
import { decodeKey, publicKeyOf } from './identity';
import type { Logger } from './log';
import { MemberFeatures } from './member-features';
import { MetricsFeed } from './metrics-feed';
import { chooseDataPath, type DataPathChoice, NativePath, type NativeUdp } from './native-path';
import { loadKeys, NetworkFiles, prepareStateDir } from './persistence';
import { TimestampsFile } from './timestamps-file';

export type { NodeStatus, PeerStatus } from '../control/api';
export { loadSecret } from './persistence';

function random(n: number): Uint8Array {
  return randomBytes(n);
}

export class PeerMeshNode implements NodeApiHost, EventsHost {
  readonly device: Device;
  readonly udp: UdpSockets | NativeUdp;
  /** The native data path (main/node/native-path.ts), or null: the TypeScript one. */
  readonly native: NativePath | null;
  readonly dataPathReason: string;
  tun: TunHelper | null = null;
  private readonly control: ControlServer;
  private timers: NodeJS.Timeout[] = [];
  readonly metrics: MetricsFeed;
  /**
   * The Control API methods a node serves itself, on its unix socket and to the app's worker
   * (the app-level ones, connect/join/settings..., are the NodeManager's: manager.ts).
   */
  readonly handlers: NodeHandlers;
  /** Control API events (member, path, peer up/down, rtt, ...): the manager streams them to UIs. */
  onApiEvent: (e: ApiEvent) => void = () => {};
  /** Local names given to members with `rename` (key -> alias), kept in the state directory. */
  readonly aliases = new Map<string, string>();
  readonly startedAt = Date.now();
  readonly pending: PendingEndpoints;
  readonly events: NodeEvents;
  private readonly hostNet: HostNet;
  private readonly files: NetworkFiles;
  private saveTimer: NodeJS.Timeout | null = null;
  /** Replayed initiations stay refused across restarts (core/initiation-timestamps.ts). */
  readonly timestamps: TimestampsFile;
  mesh: Mesh | null = null;
  /** The invitations we answer (members of a network only). */
  admission: Admission | null = null;
  /** Route offers' answers, exit node, gateway devices, access rules (members of a network only). */
  member: MemberFeatures | null = null;
  /** The DNS responder for members' names, and where it serves. */
  private dns: DnsResponder | null = null;
  dnsStatus: { domain: string; servedOn: string[]; resolved: boolean } | null = null;
  addresses: string[] = [];
  private stopping = false;
  /** When a UI last read peers or metrics (RTT probes go every second while someone watches). */
  lastWatched = 0;
  /** Resolves when the node stops (by stop() or because its helper died). */
  readonly stopped: Promise<string>;
  private resolveStopped!: (reason: string) => void;

  private constructor(
    readonly cfg: NodeConfig,
    readonly log: Logger,
    privateKey: Uint8Array,
    choice: DataPathChoice,
  ) {
    this.stopped = new Promise((r) => {
      this.resolveStopped = r;
    });
    this.dataPathReason = choice.reason;
    this.native = choice.addon ? new NativePath(choice.addon, (m) => log.warn(m)) : null;
    this.udp =
      this.native?.udp ??
      new UdpSockets((msg, rinfo) => {
        const now = performance.now();
        const wall = Date.now();
        this.device.setTime(now, wall);
        this.mesh?.setTime(now, wall);
        this.device.handleDatagram(msg, msg.length, rinfo);
      });
    this.events = new NodeEvents(this);
    this.device = new Device(
      {
        send: (buf, start, len, to) => this.udp.send(buf, start, len, to),
        writeTun: (buf, start, end) => this.tun?.writePacket(buf, start, end),
        event: (e) => this.events.onDevice(e),
      },
      {
        privateKey,
        mtu: cfg.mtu,
        random,
        now: performance.now(),
        wallNow: Date.now(),
        // The mesh (when the node is in a network) answers what the device asks.
        delegate: {
          meshMessage: (buf, len, from) => {
            if (!this.mesh) return false;
            if (buf[0] === MSG_JOIN)
              this.admission?.handle(buf, len, from, (r, to) => this.udp.send(r, 0, r.length, to));
            else this.mesh.handleDatagram(buf, len, from);
            return true;
          },
          noRoute: (buf, start, end) => this.mesh?.noRoute(buf, start, end) ?? false,
          unknownPeer: (key) => this.mesh?.unknownPeer(key) ?? false,
          handshakeStarting: (peer) => this.mesh?.handshakeStarting(peer),
        },
        dataPlane: this.native ?? undefined,
      },
    );
    this.native?.attach(this.device);
    this.metrics = new MetricsFeed(this.device, () => this.mesh);
    this.timestamps = new TimestampsFile(cfg.stateDir, this.device.initiationTimestamps, log);
    this.pending = new PendingEndpoints(this.device, log);
    this.hostNet = new HostNet(cfg, log);
    this.files = new NetworkFiles(cfg, log);
    this.handlers = nodeHandlers(this);
    this.control = new ControlServer(this.handlers);
  }

  get controlPath(): string {
    return join(this.cfg.stateDir, 'peermesh.sock');
  }

  /** Member key -> its name in the hosts file. */
  get names(): Map<string, string> {
    return this.hostNet.names;
  }

  routeRows(): RouteRow[] {
    return this.hostNet.routeRows(this.mesh);
  }

  acceptRoute(route: string): { accepted: string[] } {
    return this.hostNet.acceptRoute(this.mesh, this.tun, route);
  }

  declineRoute(route: string): { declined: string } {
    return this.hostNet.declineRoute(this.mesh, this.tun, route);
  }

  /** Which devices hold changed: our own devices' peers follow. */
  devicesChanged(): void {
    this.member?.devicesChanged();
  }

  dnsOn(): boolean {
    return (this.dnsStatus?.servedOn.length ?? 0) > 0;
  }

  /** Validate and load everything that can fail on bad input, then touch the system. */
  static async start(
    cfg: NodeConfig,
    log: Logger,
    choice: DataPathChoice = chooseDataPath(),
  ): Promise<PeerMeshNode> {
    const node = await PeerMeshNode.prepare(cfg, log, choice);
    await node.go();
    return node;
  }

  /**
   * Everything that needs privileges: the state directory, keys, the UDP port, the TUN helper (device,
   * routes, janitor), the control socket, and — for a node that drops privileges next (cfg.runAs) —
   * DNS on port 53 and the hosts file opened. No thread of the native data plane runs yet and no
   * datagram is sent: `go()` starts them, after the caller dropped privileges (privdrop.ts; glibc's
   * set*id signal must not meet the data plane's threads in poll()).
   */
  static async prepare(
    cfg: NodeConfig,
    log: Logger,
    choice: DataPathChoice = chooseDataPath(),
  ): Promise<PeerMeshNode> {
    if (!choice.addon && choice.required) throw new ConfigError(choice.reason);
    const { node, addresses, allAllowed } = await PeerMeshNode.assemble(cfg, log, choice);
    await node.pending.resolve();
    try {
      await node.openDevices(extraRoutes(addresses, allAllowed));
    } catch (e) {
      if (!node.native || e instanceof ConfigError) throw e;
      // The native path did not start (e.g. a helper without fd mode): the TypeScript one, saying why.
      const why = `native data path failed to start: ${(e as Error).message}`;
      if (choice.required) throw new Error(`${why} (PEERMESH_DATAPLANE=off runs the TypeScript data path)`);
      log.warn(`${why}; using the TypeScript data path`);
      return PeerMeshNode.prepare(cfg, log, { addon: null, reason: why, required: false });
    }
    try {
      await node.control.listen(node.controlPath);
    } catch (e) {
      await node.stop('control socket failed');
      throw new ConfigError((e as Error).message);
    }
    if (cfg.runAs) await node.startDns(); // port 53, while the node may still bind it
    return node;
  }

  /** The node's objects from its config and keys (the network joined, the peers added), nothing opened. */
  private static async assemble(cfg: NodeConfig, log: Logger, choice: DataPathChoice) {
    prepareStateDir(cfg, log);
    // Everything that can be wrong with the input is checked before anything is written.
    const { privateKey, peerPsks, secret } = loadKeys(cfg, log);
    const net = cfg.network && secret ? networkKeys(cfg.network.name, secret) : null;
    const addressList = overlayAddresses(cfg, net, privateKey);
    const addresses = addressList.map(checkAddress);

    const node = new PeerMeshNode(cfg, log, privateKey, choice);
    node.addresses = addressList;
    node.timestamps.load(); // before the first datagram
    if (net && secret) await node.joinNetwork(net, secret, privateKey);
    const allAllowed = node.addPeers(peerPsks);
    return { node, addresses, allAllowed };
  }

  /**
   * Build time only (main/cli/warm-up.ts): a node as prepare() makes it, on the TypeScript data
   * path, whose datagrams go to `send` instead of a UDP port; no TUN device, control socket, DNS or
   * timer. The caller delivers datagrams to its device (handleDatagram) and stops it.
   */
  static async warmUp(
    cfg: NodeConfig,
    log: Logger,
    send: (buf: Buffer, start: number, len: number, to: Endpoint) => void,
  ): Promise<PeerMeshNode> {
    const choice = { addon: null, reason: 'warm-up', required: false };
    const { node } = await PeerMeshNode.assemble(cfg, log, choice);
    (node as { udp: Pick<UdpSockets, 'send' | 'port' | 'close'> }).udp = { send, port: 0, close: () => {} };
    return node;
  }

  /** The data plane's threads, the first datagrams and the clocks (after prepare, and any drop). */
  async go(): Promise<void> {
    try {
      this.startDataPlane();
    } catch (e) {
      await this.stop(`native data path failed to start: ${(e as Error).message}`);
      throw e;
    }
    this.timers = startClocks(this, this.tun!.info.ifname, () => this.hostNet.updateNames(this.mesh));
    if (!this.dns) await this.startDns();
    this.log.info(
      `up: interface ${this.tun!.info.ifname} (mtu ${this.tun!.info.mtu}) ${this.addresses.join(' ') || '(no addresses)'}, ` +
        `listening on UDP ${this.udp.port}, public key ${this.device.publicKeyB64}, ${this.cfg.peers.length} peer(s)` +
        (this.cfg.network ? `, network "${this.cfg.network.name}" as "${this.cfg.name}"` : ''),
    );
  }

  /** Whether the native data plane's threads run (started by go()). */
  private dataPlaneStarted = false;

  /** The native data plane takes the helper's TUN descriptor and starts its threads. */
  private startDataPlane(): void {
    if (!this.native || !this.tun) return;
    this.native.start(this.tun.tunFd, this.cfg.mtu, () => {
      const now = performance.now();
      const wall = Date.now();
      this.device.setTime(now, wall);
      this.mesh?.setTime(now, wall);
    });
    this.dataPlaneStarted = true;
    this.log.info(`native data path (${this.dataPathReason})`);
  }

  /**
   * Members' names over DNS on our overlay addresses (dns.ts), registered with systemd-resolved for
   * the network's domain where it runs; the hosts file stays the fallback (docs/dns.md).
   */
  private async startDns(): Promise<void> {
    if (!this.mesh || !this.cfg.network || !this.tun) return;
    const domain = networkDomain(this.cfg.network.name);
    // An exit node also forwards other names to its own resolver, for the members that use it.
    const upstream = this.cfg.network.advertiseExit ? systemNameserver : null;
    const dns = new DnsResponder(domain, () => this.hostNet.nameEntries(this.mesh), this.log, upstream);
    this.dns = dns;
    const given = this.tun.takeDnsSockets(); // fd mode: bound on port 53 by the helper
    const served = await dns.start(
      this.addresses.map((a) => a.split('/')[0]),
      53,
      given,
    );
    this.dnsStatus = { domain, servedOn: served, resolved: false };
    if (!served.length) return;
    this.log.info(`members' names (*.${domain}) answered on ${served.join(', ')} port 53`);
    this.dnsStatus.resolved = await registerResolved(this.tun.info.ifname, served, domain, this.log);
  }

  /** The network's Mesh over our Device, what we knew of it, our invitations and local names. */
  private async joinNetwork(net: NetworkKeys, secret: Uint8Array, privateKey: Uint8Array): Promise<void> {
    const spec = this.cfg.network!;
    const bootstrap = await resolveBootstrap(spec.bootstrap, this.log);
    const member = new MemberFeatures(this, this.cfg.stateDir, spec, net, this.log);
    this.member = member;
    this.hostNet.routeChoices = member.routeChoices;
    const mesh = new Mesh(
      this.device,
      {
        send: (buf, start, len, to) => this.udp.send(buf, start, len, to),
        writeTun: () => {},
        event: () => {},
      },
      {
        network: net,
        name: this.cfg.name,
        bootstrap,
        privateKey,
        relay: spec.relay,
        routes: spec.advertiseRoutes ?? [],
        exitOffer: !!spec.advertiseExit,
        acceptRoute: (route, key) => member.routeChoices.accepts(route, key),
        random,
        now: performance.now(),
        wallNow: Date.now(),
        // Our overlay addresses (also those set with --address) are never endpoints (docs/mesh.md).
        overlayRanges: this.addresses.map(checkAddress),
      },
      (e) => this.events.onMesh(e),
    );
    this.mesh = mesh;
    this.files.loadMesh(mesh);
    member.meshReady(mesh);
    if (this.cfg.addresses.length === 0) {
      // What we know of the network may have moved our IPv4 off its first choice (a collision).
      this.addresses[0] = `${mesh.addressesOf(mesh.selfKey).v4}/${this.v4Prefix}`;
    }
    this.admission = new Admission(mesh, spec.name, secret, random, this.files, this.log);
    this.files.loadAliases(this.aliases);
  }

  /** Several networks share 100.64.0.0/10: then each member's /32 is routed, not the whole /10. */
  private get v4Prefix(): number {
    return this.cfg.memberRoutes ? 32 : OVERLAY_V4_PREFIX;
  }

  /** The configured WireGuard peers; returns every allowed IP (for the routes the helper adds). */
  private addPeers(peerPsks: (Uint8Array | null)[]): Cidr[] {
    const allAllowed: Cidr[] = [];
    for (const [i, p] of this.cfg.peers.entries()) {
      const allowedIps = p.allowedIps.map((a) => parseCidr(a)!);
      allAllowed.push(...allowedIps);
      let endpoint: Endpoint | null = null;
      if (p.endpoint) {
        const { host, port } = parseEndpoint(p.endpoint);
        if (parseIp(host)) endpoint = { address: host, port };
        else this.pending.unresolved.set(p.publicKey, p.endpoint);
      }
      try {
        this.device.addPeer({
          publicKey: decodeKey(p.publicKey, 'peer public key'),
          endpoint,
          allowedIps,
          presharedKey: peerPsks[i],
          persistentKeepalive: p.persistentKeepalive,
        });
      } catch (e) {
        throw new ConfigError(`peer ${p.publicKey}: ${(e as Error).message}`);
      }
    }
    return allAllowed;
  }

  /** Bind the UDP port and start the TUN helper (the interface, its addresses and routes). */
  private async openDevices(routes: string[]): Promise<void> {
    const cfg = this.cfg;
    try {
      await this.udp.bind(cfg.listenPort);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
    let tun: TunHelper | null = null;
    try {
      tun = await TunHelper.start({
        helperPath: cfg.helperPath,
        launcher: cfg.helperLauncher,
        name: cfg.interface,
        mtu: cfg.mtu,
        addresses: this.addresses,
        routes,
        forward: cfg.network?.advertiseRoutes ?? [],
        exit: !!cfg.network?.advertiseExit,
        dynamicRoutes: !!cfg.network,
        passFd: this.native?.dp, // fd mode: the data plane takes the device's descriptor
        // and the DNS responder the sockets the helper binds on port 53 (docs/dns.md)
        dns: cfg.network ? this.addresses.map((a) => a.split('/')[0]) : [],
        user: cfg.runAs?.name, // the same user as the core after its drop (it may signal the helper)
      });
      peerMeshInterfaces.add(tun.info.ifname);
    } catch (e) {
      this.native?.close();
      this.udp.close();
      await tun?.close();
      const taken = /create TUN device (\S+): (File exists|Device or resource busy)/.exec(
        (e as Error).message,
      );
      if (taken)
        throw new ConfigError(
          `An interface named ${taken[1]} exists: choose another interface name (Settings, or --interface)`,
        );
      throw e;
    }
    this.tun = tun;
    this.metrics.kernel = () => kernelDrops(tun.info.ifname, this.udp.port);
    // The clock is read once per batch of packets from the TUN device, not per packet.
    let inBatch = false;
    tun.onPacket = (buf, start, end) => {
      if (!inBatch) {
        this.device.setTime(performance.now(), Date.now());
        inBatch = true;
      }
      this.device.handleTunPacket(buf, start, end);
    };
    tun.onBatchEnd = () => {
      inBatch = false;
    };
    tun.onLog = (line) => this.log.debug(`helper: ${line}`);
    tun.onRoute = (op, route, error, count) => {
      if (this.member?.routed(op, error, count)) return;
      if (error) this.log.warn(`cannot ${op} the route ${route} through ${tun.info.ifname}: ${error}`);
      else
        this.log.info(
          `route ${route} ${op === 'add' ? 'now goes through' : 'removed from'} ${tun.info.ifname}`,
        );
    };
    this.hostNet.syncRoutes(this.mesh, tun);
    this.hostNet.updateNames(this.mesh);
    this.member?.opened();
    tun.onExit = (reason) => {
      this.log.error(`TUN helper exited: ${reason}`);
      void this.stop(`helper exited: ${reason}`);
    };
  }

  get selfKey(): string {
    return this.device.publicKeyB64;
  }

  emit(e: ApiEvent): void {
    this.onApiEvent(e);
  }

  /** A member's (or our own) overlay IPv4 moved off a collision: our address and routes follow. */
  addressMoved(key: string, old: string, v4: string): void {
    if (key === this.device.publicKeyB64) {
      const oldCidr = `${old}/${this.v4Prefix}`;
      const i = this.addresses.indexOf(oldCidr);
      if (i >= 0 && this.tun) {
        // old first: deleting a primary address would take secondaries of its subnet with it
        this.tun.setRoute('delete-address', parseCidr(oldCidr)!);
        this.tun.setRoute('add-address', parseCidr(`${v4}/${this.v4Prefix}`)!);
        this.addresses[i] = `${v4}/${this.v4Prefix}`;
      }
    }
    this.hostNet.syncRoutes(this.mesh, this.tun);
  }

  /** The network moved to a new secret after a removal (Admission.secretRotated). */
  secretRotated(): void {
    this.admission?.secretRotated();
    this.scheduleSave();
  }

  get invites(): Invites | null {
    return this.admission?.invites ?? null;
  }

  /** Join datagrams dropped unread because reading them took too long (JoinBudget). */
  get joinsThrottled(): number {
    return this.admission?.throttled ?? 0;
  }

  joinEndpoints(): Endpoint[] {
    return joinEndpoints(this.mesh!);
  }

  saveInvites(): void {
    this.admission?.save();
  }

  saveAliases(): void {
    this.files.saveAliases(this.aliases);
  }

  nextRtt(key: string, timeoutMs: number): Promise<number | null> {
    return this.events.nextRtt(key, timeoutMs);
  }

  /** Known records and removals are written (0600) a second after they change, and kept across restarts. */
  scheduleSave(): void {
    if (this.saveTimer || !this.mesh) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.saveMeshState();
    }, 1000);
  }

  /** Names and routes follow the records; the records go to the state directory. */
  saveMeshState(): void {
    this.hostNet.updateNames(this.mesh);
    this.hostNet.syncRoutes(this.mesh, this.tun);
    if (this.mesh) this.files.saveMesh(this.mesh);
  }

  /** The peer list (see api-handlers.ts). */
  peerRows(): PeerRow[] {
    return peerRows(this);
  }

  status(): NodeStatus {
    return nodeStatus(this);
  }

  prometheusText(): string {
    return this.metrics.prometheus((k) => this.mesh?.members.get(k)?.name || '');
  }

  async stop(reason = 'stopped'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = null;
      this.saveMeshState();
    }
    this.hostNet.updateNames(this.mesh, true);
    this.hostNet.close();
    this.dns?.close();
    this.control.close(this.controlPath);
    if (this.mesh) {
      this.mesh.setTime(performance.now(), Date.now());
      this.mesh.leave();
      await new Promise((r) => setTimeout(r, 20)); // let the goodbyes leave the socket
    }
    this.udp.close();
    this.timestamps.save(); // after the socket closed: nothing newer can arrive
    const tun = this.tun;
    this.tun = null;
    if (tun) {
      peerMeshInterfaces.delete(tun.info.ifname);
      tun.onExit = () => {};
      await tun.close();
    }
    // The native path's TUN descriptor: the device goes with it (not handed over yet: closed here).
    if (this.native && !this.dataPlaneStarted && tun && tun.tunFd >= 0) this.native.dp.closeFd(tun.tunFd);
    this.native?.close();
    for (const p of [...this.device.allPeers()]) this.device.removePeer(p.keyB64);
    this.log.info(`down: ${reason}`);
    this.resolveStopped(reason);
  }
}

/** The node's overlay addresses: the configured ones, or the network's choice for our key. */
function overlayAddresses(cfg: NodeConfig, net: NetworkKeys | null, privateKey: Uint8Array): string[] {
  if (!net || cfg.addresses.length > 0) return [...cfg.addresses];
  const own = memberAddresses(net, publicKeyOf(privateKey));
  const list = [`${own.v4}/${cfg.memberRoutes ? 32 : OVERLAY_V4_PREFIX}`];
  if (ipv6Enabled()) list.push(`${own.v6}/${OVERLAY_V6_PREFIX}`);
  return list;
}

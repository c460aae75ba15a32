// A running node: the sans-IO Device wired to real I/O (UDP sockets, the TUN helper, a clock, the
// control socket). Owns the lifecycle: start (validate, keys, bind, TUN, control) and stop.

import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ApiEvent, MethodName, PeerRow } from '../control/api';
import { ControlServer } from '../control/socket';
import { DEFAULT_PORT, MSG_JOIN } from '../core/constants';
import { Device, type DeviceEvent, type Endpoint, type Peer, type PeerEndpoint } from '../core/device';
import { Invites } from '../core/invites';
import { type Cidr, cidrOverlap, formatCidr, formatIp, maskBytes, parseCidr, parseIp } from '../core/ip';
import {
  endpointText,
  type MemberView,
  Mesh,
  type MeshEvent,
  memberAddresses,
  networkKeys,
  OVERLAY_V4_PREFIX,
  OVERLAY_V6_PREFIX,
  parseEndpointText,
} from '../core/mesh';
import { ensurePrivateDir, sweepStaleTemp, writeFileAtomic } from '../io/files';
import { TunHelper } from '../io/helper';
import { UdpSockets } from '../io/udp';
import { ConfigError, checkAddress, type NodeConfig, parseEndpoint } from './config';
import { type HostEntry, memberNames, writeHostsBlock } from './hosts';
import { decodeKey, generatePrivateKey, publicKeyOf, readKeyFile, writeKeyFile } from './identity';
import { type Logger, shortKey } from './log';
import { MetricsFeed } from './metrics-feed';
import { TimestampsFile } from './timestamps-file';

export interface PeerStatus {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string[];
  /** ISO time of the last completed handshake, or null. */
  latestHandshake: string | null;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  persistentKeepalive: number;
  session: boolean;
}

export interface NodeStatus {
  interface: string;
  ifindex: number;
  publicKey: string;
  listenPort: number;
  addresses: string[];
  mtu: number;
  uptimeSeconds: number;
  peers: PeerStatus[];
  counters: Record<string, number>;
  network: {
    name: string;
    publicEndpoint: string | null;
    members: {
      name: string;
      publicKey: string;
      endpoint: string | null;
      address: string;
      /** Its name in the hosts file (`pi.home`), when names are on. */
      dnsName: string | null;
      /** How traffic reaches the member: direct, relayed (via the member named in `via`), or none yet. */
      path: 'direct' | 'relayed' | 'none';
      via: string | null;
      relay: boolean;
    }[];
  } | null;
  /** Memory of the node process in bytes (process.memoryUsage()). */
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
}

function random(n: number): Uint8Array {
  return randomBytes(n);
}

function formatEndpoint(e: PeerEndpoint | null): string | null {
  if (!e) return null;
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** Routes the helper must add: allowed IPs not already covered by an interface prefix. */
function extraRoutes(addresses: Cidr[], allowed: Cidr[]): string[] {
  const covered = (c: Cidr) =>
    addresses.some((a) => {
      if (a.family !== c.family || a.prefix > c.prefix) return false;
      const cm = parseCidr(`${formatIpBytes(c.bytes)}/${a.prefix}`)!;
      return cm.bytes.every((b, i) => b === a.bytes[i]);
    });
  const out = new Set<string>();
  for (const c of allowed) if (!covered(c)) out.add(`${formatIpBytes(c.bytes)}/${c.prefix}`);
  return [...out];
}

function formatIpBytes(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((b[i] << 8) | b[i + 1]).toString(16));
  return parts.join(':');
}

export class PeerMeshNode {
  private readonly device: Device;
  private readonly udp: UdpSockets;
  private tun: TunHelper | null = null;
  private readonly control: ControlServer;
  private ticker: NodeJS.Timeout | null = null;
  private metricsTimer: NodeJS.Timeout | null = null;
  readonly metrics: MetricsFeed;
  /**
   * The Control API methods a node serves itself, shared by the unix socket and the web UI server
   * (the app-level ones, connect/join/settings..., are the NodeManager's: manager.ts).
   */
  readonly handlers: Partial<Record<MethodName, (params: unknown) => unknown>>;
  /** Control API events (member, path, peer up/down, rtt, ...): the manager streams them to UIs. */
  onApiEvent: (e: ApiEvent) => void = () => {};
  /** Local names given to members with `rename` (key -> alias), kept in the state directory. */
  private aliases = new Map<string, string>();
  private readonly rttWaiters = new Map<string, ((ms: number) => void)[]>();
  private readonly startedAt = Date.now();
  private readonly unresolved = new Map<string, string>(); // peer key -> "host:port"
  private resolveTimer: NodeJS.Timeout | null = null;
  private addressTimer: NodeJS.Timeout | null = null;
  private saveTimer: NodeJS.Timeout | null = null;
  private readonly up = new Set<string>();
  private mesh: Mesh | null = null;
  private timestamps: TimestampsFile | null = null;
  private invites: Invites | null = null;
  private addresses: string[] = [];
  private stopping = false;
  /** Resolves when the node stops (by stop() or because its helper died). */
  readonly stopped: Promise<string>;
  private resolveStopped!: (reason: string) => void;

  private constructor(
    readonly cfg: NodeConfig,
    private readonly log: Logger,
    privateKey: Uint8Array,
  ) {
    this.stopped = new Promise((r) => {
      this.resolveStopped = r;
    });
    this.udp = new UdpSockets((msg, rinfo) => {
      const now = performance.now();
      const wall = Date.now();
      this.device.setTime(now, wall);
      this.mesh?.setTime(now, wall);
      this.device.handleDatagram(msg, msg.length, rinfo);
    });
    this.device = new Device(
      {
        send: (buf, start, len, to) => this.udp.send(buf, start, len, to),
        writeTun: (buf, start, end) => this.tun?.writePacket(buf, start, end),
        event: (e) => this.onEvent(e),
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
            if (buf[0] === MSG_JOIN) this.handleJoin(buf, len, from);
            else this.mesh.handleDatagram(buf, len, from);
            return true;
          },
          noRoute: (buf, start) => this.mesh?.noRoute(buf, start) ?? false,
          unknownPeer: (key) => this.mesh?.unknownPeer(key) ?? false,
          handshakeStarting: (peer) => this.mesh?.handshakeStarting(peer),
        },
      },
    );
    this.metrics = new MetricsFeed(this.device, () => this.mesh);
    this.handlers = {
      status: () => this.status(),
      ping: () => ({ pong: true }),
      remove: (params) => this.removeMember(params),
      invite: (params) => this.createInvite(params),
      metrics: (params) => this.peerMetrics(params),
      'ping-peer': (params) => this.pingPeer(params),
      peers: () => {
        this.lastWatched = Date.now();
        return this.peerRows();
      },
      rename: (params) => this.renameMember(params),
    };
    this.control = new ControlServer(this.handlers);
  }

  get controlPath(): string {
    return join(this.cfg.stateDir, 'peermesh.sock');
  }

  /** Validate and load everything that can fail on bad input, then touch the system. */
  static async start(cfg: NodeConfig, log: Logger): Promise<PeerMeshNode> {
    try {
      ensurePrivateDir(cfg.stateDir);
    } catch (e) {
      throw new ConfigError(`state directory: ${(e as Error).message}`);
    }
    const swept = sweepStaleTemp(cfg.stateDir);
    if (swept) log.info(`removed ${swept} temporary file(s) left by an interrupted write`);
    // Everything that can be wrong with the input is checked before anything is written.
    const psk = cfg.pskFile ? loadKey(cfg.pskFile, 'pre-shared key file', log) : null;
    const peerPsks = cfg.peers.map((p) =>
      p.presharedKeyFile ? loadKey(p.presharedKeyFile, 'pre-shared key file', log) : psk,
    );
    const secret = cfg.network ? loadSecret(cfg.network.secretFile, log) : null;
    const privateKey = loadPrivateKey(cfg, log);
    const net = cfg.network && secret ? networkKeys(cfg.network.name, secret) : null;
    let addressList = cfg.addresses;
    // Several networks share 100.64.0.0/10: then each member's /32 is routed, not the whole /10.
    const v4Prefix = cfg.memberRoutes ? 32 : OVERLAY_V4_PREFIX;
    if (net && addressList.length === 0) {
      const own = memberAddresses(net, publicKeyOf(privateKey));
      addressList = [`${own.v4}/${v4Prefix}`];
      if (ipv6Enabled()) addressList.push(`${own.v6}/${OVERLAY_V6_PREFIX}`);
    }
    const addresses = addressList.map(checkAddress);

    const node = new PeerMeshNode(cfg, log, privateKey);
    node.addresses = addressList;
    // Replayed initiations stay refused across restarts (initiation-timestamps.ts).
    node.timestamps = new TimestampsFile(cfg.stateDir, node.device.initiationTimestamps, log);
    node.timestamps.load();
    if (net && cfg.network) {
      const bootstrap: Endpoint[] = [];
      for (const b of cfg.network.bootstrap) {
        const { host, port } = parseEndpoint(b);
        try {
          bootstrap.push({ address: parseIp(host) ? host : (await lookup(host)).address, port });
        } catch (e) {
          log.warn(`cannot resolve bootstrap ${host} (${(e as NodeJS.ErrnoException).code}); skipping it`);
        }
      }
      const mesh = new Mesh(
        node.device,
        {
          send: (buf, start, len, to) => node.udp.send(buf, start, len, to),
          writeTun: () => {},
          event: () => {},
        },
        {
          network: net,
          name: cfg.name,
          bootstrap,
          privateKey,
          relay: cfg.network.relay,
          routes: cfg.network.advertiseRoutes ?? [],
          random,
          now: performance.now(),
          wallNow: Date.now(),
        },
        (e) => node.onMeshEvent(e),
      );
      node.mesh = mesh;
      // What we knew of the network before a restart: members (to reach them without a bootstrap)
      // and removals (which must hold).
      if (existsSync(node.meshStatePath)) {
        try {
          const n = mesh.importState(JSON.parse(readFileSync(node.meshStatePath, 'utf8')));
          log.info(`loaded ${n} record(s) of network "${cfg.network.name}" from ${node.meshStatePath}`);
        } catch (e) {
          log.warn(`ignoring unreadable ${node.meshStatePath}: ${(e as Error).message}`);
        }
      }
      if (cfg.addresses.length === 0) {
        // What we know of the network may have moved our IPv4 off its first choice (a collision).
        addressList[0] = `${mesh.addressesOf(mesh.selfKey).v4}/${v4Prefix}`;
        node.addresses = addressList;
      }
      node.invites = new Invites(cfg.network.name, secret!, random);
      if (existsSync(node.invitesPath)) {
        try {
          node.invites.load(JSON.parse(readFileSync(node.invitesPath, 'utf8')), Date.now() / 1000);
        } catch (e) {
          log.warn(`ignoring unreadable ${node.invitesPath}: ${(e as Error).message}`);
        }
      }
      node.loadAliases();
    }
    const allAllowed: Cidr[] = [];
    for (const [i, p] of cfg.peers.entries()) {
      const allowedIps = p.allowedIps.map((a) => parseCidr(a)!);
      allAllowed.push(...allowedIps);
      const peerPsk = peerPsks[i];
      let endpoint: Endpoint | null = null;
      if (p.endpoint) {
        const { host, port } = parseEndpoint(p.endpoint);
        if (parseIp(host)) endpoint = { address: host, port };
        else node.unresolved.set(p.publicKey, p.endpoint);
      }
      try {
        node.device.addPeer({
          publicKey: decodeKey(p.publicKey, 'peer public key'),
          endpoint,
          allowedIps,
          presharedKey: peerPsk,
          persistentKeepalive: p.persistentKeepalive,
        });
      } catch (e) {
        throw new ConfigError(`peer ${p.publicKey}: ${(e as Error).message}`);
      }
    }
    await node.resolvePending();

    try {
      await node.udp.bind(cfg.listenPort);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
    try {
      node.tun = await TunHelper.start({
        helperPath: cfg.helperPath,
        launcher: cfg.helperLauncher,
        name: cfg.interface,
        mtu: cfg.mtu,
        addresses: addressList,
        routes: extraRoutes(addresses, allAllowed),
        forward: cfg.network?.advertiseRoutes ?? [],
        dynamicRoutes: !!cfg.network,
      });
    } catch (e) {
      node.udp.close();
      throw e;
    }
    const tun = node.tun;
    // The clock is read once per batch of packets from the TUN device, not per packet.
    let inBatch = false;
    tun.onPacket = (buf, start, end) => {
      if (!inBatch) {
        node.device.setTime(performance.now(), Date.now());
        inBatch = true;
      }
      node.device.handleTunPacket(buf, start, end);
    };
    tun.onBatchEnd = () => {
      inBatch = false;
    };
    tun.onLog = (line) => log.debug(`helper: ${line}`);
    tun.onRoute = (op, route, error) => {
      if (error) log.warn(`cannot ${op} the route ${route} through ${tun.info.ifname}: ${error}`);
      else
        log.info(`route ${route} ${op === 'add' ? 'now goes through' : 'removed from'} ${tun.info.ifname}`);
    };
    node.syncRoutes();
    node.updateNames();
    tun.onExit = (reason) => {
      log.error(`TUN helper exited: ${reason}`);
      void node.stop(`helper exited: ${reason}`);
    };

    try {
      await node.control.listen(node.controlPath);
    } catch (e) {
      await node.stop('control socket failed');
      throw new ConfigError((e as Error).message);
    }
    node.device.setTime(performance.now(), Date.now());
    node.device.connectAll();
    if (node.mesh) {
      node.mesh.setTime(performance.now(), Date.now());
      node.mesh.setLocalEndpoints(localEndpoints(node.udp.port, tun.info.ifname));
      node.mesh.setLanTargets(lanBroadcasts(node.udp.port, tun.info.ifname));
      // Roaming: when the machine's addresses change, members learn the new ones within seconds.
      node.addressTimer = setInterval(() => {
        node.mesh?.setTime(performance.now(), Date.now());
        node.mesh?.setLocalEndpoints(localEndpoints(node.udp.port, tun.info.ifname));
        node.mesh?.setLanTargets(lanBroadcasts(node.udp.port, tun.info.ifname));
      }, 2_000);
    }
    node.ticker = setInterval(() => {
      const now = performance.now();
      const wall = Date.now();
      node.device.setTime(now, wall);
      node.device.tick();
      node.mesh?.setTime(now, wall);
      node.mesh?.tick();
    }, 100);
    if (node.unresolved.size > 0) {
      node.resolveTimer = setInterval(() => void node.resolvePending(), 15_000);
    }
    node.metricsTimer = setInterval(() => {
      // Someone watches: a UI read peers or metrics in the last 3 s (or `peermesh ping` runs).
      node.metrics.watchers = Date.now() - node.lastWatched < 3000 ? 1 : 0;
      // the mesh's clock is otherwise only as fresh as the last tick: RTT probes need it exact
      node.mesh?.setTime(performance.now(), Date.now());
      node.metrics.sample();
      node.updateOnline();
      node.timestamps?.save();
    }, 1000);
    log.info(
      `up: interface ${tun.info.ifname} (mtu ${tun.info.mtu}) ${addressList.join(' ') || '(no addresses)'}, ` +
        `listening on UDP ${node.udp.port}, public key ${node.device.publicKeyB64}, ${cfg.peers.length} peer(s)` +
        (cfg.network ? `, network "${cfg.network.name}" as "${cfg.name}"` : ''),
    );
    return node;
  }

  private async resolvePending(): Promise<void> {
    for (const [key, ep] of [...this.unresolved]) {
      const { host, port } = parseEndpoint(ep);
      try {
        const r = await lookup(host);
        const peer = this.device.getPeer(key);
        if (peer && !peer.endpoint) peer.endpoint = { address: r.address, port };
        this.unresolved.delete(key);
        this.log.info(`resolved ${host} to ${r.address} for peer ${shortKey(key)}`);
      } catch (e) {
        this.log.warn(
          `cannot resolve ${host} for peer ${shortKey(key)} (${(e as NodeJS.ErrnoException).code}); retrying`,
        );
      }
    }
  }

  private onEvent(e: DeviceEvent): void {
    switch (e.type) {
      case 'handshake':
        this.onApiEvent({ type: 'handshake', key: e.peer });
        if (!this.up.has(e.peer)) {
          this.up.add(e.peer);
          this.log.info(
            `peer ${shortKey(e.peer)} up: handshake as ${e.role} with ${formatEndpoint(e.endpoint)}`,
          );
        } else {
          this.log.debug(`peer ${shortKey(e.peer)}: new session as ${e.role}`);
        }
        break;
      case 'session-expired':
        if (this.up.delete(e.peer)) this.log.info(`peer ${shortKey(e.peer)} down: session expired`);
        break;
      case 'handshake-failed':
        this.log.warn(`peer ${shortKey(e.peer)}: no handshake response after ${e.attempts} attempts`);
        break;
      case 'endpoint':
        this.log.debug(`peer ${shortKey(e.peer)} endpoint now ${formatEndpoint(e.endpoint)}`);
        break;
      case 'log':
        this.log.log(e.level, e.message);
        break;
    }
  }

  private onMeshEvent(e: MeshEvent): void {
    switch (e.type) {
      case 'member':
        this.log.info(`member "${e.name}" (${shortKey(e.key)}) joined the network view`);
        this.onApiEvent({ type: 'member', key: e.key, name: e.name.slice(0, 63) });
        break;
      case 'public-endpoint':
        this.log.info(`members see this node at ${e.endpoint}`);
        break;
      case 'removed':
        if (e.key === this.device.publicKeyB64)
          this.log.error(
            `this node was removed from the network by ${shortKey(e.by)}; members ignore it now`,
          );
        else this.log.info(`member "${e.name}" (${shortKey(e.key)}) was removed by ${shortKey(e.by)}`);
        this.onApiEvent({ type: 'removed', key: e.key, name: e.name.slice(0, 63), by: e.by });
        this.updateOnline();
        break;
      case 'changed':
        this.scheduleSave(); // also names and routes, a second after a burst of changes
        break;
      case 'rtt': {
        this.metrics.rtt(e.key, e.ms);
        const waiters = this.rttWaiters.get(e.key);
        this.rttWaiters.delete(e.key);
        for (const w of waiters ?? []) w(e.ms);
        this.onApiEvent({ type: 'rtt', key: e.key, ms: Math.min(600_000, Math.max(0, Math.round(e.ms))) });
        break;
      }
      case 'address': {
        const name = e.key === this.device.publicKeyB64 ? 'this node' : `member ${shortKey(e.key)}`;
        this.log.warn(
          `${name} now uses ${e.v4}: its first choice ${e.old} collides with a member that joined earlier`,
        );
        if (e.key === this.device.publicKeyB64) {
          const prefix = this.cfg.memberRoutes ? 32 : OVERLAY_V4_PREFIX;
          const oldCidr = `${e.old}/${prefix}`;
          const i = this.addresses.indexOf(oldCidr);
          if (i >= 0 && this.tun) {
            // old first: deleting a primary address would take secondaries of its subnet with it
            this.tun.setRoute('delete-address', parseCidr(oldCidr)!);
            this.tun.setRoute('add-address', parseCidr(`${e.v4}/${prefix}`)!);
            this.addresses[i] = `${e.v4}/${prefix}`;
          }
        }
        this.syncRoutes();
        this.scheduleSave();
        break;
      }
      case 'path': {
        const via = e.via ? this.mesh?.members.get(e.via)?.rec?.n || shortKey(e.via) : '';
        const how =
          e.kind === 'direct'
            ? `direct at ${e.endpoint}`
            : e.kind === 'relayed'
              ? `relayed via "${via}"`
              : 'lost';
        this.log.info(`path to "${e.name}" (${shortKey(e.key)}): ${how}`);
        this.onApiEvent({
          type: 'path',
          key: e.key,
          name: e.name.slice(0, 63),
          kind: e.kind,
          ...(e.kind === 'direct' && e.endpoint ? { endpoint: String(e.endpoint).slice(0, 64) } : {}),
          ...(via ? { via: via.slice(0, 63) } : {}),
        });
        break;
      }
    }
  }

  private get invitesPath(): string {
    return join(this.cfg.stateDir, `invites-${this.cfg.network?.name}.json`);
  }

  /** Endpoints a new member can reach us (and the network) at: public first, then local, then members'. */
  private joinEndpoints(): Endpoint[] {
    const mesh = this.mesh!;
    const out: Endpoint[] = [];
    const add = (e: Endpoint | null) => {
      if (e && out.length < 8 && !out.some((x) => x.address === e.address && x.port === e.port)) out.push(e);
    };
    if (mesh.publicEndpoint) add(parseEndpointText(mesh.publicEndpoint));
    for (const t of mesh.record.e) add(parseEndpointText(t));
    for (const m of mesh.members.values()) if (m.rec?.rl) add(m.direct);
    return out;
  }

  private createInvite(params: unknown): { code: string; expires: string; endpoints: string[] } {
    if (!this.invites || !this.mesh) throw new Error('this node is not a member of a network');
    const secs = (params as { expiresSeconds?: unknown } | null)?.expiresSeconds ?? 86400;
    if (typeof secs !== 'number' || !Number.isInteger(secs) || secs < 60 || secs > 30 * 86400)
      throw new Error('expiresSeconds must be a whole number between 60 and 2592000 (30 days)');
    const endpoints = this.joinEndpoints();
    if (endpoints.length === 0) throw new Error('this node has no address another machine could reach');
    const { code, expires } = this.invites.create(secs, Date.now() / 1000, endpoints);
    this.saveInvites();
    this.log.info(`created an invitation valid until ${new Date(expires * 1000).toISOString()}`);
    return { code, expires: new Date(expires * 1000).toISOString(), endpoints: endpoints.map(endpointText) };
  }

  private saveInvites(): void {
    if (!this.invites) return;
    try {
      writeFileAtomic(this.invitesPath, `${JSON.stringify(this.invites.stored)}\n`, 0o600);
    } catch (e) {
      this.log.warn(`cannot save invitations to ${this.invitesPath}: ${(e as Error).message}`);
    }
  }

  private handleJoin(buf: Buffer, len: number, from: Endpoint): void {
    if (!this.invites) return;
    const bootstrap = this.joinEndpoints().map(endpointText);
    const r = this.invites.handle(buf.subarray(0, len), Date.now() / 1000, bootstrap);
    if (!r) return;
    this.udp.send(r.reply, 0, r.reply.length, from);
    if (r.accepted) {
      this.log.info(`"${r.name}" at ${endpointText(from)} used an invitation to join`);
      this.saveInvites();
    } else {
      this.log.warn(`"${r.name}" at ${endpointText(from)} tried an expired invitation`);
    }
  }

  private get meshStatePath(): string {
    return join(this.cfg.stateDir, `mesh-${this.cfg.network?.name}.json`);
  }

  /** Known records and removals are written (0600) a second after they change, and kept across restarts. */
  private scheduleSave(): void {
    if (this.saveTimer || !this.mesh) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.saveMeshState();
    }, 1000);
  }

  /** Members' names in the hosts file (when we may write it); the block goes when the node stops. */
  private updateNames(remove = false): void {
    const mesh = this.mesh;
    const file = this.cfg.hostsFile;
    if (!mesh || !file || !this.cfg.network || this.hostsBroken) return;
    let entries: HostEntry[] | null = null;
    if (!remove) {
      const list = [{ key: mesh.selfKey, name: this.cfg.name }];
      for (const m of mesh.members.values())
        if (m.rec && !m.removed) list.push({ key: m.key, name: m.rec.n });
      const names = memberNames(this.cfg.network.name, list);
      entries = list.map((m) => {
        const a = mesh.addressesOf(m.key);
        return { name: names.get(m.key)!, addresses: [a.v4, a.v6] };
      });
      this.names = names;
    }
    try {
      writeHostsBlock(file, this.cfg.network.name, entries);
    } catch (e) {
      this.hostsBroken = true;
      this.log.warn(
        `members' names are not in ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ` +
          'run as root or set --hosts-file',
      );
    }
  }

  private hostsBroken = false;
  /** Member key -> its name in the hosts file. */
  names = new Map<string, string>();

  private saveMeshState(): void {
    this.updateNames();
    this.syncRoutes();
    if (!this.mesh) return;
    try {
      writeFileAtomic(this.meshStatePath, `${JSON.stringify(this.mesh.exportState())}\n`, 0o600);
    } catch (e) {
      this.log.warn(`cannot save the network state to ${this.meshStatePath}: ${(e as Error).message}`);
    }
  }

  /** Remove a member (by key, name or overlay address) from the network. */
  /** The member a request names: {"peer": key, name, hosts-file name or overlay IPv4}. */
  private findMember(params: unknown, what: string): MemberView {
    const mesh = this.mesh;
    if (!mesh) throw new Error('this node is not a member of a network');
    const want = (params as { peer?: unknown } | null)?.peer;
    if (typeof want !== 'string' || want.length === 0 || want.length > 100)
      throw new Error(`${what} needs {"peer": key, name or overlay address}`);
    const matches = [...mesh.members.values()].filter(
      (m) =>
        m.rec &&
        !m.removed &&
        (m.key === want ||
          m.rec.n === want ||
          this.names.get(m.key) === want ||
          mesh.addressesOf(m.key).v4 === want),
    );
    if (matches.length === 0) throw new Error(`no member "${want}"`);
    if (matches.length > 1) throw new Error(`"${want}" names ${matches.length} members; use the key`);
    return matches[0];
  }

  /** When a UI last read peers or metrics (RTT probes go every second while someone watches). */
  lastWatched = 0;

  prometheusText(): string {
    return this.metrics.prometheus((k) => this.mesh?.members.get(k)?.rec?.n ?? '');
  }

  /** Metrics of one member over a window: summary plus a series for graphs. */
  private peerMetrics(params: unknown) {
    this.lastWatched = Date.now();
    const m = this.findMember(params, 'metrics');
    const p = params as { window?: unknown; points?: unknown };
    const window = p.window === undefined ? 60 : p.window;
    if (window !== 60 && window !== 900 && window !== 3600) throw new Error('window must be 60, 900 or 3600');
    const points = p.points === undefined ? 60 : p.points;
    if (!Number.isInteger(points) || (points as number) < 1 || (points as number) > 3600)
      throw new Error('points must be a whole number 1-3600');
    const pm = this.metrics.peers.get(m.key);
    const now = Date.now();
    return {
      peer: m.key,
      name: m.rec?.n ?? '',
      path: m.path,
      summary: pm ? pm.summary(now, window) : null,
      series: pm ? pm.series(now, window, points as number) : null,
    };
  }

  /** One RTT probe to a member (waits up to 2 s): what `peermesh ping` shows each second. */
  private async pingPeer(
    params: unknown,
  ): Promise<{ peer: string; name: string; rttMs: number | null; path: string; via: string | null }> {
    const m = this.findMember(params, 'ping-peer');
    const mesh = this.mesh!;
    const via = m.relay ? (mesh.members.get(m.relay)?.rec?.n ?? m.relay) : null;
    const base = { peer: m.key, name: m.rec?.n ?? '', path: m.path, via };
    this.metrics.watchers++;
    try {
      mesh.setTime(performance.now(), Date.now());
      if (!mesh.ping(m.key)) {
        mesh.activate(m.key);
        return { ...base, rttMs: null };
      }
      const rttMs = await new Promise<number | null>((resolve) => {
        const t = setTimeout(() => resolve(null), 2000);
        const list = this.rttWaiters.get(m.key) ?? [];
        list.push((ms) => {
          clearTimeout(t);
          resolve(ms);
        });
        this.rttWaiters.set(m.key, list);
      });
      return { ...base, rttMs };
    } finally {
      this.metrics.watchers--;
    }
  }

  private removeMember(params: unknown): { removed: string; name: string } {
    const mesh = this.mesh!;
    const m = this.findMember(params, 'remove');
    const want = (params as { peer: string }).peer;
    const name = m.rec!.n;
    if (!mesh.remove(m.key)) throw new Error(`cannot remove "${want}"`);
    this.saveMeshState();
    return { removed: m.key, name };
  }

  /** Members shown online (see isOnline); 'peer' events when that changes. */
  private readonly online = new Set<string>();

  /**
   * A member is online while the mesh has a path to it: its hellos on a direct path answered within
   * 65 s, or a relay that reaches it. (A WireGuard session exists only while traffic flows: paths to
   * idle members are made on demand.) A member that stops or crashes goes offline when its path
   * times out; a removed one at once.
   */
  private isOnline(m: MemberView): boolean {
    return !m.removed && m.path !== 'none';
  }

  private updateOnline(): void {
    const mesh = this.mesh;
    if (!mesh) return;
    for (const m of mesh.members.values()) {
      if (m.key === mesh.selfKey || !m.rec) continue;
      const on = this.isOnline(m);
      if (on === this.online.has(m.key)) continue;
      if (on) this.online.add(m.key);
      else this.online.delete(m.key);
      this.onApiEvent({ type: 'peer', key: m.key, name: this.memberName(m.key), online: on });
    }
  }

  private memberName(key: string): string {
    return (this.mesh?.members.get(key)?.rec?.n ?? shortKey(key)).slice(0, 63);
  }

  private get aliasesPath(): string {
    return join(this.cfg.stateDir, `aliases-${this.cfg.network?.name}.json`);
  }

  private loadAliases(): void {
    if (!existsSync(this.aliasesPath)) return;
    try {
      const o = JSON.parse(readFileSync(this.aliasesPath, 'utf8')) as unknown;
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('not an object');
      for (const [k, v] of Object.entries(o))
        if (/^[A-Za-z0-9+/]{43}=$/.test(k) && typeof v === 'string' && v.length > 0 && v.length <= 63)
          this.aliases.set(k, v);
    } catch (e) {
      this.log.warn(`ignoring unreadable ${this.aliasesPath}: ${(e as Error).message}`);
    }
  }

  /** A local name for a member (shown by this node's UI only); an empty name removes it. */
  private renameMember(params: unknown): { peer: string; name: string; alias: string | null } {
    const m = this.findMember(params, 'rename');
    const name = (params as { name: string }).name.trim();
    if ([...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
      throw new Error('a name cannot hold control characters');
    if (name) this.aliases.set(m.key, name);
    else this.aliases.delete(m.key);
    writeFileAtomic(this.aliasesPath, `${JSON.stringify(Object.fromEntries(this.aliases))}\n`, 0o600);
    return { peer: m.key, name: m.rec?.n ?? '', alias: this.aliases.get(m.key) ?? null };
  }

  /** The peer list: one row per member (removed ones excluded), with rates and a 60 s RTT sparkline. */
  peerRows(): PeerRow[] {
    const mesh = this.mesh;
    if (!mesh) return [];
    const now = Date.now();
    const rows: PeerRow[] = [];
    for (const m of mesh.members.values()) {
      if (!m.rec || m.removed || m.key === mesh.selfKey) continue;
      const wg = this.device.getPeer(m.key);
      const pm = this.metrics.peers.get(m.key);
      const sum = pm?.summary(now, 60) ?? null;
      const spark = pm ? pm.series(now, 60, 60).rtt : [];
      const a = mesh.addressesOf(m.key);
      const last = wg?.stats.lastHandshake || 0;
      rows.push({
        key: m.key,
        name: m.rec.n,
        alias: this.aliases.get(m.key) ?? null,
        dnsName: this.names.get(m.key) ?? null,
        ipv4: a.v4,
        ipv6: a.v6 ?? null,
        online: this.isOnline(m),
        path: m.path,
        via: m.relay ? (mesh.members.get(m.relay)?.rec?.n ?? shortKey(m.relay)) : null,
        endpoint: formatEndpoint(m.direct ?? wg?.endpoint ?? null),
        rttMs: m.rtt === null ? null : Math.round(m.rtt * 100) / 100,
        loss: sum && (sum.samples > 0 || sum.loss > 0) ? sum.loss : null,
        rxBps: sum ? Math.round(sum.rxRate) : 0,
        txBps: sum ? Math.round(sum.txRate) : 0,
        rxBytes: wg?.stats.rxBytes ?? 0,
        txBytes: wg?.stats.txBytes ?? 0,
        lastHandshake: last ? last : null,
        relay: m.rec.rl === 1,
        routes: [...(m.rec.rt ?? [])],
        spark,
      });
    }
    return rows;
  }

  status(): NodeStatus {
    const peers: PeerStatus[] = [];
    for (const p of this.device.allPeers() as Iterable<Peer>) {
      peers.push({
        publicKey: p.keyB64,
        endpoint: formatEndpoint(p.endpoint),
        allowedIps: this.device.allowedIpsOf(p),
        latestHandshake: p.stats.lastHandshake ? new Date(p.stats.lastHandshake).toISOString() : null,
        rxBytes: p.stats.rxBytes,
        txBytes: p.stats.txBytes,
        rxPackets: p.stats.rxPackets,
        txPackets: p.stats.txPackets,
        persistentKeepalive: p.persistentKeepaliveMs / 1000,
        session: p.current !== null,
      });
    }
    return {
      interface: this.tun?.info.ifname ?? this.cfg.interface,
      ifindex: this.tun?.info.ifindex ?? 0,
      publicKey: this.device.publicKeyB64,
      listenPort: this.udp.port,
      addresses: this.addresses,
      mtu: this.cfg.mtu,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      peers,
      counters: { ...this.device.counters, udpSendDropped: this.udp.dropped, ...(this.tun?.stats ?? {}) },
      network: this.meshStatus(),
      memory: (({ rss, heapUsed, heapTotal, external, arrayBuffers }) => ({
        rss,
        heapUsed,
        heapTotal,
        external,
        arrayBuffers,
      }))(process.memoryUsage()),
    };
  }

  private meshStatus(): NodeStatus['network'] {
    const mesh = this.mesh;
    const spec = this.cfg.network;
    if (!mesh || !spec) return null;
    return {
      name: spec.name,
      publicEndpoint: mesh.publicEndpoint,
      members: [...mesh.members.values()]
        .filter((m) => m.rec)
        .map((m) => ({
          name: m.rec!.n,
          publicKey: m.key,
          endpoint: formatEndpoint(m.direct ?? this.device.getPeer(m.key)?.endpoint ?? null),
          address: mesh.addressesOf(m.key).v4,
          dnsName: this.names.get(m.key) ?? null,
          path: m.path,
          via: m.relay ? (mesh.members.get(m.relay)?.rec?.n ?? m.relay) : null,
          relay: m.rec!.rl === 1,
        })),
    };
  }

  /** Kernel routes through our device for the subnets members offer, kept equal to their records. */
  private readonly installedRoutes = new Set<string>();

  /**
   * Make the kernel's routes through the device match the subnets members offer. A subnet that
   * overlaps a network this machine sits on is not routed into the tunnel (it would cut the machine
   * off its own LAN, e.g. a laptop at home while the home node offers that LAN); it is logged once.
   */
  private syncRoutes(): void {
    const mesh = this.mesh;
    const tun = this.tun;
    if (!mesh || !tun) return;
    const local: Cidr[] = [];
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) {
        const c = a.cidr && !a.internal && a.address ? parseCidr(a.cidr) : null;
        if (c) local.push(c);
      }
    const want = new Map<string, Cidr>();
    for (const m of mesh.members.values()) {
      if (!m.rec || m.removed) continue;
      if (this.cfg.memberRoutes) {
        const c = parseCidr(`${mesh.addressesOf(m.key).v4}/32`)!;
        want.set(formatCidr(c), c);
      }
      for (const r of m.rec.rt) {
        const c = parseCidr(r);
        if (!c) continue;
        const text = formatCidr({ ...c, bytes: maskBytes(c.bytes, c.prefix) });
        if (local.some((l) => cidrOverlap(l, c))) {
          if (!this.skippedRoutes.has(text)) {
            this.skippedRoutes.add(text);
            this.log.warn(
              `not routing ${text} (offered by "${m.rec.n}") into the tunnel: this machine is on it`,
            );
          }
          continue;
        }
        want.set(text, c);
      }
    }
    for (const [text, c] of want) {
      if (this.installedRoutes.has(text)) continue;
      this.installedRoutes.add(text);
      tun.setRoute('add', c);
    }
    for (const text of [...this.installedRoutes]) {
      if (want.has(text)) continue;
      this.installedRoutes.delete(text);
      const c = parseCidr(text);
      if (c) tun.setRoute('delete', c);
    }
  }

  private readonly skippedRoutes = new Set<string>();

  async stop(reason = 'stopped'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    if (this.resolveTimer) clearInterval(this.resolveTimer);
    if (this.addressTimer) clearInterval(this.addressTimer);
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = null;
      this.saveMeshState();
    }
    this.updateNames(true);
    this.control.close(this.controlPath);
    if (this.mesh) {
      this.mesh.setTime(performance.now(), Date.now());
      this.mesh.leave();
      await new Promise((r) => setTimeout(r, 20)); // let the goodbyes leave the socket
    }
    this.udp.close();
    this.timestamps?.save(); // after the socket closed: nothing newer can arrive
    const tun = this.tun;
    this.tun = null;
    if (tun) {
      tun.onExit = () => {};
      await tun.close();
    }
    for (const p of [...this.device.allPeers()]) this.device.removePeer(p.keyB64);
    this.log.info(`down: ${reason}`);
    this.resolveStopped(reason);
  }
}

function loadKey(path: string, what: string, log: Logger): Uint8Array {
  try {
    const { key, tooOpen } = readKeyFile(path, what);
    if (tooOpen) log.warn(`${what} ${path} is readable by other users; chmod 600 it`);
    return key;
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

/** The explicit key file, or the state directory's own (generated on first start). */
function loadPrivateKey(cfg: NodeConfig, log: Logger): Uint8Array {
  if (cfg.privateKeyFile) return loadKey(cfg.privateKeyFile, 'private key file', log);
  const path = join(cfg.stateDir, 'private.key');
  if (!existsSync(path)) {
    const key = generatePrivateKey();
    writeKeyFile(path, key);
    log.info(`generated a new identity in ${path}`);
    return key;
  }
  return loadKey(path, 'private key file', log);
}

/** The network secret: any passphrase of at least 12 characters (trailing newline ignored). */
export function loadSecret(path: string, log: Logger): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new ConfigError(
      `cannot read secret file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (text.length < 12)
    throw new ConfigError(`secret file ${path}: the secret must be at least 12 characters`);
  if ((statSync(path).mode & 0o077) !== 0)
    log.warn(`secret file ${path} is readable by other users; chmod 600 it`);
  return new TextEncoder().encode(text);
}

/**
 * This machine's unicast addresses with our UDP port: the endpoints members on the same LAN (or
 * behind the same NAT) reach us at. Loopback, link-local and our own TUN interface are left out.
 */
function localEndpoints(port: number, tunName: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name === tunName || !addrs) continue;
    for (const a of addrs) {
      if (a.internal || a.address.startsWith('fe80:') || a.address.startsWith('169.254.')) continue;
      out.push({ address: a.address, port });
    }
  }
  return out.slice(0, 4);
}

/**
 * The broadcast address of every IPv4 network we sit on (not the tunnel, not loopback), at our port
 * and at the default port (members on a LAN usually keep it).
 */
function lanBroadcasts(port: number, tunName: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name === tunName || !addrs) continue;
    for (const a of addrs) {
      if (a.internal || a.family !== 'IPv4' || a.address.startsWith('169.254.')) continue;
      const c = parseCidr(a.cidr ?? '');
      if (!c || c.prefix >= 31) continue;
      const b = new Uint8Array(c.bytes);
      for (let i = 0; i < 4; i++) {
        const bits = Math.max(0, Math.min(8, c.prefix - i * 8));
        b[i] |= 0xff >> bits;
      }
      const address = formatIp(b);
      for (const p of new Set([port, DEFAULT_PORT])) out.push({ address, port: p });
    }
  }
  return out;
}

/** The built renderer (web UI), if there is one. */
function ipv6Enabled(): boolean {
  try {
    return readFileSync('/proc/sys/net/ipv6/conf/all/disable_ipv6', 'utf8').trim() === '0';
  } catch {
    return false;
  }
}

// The Control API methods a node serves itself (NodeHandlers of main/control/api.ts, typed from the
// contract: params arrive checked by parseRequest on every transport). The app-level methods
// (connect, join, settings, ...) are the NodeManager's (manager.ts).
import { performance } from 'node:perf_hooks';
import {
  ApiFailure,
  type InviteResult,
  type InviteRow,
  type MetricsResult,
  type NodeHandlers,
  type NodeStatus,
  type Params,
  type PeerRow,
  type PeerStatus,
  type PingResult,
  type Results,
  type RouteRow,
} from '../control/api';
import type { Device, Endpoint, Peer } from '../core/device';
import type { Invites } from '../core/invites';
import { endpointText, type MemberView, type Mesh, parseEndpointText } from '../core/mesh';
import { stripControl } from '../core/names';
import type { TunHelper } from '../io/helper';
import { kernelDrops } from '../io/kernel-drops';
import type { UdpSockets } from '../io/udp';
import type { NodeConfig } from './config';
import { liveness } from './events';
import { formatEndpoint } from './host-net';
import { type Logger, shortKey } from './log';
import type { MemberFeatures } from './member-features';
import type { MetricsFeed } from './metrics-feed';
import type { NativePath, NativeUdp } from './native-path';

/** What the handlers read and change of a running node. */
export interface NodeApiHost {
  readonly cfg: NodeConfig;
  readonly log: Logger;
  readonly device: Device;
  readonly udp: UdpSockets | NativeUdp;
  /** The native data path, or null (the TypeScript one), and why. */
  readonly native: NativePath | null;
  readonly dataPathReason: string;
  readonly tun: TunHelper | null;
  readonly mesh: Mesh | null;
  readonly invites: Invites | null;
  readonly metrics: MetricsFeed;
  /** Local names given to members with `rename` (key -> alias). */
  readonly aliases: Map<string, string>;
  /** Member key -> its name in the hosts file. */
  readonly names: Map<string, string>;
  readonly addresses: string[];
  readonly startedAt: number;
  /** When a UI last read peers or metrics (RTT probes go every second while someone watches). */
  lastWatched: number;
  joinEndpoints(): Endpoint[];
  /** Join datagrams dropped unread under a flood (JoinBudget in core/invites.ts). */
  readonly joinsThrottled: number;
  saveInvites(): void;
  saveMeshState(): void;
  /** Throws when the aliases cannot be written. */
  saveAliases(): void;
  nextRtt(key: string, timeoutMs: number): Promise<number | null>;
  /** Members' route offers and their state here; accept (a CIDR or `all`) or decline one. */
  routeRows(): RouteRow[];
  acceptRoute(route: string): { accepted: string[] };
  declineRoute(route: string): { declined: string };
  /** Route offers' answers, exit node, gateway devices, access rules (member-features.ts); null outside a network. */
  readonly member: MemberFeatures | null;
  readonly dnsStatus: { domain: string; servedOn: string[]; resolved: boolean } | null;
}

/** The node's handler table. */
export function nodeHandlers(n: NodeApiHost): NodeHandlers {
  return {
    status: () => nodeStatus(n),
    ping: () => ({ pong: true }),
    remove: (p) => removeMember(n, p),
    invite: (p) => createInvite(n, p),
    invites: () => listInvites(n),
    'revoke-invite': (p) => revokeInvite(n, p),
    metrics: (p) => peerMetrics(n, p),
    'ping-peer': (p) => pingPeer(n, p),
    peers: () => {
      n.lastWatched = Date.now();
      return peerRows(n);
    },
    rename: (p) => renameMember(n, p),
    routes: () => n.routeRows(),
    'accept-route': (p) => n.acceptRoute(p.route),
    'decline-route': (p) => n.declineRoute(p.route),
    'exit-node': (p) => member(n).chooseExit(p),
    'add-device': (p) => member(n).addDevice(p),
    'remove-device': (p) => member(n).removeDevice(p.name),
    devices: () => member(n).deviceRows(),
    access: () => member(n).accessStatus(),
    'set-access': (p) => member(n).changeAccess(p),
  };
}

export const NOT_A_MEMBER = 'this node is not a member of a network';

/** The member features of a node in a network; a clear refusal outside one. */
function member(n: NodeApiHost): MemberFeatures {
  if (!n.member) throw new ApiFailure('failed', NOT_A_MEMBER);
  return n.member;
}

/** The member a request names: its key, name, hosts-file name or overlay IPv4. */
function findMember(n: NodeApiHost, want: string): MemberView {
  return memberNamed(n.mesh, n.names, want);
}

/** The member `want` names (key, name, hosts-file name or overlay IPv4); a clear error if none or several. */
export function memberNamed(mesh: Mesh | null, names: ReadonlyMap<string, string>, want: string): MemberView {
  if (!mesh) throw new ApiFailure('failed', NOT_A_MEMBER);
  const matches = [...mesh.members.values()].filter(
    (m) =>
      m.rec &&
      !m.removed &&
      (m.key === want || m.name === want || names.get(m.key) === want || mesh.addressesOf(m.key).v4 === want),
  );
  if (matches.length === 0) throw new ApiFailure('failed', `no member "${want}"`);
  if (matches.length > 1)
    throw new ApiFailure('failed', `"${want}" names ${matches.length} members; use the key`);
  return matches[0];
}

function createInvite(n: NodeApiHost, p: Params<'invite'>): InviteResult {
  if (!n.invites || !n.mesh) throw new ApiFailure('failed', NOT_A_MEMBER);
  const endpoints = n.joinEndpoints();
  if (endpoints.length === 0)
    throw new ApiFailure('failed', 'this node has no address another machine could reach');
  const uses = p.uses ?? 1;
  let made: ReturnType<Invites['create']>;
  try {
    made = n.invites.create(p.expiresSeconds ?? 86400, Date.now() / 1000, endpoints, uses);
  } catch (e) {
    if (e instanceof RangeError) throw new ApiFailure('failed', e.message);
    throw e;
  }
  const { code, expires, id } = made;
  n.saveInvites();
  n.log.info(
    `created invitation ${id} for ${uses} machine(s), valid until ${new Date(expires * 1000).toISOString()}`,
  );
  return {
    code,
    expires: new Date(expires * 1000).toISOString(),
    endpoints: endpoints.map(endpointText),
    id,
    uses,
  };
}

function listInvites(n: NodeApiHost): InviteRow[] {
  if (!n.invites) throw new ApiFailure('failed', NOT_A_MEMBER);
  const iso = (s: number) => new Date(s * 1000).toISOString();
  const self = n.device.publicKeyB64;
  // A shared invitation names its inviter (the member who signed it); the others, kept by this node
  // alone (made before invitations were shared), are this node's.
  const inviter = new Map((n.invites.shared?.view() ?? []).map((x) => [x.id, x.by]));
  return n.invites.overview(Date.now() / 1000).map((i) => {
    const by = inviter.get(i.id) ?? self;
    const name = n.mesh?.members.get(by)?.name || (by === self ? n.cfg.name : '');
    return {
      ...i,
      created: iso(i.created),
      expires: iso(i.expires),
      by,
      byName: name ? stripControl(name) : null,
      mine: by === self,
    };
  });
}

function revokeInvite(n: NodeApiHost, p: Params<'revoke-invite'>): { revoked: string } {
  if (!n.invites) throw new ApiFailure('failed', NOT_A_MEMBER);
  if (!n.invites.revoke(p.id))
    throw new ApiFailure('failed', `no invitation ${p.id} (peermesh invite --list)`);
  n.saveInvites();
  n.log.info(`revoked invitation ${p.id}`);
  return { revoked: p.id };
}

/** Metrics of one member over a window: summary plus a series for graphs. */
function peerMetrics(n: NodeApiHost, p: Params<'metrics'>): MetricsResult {
  n.lastWatched = Date.now();
  const m = findMember(n, p.peer);
  const window = p.window ?? 60;
  const points = p.points ?? 60;
  const pm = n.metrics.peers.get(m.key);
  const now = Date.now();
  return {
    peer: m.key,
    name: m.name,
    path: m.path,
    summary: pm ? pm.summary(now, window) : null,
    series: pm ? pm.series(now, window, points) : null,
  };
}

/** One RTT probe to a member (waits up to 2 s): what `peermesh ping` shows each second. */
async function pingPeer(n: NodeApiHost, p: Params<'ping-peer'>): Promise<PingResult> {
  const m = findMember(n, p.peer);
  const mesh = n.mesh!;
  const via = m.relay ? mesh.members.get(m.relay)?.name || m.relay : null;
  const base = { peer: m.key, name: m.name, path: m.path, via };
  n.metrics.watchers++;
  try {
    mesh.setTime(performance.now(), Date.now());
    if (!mesh.ping(m.key)) {
      mesh.activate(m.key);
      return { ...base, rttMs: null };
    }
    return { ...base, rttMs: await n.nextRtt(m.key, 2000) };
  } finally {
    n.metrics.watchers--;
  }
}

/** Remove a member (by key, name or overlay address) from the network. */
function removeMember(n: NodeApiHost, p: Params<'remove'>): Results['remove'] {
  const m = findMember(n, p.peer);
  const name = m.name;
  if (!n.mesh!.remove(m.key)) throw new ApiFailure('failed', `cannot remove "${p.peer}"`);
  n.saveMeshState();
  return { removed: m.key, name };
}

/** A local name for a member (shown by this node's UI only); an empty name removes it. */
function renameMember(n: NodeApiHost, p: Params<'rename'>): Results['rename'] {
  const m = findMember(n, p.peer);
  const name = p.name.trim();
  if ([...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    throw new ApiFailure('failed', 'a name cannot hold control characters');
  if (name) n.aliases.set(m.key, name);
  else n.aliases.delete(m.key);
  n.saveAliases();
  return { peer: m.key, name: m.name, alias: n.aliases.get(m.key) ?? null };
}

/** The peer list: one row per member (removed ones excluded), with rates and a 60 s RTT sparkline. */
export function peerRows(n: NodeApiHost): PeerRow[] {
  const mesh = n.mesh;
  if (!mesh) return [];
  const now = Date.now();
  const rows: PeerRow[] = [];
  for (const m of mesh.members.values()) {
    if (!m.rec || m.removed || m.key === mesh.selfKey) continue;
    const wg = n.device.getPeer(m.key);
    const pm = n.metrics.peers.get(m.key);
    const sum = pm?.summary(now, 60) ?? null;
    const spark = pm ? pm.series(now, 60, 60).rtt : [];
    const a = mesh.addressesOf(m.key);
    const last = wg?.stats.lastHandshake || 0;
    const live = liveness(mesh, m);
    rows.push({
      key: m.key,
      name: m.name,
      alias: n.aliases.get(m.key) ?? null,
      dnsName: n.names.get(m.key) ?? null,
      ipv4: a.v4,
      ipv6: a.v6 ?? null,
      online: live.online,
      path: m.path,
      via: m.relay ? mesh.members.get(m.relay)?.name || shortKey(m.relay) : null,
      endpoint: formatEndpoint(m.direct ?? wg?.endpoint ?? null),
      rttMs: live.rttMs,
      rttAgeMs: live.rttAgeMs,
      unansweredMs: live.unansweredMs,
      lastSeen: live.lastSeen,
      // Offline: no live figures (the last minute's rates and loss were of a member now gone).
      loss: live.online && sum && (sum.samples > 0 || sum.loss > 0) ? sum.loss : null,
      rxBps: live.online && sum ? Math.round(sum.rxRate) : 0,
      txBps: live.online && sum ? Math.round(sum.txRate) : 0,
      rxBytes: wg?.stats.rxBytes ?? 0,
      txBytes: wg?.stats.txBytes ?? 0,
      lastHandshake: last ? last : null,
      relay: m.rec.rl === 1,
      routes: [...(m.rec.rt ?? [])],
      access: n.member?.access.summaryFor(m.key) ?? 'everything',
      spark,
    });
  }
  return rows;
}

export function nodeStatus(n: NodeApiHost): NodeStatus {
  const dataPlane = n.native?.running ? n.native.syncStats() : null; // first: it adds to the peers' stats
  const peers: PeerStatus[] = [];
  for (const p of n.device.allPeers() as Iterable<Peer>) {
    peers.push({
      publicKey: p.keyB64,
      endpoint: formatEndpoint(p.endpoint),
      allowedIps: n.device.allowedIpsOf(p),
      latestHandshake: p.stats.lastHandshake ? new Date(p.stats.lastHandshake).toISOString() : null,
      rxBytes: p.stats.rxBytes,
      txBytes: p.stats.txBytes,
      rxPackets: p.stats.rxPackets,
      txPackets: p.stats.txPackets,
      persistentKeepalive: p.persistentKeepaliveMs / 1000,
      session: p.current !== null,
    });
  }
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return {
    interface: n.tun?.info.ifname ?? n.cfg.interface,
    ifindex: n.tun?.info.ifindex ?? 0,
    publicKey: n.device.publicKeyB64,
    listenPort: n.udp.port,
    addresses: n.addresses,
    mtu: n.cfg.mtu,
    uptimeSeconds: Math.round((Date.now() - n.startedAt) / 1000),
    peers,
    counters: {
      ...n.device.counters,
      udpSendDropped: n.udp.dropped,
      // What the kernel dropped before our code saw it (TUN queue full, UDP receive buffer full).
      ...(n.tun ? kernelCounters(n.tun.info.ifname, n.udp.port) : {}),
      ...(n.tun?.stats ?? {}),
      // Removals signed by a key that is no current member (docs/security.md, "Members").
      ...(n.mesh
        ? {
            removalsRefused: n.mesh.counters.removalsRefused,
            // Invitation facts dropped: forged, malformed, over a bound, signer no current member.
            invitesRefused: n.mesh.invitesRejected,
            // Join datagrams dropped unread: reading them took over 100 ms of a second (a flood).
            joinsThrottled: n.joinsThrottled,
            // New network secrets sent (sealed to each member) and refused (bad signature or box).
            secretsSent: n.mesh.counters.secretsSent,
            secretsRefused: n.mesh.counters.secretsRefused,
          }
        : {}),
    },
    network: meshStatus(n),
    dataPath: n.native ? 'native' : 'typescript',
    dataPathReason: n.dataPathReason,
    dataPlane,
    memory: { rss, heapUsed, heapTotal, external, arrayBuffers },
  };
}

function meshStatus(n: NodeApiHost): NodeStatus['network'] {
  const mesh = n.mesh;
  const spec = n.cfg.network;
  if (!mesh || !spec) return null;
  return {
    name: spec.name,
    publicEndpoint: mesh.publicEndpoint,
    secretEpoch: mesh.epoch.n,
    exitNode: member(n).exitStatus(),
    access: member(n).accessStatus(),
    dns: n.dnsStatus,
    members: [...mesh.members.values()]
      .filter((m) => m.rec)
      .map((m) => ({
        name: m.name,
        publicKey: m.key,
        endpoint: formatEndpoint(m.direct ?? n.device.getPeer(m.key)?.endpoint ?? null),
        address: mesh.addressesOf(m.key).v4,
        dnsName: n.names.get(m.key) ?? null,
        path: m.path,
        via: m.relay ? mesh.members.get(m.relay)?.name || m.relay : null,
        relay: m.rec!.rl === 1,
        ...liveness(mesh, m),
      })),
  };
}

function kernelCounters(ifname: string, port: number): Record<string, number> {
  const k = kernelDrops(ifname, port);
  return {
    kernelTunTxDropped: k.tunTxDropped,
    kernelTunRxDropped: k.tunRxDropped,
    kernelUdpRcvDropped: k.udpRcvDropped,
  };
}

/** Endpoints a new member can reach us (and the network) at: public first, then local, then members'. */
export function joinEndpoints(mesh: Mesh): Endpoint[] {
  const out: Endpoint[] = [];
  const add = (e: Endpoint | null, max = 8) => {
    if (e && out.length < max && !out.some((x) => x.address === e.address && x.port === e.port)) out.push(e);
  };
  // Ours first (at most 5), then other members' (relays first, then those online): any member
  // answers an invitation, so a code still works while its inviter is offline.
  if (mesh.publicEndpoint) add(parseEndpointText(mesh.publicEndpoint), 5);
  for (const t of mesh.record.e) add(parseEndpointText(t), 5);
  const others = [...mesh.members.values()].filter((m) => m.rec && !m.removed && m.direct);
  for (const m of others) if (m.rec?.rl) add(m.direct);
  for (const m of others) if (mesh.isOnline(m.key)) add(m.direct);
  return out;
}

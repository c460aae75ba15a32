// The Control API's result types: what each method answers with (the rows of the peer list, a
// node's status, its routes, devices, access rules, invitations). Types only; api.ts re-exports them
// with the contract, so every caller keeps importing from there.

import type { PathKind } from '../core/mesh/path-kind';
import type { PeerSeries, PeerSummary } from '../metrics/types';
import type { ConnectionState } from './events';

/** `state`: what the connect toggle, the tray and the first-run screen need. */
export interface AppState {
  state: ConnectionState;
  /** Why the state is `error` (or why the last attempt failed). */
  error: string | null;
  /** The configured network, or null before the first run (create or join). */
  network: {
    name: string;
    nodeName: string;
    publicKey: string | null;
    ipv4: string | null;
    ipv6: string | null;
    dnsName: string | null;
    listenPort: number | null;
    interface: string | null;
    memberCount: number;
    onlineCount: number;
  } | null;
  /** True in the desktop app (launch at login applies), false in the headless web UI. */
  desktop: boolean;
}

/** How traffic reaches a member (one type, the mesh's). */
export type { PathKind } from '../core/mesh/path-kind';

/** `peers`: one row of the peer list. */
export interface PeerRow {
  key: string;
  /** The member's own name (signed in its record). */
  name: string;
  /** A local name given with `rename`, or null. */
  alias: string | null;
  dnsName: string | null;
  ipv4: string;
  ipv6: string | null;
  /**
   * Whether the member answered this node recently (docs/mesh.md, "Online"): its direct path's
   * hellos are answered, or its tunnel's packets arrive through a relay within 30 s.
   */
  online: boolean;
  path: PathKind;
  /** Name of the relaying member when `path` is `relayed`. */
  via: string | null;
  endpoint: string | null;
  /** Last measured RTT in ms (0.01 ms precision), or null; null while offline. */
  rttMs: number | null;
  /** How long ago that RTT was measured, ms, or null. */
  rttAgeMs: number | null;
  /**
   * How long this node's hellos to it have gone unanswered (ms, once two or more are out), or null
   * while they are answered: the UI's "not responding" (it may be going away) before "offline".
   */
  unansweredMs: number | null;
  /** ms since epoch when the member last answered this node, or null (never). */
  lastSeen: number | null;
  /** Probe loss over the last minute, 0..1, or null without probes. */
  loss: number | null;
  rxBps: number;
  txBps: number;
  rxBytes: number;
  txBytes: number;
  /** ms since epoch of the last handshake, or null. */
  lastHandshake: number | null;
  relay: boolean;
  routes: string[];
  /** What this member may reach on this machine (access rules, docs/access.md): 'everything', 'tcp/22 only', 'nothing', ... */
  access: string;
  /** Per-second RTT (ms) of the last 60 s, oldest first; null where no sample. */
  spark: (number | null)[];
}

/** A route's state here: see docs/mesh.md "Subnet routes". */
export type RouteState = 'routed' | 'offered' | 'declined' | 'refused' | 'local' | 'own';

/** `routes`: one member's offer of one route. */
/** `add-device`: the new device and its WireGuard config (the only place its private key appears). */
export interface NewDevice {
  name: string;
  publicKey: string;
  /** Its overlay IPv4. */
  address: string;
  /** This node's overlay IPv4 (the device's gateway). */
  gateway: string;
  /** Where the device reaches this node (the config's Endpoint). */
  endpoint: string;
  /** A wg-quick config for the WireGuard apps (also as a QR code). */
  config: string;
}

/** `devices`: a device this node is the gateway of. */
export interface DeviceRow {
  name: string;
  publicKey: string;
  address: string;
  /** Unix seconds. */
  created: number;
  /** Whether the network routes it through this node (no conflict with a member or another device). */
  holds: boolean;
  /** Unix seconds of its last handshake with this node, null: never. */
  lastHandshake: number | null;
  rxBytes: number;
  txBytes: number;
}

/** One access rule, in the order they are tried (docs/access.md). */
export interface AccessRow {
  action: 'allow' | 'deny';
  /** A member's key, or 'all'. */
  peer: string;
  /** Its name ('all' for all; '' when no longer known). */
  name: string;
  /** tcp/22, udp/60000-61000, tcp, udp, icmp or any. */
  what: string;
  /** The member is in the network (a rule for a member that left stays but matches nothing). */
  inNetwork: boolean;
}

/** Who may reach this machine through the mesh (status `access`, the `access` method's answer). */
export interface AccessStatus {
  /** What happens when no rule matches. */
  default: 'allow' | 'deny';
  rules: AccessRow[];
  /** The host enforces these rules now (false while being applied or after an error). */
  applied: boolean;
  error: string | null;
  /** Packets from the mesh the rules dropped since this node started. */
  dropped: number;
}

/** This machine's exit node (status `exitNode`, the `exit-node` method's answer). */
export interface ExitStatus {
  /** The chosen member's name (null: none). */
  node: string | null;
  key: string | null;
  /**
   * none: no exit node; active: all traffic goes through it; blocked: it is unavailable and traffic
   * to the internet is blocked (fail closed); open: it is unavailable and traffic goes out this
   * machine's own uplink (the user chose to fail open).
   */
  state: 'none' | 'active' | 'blocked' | 'open';
  /** Why it is not active (null when active or none). */
  reason: string | null;
  allowLan: boolean;
  failOpen: boolean;
  /** Members that offer to be an exit node (names). */
  offeredBy: string[];
}

export interface RouteRow {
  route: string;
  /** The offering member's key and name (ours included). */
  key: string;
  name: string;
  state: RouteState;
  /** Why it is refused, declined, local or waiting; null when routed or our own. */
  reason: string | null;
}

export interface LogLine {
  time: number;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

/** `status`: the node (what `peermesh status` prints). */
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
    /**
     * The network secret's epoch: 0 for the secret it was made with, one more after each removal
     * (the members move to a new secret the removed machine never gets; docs/mesh.md).
     */
    secretEpoch: number;
    /** This machine's exit node. */
    exitNode: ExitStatus;
    /** Who may reach this machine through the mesh. */
    access: AccessStatus;
    /**
     * Members' names over DNS (docs/dns.md): the domain, the overlay addresses the responder answers
     * on (port 53; none when it could not bind), and whether systemd-resolved sends the domain to it.
     */
    dns: { domain: string; servedOn: string[]; resolved: boolean } | null;
    members: {
      name: string;
      publicKey: string;
      endpoint: string | null;
      address: string;
      /** Its name in the hosts file (`pi.home`), when names are on. */
      dnsName: string | null;
      /** How traffic reaches the member: direct, relayed (via the member named in `via`), or none yet. */
      path: PathKind;
      via: string | null;
      relay: boolean;
      /** It answered this node recently (docs/mesh.md, "What the status means"). */
      online: boolean;
      /** ms since epoch when it last answered this node, or null (never). */
      lastSeen: number | null;
      /** Last measured RTT of its direct path (ms) and how long ago it was measured; null offline. */
      rttMs: number | null;
      rttAgeMs: number | null;
    }[];
  } | null;
  /** Which data path carries the packets, and why (the switch, or why the addon did not load). */
  dataPath: 'native' | 'typescript';
  dataPathReason: string;
  /** The native data plane's counters (drops by reason, hand-overs to JS, offloads in use), or null. */
  dataPlane: Record<string, number> | null;
  /** Memory of the node process in bytes (process.memoryUsage()). */
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
}

/** `metrics`: one member's summary and series over a window. */
export interface MetricsResult {
  peer: string;
  name: string;
  path: PathKind;
  summary: PeerSummary | null;
  series: PeerSeries | null;
}

/** `ping-peer`: one RTT probe. */
export interface PingResult {
  peer: string;
  name: string;
  rttMs: number | null;
  path: PathKind;
  via: string | null;
}

/** `invite`: a join code. */
export interface InviteResult {
  code: string;
  /** ISO 8601 time. */
  expires: string;
  endpoints: string[];
  /** The invitation's id (for `revoke-invite`) and how many machines it admits. */
  id: string;
  uses: number;
}

/** `invites`: one row per invitation the node keeps. Times are ISO 8601; `maxUses` 0 = any number. */
export interface InviteRow {
  id: string;
  created: string;
  expires: string;
  uses: number;
  maxUses: number;
  state: 'open' | 'used' | 'expired' | 'revoked';
  /** Who made it: the inviting member's public key (from the signed invitation fact). */
  by: string;
  /** That member's name as the network knows it, or null when unknown (a removed member). */
  byName: string | null;
  /** Made by this node. */
  mine: boolean;
}

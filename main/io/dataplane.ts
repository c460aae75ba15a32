// The native data plane (native/dataplane, a Node-API addon in C): WireGuard transport messages are
// encrypted and decrypted on threads of their own between a TUN fd and a UDP fd, off the event loop.
// TypeScript keeps handshakes, timers, the mesh and every decision: it installs sessions and peers,
// and receives in batches whatever the addon does not handle itself (handshake and mesh datagrams,
// transport messages for unknown indices, TUN packets without a route or session) plus per-peer
// event bits for its timers. Not wired into the node yet: see docs/performance.md.
//
// loadDataplane() returns null when the addon is not built or PEERMESH_DATAPLANE=off (the TypeScript
// data path is the fallback).
import { join } from 'node:path';

export interface DpEndpoint {
  address: string; // IP literal
  port: number;
}

/** What the addon hands back: a datagram from the socket or a packet from the TUN device. */
export interface DpItem {
  kind: 'datagram' | 'packet';
  /** Counter name saying why (rxNotTransport, rxUnknownIndex, txNoRoute, txNoSession). */
  reason: string;
  /** Peer id for txNoSession packets, else 0. */
  peer: number;
  data: Buffer;
  from?: DpEndpoint;
}

export interface DpPeerEvent {
  peer: number;
  /** Bits of DataplaneAddon['events']. */
  events: number;
  /** Set with the ENDPOINT bit: the peer's new endpoint (it roamed). */
  endpoint?: DpEndpoint;
}

export interface DpSession {
  localIndex: number;
  remoteIndex: number;
  sendKey: Buffer;
  recvKey: Buffer;
  /** First counter to send with (default 0). */
  sendCounter?: number;
  isInitiator?: boolean;
  /** How old the keys are already (ms; default 0), for the age limits. */
  ageMs?: number;
  /** current: sends and receives; next: receives, becomes current on first use; previous: receives. */
  slot?: 'current' | 'next' | 'previous';
}

export interface DpOptions {
  mtu?: number;
  /** UDP GSO for batches to one endpoint (default true; switched off by itself where unsupported). */
  gso?: boolean;
  /** UDP GRO on the socket (default true). */
  gro?: boolean;
  /** Coalesce TCP segments into TUN super-packets (default true; needs a TUN fd with IFF_VNET_HDR). */
  coalesce?: boolean;
  rekeyAfterMessages?: number;
  rejectAfterMessages?: number;
  rekeyAfterTime?: number;
  rejectAfterTime?: number;
  onEvents: (items: DpItem[], events: DpPeerEvent[]) => void;
}

export interface DpPeerStats {
  peer: number;
  txBytes: number;
  rxBytes: number;
  txPackets: number;
  rxPackets: number;
  sendCounter: number;
  currentIndex: number;
}

export interface DpStats {
  counters: Record<string, number>;
  peers: DpPeerStats[];
  vnetHdr: boolean;
  gso: boolean;
  gro: boolean;
  coalesce: boolean;
}

export type DpEncryptResult =
  | { peer: number; datagram: Buffer; to: DpEndpoint }
  | { peer: number; drop: string }
  | { peer: number; error: number };

export type DpDecryptResult =
  | { result: 'tun'; packet: Buffer }
  | { result: 'js' | 'drop' | 'keepalive'; reason: string };

declare const handleBrand: unique symbol;
export type DpHandle = { readonly [handleBrand]: true };

export interface DataplaneAddon {
  create(tunFd: number, udpFd: number, opts: DpOptions): DpHandle;
  setPeer(h: DpHandle, id: number, endpoint: DpEndpoint | null, allowedIps?: string[]): void;
  removePeer(h: DpHandle, id: number): boolean;
  setSession(h: DpHandle, peer: number, s: DpSession): void;
  removeSession(h: DpHandle, localIndex: number): boolean;
  /** Send a datagram (handshake, mesh) through the data plane's socket; returns 0 or an errno. */
  send(h: DpHandle, datagram: Buffer, to: DpEndpoint): number;
  /**
   * Route and seal one IP packet; with send=true it goes out through the socket. Without send, a
   * peer without an endpoint (relayed) is sealed too: JS wraps the datagram for the relay.
   */
  encrypt(h: DpHandle, packet: Buffer, send?: boolean): DpEncryptResult;
  keepalive(h: DpHandle, peer: number, send?: boolean): DpEncryptResult;
  /**
   * Threaded mode: a transport message JS unwrapped (relayed) is opened by the receive thread, in the
   * same replay windows as direct ones; the peer's endpoint does not move. 0 or an errno.
   */
  inject(h: DpHandle, datagram: Buffer): number;
  /** Synchronous mode only (created with fds -1). */
  decrypt(h: DpHandle, datagram: Buffer, from?: DpEndpoint | null): DpDecryptResult;
  stats(h: DpHandle): DpStats;
  /**
   * What waits for JS, as onEvents would get it, or undefined. The traffic bits (DATA_SENT,
   * DATA_RECEIVED, AUTH_SENT, AUTH_RECEIVED) never wake onEvents: they wait here for JS's tick.
   */
  poll(h: DpHandle): [DpItem[], DpPeerEvent[]] | undefined;
  /** Stop the threads and close the fds the data plane was given. */
  close(h: DpHandle): void;
  /** Test only: open a TUN device (needs CAP_NET_ADMIN). */
  openTun(name: string, vnetHdr: boolean): number;
  /** A UDP socket bound to address:port ("::" is dual-stack). */
  openUdp(address: string, port: number): number;
  closeFd(fd: number): void;
  /** The port a socket is bound to. */
  localPort(fd: number): number;
  /** [ours, theirs]: a unix seqpacket pair; `theirs` goes to the helper (stdio), which sends the TUN fd. */
  socketpair(): [number, number];
  /** The single fd carried by the next message on `sock` (SCM_RIGHTS); throws on timeout or anything else. */
  recvFd(sock: number, timeoutMs: number): number;
  /** Test only: send `fd` over `sock` (the helper does this in C). */
  sendFd(sock: number, fd: number): void;
  readonly counterNames: string[];
  readonly events: {
    DATA_SENT: number;
    DATA_RECEIVED: number;
    AUTH_SENT: number;
    AUTH_RECEIVED: number;
    REKEY: number;
    CONFIRMED: number;
    ENDPOINT: number;
    LIMIT: number;
  };
}

export function dataplanePath(): string {
  return (
    process.env.PEERMESH_DATAPLANE_ADDON ||
    join(__dirname, '..', '..', '..', 'native', 'dataplane', 'build', 'dataplane.node')
  );
}

let cached: DataplaneAddon | null | undefined;
export let dataplaneLoadError = '';

/** The addon, or null (not built, failed to load, or PEERMESH_DATAPLANE=off). */
export function loadDataplane(): DataplaneAddon | null {
  if (cached !== undefined) return cached;
  if (process.env.PEERMESH_DATAPLANE === 'off') {
    dataplaneLoadError = 'PEERMESH_DATAPLANE=off';
    cached = null;
    return null;
  }
  try {
    cached = require(dataplanePath()) as DataplaneAddon;
  } catch (e) {
    dataplaneLoadError = (e as Error).message;
    cached = null;
  }
  return cached;
}

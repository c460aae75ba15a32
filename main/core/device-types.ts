// What the device and the layers around it exchange: the I/O it is given (DeviceIO), what it asks of
// the layer above (DeviceDelegate), the events it emits, its options, limits and counters. Types only:
// the handshake paths (handshake-flow.ts) and users of the device (through device.ts) share them.

import type { Endpoint, PeerEndpoint } from './endpoint';
import type { Peer } from './peer';

export type DeviceEvent =
  | { type: 'handshake'; peer: string; role: 'initiator' | 'responder'; endpoint: PeerEndpoint }
  | { type: 'session-expired'; peer: string }
  | { type: 'handshake-failed'; peer: string; attempts: number }
  | { type: 'endpoint'; peer: string; endpoint: PeerEndpoint }
  | { type: 'log'; level: 'debug' | 'info' | 'warn'; message: string };

export interface DeviceIO {
  /** Send buf[start, start+len) to `to`. The region stays untouched until the ring wraps. */
  send(buf: Buffer, start: number, len: number, to: Endpoint): void;
  /** Write the IP packet buf[start, end) to the TUN device (copy it; buf is reused). */
  writeTun(buf: Buffer, start: number, end: number): void;
  event(e: DeviceEvent): void;
}

/**
 * What the device asks of the layer above it (the mesh, through the node): given at construction,
 * never rewired. Every method has a "no" answer, which is what a device without a delegate gets.
 */
export interface DeviceDelegate {
  /** A datagram of the mesh's types (discovery, relay, join); false: not taken (counted invalid). */
  meshMessage(buf: Buffer, len: number, from: Endpoint): boolean;
  /** A TUN packet has no peer: return true after adding one (the packet is routed again). */
  noRoute(buf: Buffer, start: number, end: number): boolean;
  /** A valid initiation comes from an unknown key: return true after adding it as a peer. */
  unknownPeer(keyB64: string): boolean;
  /** A handshake with a peer is about to start (the mesh makes a path on demand). */
  handshakeStarting(peer: Peer): void;
}

/**
 * A data plane outside the device (the native one, main/node/native-path.ts) that holds copies of
 * the peers and sessions and seals and opens every transport message: the device keeps handshakes,
 * timers and decisions, tells it what changed, and never seals or opens transport messages itself
 * (each key has one counter and one replay window, the data plane's).
 */
export interface DeviceDataPlane {
  /** A peer was added, or its endpoint or allowed IPs changed. */
  peerChanged(peer: Peer): void;
  peerRemoved(peer: Peer): void;
  /** The peer's current/next/previous keypairs changed (created, rotated, retired, zeroed). */
  sessionsChanged(peer: Peer): void;
  /**
   * Seal buf[start, start+len) (len 0: a keepalive) with the peer's current session. For a direct
   * endpoint the data plane sends it and returns null; for a relayed one it returns the message for
   * the device to hand to the relay. Null also when it could not seal (counted there).
   */
  seal(peer: Peer, buf: Buffer, start: number, len: number): Buffer | null;
  /** A transport message that came through a relay: the data plane opens it. */
  inject(buf: Buffer, len: number): void;
}

/** What the data plane reports for a peer (Device.dataPlaneReport). */
export interface DataPlaneReport {
  dataSent?: boolean;
  dataReceived?: boolean;
  authSent?: boolean;
  authReceived?: boolean;
  /** The responder's next session carried a packet: the data plane made it current. */
  confirmed?: boolean;
  /** The session needs a new handshake (message count or age limit). */
  rekey?: boolean;
  /** The peer sent from a new address (roaming). */
  endpoint?: Endpoint;
}

/** Limits that tests may lower to exercise rekeying; production uses WireGuard's values. */
export interface DeviceLimits {
  rekeyAfterMessages: number;
  rejectAfterMessages: number;
  rekeyAfterTime: number;
  rejectAfterTime: number;
}

export interface DeviceOptions {
  privateKey: Uint8Array;
  mtu?: number;
  /** Randomness source (tests inject a deterministic one). */
  random: (n: number) => Uint8Array;
  /** Initial monotonic time in ms, and wall-clock time in ms (for TAI64N timestamps). */
  now: number;
  wallNow: number;
  limits?: Partial<DeviceLimits>;
  /** Size of the outgoing datagram ring (bytes). */
  ringSize?: number;
  /** The layer above (mesh messages, peers on demand); none: those are dropped or refused. */
  delegate?: DeviceDelegate;
  /** A data plane that seals and opens transport messages (none: the device does). */
  dataPlane?: DeviceDataPlane;
}

export interface DeviceCounters {
  /** Datagrams dropped because they were no valid message (size, type, MAC, decryption). */
  invalid: number;
  replayed: number;
  /** TUN packets with no peer for their destination. */
  noRoute: number;
  /** Decrypted packets whose source address the peer may not use. */
  wrongSource: number;
  cookieRepliesSent: number;
  handshakesRateLimited: number;
  stagedDropped: number;
}

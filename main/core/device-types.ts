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
  noRoute(buf: Buffer, start: number): boolean;
  /** A valid initiation comes from an unknown key: return true after adding it as a peer. */
  unknownPeer(keyB64: string): boolean;
  /** A handshake with a peer is about to start (the mesh makes a path on demand). */
  handshakeStarting(peer: Peer): void;
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

// A WireGuard peer: its keys, endpoint, sessions (current, previous, next keypair), packets waiting
// for a session, timers and counters. The device owns and changes it.

import { CookieGenerator } from './cookie';
import type { Endpoint, PeerEndpoint } from './endpoint';
import { type HandshakePeerKeys, type HandshakeState, peerKeys, type StaticIdentity } from './handshake';
import type { Cidr } from './ip';
import type { Keypair } from './keypair';
import { NEVER, PeerTimers } from './timers';

export interface PeerConfig {
  publicKey: Uint8Array;
  endpoint?: Endpoint | null;
  allowedIps: Cidr[];
  presharedKey?: Uint8Array | null;
  /** Seconds; 0 or absent = off. */
  persistentKeepalive?: number;
}

export interface PeerStats {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  /** Wall-clock ms of the last completed handshake, 0 if none. */
  lastHandshake: number;
}

export class Peer {
  readonly keyB64: string;
  readonly keys: HandshakePeerKeys;
  readonly cookies: CookieGenerator;
  endpoint: PeerEndpoint | null;
  /**
   * Until this time an authenticated packet arriving through a relay does not move the peer off
   * its direct endpoint (the mesh sets it while the direct path answers its probes).
   */
  preferDirectUntil = 0;
  persistentKeepaliveMs: number;
  handshake: HandshakeState | null = null;
  /** When our current initiation attempt started (REKEY_ATTEMPT_TIME budget). */
  lastInitiationSent = -NEVER;
  /** Our initiation in flight: its bytes, where and when a copy last went (HandshakeFlow.restartWaiting). */
  lastInitiation: { bytes: Uint8Array; to: PeerEndpoint; at: number } | null = null;
  lastTimestamp: Uint8Array | null = null;
  lastInitiationConsumed = -NEVER;
  current: Keypair | null = null;
  previous: Keypair | null = null;
  next: Keypair | null = null;
  readonly staged: Buffer[] = [];
  readonly timers = new PeerTimers();
  readonly stats: PeerStats = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0, lastHandshake: 0 };

  constructor(identity: StaticIdentity, cfg: PeerConfig) {
    this.keyB64 = Buffer.from(cfg.publicKey).toString('base64');
    this.keys = peerKeys(identity, cfg.publicKey, cfg.presharedKey ?? null);
    this.cookies = new CookieGenerator(cfg.publicKey);
    this.endpoint = cfg.endpoint ?? null;
    this.persistentKeepaliveMs = (cfg.persistentKeepalive ?? 0) * 1000;
  }
}

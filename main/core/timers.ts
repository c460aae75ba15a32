// Per-peer timers of the WireGuard protocol (WireGuard paper, section 6; wireguard-go timers.go),
// as deadlines on a monotonic clock. The core never sleeps: `Device.tick(now)` fires the expired
// ones. Setting a timer is a field write, cheap enough for the per-packet path.
import { KEEPALIVE_TIMEOUT, REJECT_AFTER_TIME, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX } from './constants';

export const NEVER = Number.POSITIVE_INFINITY;

/** Milliseconds [0, REKEY_TIMEOUT_JITTER_MAX) added to handshake deadlines, so peers do not move in step. */
export function rekeyJitter(random: (n: number) => Uint8Array): number {
  const r = random(2);
  return ((r[0] << 8) | r[1]) % REKEY_TIMEOUT_JITTER_MAX;
}

export class PeerTimers {
  /** Retransmit our handshake initiation (REKEY_TIMEOUT + jitter after sending one). */
  retransmitHandshake = NEVER;
  /** Send a keepalive because we received data and sent nothing back for KEEPALIVE_TIMEOUT. */
  sendKeepalive = NEVER;
  /** Set when we send data; if nothing comes back in KEEPALIVE + REKEY_TIMEOUT, re-handshake. */
  newHandshake = NEVER;
  /** Erase all key material REJECT_AFTER_TIME * 3 after the last session was derived. */
  zeroKeyMaterial = NEVER;
  /** The user-configured persistent keepalive (NAT mappings). */
  persistentKeepalive = NEVER;
  /** Another keepalive is due once the pending one was sent (more data arrived meanwhile). */
  needAnotherKeepalive = false;
  handshakeAttempts = 0;

  /** Earliest deadline of all timers. */
  next(): number {
    return Math.min(
      this.retransmitHandshake,
      this.sendKeepalive,
      this.newHandshake,
      this.zeroKeyMaterial,
      this.persistentKeepalive,
    );
  }

  dataSent(now: number, jitter: number): void {
    if (this.newHandshake === NEVER) this.newHandshake = now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter;
  }

  dataReceived(now: number): void {
    if (this.sendKeepalive === NEVER) this.sendKeepalive = now + KEEPALIVE_TIMEOUT;
    else this.needAnotherKeepalive = true;
  }

  anyAuthenticatedPacketSent(): void {
    this.sendKeepalive = NEVER;
  }

  anyAuthenticatedPacketReceived(): void {
    this.newHandshake = NEVER;
  }

  anyAuthenticatedPacketTraversal(now: number, persistentKeepaliveMs: number): void {
    if (persistentKeepaliveMs > 0) this.persistentKeepalive = now + persistentKeepaliveMs;
  }

  handshakeInitiated(now: number, jitter: number): void {
    this.retransmitHandshake = now + REKEY_TIMEOUT + jitter;
  }

  handshakeComplete(): void {
    this.retransmitHandshake = NEVER;
    this.handshakeAttempts = 0;
  }

  sessionDerived(now: number): void {
    this.zeroKeyMaterial = now + REJECT_AFTER_TIME * 3;
  }

  stopAll(): void {
    this.retransmitHandshake = NEVER;
    this.sendKeepalive = NEVER;
    this.newHandshake = NEVER;
    this.zeroKeyMaterial = NEVER;
    this.persistentKeepalive = NEVER;
    this.needAnotherKeepalive = false;
    this.handshakeAttempts = 0;
  }
}

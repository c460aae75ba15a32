// Handshake load (wireguard-go's device "under load" and its ratelimiter package): handshake messages
// are counted per UNDER_LOAD_WINDOW; above UNDER_LOAD_HANDSHAKES_PER_SECOND the device demands cookies
// (mac2) for UNDER_LOAD_AFTER_TIME, and each source address gets a token bucket.

import {
  HANDSHAKE_SOURCES_TRACKED,
  HANDSHAKES_PER_SOURCE_BURST,
  HANDSHAKES_PER_SOURCE_PER_SECOND,
  UNDER_LOAD_AFTER_TIME,
  UNDER_LOAD_HANDSHAKES_PER_SECOND,
  UNDER_LOAD_WINDOW,
} from './constants';
import { NEVER } from './timers';

export class HandshakeLoad {
  private handshakeWindowStart = 0;
  private handshakeWindowCount = 0;
  private underLoadUntil = -NEVER;
  private readonly sourceBuckets = new Map<string, { tokens: number; at: number }>();

  /** Account a handshake message; true when we are under load and must demand cookies. */
  underLoad(now: number): boolean {
    if (now - this.handshakeWindowStart >= UNDER_LOAD_WINDOW) {
      this.handshakeWindowStart = now;
      this.handshakeWindowCount = 0;
    }
    if (++this.handshakeWindowCount > UNDER_LOAD_HANDSHAKES_PER_SECOND) {
      this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME;
    }
    return now < this.underLoadUntil;
  }

  /** Per-source token bucket used while under load (wireguard-go's ratelimiter). */
  allowSource(key: string, now: number): boolean {
    let b = this.sourceBuckets.get(key);
    if (!b) {
      if (this.sourceBuckets.size > HANDSHAKE_SOURCES_TRACKED) this.sourceBuckets.clear();
      b = { tokens: HANDSHAKES_PER_SOURCE_BURST, at: now };
      this.sourceBuckets.set(key, b);
    }
    b.tokens = Math.min(
      HANDSHAKES_PER_SOURCE_BURST,
      b.tokens + ((now - b.at) / 1_000) * HANDSHAKES_PER_SOURCE_PER_SECOND,
    );
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

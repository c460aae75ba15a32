// When to probe a peer's RTT, and the bookkeeping of the probes in flight: which are outstanding,
// which timed out (lost), when the next one is due. Sans-IO: the caller sends the probe (the mesh's
// ping) and passes the time in.

import type { MetricsRegistry } from './registry';

/** RTT probe interval while someone watches the peer (UI open). */
export const PROBE_INTERVAL_WATCHED_MS = 1000;
/** RTT probe interval otherwise. */
export const PROBE_INTERVAL_DEFAULT_MS = 5000;
/** RTT probe interval for an unwatched peer without traffic for more than PROBE_IDLE_AFTER_SEC. */
export const PROBE_INTERVAL_IDLE_MS = 30_000;
export const PROBE_IDLE_AFTER_SEC = 300;
/** An unanswered probe counts as lost once it is older than this. */
export const PROBE_TIMEOUT_MS = 2000;

/**
 * How often to probe a peer's RTT, in ms. Someone watching (the UI showing the peer) wants live
 * numbers: 1000 ms, whatever the traffic. Otherwise 5000 ms, enough for the hour-long history,
 * backing off to 30000 ms once the peer has had no traffic for over 300 s (`idleSec` > 300), so
 * idle peers cost next to nothing yet keep their path and liveness known.
 */
export function rttProbeInterval(watched: boolean, idleSec: number): number {
  if (watched) return PROBE_INTERVAL_WATCHED_MS;
  return idleSec > PROBE_IDLE_AFTER_SEC ? PROBE_INTERVAL_IDLE_MS : PROBE_INTERVAL_DEFAULT_MS;
}

/**
 * The probes of every peer, recorded into the registry's PeerMetrics: at most one outstanding per
 * peer; one unanswered for over PROBE_TIMEOUT_MS is counted lost when the peer is next checked.
 * The idle time fed to rttProbeInterval() is the time since the peer's traffic counters last moved
 * (not since its metrics were last updated: the feed updates them every second, idle or not).
 */
export class RttProbes {
  private readonly nextProbe = new Map<string, number>();
  private readonly outstanding = new Map<string, number>();

  constructor(private readonly peers: MetricsRegistry) {}

  /**
   * Check peer `key` at `now` (once a second per peer that can be probed): counts its outstanding
   * probe lost when it timed out, and says whether a new probe is due. When it is, the next one is
   * scheduled; call `sent()` if the probe really went out.
   */
  due(key: string, now: number, watched: boolean): boolean {
    const sent = this.outstanding.get(key);
    if (sent !== undefined && now - sent > PROBE_TIMEOUT_MS) {
      this.outstanding.delete(key);
      this.peers.peer(key).probeLost(now);
    }
    const idle = (now - (this.peers.get(key)?.lastTraffic ?? Number.NEGATIVE_INFINITY)) / 1000;
    if (now < (this.nextProbe.get(key) ?? 0) || this.outstanding.has(key)) return false;
    this.nextProbe.set(key, now + rttProbeInterval(watched, idle));
    return true;
  }

  /** A probe to `key` went out at `now`. */
  sent(key: string, now: number): void {
    this.outstanding.set(key, now);
    this.peers.peer(key).probeSent(now);
  }

  /** The answer to a probe of `key`, `rttMs` after it was sent, arrived at `now`. */
  answered(key: string, now: number, rttMs: number): void {
    this.outstanding.delete(key);
    this.peers.peer(key).rttSample(now, rttMs);
  }
}

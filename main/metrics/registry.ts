// Every peer's metrics by peer id, bounded: at most `maxPeers` of them, the least recently updated
// evicted to make room.

import { PeerMetrics, type PeerMetricsDump } from './peer-series';
import { SCRATCH_BYTES } from './percentiles';

/** Default cap on the number of peers a MetricsRegistry tracks. */
export const DEFAULT_MAX_PEERS = 4096;

/**
 * PeerMetrics by peer id, created on demand, at most `maxPeers` of them: making room for a new
 * peer evicts the least recently updated one (smallest `lastUpdate`; peers never updated go
 * first; ties go to the one added first). Eviction scans all peers, which only happens when the
 * registry is full. Each peer costs about 216 KB, so the default cap bounds the total near 885 MB;
 * pick a lower cap where that matters.
 */
export class MetricsRegistry {
  private readonly peers = new Map<string, PeerMetrics>();
  readonly maxPeers: number;

  constructor(maxPeers: number = DEFAULT_MAX_PEERS) {
    if (!Number.isInteger(maxPeers) || maxPeers < 1) {
      throw new RangeError(`metrics: maxPeers must be a positive integer, got ${maxPeers}`);
    }
    this.maxPeers = maxPeers;
  }

  get size(): number {
    return this.peers.size;
  }

  /** The metrics of peer `id`, created (after evicting one if full) when absent. */
  peer(id: string): PeerMetrics {
    const existing = this.peers.get(id);
    if (existing) return existing;
    if (this.peers.size >= this.maxPeers) this.evictLeastRecentlyUpdated();
    const created = new PeerMetrics();
    this.peers.set(id, created);
    return created;
  }

  /** The metrics of peer `id` if tracked, without creating them. */
  get(id: string): PeerMetrics | undefined {
    return this.peers.get(id);
  }

  has(id: string): boolean {
    return this.peers.has(id);
  }

  /** Stop tracking peer `id`; true when it was tracked. */
  remove(id: string): boolean {
    return this.peers.delete(id);
  }

  /** Ids of the tracked peers, in the order they were added. */
  ids(): IterableIterator<string> {
    return this.peers.keys();
  }

  /** Every peer's dump (PeerMetrics.dump: the node stops at `now`), to restore in the next node. */
  dump(now: number): [string, PeerMetricsDump][] {
    return [...this.peers].map(([id, m]) => [id, m.dump(now)]);
  }

  /**
   * Takes over a dump() of the previous node: each valid entry replaces the peer's metrics (entries
   * that are not dumps are skipped); at most maxPeers are kept, as always.
   */
  restore(entries: unknown): number {
    if (!Array.isArray(entries)) return 0;
    let n = 0;
    for (const e of entries) {
      if (!Array.isArray(e) || typeof e[0] !== 'string') continue;
      const m = PeerMetrics.restore(e[1] as PeerMetricsDump);
      if (!m) continue;
      if (!this.peers.has(e[0]) && this.peers.size >= this.maxPeers) this.evictLeastRecentlyUpdated();
      this.peers.set(e[0], m);
      n++;
    }
    return n;
  }

  /** Bytes of all typed arrays held: every peer's rings plus the shared sort scratch, once. */
  approxBytes(): number {
    let total = SCRATCH_BYTES;
    for (const m of this.peers.values()) total += m.byteLength;
    return total;
  }

  private evictLeastRecentlyUpdated(): void {
    let victim: string | undefined;
    let oldest = Number.POSITIVE_INFINITY;
    for (const [id, m] of this.peers) {
      if (victim === undefined || m.lastUpdate < oldest) {
        victim = id;
        oldest = m.lastUpdate;
      }
    }
    if (victim !== undefined) this.peers.delete(victim);
  }
}

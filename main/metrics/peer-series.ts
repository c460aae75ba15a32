// Per-peer time series over the last HISTORY_SECONDS seconds, sans-IO (every call takes the time as
// `now`, in ms): RTT samples, probes sent and lost, traffic from cumulative counters, and the path
// (direct or relayed) the peer is reached by. Stored in one SecondRing (ring.ts); record methods
// ignore invalid input silently (they sit on the data path), queries throw a RangeError on an
// invalid window, point count or time.

import { CounterBase, coveredSeconds, perSecond } from './counters';
import { heapSort, nearestRank, scratch } from './percentiles';
import {
  forEachBucket,
  HISTORY_SECONDS,
  isCount,
  queryWindow,
  type RingDump,
  SecondRing,
  secondOf,
} from './ring';
import type {
  MetricsPathKind,
  MetricsWindow,
  PathChange,
  PeerSeries,
  PeerSummary,
  RttSummary,
  TrafficCounters,
} from './types';

/** Number of path changes kept per peer (the oldest ones are dropped first). */
export const MAX_PATH_CHANGES = 64;

/** Path codes stored per second. */
export const PATH_UNKNOWN = 0;
export const PATH_DIRECT = 1;
export const PATH_RELAYED = 2;

const N = HISTORY_SECONDS;
const U16_MAX = 0xffff;
const U32_MAX = 0xffff_ffff;

/** Sums of a span of seconds (see PeerMetrics.totals). */
interface Totals {
  /** Seconds recorded at all, and those the peer had a path in. */
  seen: number;
  reached: number;
  /** Sum and count of the per-second mean RTTs of the seconds having samples. */
  meanSum: number;
  meanCount: number;
  sent: number;
  lost: number;
  rx: number;
  tx: number;
  rxp: number;
  txp: number;
}

/**
 * What a PeerMetrics carries over to the next node of the same profile (PeerMetrics.dump): the
 * history and path changes; not the counter bases, since a new node's counters start from zero.
 */
export interface PeerMetricsDump {
  ring: RingDump;
  lastRtt: number;
  lastRttSec: number;
  trafficBaseSec: number;
  changes: PathChange[];
  lastUpdate: number;
  lastTraffic: number;
}

/** What a series bucket's `reach` says (PeerSeries). */
export const REACH_NO_RECORD = 0;
export const REACH_NO_PATH = 1;
export const REACH_PATH = 2;

function pathCode(kind: MetricsPathKind): number {
  return kind === 'direct' ? PATH_DIRECT : kind === 'relayed' ? PATH_RELAYED : PATH_UNKNOWN;
}

/**
 * A peer's metrics. About 60 bytes per second of history, 216,000 bytes per peer, allocated once.
 */
export class PeerMetrics {
  private readonly ring = new SecondRing();
  private readonly rttSum = this.ring.column(new Float64Array(N));
  /** Saturates: further samples in that second are dropped. */
  private readonly rttCount = this.ring.column(new Uint16Array(N));
  private readonly rttMin = this.ring.column(new Float64Array(N));
  private readonly rttMax = this.ring.column(new Float64Array(N));
  private readonly sent = this.ring.column(new Uint16Array(N)); // saturating
  private readonly lost = this.ring.column(new Uint16Array(N)); // saturating
  private readonly rxBytes = this.ring.column(new Float64Array(N));
  private readonly txBytes = this.ring.column(new Float64Array(N));
  private readonly rxPackets = this.ring.column(new Uint32Array(N)); // saturating
  private readonly txPackets = this.ring.column(new Uint32Array(N)); // saturating
  /** The last path reported in that second. */
  private readonly pathCodes = this.ring.column(new Uint8Array(N), PATH_UNKNOWN);
  /** 1 when the path changed in that second. */
  private readonly pathChangedAt = this.ring.column(new Uint8Array(N));

  private lastRtt = 0;
  private lastRttSec = -1;

  /** The second of the first traffic() call (its counters are only the base), -1 before it. */
  private trafficBaseSec = -1;
  private readonly rxBytesBase = new CounterBase();
  private readonly txBytesBase = new CounterBase();
  private readonly rxPacketsBase = new CounterBase();
  private readonly txPacketsBase = new CounterBase();

  private currentKind: MetricsPathKind = 'unknown';
  private currentVia: string | undefined = undefined;
  private readonly changes: PathChange[] = [];

  /** Largest `now` (ms) passed to any record method, -Infinity before the first one. */
  lastUpdate = Number.NEGATIVE_INFINITY;
  /**
   * When traffic() last saw the counters move (its first call counts as traffic: the peer's past is
   * unknown), -Infinity before it. Not lastUpdate: the feed calls traffic() every second anyway.
   */
  lastTraffic = Number.NEGATIVE_INFINITY;

  /** Bytes allocated by this instance's typed arrays. */
  get byteLength(): number {
    return this.ring.byteLength;
  }

  /** The current path, as last reported to `path()`. */
  get currentPath(): { kind: MetricsPathKind; via: string | undefined } {
    return { kind: this.currentKind, via: this.currentVia };
  }

  /** Record one RTT sample (ms) measured at `now`. */
  rttSample(now: number, rttMs: number): void {
    if (!isCount(rttMs)) return;
    const s = secondOf(now);
    const i = this.slot(s, now);
    if (i < 0) return;
    const c = this.rttCount[i];
    if (c === U16_MAX) return;
    if (c === 0) {
      this.rttMin[i] = rttMs;
      this.rttMax[i] = rttMs;
    } else {
      if (rttMs < this.rttMin[i]) this.rttMin[i] = rttMs;
      if (rttMs > this.rttMax[i]) this.rttMax[i] = rttMs;
    }
    this.rttSum[i] += rttMs;
    this.rttCount[i] = c + 1;
    if (s >= this.lastRttSec) {
      this.lastRttSec = s;
      this.lastRtt = rttMs;
    }
  }

  /** Record that a probe was sent at `now`. */
  probeSent(now: number): void {
    const i = this.slot(secondOf(now), now);
    if (i >= 0 && this.sent[i] < U16_MAX) this.sent[i]++;
  }

  /** Record that a probe got no answer (counted in the second its loss was decided, `now`). */
  probeLost(now: number): void {
    const i = this.slot(secondOf(now), now);
    if (i >= 0 && this.lost[i] < U16_MAX) this.lost[i]++;
  }

  /**
   * Record the peer's CUMULATIVE traffic counters as of `now`. The first call only sets the base;
   * later calls add the difference to the previous call into the current second. A counter that
   * went backwards was reset: its new value becomes the base and the interval counts 0 for it.
   */
  traffic(now: number, counters: TrafficCounters): void {
    const i = this.slot(secondOf(now), now);
    if (i < 0) return;
    const rxBytes = this.rxBytesBase.advance(counters.rxBytes);
    const txBytes = this.txBytesBase.advance(counters.txBytes);
    const rxPackets = this.rxPacketsBase.advance(counters.rxPackets);
    const txPackets = this.txPacketsBase.advance(counters.txPackets);
    if (this.trafficBaseSec < 0) {
      this.trafficBaseSec = secondOf(now);
      this.lastTraffic = now;
      return;
    }
    if (rxPackets > 0 || txPackets > 0) this.lastTraffic = now;
    this.rxBytes[i] += rxBytes;
    this.txBytes[i] += txBytes;
    this.rxPackets[i] = Math.min(U32_MAX, this.rxPackets[i] + rxPackets);
    this.txPackets[i] = Math.min(U32_MAX, this.txPackets[i] + txPackets);
  }

  /**
   * Record the path the peer is currently reached by. A change (kind or `via` differs from the
   * previous call; the initial path is 'unknown' without `via`) is flagged in the current second
   * and appended to the list of changes, of which the last MAX_PATH_CHANGES are kept.
   */
  path(now: number, kind: MetricsPathKind, via?: string): void {
    const i = this.slot(secondOf(now), now);
    if (i < 0) return;
    this.pathCodes[i] = pathCode(kind);
    if (kind === this.currentKind && via === this.currentVia) return;
    this.currentKind = kind;
    this.currentVia = via;
    this.pathChangedAt[i] = 1;
    if (this.changes.length >= MAX_PATH_CHANGES) this.changes.shift();
    this.changes.push({ t: now, kind, via });
  }

  /** All path changes kept (at most MAX_PATH_CHANGES), oldest first. */
  pathHistory(): ReadonlyArray<Readonly<PathChange>> {
    return this.changes.slice();
  }

  /**
   * Summary of the window of `windowSec` seconds ending with the second `now` falls in.
   *
   * - `rtt.min`/`max`/`mean` are over the individual samples; `last` is the latest sample (if it
   *   lies in the window, otherwise the mean of the latest second in the window having samples).
   * - `rtt.p50`/`p75`/`p99` are nearest-rank percentiles of the per-second mean RTTs (see
   *   percentiles.ts): the result is always an observed per-second mean.
   * - `rtt.jitter` follows RFC 3550 in spirit (variation between consecutive measurements) without
   *   its exponential smoothing: the mean of |m[k] - m[k-1]| over consecutive seconds having RTT
   *   samples (seconds without samples are skipped), 0 with fewer than two such seconds.
   * - Rates divide window totals by the seconds covered: those of the window after the first
   *   `traffic()` call, so a peer seen for 10 s is not averaged over 60 s.
   */
  summary(now: number, windowSec: MetricsWindow): PeerSummary {
    const { w, nowSec, start } = queryWindow(now, windowSec);
    const from = Math.max(0, start);
    const t = this.totals(from, nowSec + 1);
    let n = 0;
    let samples = 0;
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    let prevMean = 0;
    let jitterSum = 0;
    for (let s = from; s <= nowSec; s++) {
      const i = this.ring.read(s);
      if (i < 0) continue;
      const c = this.rttCount[i];
      if (c === 0) continue;
      const m = this.rttSum[i] / c;
      if (n > 0) jitterSum += Math.abs(m - prevMean);
      prevMean = m;
      scratch[n++] = m;
      samples += c;
      sum += this.rttSum[i];
      if (this.rttMin[i] < min) min = this.rttMin[i];
      if (this.rttMax[i] > max) max = this.rttMax[i];
    }

    let rtt: RttSummary | null = null;
    if (n > 0) {
      const last = this.lastRttSec >= start && this.lastRttSec <= nowSec ? this.lastRtt : prevMean;
      const jitter = n > 1 ? jitterSum / (n - 1) : 0;
      heapSort(scratch, n);
      rtt = {
        last,
        min,
        max,
        mean: sum / samples,
        p50: nearestRank(scratch, n, 50),
        p75: nearestRank(scratch, n, 75),
        p99: nearestRank(scratch, n, 99),
        jitter,
      };
    }

    const covered = coveredSeconds(nowSec, w, this.trafficBaseSec);
    const pathChanges: PathChange[] = [];
    for (const change of this.changes) {
      const s = Math.floor(change.t / 1000);
      if (s >= start && s <= nowSec) pathChanges.push(change);
    }
    return {
      samples,
      rtt,
      loss: t.sent > 0 ? Math.min(1, t.lost / t.sent) : 0,
      rxRate: perSecond(t.rx, covered),
      txRate: perSecond(t.tx, covered),
      rxPps: perSecond(t.rxp, covered),
      txPps: perSecond(t.txp, covered),
      rxBytes: t.rx,
      txBytes: t.tx,
      pathChanges,
    };
  }

  /**
   * Points for a graph of the window ending with the second `now` falls in, bucketed as
   * `forEachBucket` (ring.ts) says. See PeerSeries for what each value is.
   */
  series(now: number, windowSec: MetricsWindow, maxPoints?: number): PeerSeries {
    const win = queryWindow(now, windowSec);
    const out: PeerSeries = { t: [], rtt: [], loss: [], rx: [], tx: [], reach: [] };
    forEachBucket(win, maxPoints, (from, to) => {
      const t = this.totals(Math.max(0, from), to);
      out.t.push(from);
      out.reach.push(t.seen === 0 ? REACH_NO_RECORD : t.reached === 0 ? REACH_NO_PATH : REACH_PATH);
      out.rtt.push(t.meanCount > 0 ? t.meanSum / t.meanCount : null);
      out.loss.push(t.sent > 0 ? Math.min(1, t.lost / t.sent) : null);
      out.rx.push(t.rx / (to - from));
      out.tx.push(t.tx / (to - from));
    });
    return out;
  }

  /**
   * The node stops at `now`: the path ends there (a change to 'unknown'), and what the next node of
   * the same profile takes over (restore) is returned. The arrays are copies.
   */
  dump(now: number): PeerMetricsDump {
    if (this.currentKind !== 'unknown') this.path(now, 'unknown');
    return {
      ring: this.ring.dump(),
      lastRtt: this.lastRtt,
      lastRttSec: this.lastRttSec,
      trafficBaseSec: this.trafficBaseSec,
      changes: this.changes.map((c) => ({ ...c })),
      lastUpdate: this.lastUpdate,
      lastTraffic: this.lastTraffic,
    };
  }

  /**
   * A PeerMetrics holding a dump()'s history, or null when `d` is not one. Its traffic counters
   * start from zero, as a new node's do: the first reading counts from there.
   */
  static restore(d: PeerMetricsDump): PeerMetrics | null {
    if (typeof d !== 'object' || d === null || !Array.isArray(d.changes)) return null;
    const nums = [d.lastRtt, d.lastRttSec, d.trafficBaseSec, d.lastUpdate, d.lastTraffic];
    if (!nums.every((v) => typeof v === 'number' && !Number.isNaN(v))) return null;
    const m = new PeerMetrics();
    if (!m.ring.load(d.ring)) return null;
    m.lastRtt = d.lastRtt;
    m.lastRttSec = d.lastRttSec;
    m.trafficBaseSec = d.trafficBaseSec;
    m.lastUpdate = d.lastUpdate;
    m.lastTraffic = d.lastTraffic;
    for (const c of d.changes.slice(-MAX_PATH_CHANGES)) {
      if (typeof c?.t !== 'number' || !['direct', 'relayed', 'unknown'].includes(c.kind)) return null;
      m.changes.push({ t: c.t, kind: c.kind, via: typeof c.via === 'string' ? c.via : undefined });
    }
    const last = m.changes.at(-1);
    if (last) {
      m.currentKind = last.kind;
      m.currentVia = last.via;
    }
    return m;
  }

  /** Sums over the seconds [from, to) still in the ring (from >= 0). */
  private totals(from: number, to: number): Totals {
    const t: Totals = {
      seen: 0,
      reached: 0,
      meanSum: 0,
      meanCount: 0,
      sent: 0,
      lost: 0,
      rx: 0,
      tx: 0,
      rxp: 0,
      txp: 0,
    };
    for (let s = from; s < to; s++) {
      const i = this.ring.read(s);
      if (i < 0) continue;
      t.seen++;
      if (this.pathCodes[i] !== PATH_UNKNOWN) t.reached++;
      const c = this.rttCount[i];
      if (c > 0) {
        t.meanSum += this.rttSum[i] / c;
        t.meanCount++;
      }
      t.sent += this.sent[i];
      t.lost += this.lost[i];
      t.rx += this.rxBytes[i];
      t.tx += this.txBytes[i];
      t.rxp += this.rxPackets[i];
      t.txp += this.txPackets[i];
    }
    return t;
  }

  /** The ring slot for second `s` (reset if stale), noting `now` as the last update; -1 when refused. */
  private slot(s: number, now: number): number {
    const i = this.ring.write(s);
    if (i >= 0 && now > this.lastUpdate) this.lastUpdate = now;
    return i;
  }
}

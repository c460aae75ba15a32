// Per-peer and node-wide metrics at one-second resolution over the last hour, sans-IO: nothing here
// reads a clock, starts a timer or touches the disk; every call takes the time as `now`, in
// milliseconds (wall-clock ms are the natural choice, since `series()` reports unix seconds).
//
// Storage is a set of fixed-size rings of typed arrays, allocated once in the constructor: slot
// `Math.floor(now / 1000) % HISTORY_SECONDS` holds the data of that second and is stamped with it
// (stamp = second + 1, so 0 means "never written"). A slot whose stamp is not the second being
// written or read is stale (data from a multiple of HISTORY_SECONDS ago, or never written): readers
// skip it and writers reset it lazily before use. Nothing is appended anywhere, so memory does
// not grow with uptime; the list of path changes is bounded to MAX_PATH_CHANGES entries.
//
// Time may go backwards a little (samples reported out of order land in their own second), but a
// sample more than HISTORY_SECONDS older than the newest one recorded is dropped instead of
// overwriting newer data. Record methods silently ignore invalid input (negative or non-finite
// times and values): they sit on the data path and must not throw. Query methods throw a
// RangeError on an invalid window, point count or time: those are programming errors.

/** Seconds of history kept, one slot per second. */
export const HISTORY_SECONDS = 3600;
/** Number of path changes kept per peer (the oldest ones are dropped first). */
export const MAX_PATH_CHANGES = 64;
/** Default cap on the number of peers a MetricsRegistry tracks. */
export const DEFAULT_MAX_PEERS = 4096;

/** Path codes stored per second. */
export const PATH_UNKNOWN = 0;
export const PATH_DIRECT = 1;
export const PATH_RELAYED = 2;

/**
 * Window lengths the UI offers: one minute, fifteen minutes, one hour. (At runtime any integer
 * number of seconds from 1 to HISTORY_SECONDS works; anything else throws a RangeError.)
 */
export type MetricsWindow = 60 | 900 | 3600;
export type PathKind = 'direct' | 'relayed' | 'unknown';

export interface PathChange {
  /** The `now` (ms) passed to `path()` when the change was seen. */
  t: number;
  kind: PathKind;
  /** Relay id (or endpoint) the path goes through, when the caller said so. */
  via: string | undefined;
}

/** Cumulative per-peer traffic counters, as kept by the tunnel. */
export interface TrafficCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

export interface RttSummary {
  /** The most recent sample in the window. */
  last: number;
  /** Smallest and largest single sample in the window. */
  min: number;
  max: number;
  /** Mean of all samples in the window (every sample weighs the same). */
  mean: number;
  /** Percentiles of the per-second mean RTTs in the window, nearest-rank method. */
  p50: number;
  p75: number;
  p99: number;
  /** Mean absolute difference of consecutive per-second mean RTTs. */
  jitter: number;
}

export interface PeerSummary {
  /** Number of RTT samples in the window. */
  samples: number;
  /** Null when the window holds no RTT sample. */
  rtt: RttSummary | null;
  /** Lost probes / sent probes in the window, 0..1 (0 when no probe was sent). */
  loss: number;
  /** Bytes and packets per second, averaged over the seconds of the window that traffic covers. */
  rxRate: number;
  txRate: number;
  rxPps: number;
  txPps: number;
  /** Total bytes in the window. */
  rxBytes: number;
  txBytes: number;
  /** Path changes inside the window, oldest first (at most MAX_PATH_CHANGES). */
  pathChanges: ReadonlyArray<Readonly<PathChange>>;
}

export interface PeerSeries {
  /** Unix second at which each point's bucket starts. */
  t: number[];
  /** Mean of the per-second mean RTTs in the bucket; null when the bucket has none. */
  rtt: (number | null)[];
  /** Lost / sent probes in the bucket; null when no probe was sent in it. */
  loss: (number | null)[];
  /** Bytes per second, averaged over the bucket. */
  rx: number[];
  tx: number[];
}

export interface NodeSummary {
  /** Bytes per second, averaged over the seconds of the window that traffic covers. */
  rxRate: number;
  txRate: number;
  /** Total bytes in the window. */
  rxBytes: number;
  txBytes: number;
  /**
   * The session-count gauge over the window: a value holds until the next one, so seconds without
   * a sample take the previous value. Null when no value is known for any second of the window.
   */
  sessions: { last: number; min: number; max: number; mean: number } | null;
  /** Errors counted in the window. */
  errors: number;
}

export interface NodeSeries {
  /** Unix second at which each point's bucket starts. */
  t: number[];
  /** Bytes per second, averaged over the bucket. */
  rx: number[];
  tx: number[];
  /** Mean of the session gauge over the bucket (carried forward); null when unknown. */
  sessions: (number | null)[];
  /** Errors counted in the bucket (a sum, not a rate). */
  errors: number[];
}

const N = HISTORY_SECONDS;
/** Largest second whose stamp (second + 1) still fits in a Uint32 slot: early 2106. */
const MAX_SECOND = 0xffff_fffe;
const U16_MAX = 0xffff;
const U32_MAX = 0xffff_ffff;

/**
 * Sort scratch shared by every summary() call: single-threaded and synchronous, so one buffer is
 * enough, and summary() does not allocate for sorting.
 */
const scratch = new Float64Array(N);

/** Bytes of the shared sort scratch (counted once by MetricsRegistry.approxBytes()). */
export const SCRATCH_BYTES = scratch.byteLength;

/** The second `now` (ms) falls in, or -1 when `now` is unusable. */
function secondOf(now: number): number {
  if (!Number.isFinite(now) || now < 0) return -1;
  const s = Math.floor(now / 1000);
  return s <= MAX_SECOND ? s : -1;
}

function querySecond(now: number): number {
  const s = secondOf(now);
  if (s < 0) throw new RangeError(`metrics: invalid time ${now}`);
  return s;
}

function checkWindow(windowSec: number): number {
  if (!Number.isInteger(windowSec) || windowSec < 1 || windowSec > N) {
    throw new RangeError(`metrics: window must be an integer number of seconds in 1..${N}, got ${windowSec}`);
  }
  return windowSec;
}

function pointCount(windowSec: number, maxPoints: number | undefined): number {
  if (maxPoints === undefined) return windowSec;
  if (!Number.isInteger(maxPoints) || maxPoints < 1) {
    throw new RangeError(`metrics: maxPoints must be a positive integer, got ${maxPoints}`);
  }
  return Math.min(maxPoints, windowSec);
}

/**
 * Delta of a cumulative counter. A counter that went backwards was reset: the new value becomes
 * the base for the next delta and this interval counts 0, never a negative delta. Non-finite or
 * negative values are ignored (delta 0, base kept), see `nextBase`.
 */
function counterDelta(base: number, value: number): number {
  if (!Number.isFinite(value) || value < 0 || value < base) return 0;
  return value - base;
}

function nextBase(base: number, value: number): number {
  return Number.isFinite(value) && value >= 0 ? value : base;
}

/**
 * Seconds of the window (nowSec - windowSec, nowSec] for which traffic deltas can exist: a delta
 * recorded at second s covers the time since the previous call, so counting starts after the
 * second of the first (baseline) call.
 */
function coveredSeconds(nowSec: number, windowSec: number, baseSec: number): number {
  if (baseSec < 0) return 0;
  return Math.max(0, Math.min(windowSec, nowSec - baseSec));
}

/** In-place ascending heapsort of a[0..n): O(n log n), no allocation. */
function heapSort(a: Float64Array, n: number): void {
  const siftDown = (root: number, end: number): void => {
    let r = root;
    for (;;) {
      let child = 2 * r + 1;
      if (child >= end) return;
      if (child + 1 < end && a[child + 1] > a[child]) child++;
      if (a[r] >= a[child]) return;
      const tmp = a[r];
      a[r] = a[child];
      a[child] = tmp;
      r = child;
    }
  };
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(i, n);
  for (let end = n - 1; end > 0; end--) {
    const tmp = a[0];
    a[0] = a[end];
    a[end] = tmp;
    siftDown(0, end);
  }
}

/**
 * Nearest-rank percentile of the ascending values sorted[0..n), n > 0: the smallest value such
 * that at least p percent of the values are less than or equal to it, i.e. the value of rank
 * ceil(p / 100 * n) (1-based). Computed as ceil(p * n / 100) so integer p gives an exact rank.
 */
function nearestRank(sorted: Float64Array, n: number, p: number): number {
  const rank = Math.max(1, Math.ceil((p * n) / 100));
  return sorted[Math.min(rank, n) - 1];
}

function pathCode(kind: PathKind): number {
  return kind === 'direct' ? PATH_DIRECT : kind === 'relayed' ? PATH_RELAYED : PATH_UNKNOWN;
}

/**
 * Per-peer time series over the last HISTORY_SECONDS seconds: RTT samples, probes sent and lost,
 * traffic (from cumulative counters) and the path (direct or relayed) the peer is reached by.
 * Takes about 60 bytes per second of history, 216,000 bytes per peer, allocated once.
 */
export class PeerMetrics {
  // One slot per second; see the file comment for the stamping scheme.
  private readonly stamp = new Uint32Array(N);
  private readonly rttSum = new Float64Array(N);
  private readonly rttCount = new Uint16Array(N); // saturates: further samples in that second are dropped
  private readonly rttMin = new Float64Array(N);
  private readonly rttMax = new Float64Array(N);
  private readonly sent = new Uint16Array(N); // saturating
  private readonly lost = new Uint16Array(N); // saturating
  private readonly rxBytes = new Float64Array(N);
  private readonly txBytes = new Float64Array(N);
  private readonly rxPackets = new Uint32Array(N); // saturating
  private readonly txPackets = new Uint32Array(N); // saturating
  private readonly pathCodes = new Uint8Array(N); // last path reported in that second
  private readonly pathChangedAt = new Uint8Array(N); // 1 when the path changed in that second

  private latestSec = -1;
  private lastRtt = 0;
  private lastRttSec = -1;

  // Bases of the cumulative traffic counters; trafficBaseSec is the second of the first call.
  private trafficBaseSec = -1;
  private rxBytesBase = 0;
  private txBytesBase = 0;
  private rxPacketsBase = 0;
  private txPacketsBase = 0;

  private currentKind: PathKind = 'unknown';
  private currentVia: string | undefined = undefined;
  private readonly changes: PathChange[] = [];

  /** Largest `now` (ms) passed to any record method, -Infinity before the first one. */
  lastUpdate = Number.NEGATIVE_INFINITY;

  /** Bytes allocated by this instance's typed arrays. */
  get byteLength(): number {
    return (
      this.stamp.byteLength +
      this.rttSum.byteLength +
      this.rttCount.byteLength +
      this.rttMin.byteLength +
      this.rttMax.byteLength +
      this.sent.byteLength +
      this.lost.byteLength +
      this.rxBytes.byteLength +
      this.txBytes.byteLength +
      this.rxPackets.byteLength +
      this.txPackets.byteLength +
      this.pathCodes.byteLength +
      this.pathChangedAt.byteLength
    );
  }

  /** The current path, as last reported to `path()`. */
  get currentPath(): { kind: PathKind; via: string | undefined } {
    return { kind: this.currentKind, via: this.currentVia };
  }

  /** Record one RTT sample (ms) measured at `now`. */
  rttSample(now: number, rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
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
    const { rxBytes, txBytes, rxPackets, txPackets } = counters;
    if (this.trafficBaseSec >= 0) {
      this.rxBytes[i] += counterDelta(this.rxBytesBase, rxBytes);
      this.txBytes[i] += counterDelta(this.txBytesBase, txBytes);
      this.rxPackets[i] = Math.min(U32_MAX, this.rxPackets[i] + counterDelta(this.rxPacketsBase, rxPackets));
      this.txPackets[i] = Math.min(U32_MAX, this.txPackets[i] + counterDelta(this.txPacketsBase, txPackets));
    } else {
      this.trafficBaseSec = secondOf(now);
    }
    this.rxBytesBase = nextBase(this.rxBytesBase, rxBytes);
    this.txBytesBase = nextBase(this.txBytesBase, txBytes);
    this.rxPacketsBase = nextBase(this.rxPacketsBase, rxPackets);
    this.txPacketsBase = nextBase(this.txPacketsBase, txPackets);
  }

  /**
   * Record the path the peer is currently reached by. A change (kind or `via` differs from the
   * previous call; the initial path is 'unknown' without `via`) is flagged in the current second
   * and appended to the list of changes, of which the last MAX_PATH_CHANGES are kept.
   */
  path(now: number, kind: PathKind, via?: string): void {
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
   * - `rtt.p50`/`p75`/`p99` are nearest-rank percentiles of the per-second mean RTTs: sort the n
   *   per-second means ascending and take the value of 1-based rank ceil(p / 100 * n). No
   *   interpolation: the result is always an observed per-second mean.
   * - `rtt.jitter` follows RFC 3550 in spirit (variation between consecutive measurements) without
   *   its exponential smoothing: the mean of |m[k] - m[k-1]| over consecutive seconds having RTT
   *   samples (seconds without samples are skipped), 0 with fewer than two such seconds.
   * - Rates divide window totals by the seconds covered: those of the window after the first
   *   `traffic()` call, so a peer seen for 10 s is not averaged over 60 s.
   */
  summary(now: number, windowSec: MetricsWindow): PeerSummary {
    const w = checkWindow(windowSec);
    const nowSec = querySecond(now);
    const start = nowSec - w + 1;
    let n = 0;
    let samples = 0;
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    let prevMean = 0;
    let jitterSum = 0;
    let sent = 0;
    let lost = 0;
    let rx = 0;
    let tx = 0;
    let rxp = 0;
    let txp = 0;
    for (let s = Math.max(0, start); s <= nowSec; s++) {
      const i = s % N;
      if (this.stamp[i] !== s + 1) continue;
      const c = this.rttCount[i];
      if (c > 0) {
        const m = this.rttSum[i] / c;
        if (n > 0) jitterSum += Math.abs(m - prevMean);
        prevMean = m;
        scratch[n++] = m;
        samples += c;
        sum += this.rttSum[i];
        if (this.rttMin[i] < min) min = this.rttMin[i];
        if (this.rttMax[i] > max) max = this.rttMax[i];
      }
      sent += this.sent[i];
      lost += this.lost[i];
      rx += this.rxBytes[i];
      tx += this.txBytes[i];
      rxp += this.rxPackets[i];
      txp += this.txPackets[i];
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
      loss: sent > 0 ? Math.min(1, lost / sent) : 0,
      rxRate: covered > 0 ? rx / covered : 0,
      txRate: covered > 0 ? tx / covered : 0,
      rxPps: covered > 0 ? rxp / covered : 0,
      txPps: covered > 0 ? txp / covered : 0,
      rxBytes: rx,
      txBytes: tx,
      pathChanges,
    };
  }

  /**
   * Points for a graph of the window ending with the second `now` falls in: one per second, or,
   * when `maxPoints` is smaller than the window, exactly `maxPoints` points, point k averaging
   * the seconds [floor(k * w / maxPoints), floor((k + 1) * w / maxPoints)) of the window (bucket
   * sizes differ by at most one second). See PeerSeries for what each value is.
   */
  series(now: number, windowSec: MetricsWindow, maxPoints?: number): PeerSeries {
    const w = checkWindow(windowSec);
    const nowSec = querySecond(now);
    const points = pointCount(w, maxPoints);
    const start = nowSec - w + 1;
    const out: PeerSeries = { t: [], rtt: [], loss: [], rx: [], tx: [] };
    for (let k = 0; k < points; k++) {
      const lo = Math.floor((k * w) / points);
      const hi = Math.floor(((k + 1) * w) / points);
      let meanSum = 0;
      let meanCount = 0;
      let sent = 0;
      let lost = 0;
      let rx = 0;
      let tx = 0;
      for (let s = Math.max(0, start + lo); s < start + hi; s++) {
        const i = s % N;
        if (this.stamp[i] !== s + 1) continue;
        const c = this.rttCount[i];
        if (c > 0) {
          meanSum += this.rttSum[i] / c;
          meanCount++;
        }
        sent += this.sent[i];
        lost += this.lost[i];
        rx += this.rxBytes[i];
        tx += this.txBytes[i];
      }
      out.t.push(start + lo);
      out.rtt.push(meanCount > 0 ? meanSum / meanCount : null);
      out.loss.push(sent > 0 ? Math.min(1, lost / sent) : null);
      out.rx.push(rx / (hi - lo));
      out.tx.push(tx / (hi - lo));
    }
    return out;
  }

  /** Slot index for second `s`, reset if stale; -1 when `s` is invalid or too old to record. */
  private slot(s: number, now: number): number {
    if (s < 0 || s <= this.latestSec - N) return -1;
    if (s > this.latestSec) this.latestSec = s;
    if (now > this.lastUpdate) this.lastUpdate = now;
    const i = s % N;
    if (this.stamp[i] !== s + 1) {
      this.stamp[i] = s + 1;
      this.rttSum[i] = 0;
      this.rttCount[i] = 0;
      this.rttMin[i] = 0;
      this.rttMax[i] = 0;
      this.sent[i] = 0;
      this.lost[i] = 0;
      this.rxBytes[i] = 0;
      this.txBytes[i] = 0;
      this.rxPackets[i] = 0;
      this.txPackets[i] = 0;
      this.pathCodes[i] = PATH_UNKNOWN;
      this.pathChangedAt[i] = 0;
    }
    return i;
  }
}

/**
 * Node-wide time series over the last HISTORY_SECONDS seconds: throughput (from cumulative byte
 * counters), the number of sessions (a gauge) and errors (from a cumulative counter, stored as
 * the delta of each second). Same ring scheme and rules as PeerMetrics.
 */
export class NodeMetrics {
  private readonly stamp = new Uint32Array(N);
  private readonly rxBytes = new Float64Array(N);
  private readonly txBytes = new Float64Array(N);
  private readonly gauge = new Int32Array(N); // sessions last reported in that second, -1 if none
  private readonly errorCount = new Float64Array(N);

  private latestSec = -1;
  private trafficBaseSec = -1;
  private rxBase = 0;
  private txBase = 0;
  private errorsBaseSet = false;
  private errorsBase = 0;
  private lastGauge = -1;
  private lastGaugeSec = -1;

  /** Bytes allocated by this instance's typed arrays. */
  get byteLength(): number {
    return (
      this.stamp.byteLength +
      this.rxBytes.byteLength +
      this.txBytes.byteLength +
      this.gauge.byteLength +
      this.errorCount.byteLength
    );
  }

  /** Record the node's CUMULATIVE byte counters as of `now` (same delta rules as PeerMetrics). */
  traffic(now: number, counters: { rxBytes: number; txBytes: number }): void {
    const i = this.slot(secondOf(now));
    if (i < 0) return;
    if (this.trafficBaseSec >= 0) {
      this.rxBytes[i] += counterDelta(this.rxBase, counters.rxBytes);
      this.txBytes[i] += counterDelta(this.txBase, counters.txBytes);
    } else {
      this.trafficBaseSec = secondOf(now);
    }
    this.rxBase = nextBase(this.rxBase, counters.rxBytes);
    this.txBase = nextBase(this.txBase, counters.txBytes);
  }

  /** Record the current number of sessions (a gauge: it holds until the next call). */
  sessions(now: number, count: number): void {
    if (!Number.isFinite(count) || count < 0) return;
    const s = secondOf(now);
    const i = this.slot(s);
    if (i < 0) return;
    const v = Math.min(0x7fff_ffff, Math.floor(count));
    this.gauge[i] = v;
    if (s >= this.lastGaugeSec) {
      this.lastGaugeSec = s;
      this.lastGauge = v;
    }
  }

  /**
   * Record the node's CUMULATIVE error counter as of `now`; the first call sets the base, later
   * calls add the increase into the current second (a counter that went backwards resets the base).
   */
  errors(now: number, total: number): void {
    const i = this.slot(secondOf(now));
    if (i < 0) return;
    if (this.errorsBaseSet) this.errorCount[i] += counterDelta(this.errorsBase, total);
    else if (Number.isFinite(total) && total >= 0) this.errorsBaseSet = true;
    this.errorsBase = nextBase(this.errorsBase, total);
  }

  /** Summary of the window of `windowSec` seconds ending with the second `now` falls in. */
  summary(now: number, windowSec: MetricsWindow): NodeSummary {
    const w = checkWindow(windowSec);
    const nowSec = querySecond(now);
    const start = nowSec - w + 1;
    let rx = 0;
    let tx = 0;
    let errors = 0;
    let carry = this.gaugeBefore(start, nowSec);
    let gaugeSeconds = 0;
    let gaugeSum = 0;
    let gaugeMin = Number.POSITIVE_INFINITY;
    let gaugeMax = Number.NEGATIVE_INFINITY;
    for (let s = Math.max(0, start); s <= nowSec; s++) {
      const i = s % N;
      if (this.stamp[i] === s + 1) {
        rx += this.rxBytes[i];
        tx += this.txBytes[i];
        errors += this.errorCount[i];
        if (this.gauge[i] >= 0) carry = this.gauge[i];
      }
      if (carry >= 0) {
        gaugeSeconds++;
        gaugeSum += carry;
        if (carry < gaugeMin) gaugeMin = carry;
        if (carry > gaugeMax) gaugeMax = carry;
      }
    }
    const covered = coveredSeconds(nowSec, w, this.trafficBaseSec);
    return {
      rxRate: covered > 0 ? rx / covered : 0,
      txRate: covered > 0 ? tx / covered : 0,
      rxBytes: rx,
      txBytes: tx,
      sessions:
        gaugeSeconds > 0
          ? { last: carry, min: gaugeMin, max: gaugeMax, mean: gaugeSum / gaugeSeconds }
          : null,
      errors,
    };
  }

  /** Points for a graph, bucketed as PeerMetrics.series(); see NodeSeries for the values. */
  series(now: number, windowSec: MetricsWindow, maxPoints?: number): NodeSeries {
    const w = checkWindow(windowSec);
    const nowSec = querySecond(now);
    const points = pointCount(w, maxPoints);
    const start = nowSec - w + 1;
    const out: NodeSeries = { t: [], rx: [], tx: [], sessions: [], errors: [] };
    let carry = this.gaugeBefore(start, nowSec);
    for (let k = 0; k < points; k++) {
      const lo = Math.floor((k * w) / points);
      const hi = Math.floor(((k + 1) * w) / points);
      let rx = 0;
      let tx = 0;
      let errors = 0;
      let gaugeSum = 0;
      let gaugeSeconds = 0;
      for (let s = start + lo; s < start + hi; s++) {
        const i = s % N;
        if (s >= 0 && this.stamp[i] === s + 1) {
          rx += this.rxBytes[i];
          tx += this.txBytes[i];
          errors += this.errorCount[i];
          if (this.gauge[i] >= 0) carry = this.gauge[i];
        }
        if (carry >= 0) {
          gaugeSum += carry;
          gaugeSeconds++;
        }
      }
      out.t.push(start + lo);
      out.rx.push(rx / (hi - lo));
      out.tx.push(tx / (hi - lo));
      out.sessions.push(gaugeSeconds > 0 ? gaugeSum / gaugeSeconds : null);
      out.errors.push(errors);
    }
    return out;
  }

  /** The gauge value holding at the start of the window, or -1 when unknown. */
  private gaugeBefore(start: number, nowSec: number): number {
    if (this.lastGaugeSec >= 0 && this.lastGaugeSec < start) return this.lastGauge;
    // The latest value is inside (or after) the window: look for an older one still in the ring.
    for (let s = start - 1; s >= 0 && s > nowSec - N; s--) {
      const i = s % N;
      if (this.stamp[i] === s + 1 && this.gauge[i] >= 0) return this.gauge[i];
    }
    return -1;
  }

  private slot(s: number): number {
    if (s < 0 || s <= this.latestSec - N) return -1;
    if (s > this.latestSec) this.latestSec = s;
    const i = s % N;
    if (this.stamp[i] !== s + 1) {
      this.stamp[i] = s + 1;
      this.rxBytes[i] = 0;
      this.txBytes[i] = 0;
      this.gauge[i] = -1;
      this.errorCount[i] = 0;
    }
    return i;
  }
}

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

/** RTT probe interval while someone watches the peer (UI open). */
export const PROBE_INTERVAL_WATCHED_MS = 1000;
/** RTT probe interval otherwise. */
export const PROBE_INTERVAL_DEFAULT_MS = 5000;
/** RTT probe interval for an unwatched peer without traffic for more than PROBE_IDLE_AFTER_SEC. */
export const PROBE_INTERVAL_IDLE_MS = 30_000;
export const PROBE_IDLE_AFTER_SEC = 300;

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

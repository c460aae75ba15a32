// Node-wide time series over the last HISTORY_SECONDS seconds, sans-IO: throughput (from cumulative
// byte counters), the number of sessions (a gauge) and errors (from a cumulative counter, stored as
// the delta of each second). One SecondRing (ring.ts), the same rules as PeerMetrics.

import { CounterBase, coveredSeconds, perSecond } from './counters';
import { forEachBucket, HISTORY_SECONDS, isCount, queryWindow, SecondRing, secondOf } from './ring';
import type { MetricsWindow, NodeSeries, NodeSummary } from './types';

const N = HISTORY_SECONDS;

/** Sums of a span of seconds (see NodeMetrics.totals). */
interface Totals {
  rx: number;
  tx: number;
  errors: number;
  /** The gauge value holding at the end of the span, -1 when unknown. */
  carry: number;
  /** Seconds with a known gauge value, and the sum, min and max of those values. */
  gaugeSeconds: number;
  gaugeSum: number;
  gaugeMin: number;
  gaugeMax: number;
}

export class NodeMetrics {
  private readonly ring = new SecondRing();
  private readonly rxBytes = this.ring.column(new Float64Array(N));
  private readonly txBytes = this.ring.column(new Float64Array(N));
  /** Sessions last reported in that second, -1 if none. */
  private readonly gauge = this.ring.column(new Int32Array(N), -1);
  private readonly errorCount = this.ring.column(new Float64Array(N));

  private trafficBaseSec = -1;
  private readonly rxBase = new CounterBase();
  private readonly txBase = new CounterBase();
  private errorsBaseSet = false;
  private readonly errorsBase = new CounterBase();
  private lastGauge = -1;
  private lastGaugeSec = -1;

  /** Bytes allocated by this instance's typed arrays. */
  get byteLength(): number {
    return this.ring.byteLength;
  }

  /** Record the node's CUMULATIVE byte counters as of `now` (same delta rules as PeerMetrics). */
  traffic(now: number, counters: { rxBytes: number; txBytes: number }): void {
    const i = this.ring.write(secondOf(now));
    if (i < 0) return;
    const rx = this.rxBase.advance(counters.rxBytes);
    const tx = this.txBase.advance(counters.txBytes);
    if (this.trafficBaseSec < 0) {
      this.trafficBaseSec = secondOf(now);
      return;
    }
    this.rxBytes[i] += rx;
    this.txBytes[i] += tx;
  }

  /** Record the current number of sessions (a gauge: it holds until the next call). */
  sessions(now: number, count: number): void {
    if (!isCount(count)) return;
    const s = secondOf(now);
    const i = this.ring.write(s);
    if (i < 0) return;
    const v = Math.min(0x7fff_ffff, Math.floor(count));
    this.gauge[i] = v;
    if (s >= this.lastGaugeSec) {
      this.lastGaugeSec = s;
      this.lastGauge = v;
    }
  }

  /**
   * Record the node's CUMULATIVE error counter as of `now`; the first valid reading sets the base,
   * later ones add the increase into the current second (a counter that went backwards resets the base).
   */
  errors(now: number, total: number): void {
    const i = this.ring.write(secondOf(now));
    if (i < 0) return;
    const delta = this.errorsBase.advance(total);
    if (this.errorsBaseSet) this.errorCount[i] += delta;
    else if (isCount(total)) this.errorsBaseSet = true;
  }

  /** Summary of the window of `windowSec` seconds ending with the second `now` falls in. */
  summary(now: number, windowSec: MetricsWindow): NodeSummary {
    const { w, nowSec, start } = queryWindow(now, windowSec);
    const t = this.totals(Math.max(0, start), nowSec + 1, this.gaugeBefore(start, nowSec));
    const covered = coveredSeconds(nowSec, w, this.trafficBaseSec);
    return {
      rxRate: perSecond(t.rx, covered),
      txRate: perSecond(t.tx, covered),
      rxBytes: t.rx,
      txBytes: t.tx,
      sessions:
        t.gaugeSeconds > 0
          ? { last: t.carry, min: t.gaugeMin, max: t.gaugeMax, mean: t.gaugeSum / t.gaugeSeconds }
          : null,
      errors: t.errors,
    };
  }

  /** Points for a graph, bucketed as PeerMetrics.series(); see NodeSeries for the values. */
  series(now: number, windowSec: MetricsWindow, maxPoints?: number): NodeSeries {
    const win = queryWindow(now, windowSec);
    const out: NodeSeries = { t: [], rx: [], tx: [], sessions: [], errors: [] };
    let carry = this.gaugeBefore(win.start, win.nowSec);
    forEachBucket(win, maxPoints, (from, to) => {
      const t = this.totals(from, to, carry);
      carry = t.carry;
      out.t.push(from);
      out.rx.push(t.rx / (to - from));
      out.tx.push(t.tx / (to - from));
      out.sessions.push(t.gaugeSeconds > 0 ? t.gaugeSum / t.gaugeSeconds : null);
      out.errors.push(t.errors);
    });
    return out;
  }

  /**
   * Sums over the seconds [from, to) still in the ring, the gauge carried forward from `carry`
   * (the value holding before `from`, -1 when unknown) through seconds without a sample.
   */
  private totals(from: number, to: number, carry: number): Totals {
    const t: Totals = {
      rx: 0,
      tx: 0,
      errors: 0,
      carry,
      gaugeSeconds: 0,
      gaugeSum: 0,
      gaugeMin: Number.POSITIVE_INFINITY,
      gaugeMax: Number.NEGATIVE_INFINITY,
    };
    for (let s = from; s < to; s++) {
      const i = this.ring.read(s);
      if (i >= 0) {
        t.rx += this.rxBytes[i];
        t.tx += this.txBytes[i];
        t.errors += this.errorCount[i];
        if (this.gauge[i] >= 0) t.carry = this.gauge[i];
      }
      if (t.carry >= 0) {
        t.gaugeSeconds++;
        t.gaugeSum += t.carry;
        if (t.carry < t.gaugeMin) t.gaugeMin = t.carry;
        if (t.carry > t.gaugeMax) t.gaugeMax = t.carry;
      }
    }
    return t;
  }

  /** The gauge value holding at the start of the window, or -1 when unknown. */
  private gaugeBefore(start: number, nowSec: number): number {
    if (this.lastGaugeSec >= 0 && this.lastGaugeSec < start) return this.lastGauge;
    // The latest value is inside (or after) the window: look for an older one still in the ring.
    for (let s = start - 1; s >= 0 && s > nowSec - N; s--) {
      const i = this.ring.read(s);
      if (i >= 0 && this.gauge[i] >= 0) return this.gauge[i];
    }
    return -1;
  }
}
